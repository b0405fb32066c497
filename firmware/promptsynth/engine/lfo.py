"""The LFO, numpy reference: one per voice, started at its note-on (engine/kernel/lfo.h is its
compiled twin and computes each value the same way).

Shapes (each starting at 0, or a held value, at the note-on and going up): sine, triangle,
square, and sample & hold (a new value each cycle from a hash of the voice's note-on count and
the cycle, so the reference and the kernel draw the same values). After ``delay`` frames it
fades in over ``fade`` frames. It moves pitch (at the period's end: the render ramps the pitch
across a period), the filter cutoff and the level (at the control points every CONTROL frames,
ramped linearly between), each by its depth; the mod wheel and channel pressure scale the depths
(the sampler folds that into the depths it hands the renderer).
"""

from __future__ import annotations

import numpy as np

from promptsynth.config import LFO_WAVES

SINE, TRIANGLE, SQUARE, SAMPLE_HOLD = range(4)
WAVES = LFO_WAVES  # by index, as above
MASK = 0xFFFFFFFF


def hash_unit(seed: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """A value in [-1, 1) from two integers (a 32-bit integer hash; lfo.h's lfo_hash)."""
    s = np.asarray(seed, np.uint64) & MASK
    c = np.asarray(cycle, np.uint64) & MASK
    h = (s * np.uint64(0x9E3779B1) + c * np.uint64(0x85EBCA77)) & MASK
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & MASK
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & MASK
    h ^= h >> np.uint64(15)
    return h.astype(np.float64) * (2.0 / 4294967296.0) - 1.0


def values(wave: int, lt: np.ndarray, rate: float, delay: float, fade: float, seed: np.ndarray) -> np.ndarray:
    """The LFO of each voice at its times ``lt`` (frames since its note-on, any shape whose
    first axis is the voices'): ``rate`` in cycles a frame, ``delay`` and ``fade`` in frames."""
    u = lt * rate
    cycle = np.floor(u)
    ph = u - cycle
    if wave == SINE:
        v = np.sin(2.0 * np.pi * ph)
    elif wave == TRIANGLE:
        q = ph + 0.25
        v = 1.0 - 4.0 * np.abs((q - np.floor(q)) - 0.5)
    elif wave == SQUARE:
        v = np.where(ph < 0.5, 1.0, -1.0)
    else:
        v = hash_unit(seed.reshape((-1,) + (1,) * (lt.ndim - 1)), cycle.astype(np.int64))
    if fade > 0.0:
        amp = np.clip((lt - delay) / fade, 0.0, 1.0)
    else:
        amp = (lt >= delay).astype(np.float64)
    return v * amp


def ramp(ctl: np.ndarray, pts: np.ndarray, n: int) -> np.ndarray:
    """Values at the control points ``pts`` (0, CONTROL, ..., n) ramped linearly to each frame:
    (voices, points) -> (voices, n)."""
    out = np.empty((ctl.shape[0], n))
    for b in range(len(pts) - 1):
        j0 = int(pts[b])
        length = int(pts[b + 1]) - j0
        step = (ctl[:, b + 1] - ctl[:, b]) / length
        out[:, j0 : j0 + length] = ctl[:, b, None] + step[:, None] * np.arange(length)
    return out
