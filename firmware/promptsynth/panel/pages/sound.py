"""Sound: the waveform with start, end and loop markers; every sound setting, edited live.
Ranges and choices come from the config's [sampler] schema; a page only adds its step sizes."""

from promptsynth.config import SoundSettings, bounds, choices
from promptsynth.panel.pages.base import RowsPage, menu

# (key, one detent, unit shown)
PARAMS = (
    ("start", 0.01, "s"),
    ("end", 0.01, "s"),
    ("loop_mode", None, ""),
    ("loop_start", 0.01, "s"),
    ("loop_end", 0.01, "s"),
    ("crossfade", 5.0, "ms"),
    ("root", 1, ""),
    ("tune", 1.0, "c"),
    ("attack", 5.0, "ms"),
    ("decay", 10.0, "ms"),
    ("sustain", 0.05, ""),
    ("release", 10.0, "ms"),
    ("gain", 0.5, "dB"),
    ("velocity_track", 5.0, "%"),
    ("bend_range", 1.0, "st"),
)


class SoundPage(RowsPage):
    title = "SOUND"
    rows = len(PARAMS)

    def __init__(self):
        self.sel = 0

    def draw(self, d, m, ui):
        wave = m.wave
        top, bottom = 11, 41
        mid = (top + bottom) // 2
        if wave is not None:
            lo, hi = wave
            for x in range(len(lo)):
                y0 = int(mid - hi[x] * (mid - top))
                y1 = int(mid - lo[x] * (mid - top))
                d.line((x, y0, x, max(y1, y0)), fill=1)
        for key, dotted in (("start", False), ("end", False), ("loop_start", True), ("loop_end", True)):
            x = m.markers.get(key)
            if x is None:
                continue
            for y in range(top, bottom + 1, 2 if dotted else 1):
                d.point((x, y), fill=1)
        s = ui.sampler()
        rows = []
        for key, _step, unit in PARAMS:
            v = getattr(s, key)
            rows.append(
                "%-9s %s%s"
                % (
                    key.replace("velocity_track", "veltrack").replace("loop_", "loop")[:9],
                    ("%.3g" % v) if isinstance(v, float) else v,
                    unit,
                )
            )
        menu(d, rows, self.sel, top=44, lines=2)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        key, step, unit = PARAMS[self.sel]
        v = getattr(ui.sampler(), key)
        options = choices(SoundSettings, key)
        if options:
            ui.set_sampler(key, options[(options.index(v) + delta) % len(options)])
            return True
        lo, hi = bounds(SoundSettings, key)
        new = min(max(v + step * delta, lo), hi)
        ui.set_sampler(key, int(new) if isinstance(step, int) else round(new, 4))
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % len(PARAMS)
            return True
        if kind == "long":  # MIDI learn: the next knob moved controls this row
            ui.learn(PARAMS[self.sel][0])
            return True
        return False
