"""Make: what only a text instrument does, from the sound being played and the prompt typed.

Rows (the select encoder or a short press moves between them; the value encoder sets the
row's value; a long press does it):
  morph       the sound's prompt morphed toward the typed one, at a position 0-1
  series      that many sounds along the morph, played as a scan on the mod wheel (or across
              velocity: [generate] series_play)
  from sound  the sound itself moved toward the typed prompt, by a strength 0-1
  variations  that many variations of the sound, made while it plays
  record      a take from the audio input (count-in and meter here; a long press stops it)
  scan        where a series plays, 0-1: the value encoder moves it as the mod wheel does,
              sounding notes too
and then one row per variation: selecting it plays it (a key plays it), the value encoder keeps
(+) or drops (-) it, a long press closes the set (the ones not kept go).
"""

from promptsynth.panel import fmt
from promptsynth.panel.pages.base import RowsPage, menu, row

ACTIONS = ("morph", "series", "from sound", "variations", "record", "scan")
SCAN_STEP = 4 / 127  # a detent of the scan row: four steps of the wheel
STATES = {"waiting": "wait", "running": "make", "ready": "ready", "kept": "KEPT", "dropped": "drop", "failed": "FAIL"}


class MakePage(RowsPage):
    title = "MAKE"

    def __init__(self):
        self.sel = 0
        self.morph_at = 0.5
        self.series = 5
        self.strength = 0.5
        self.count = 4
        self.scan_at = 0.0
        self.rows = len(ACTIONS)
        self._auditioned = -1
        self._error = ""  # the recording failure shown last

    def _variations(self, ui):
        vs = ui.inst.variations
        return vs.items if vs is not None else []

    def _record_text(self, ui) -> str:
        if ui.inst.recorder is None:
            return "no input"
        s = ui.inst.record_status()
        if s.phase == "failed" and s.error != self._error:  # why, once, over the page
            ui.flash("recording failed: %s" % s.error)
        self._error = s.error if s.phase == "failed" else ""
        if s.phase == "count_in":
            return "in %d %ddB" % (s.count, round(s.level_db))
        if s.phase == "recording":
            return "%.1fs %ddB" % (s.seconds, round(s.level_db))
        if s.phase == "failed":
            return "FAIL"
        return "ready"

    def draw(self, d, m, ui):
        items = self._variations(ui)
        self.rows = len(ACTIONS) + len(items)
        self.sel = min(self.sel, self.rows - 1)
        rows = [
            row("morph", "%.2f" % self.morph_at),
            row("series", fmt.count(self.series)),
            row("from sound", "%.2f" % self.strength),
            row("variations", fmt.count(self.count)),
            row("record", self._record_text(ui)),
            row("scan", "%.2f" % self.scan_at),
        ]
        rows += [
            row("v%d seed %d" % (i + 1, v.seed % 100000), STATES.get(v.state, v.state)) for i, v in enumerate(items)
        ]
        menu(d, rows, self.sel)
        self._audition(ui)

    def _audition(self, ui) -> None:
        """The variation row selected plays (once each time it is selected)."""
        i = self.sel - len(ACTIONS)
        if i == self._auditioned:
            return
        self._auditioned = i
        items = self._variations(ui)
        if 0 <= i < len(items) and items[i].state in ("ready", "kept"):
            ui.inst.audition(i)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        action = ACTIONS[self.sel] if self.sel < len(ACTIONS) else ""
        if action == "morph":
            self.morph_at = min(max(round(self.morph_at + 0.05 * delta, 2), 0.0), 1.0)
        elif action == "series":
            self.series = min(max(self.series + delta, 2), 16)
        elif action == "from sound":
            self.strength = min(max(round(self.strength + 0.05 * delta, 2), 0.0), 1.0)
        elif action == "variations":
            self.count = min(max(self.count + delta, 1), 8)
        elif action == "scan":  # playing, not changing anything: a kiosk's visitor may too
            self.scan_at = ui.inst.set_scan(min(max(self.scan_at + SCAN_STEP * delta, 0.0), 1.0)) / 127.0
        elif self.sel >= len(ACTIONS) and ui.may("vary"):
            i = self.sel - len(ACTIONS)
            (ui.inst.keep_variation if delta > 0 else ui.inst.drop_variation)(i)
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % max(self.rows, 1)
            return True
        try:
            self._act(ui)
        except Exception as e:  # no sound to start from, no input, a full queue: shown
            ui.flash(str(e))
        return True

    def _act(self, ui) -> None:
        inst = ui.inst
        typed = ui.prompt.text.strip()
        own = str(inst.current.generation.get("prompt") or "")
        action = ACTIONS[self.sel] if self.sel < len(ACTIONS) else "variation"
        if action in ("morph", "series"):
            if not ui.may("transform"):
                return
            if not own or not typed:
                ui.flash("morph: play a generated sound and type where to go", kind="hint")
                return
            if action == "morph":
                inst.generate(own, morph=(typed,), position=self.morph_at)
            else:
                inst.generate(own, morph=(typed,), series=self.series)
            ui.set_page("generate")
        elif action == "from sound":
            if ui.may("transform"):
                inst.generate_from_current(typed or own, self.strength)
                ui.set_page("generate")
        elif action == "variations":
            if ui.may("vary"):
                inst.vary(self.count)
                ui.flash("%d variations: they come in below" % self.count, kind="info")
        elif action == "record":
            if ui.may("record"):
                if inst.record_status().phase in ("count_in", "recording"):
                    inst.record_stop()
                else:
                    inst.record_start()
        elif action == "scan":  # a long press: back to the series' start
            self.scan_at = inst.set_scan(0.0) / 127.0
        elif ui.may("vary"):
            inst.close_variations()
            self.sel = ACTIONS.index("variations")
