"""Filter: the per-voice filter's response drawn from its settings (log frequency, 20 Hz-20 kHz;
the cutoff marked), and its settings in a list that scrolls, edited live. Like the Sound page,
ranges and choices come from the config's [sampler] schema (engine/filter.py is the filter)."""

import cmath
import math
from typing import List, Optional

from promptsynth.engine import filter as filt
from promptsynth.panel import fmt
from promptsynth.panel.pages.base import LINE, menu, row
from promptsynth.panel.pages.rows import Param, SettingsPage

PARAMS = (
    Param("filter_type", "type", fmt.choice),
    Param("cutoff", "cutoff", fmt.hz, 1 / 150, 1.0, True, 20.0),
    Param("resonance", "resonance", fmt.percent, 1.0, 1.0),
    Param("filter_env_depth", "env depth", fmt.cents, 50.0, 1.0),
    Param("filter_attack", "env attack", fmt.ms, 1 / 200, 1.0, True),
    Param("filter_decay", "env decay", fmt.ms, 1 / 200, 1.0, True),
    Param("filter_sustain", "env sustain", fmt.level, 0.01, 0.01),
    Param("filter_release", "env release", fmt.ms, 1 / 200, 1.0, True),
    Param("filter_keytrack", "key track", fmt.percent, 1.0, 1.0),
    Param("filter_veltrack", "vel track", fmt.cents, 50.0, 1.0),
)
TOP, BOTTOM = 11, 32  # the response; three rows of settings below it
ROWS_TOP, ROWS_SHOWN = 34, 3
DB_TOP, DB_BOTTOM = 12.0, -36.0  # the response's vertical range
RATE = 48000.0  # the response is drawn at the usual rate (the shape hardly depends on it)


def response_db(kind: str, cutoff: float, resonance: float, width: int = 128) -> List[Optional[float]]:
    """The filter's magnitude response in dB at ``width`` log-spaced frequencies from 20 Hz to
    20 kHz (None: off). The bilinear transform's prewarped analog prototype, as the filter is."""
    if kind == "off":
        return [None] * width
    k = filt.damping(resonance / 100.0)
    wc = math.tan(math.pi * min(cutoff, 0.45 * RATE) / RATE)
    out: List[Optional[float]] = []
    for x in range(width):
        f = 20.0 * 1000.0 ** (x / (width - 1))
        s = 1j * math.tan(math.pi * min(f, 0.499 * RATE) / RATE) / wc
        den = s * s + k * s + 1
        h = {"lp12": 1 / den, "bp12": s / den, "hp12": s * s / den}.get(kind)
        if h is None:  # lp24: a Butterworth second stage after the resonant one
            h = 1 / den / (s * s + filt.BUTTERWORTH * s + 1)
        out.append(20 * math.log10(max(abs(h), 1e-9)) if not cmath.isnan(h) else None)
    return out


class FilterPage(SettingsPage):
    title = "FILTER"
    PARAMS = PARAMS
    rows = len(PARAMS)

    def draw(self, d, m, ui):
        s = ui.sampler()
        curve = response_db(s.filter_type, s.cutoff, s.resonance)
        span = DB_TOP - DB_BOTTOM
        zero = TOP + int(round(DB_TOP / span * (BOTTOM - TOP)))
        for x in range(0, 128, 4):  # 0 dB, dotted
            d.point((x, zero), fill=1)
        last = None
        for x, db in enumerate(curve):
            if db is None:
                continue
            y = TOP + int(round((DB_TOP - min(max(db, DB_BOTTOM), DB_TOP)) / span * (BOTTOM - TOP)))
            d.line((x - 1, last, x, y) if last is not None else (x, y, x, y), fill=1)
            last = y
        if s.filter_type != "off":
            cx = int(round(math.log(s.cutoff / 20.0) / math.log(1000.0) * 127))
            for y in range(TOP, BOTTOM + 1, 3):  # the cutoff, dotted
                d.point((cx, y), fill=1)
        else:
            d.text((44, TOP + 2), "off", fill=1)
        rows = [row(p.label, p.show(getattr(s, p.key, None)), cols=19) for p in PARAMS]
        menu(d, rows, self.sel, top=ROWS_TOP, lines=ROWS_SHOWN)
        assert ROWS_TOP + ROWS_SHOWN * LINE <= 64
