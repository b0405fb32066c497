"""FX: the master effects (chorus, delay, reverb; engine/effects.py) in a list that scrolls,
edited live; each effect's level at 0 bypasses it. Ranges come from the config's [sampler]
schema, as on the Sound and Filter pages."""

from promptsynth.panel import fmt
from promptsynth.panel.pages.base import LINE, menu, row
from promptsynth.panel.pages.rows import Param, SettingsPage

PARAMS = (
    Param("chorus_mix", "chorus", fmt.percent, 1.0, 1.0),
    Param("chorus_rate", "chorus rate", fmt.hz, 1 / 150, 0.05, True, 0.1),
    Param("chorus_depth", "chorus depth", fmt.percent, 1.0, 1.0),
    Param("delay_mix", "delay", fmt.percent, 1.0, 1.0),
    Param("delay_time", "delay time", fmt.ms, 1 / 200, 1.0, True),
    Param("delay_sync", "sync", fmt.choice),
    Param("delay_feedback", "feedback", fmt.percent, 1.0, 1.0),
    Param("reverb_mix", "reverb", fmt.percent, 1.0, 1.0),
    Param("reverb_size", "room size", fmt.percent, 1.0, 1.0),
    Param("reverb_damping", "damping", fmt.percent, 1.0, 1.0),
)
ROWS_TOP, ROWS_SHOWN = 11, 5


class FxPage(SettingsPage):
    title = "FX"
    PARAMS = PARAMS
    rows = len(PARAMS)

    @staticmethod
    def shown(p, value, m) -> str:
        """A row's value; the delay's sync also says the clock's tempo, or that none arrives (then
        the delay time in ms is used)."""
        text = p.show(value)
        if p.key == "delay_sync" and value != "off":
            text += " %dbpm" % round(m.clock_bpm) if m.clock_bpm else " no clk"
        return text

    def draw(self, d, m, ui):
        s = ui.sampler()
        rows = [row(p.label, self.shown(p, getattr(s, p.key, None), m), cols=19) for p in PARAMS]
        menu(d, rows, self.sel, top=ROWS_TOP, lines=ROWS_SHOWN)
        assert ROWS_TOP + ROWS_SHOWN * LINE <= 64
