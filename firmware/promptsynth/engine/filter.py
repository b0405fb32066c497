"""The per-voice filter, numpy reference: a zero-delay-feedback state-variable filter
(Zavalishin's topology in Andrew Simper's trapezoidal form), low-, band- and high-pass at 12 dB
an octave and a 24 dB low-pass (two stages). engine/kernel/filter.h is its compiled twin and
performs each operation in the same order.

  g = tan(pi fc / fs); k = damping (1/Q); a1 = 1/(1 + g (g + k)); a2 = g a1; a3 = g a2
  v3 = x - ic2; v1 = a1 ic1 + a2 v3; v2 = ic2 + a2 ic1 + a3 v3
  ic1 = 2 v1 - ic1; ic2 = 2 v2 - ic2;  low = v2, band = v1, high = x - k v1 - v2

Exactly linear while its states stay under SAT_KNEE; above, they are bent towards SAT_LIMIT,
which bounds it: at full resonance the damping turns negative and it self-oscillates at a level
the bend sets instead of blowing up. States under 1e-30 are flushed to 0 after each period (no
subnormals: a state needs far more than a period to decay from there).

The cutoff is set every CONTROL frames (from the filter envelope, key and velocity tracking and
CC74) and ramped linearly in between, so moving it never steps.

This reference loops over frames in Python (a recursive filter cannot be vectorised over
frames): it is exact, and slow; the engine plays through the kernel.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from promptsynth.config import FILTER_TYPES
from promptsynth.engine.lfo import ramp
from promptsynth.engine.period_settings import FP_DEPTH, FP_OFF0, FP_OFF1, FP_RATE

TYPES = FILTER_TYPES  # by index: OFF, LP12, ... below

OFF, LP12, BP12, HP12, LP24 = range(5)
SAT_KNEE = 2.0
SAT_LIMIT = 4.0
FLUSH = 1e-30
CONTROL = 16  # frames between cutoff control points
K_MAX = math.sqrt(2.0)  # resonance 0: Butterworth (-3 dB at the cutoff)
K_SELF = -0.05  # resonance 100 %: negative damping, so it self-oscillates
BUTTERWORTH = math.sqrt(2.0)  # the 24 dB's second stage


def damping(resonance: float) -> float:
    """k (1/Q) for a resonance of 0..1: Butterworth at 0, Q 2 at 0.5, Q 22 at 0.9, a sharp rise
    above 0.95, and self-oscillation at 1."""
    r = min(max(resonance, 0.0), 1.0)
    k = K_MAX * (1.0 - r) ** 1.5
    if r > 0.9:
        k += K_SELF * ((r - 0.9) / 0.1) ** 2
    return k


def cutoff_pitch(cutoff_hz: float) -> float:
    """A frequency as a MIDI pitch (69 = 440 Hz): the cutoff is tracked in semitones."""
    return 69.0 + 12.0 * math.log2(cutoff_hz / 440.0)


def sat(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    if not (a > SAT_KNEE).any():
        return x
    bent = np.copysign(SAT_KNEE + (SAT_LIMIT - SAT_KNEE) * np.tanh((a - SAT_KNEE) / (SAT_LIMIT - SAT_KNEE)), x)
    return np.where(a > SAT_KNEE, bent, x)


def control_points(n: int) -> np.ndarray:
    """Frames 0, CONTROL, 2 CONTROL, ... and n: where the cutoff and the LFO are computed."""
    return np.append(np.arange(0, n, CONTROL), n).astype(np.float64)


def cutoff_gains(
    cols: np.ndarray, t0: np.ndarray, fp: np.ndarray, n: int, lfo: Optional[np.ndarray] = None
) -> np.ndarray:
    """Per voice and frame, the prewarped cutoff gain g = tan(pi fc / fs): (voices, n).

    ``cols``: the voices' (FBASE, F_AR, F_A0, F_DR, F_D0, F_SUS, F_OMS) columns; ``t0``: their time
    in frames at the period's start; ``lfo``: the LFO's semitones at the control points, if any."""
    fbase, far, fa0, fdr, fd0, fsus, foms = (cols[:, i : i + 1] for i in range(7))
    pts = control_points(n)
    t = t0[:, None] + pts
    e = np.clip(t * fdr + fd0, 0.0, 1.0)
    e = 1.0 - e
    e = e * (e * e) * foms + fsus
    attack = np.minimum(t * far + fa0, 1.0)
    e = np.where(fa0 < 1.0, e * attack, e)
    pitch = fbase + fp[FP_DEPTH] * e + fp[FP_OFF0] + (fp[FP_OFF1] - fp[FP_OFF0]) * pts / n
    if lfo is not None:
        pitch = pitch + lfo
    rate = fp[FP_RATE]
    fc = np.clip(440.0 * np.exp2((pitch - 69.0) / 12.0), 16.0, 0.45 * rate)
    return ramp(np.tan(np.pi * fc / rate), pts, n)


def run(kind: int, x: np.ndarray, g: np.ndarray, k: float, st: np.ndarray) -> None:
    """Filter ``x`` (channels, voices, n) float32 in place; ``g`` (voices, n) the cutoff gains,
    ``k`` the damping, ``st`` (channels, voices, 4) the states (updated)."""
    n = x.shape[2]
    ic1, ic2, ic3, ic4 = (st[..., i].copy() for i in range(4))
    out = np.empty(x.shape, np.float64)
    for j in range(n):
        gj = g[:, j]
        a1 = 1.0 / (1.0 + gj * (gj + k))
        a2 = gj * a1
        a3 = gj * a2
        v0 = x[:, :, j].astype(np.float64)
        v3 = v0 - ic2
        v1 = a1 * ic1 + a2 * v3
        v2 = ic2 + a2 * ic1 + a3 * v3
        ic1 = sat(2.0 * v1 - ic1)
        ic2 = sat(2.0 * v2 - ic2)
        if kind == LP12:
            y = v2
        elif kind == BP12:
            y = v1
        elif kind == HP12:
            y = v0 - k * v1 - v2
        else:
            b1 = 1.0 / (1.0 + gj * (gj + BUTTERWORTH))
            b2 = gj * b1
            b3 = gj * b2
            w3 = v2 - ic4
            w1 = b1 * ic3 + b2 * w3
            w2 = ic4 + b2 * ic3 + b3 * w3
            ic3 = sat(2.0 * w1 - ic3)
            ic4 = sat(2.0 * w2 - ic4)
            y = w2
        out[:, :, j] = y
    x[...] = out
    st[..., 0], st[..., 1], st[..., 2], st[..., 3] = ic1, ic2, ic3, ic4
    st[np.abs(st) < FLUSH] = 0.0
