"""Pages whose rows are sound settings (Sound, Filter, FX): each row's key in the config's
[sampler] schema, how it reads (panel/fmt.py) and how a detent moves it (panel/encoder.py's
Dial); turning, pressing and MIDI learn are the same on every such page."""

from typing import Callable, NamedTuple, Optional, Tuple

from promptsynth.config import SoundSettings, bounds, choices
from promptsynth.panel.encoder import Dial
from promptsynth.panel.pages.base import RowsPage

POINTS = ("start", "end", "loop_start", "loop_end")


class Param(NamedTuple):
    key: str
    label: str
    show: Callable
    step: Optional[float] = None  # one slow detent (see Dial); None: a choice
    quantum: float = 1.0
    log: bool = False
    knee: float = 1.0


def dial(p: Param, sound_seconds: Optional[float]) -> Dial:
    lo, hi = bounds(SoundSettings, p.key)
    if p.key in POINTS and sound_seconds:  # points move within the sound, not within an hour
        hi = min(hi, sound_seconds)
    assert p.step is not None
    return Dial(lo, hi, p.step, p.quantum, p.log, p.knee)


class SettingsPage(RowsPage):
    """Rows of ``PARAMS``: the value encoder changes the selected one live (a choice steps
    through its options), a short press selects the next row, a long press MIDI-learns it."""

    PARAMS: Tuple[Param, ...] = ()

    def __init__(self):
        self.sel = 0

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        p = self.PARAMS[self.sel]
        v = getattr(ui.sampler(), p.key)
        options = choices(SoundSettings, p.key)
        if options:
            ui.set_sampler(p.key, options[(options.index(v) + delta) % len(options)])
            return True
        new = dial(p, ui.sound_seconds()).turn(v, delta, ui.turn_speed, ui.fine)
        ui.set_sampler(p.key, int(new) if isinstance(v, int) else new)
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % len(self.PARAMS)
            return True
        if kind == "long":  # MIDI learn: the next knob moved controls this row
            ui.learn(self.PARAMS[self.sel].key)
            return True
        return False
