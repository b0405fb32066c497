"""Kit: the current preset's zones (a kit's pads, layers), and a kit generated from a template.

The list shows each zone (key, name, alternates, one-shot, choke group), or, while a kit is
being made, each pad's progress. Playing a key selects its zone. The value encoder picks a
template. A long press makes a kit from it, with the Prompt page's text as the style phrase
("808, punchy"). A short press makes the selected pad again with a new seed. Esc cancels the kit
with the rest of the queue. Kits are the operator's in kiosk mode."""

from promptsynth.library.kits import templates
from promptsynth.panel import fmt
from promptsynth.panel.pages.base import LINE, RowsPage, menu, text

ROWS_TOP, ROWS_SHOWN = 11, 4
STATES = {"waiting": "wait", "running": "queue", "done": "done", "failed": "FAIL", "cancelled": "cancel"}


class KitPage(RowsPage):
    title = "KIT"

    def __init__(self):
        self.sel = 0
        self.template = 0
        self._notes = -1  # note-ons seen: a new one selects its zone
        self.rows = 1

    @staticmethod
    def _names():
        return sorted(templates())

    def _lines(self, ui):
        kit = ui.inst.kit
        if kit is not None and not kit.done:
            out = []
            for pad, st in zip(kit.kit.pads, kit.pads):
                state = "%d/%d" % (st.step, st.total) if st.state == "running" and st.total else STATES[st.state]
                out.append("%3d %-11s%s" % (pad.key, pad.name[:11], state.rjust(5)))
            return out
        zones = ui.inst.current.zones
        if not zones:
            return ["no zones: one sound", "on every key"]
        out = []
        for z in zones:
            keys = fmt.note(z.lokey) if z.lokey == z.hikey else "%s-%s" % (fmt.note(z.lokey), fmt.note(z.hikey))
            flags = ("x%d" % len(z.sounds) if len(z.sounds) > 1 else "") + (" 1s" if z.mode == "one_shot" else "")
            flags += " g%d" % z.group if z.group else ""
            out.append("%-7s %-7s%s" % (keys[:7], (z.name or "zone")[:7], flags.rjust(6)))
        return out

    def _follow_key(self, ui, m) -> None:
        """A key played since the last look selects the zone (or pad) it plays."""
        if m.note_count == self._notes:
            return
        first = self._notes < 0
        self._notes = m.note_count
        if first or m.last_note < 0:
            return
        kit = ui.inst.kit
        if kit is not None and not kit.done:
            keys = [(p.key, p.key) for p in kit.kit.pads]
        else:
            keys = [(z.lokey, z.hikey) for z in ui.inst.current.zones]
        for i, (lo, hi) in enumerate(keys):
            if lo <= m.last_note <= hi:
                self.sel = i
                return

    def draw(self, d, m, ui):
        self._follow_key(ui, m)
        lines = self._lines(ui)
        self.rows = max(len(lines), 1)
        self.sel = min(self.sel, self.rows - 1)
        menu(d, lines, self.sel, top=ROWS_TOP, lines=ROWS_SHOWN)
        names = self._names()
        name = names[self.template % len(names)]
        text(d, 0, ROWS_TOP + ROWS_SHOWN * LINE + 2, ("new: %s" % name)[:21])
        assert ROWS_TOP + ROWS_SHOWN * LINE + 2 + LINE <= 64

    def turn(self, ui, encoder, delta):
        if encoder == 1:
            self.template = (self.template + delta) % len(self._names())
            return True
        return False

    def press(self, ui, kind):
        if not ui.may("kit"):
            return True
        try:
            if kind == "long":
                name = self._names()[self.template % len(self._names())]
                ui.inst.generate_kit(name, style=ui.prompt.text.strip())
                self.sel = 0
                ui.flash("kit %s: %d pads" % (name, len(ui.inst.kit.pads)), kind="info")
            elif ui.inst.kit is not None:
                ui.inst.reroll_pad(self.sel)
                ui.flash("pad %d again" % (self.sel + 1), kind="info")
            else:
                ui.flash("hold: make a kit", kind="hint")
        except Exception as e:  # a kit already running, no generator, a full queue: shown
            ui.flash(str(e))
        return True
