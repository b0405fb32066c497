"""Sound: the waveform with start, end and loop markers; every sound setting, edited live, in a
list that scrolls (a scroll bar, and the row's place in the title: SOUND 9/17).
Ranges and choices come from the config's [sampler] schema; a page only adds how a value moves
(panel/encoder.py's Dial) and how it reads (panel/fmt.py)."""

from promptsynth.panel import fmt
from promptsynth.panel.pages.base import LINE, menu, row
from promptsynth.panel.pages.rows import Param, SettingsPage


def _end(v):  # 0 is "the end of the sound"
    return "end" if not v else fmt.seconds(v)


PARAMS = (
    Param("start", "start", fmt.seconds, 0.01, 0.001),
    Param("end", "end", _end, 0.01, 0.001),
    Param("loop_mode", "loop", fmt.choice),
    Param("loop_start", "loop start", fmt.seconds, 0.01, 0.001),
    Param("loop_end", "loop end", _end, 0.01, 0.001),
    Param("crossfade", "crossfade", fmt.ms, 1 / 150, 1.0, True),
    Param("root", "root", fmt.note, 1, 1),
    Param("tune", "tune", fmt.cents, 1.0, 1.0),
    Param("attack", "attack", fmt.ms, 1 / 200, 1.0, True),  # log: 5 % a slow detent
    Param("decay", "decay", fmt.ms, 1 / 200, 1.0, True),
    Param("sustain", "sustain", fmt.level, 0.01, 0.01),
    Param("release", "release", fmt.ms, 1 / 200, 1.0, True),
    Param("gain", "gain", fmt.db, 0.5, 0.1),
    Param("velocity_track", "vel track", fmt.percent, 1.0, 1.0),
    Param("bend_range", "bend", fmt.semitones, 1.0, 1.0),
    Param("vibrato_rate", "vib rate", fmt.hz, 1 / 150, 0.1, True, 0.1),
    Param("vibrato_depth", "vib depth", fmt.cents, 5.0, 1.0),
    Param("lfo_wave", "lfo wave", fmt.choice),
    Param("lfo_rate", "lfo rate", fmt.hz, 1 / 150, 0.05, True, 0.1),
    Param("lfo_delay", "lfo delay", fmt.ms, 1 / 200, 1.0, True),
    Param("lfo_fade", "lfo fade", fmt.ms, 1 / 200, 1.0, True),
    Param("lfo_pitch", "lfo>pitch", fmt.cents, 5.0, 1.0),
    Param("lfo_cutoff", "lfo>cutoff", fmt.cents, 50.0, 1.0),
    Param("lfo_level", "lfo>level", fmt.percent, 1.0, 1.0),
    Param("lfo_modwheel", "lfo wheel", fmt.percent, 1.0, 1.0),
    Param("lfo_aftertouch", "lfo press", fmt.percent, 1.0, 1.0),
    Param("aftertouch_cutoff", "press>cutoff", fmt.cents, 50.0, 1.0),
)
WAVE_TOP, WAVE_BOTTOM = 11, 32  # the waveform; three rows of settings below it
ROWS_TOP, ROWS_SHOWN = 34, 3


class SoundPage(SettingsPage):
    title = "SOUND"
    PARAMS = PARAMS
    rows = len(PARAMS)

    def draw(self, d, m, ui):
        wave = m.wave
        top, bottom = WAVE_TOP, WAVE_BOTTOM
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
        rows = [row(p.label, p.show(getattr(s, p.key, None)), cols=19) for p in PARAMS]
        menu(d, rows, self.sel, top=ROWS_TOP, lines=ROWS_SHOWN)
        assert ROWS_TOP + ROWS_SHOWN * LINE <= 64
