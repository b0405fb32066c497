"""Recordings of sustained instruments, made here: test and benchmark material for the loop
finder (library/loops.py).

Each is a note held about 2.5 s and released, built the way the real thing behaves: organ ranks
a little out of tune with each other, a bowed string's slow attack, vibrato and bow noise, a pad's
detuned oscillators with partials drifting in level, a choir's two voices with their own
vibratos and breath, a flute's breath noise, and a model-like tone that fades out instead of
being released. Each comes with the truth: where its sustained part begins and ends. The
decaying and sweeping sounds at the end have no good loop, and the finder must say so.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple

import numpy as np

RATE = 48000


class Material(NamedTuple):
    audio: np.ndarray  # (frames, 1) float64
    sustain_start_s: float  # where the attack ends
    sustain_end_s: float  # where the release (or fade) begins


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _phase(freq: np.ndarray) -> np.ndarray:
    return 2 * np.pi * np.cumsum(freq) / RATE


def _envelope(t: np.ndarray, attack: float, hold_end: float, release: float) -> np.ndarray:
    """Linear-in-dB attack to full over ``attack`` s, held, then an exponential release
    (-60 dB over ``release`` s) from ``hold_end``."""
    a = np.clip(t / attack, 0.0, 1.0) ** 2
    r = np.where(t < hold_end, 1.0, 10 ** (-3.0 * (t - hold_end) / release))
    return a * r


def _noise(n: int, rng, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Band-limited noise (an FFT mask), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    spec[(f < lo_hz) | (f > hi_hz)] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def _vibrato(t: np.ndarray, rate_hz: float, cents: float, onset: float, phase: float = 0.0) -> np.ndarray:
    depth = np.clip((t - onset) / 0.3, 0.0, 1.0) * cents
    return 2.0 ** (depth * np.sin(2 * np.pi * rate_hz * t + phase) / 1200.0)


def organ(seed: int = 0) -> Material:
    t = _t(3.0)
    x = np.zeros_like(t)
    for detune, level in ((0.0, 1.0), (1.5, 0.3)):  # two ranks, a cent and a half apart
        ph = _phase(np.full_like(t, 196.0 * 2 ** (detune / 1200)))
        x += level * sum(0.3 / k * np.sin(k * ph) for k in (1, 2, 3, 4, 6, 8))
    x *= _envelope(t, 0.03, 2.5, 0.4)
    return Material(0.25 * x[:, None] / np.abs(x).max(), 0.03, 2.5)


def strings(seed: int = 0) -> Material:
    rng = np.random.default_rng(seed)
    t = _t(3.3)
    f = 220.0 * _vibrato(t, 5.5, 12.0, 0.4)
    ph = _phase(f)
    x = sum((0.5 / k) * np.sin(k * ph) for k in range(1, 13))
    x = x + 0.05 * _noise(len(t), rng, 2000.0, 8000.0)  # bow noise, -26 dB
    x *= _envelope(t, 0.35, 2.7, 0.6)
    return Material(0.4 * x[:, None] / np.abs(x).max(), 0.35, 2.7)


def pad(seed: int = 0) -> Material:
    rng = np.random.default_rng(seed)
    t = _t(4.2)
    x = np.zeros_like(t)
    for cents in (-7.0, 0.0, 7.0):  # three detuned oscillators
        ph = _phase(np.full_like(t, 130.81 * 2 ** (cents / 1200)))
        for k in range(1, 16):  # partials drifting in level, each at its own pace
            drift = 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.28))
            x += drift * (0.3 / k) * np.sin(k * ph + rng.uniform(0, 6.28))
    x *= _envelope(t, 0.8, 3.0, 1.2)
    return Material(0.4 * x[:, None] / np.abs(x).max(), 0.8, 3.0)


def choir(seed: int = 0) -> Material:
    rng = np.random.default_rng(seed)
    t = _t(3.3)
    x = np.zeros_like(t)
    for voice, (vr, ph0, det) in enumerate(((5.1, 0.0, 0.0), (5.6, 2.0, 4.0))):
        f = 261.63 * 2 ** (det / 1200) * _vibrato(t, vr, 20.0, 0.3, ph0)
        ph = _phase(f)
        for k in range(1, 20):  # a vowel: formants near 700 and 1200 Hz
            fk = 261.63 * k
            w = np.exp(-(((fk - 700) / 250) ** 2)) + 0.6 * np.exp(-(((fk - 1200) / 300) ** 2)) + 0.05
            x += w * np.sin(k * ph + voice)
    x = x / np.abs(x).max() + 0.06 * _noise(len(t), rng, 500.0, 6000.0)  # breath, -24 dB
    x *= _envelope(t, 0.25, 2.7, 0.5)
    return Material(0.4 * x[:, None] / np.abs(x).max(), 0.25, 2.7)


def flute(seed: int = 0) -> Material:
    rng = np.random.default_rng(seed)
    t = _t(3.0)
    f = 523.25 * _vibrato(t, 5.0, 10.0, 0.5)
    ph = _phase(f)
    x = np.sin(ph) + 0.2 * np.sin(2 * ph) + 0.08 * np.sin(3 * ph)
    x = x + 0.1 * _noise(len(t), rng, 1000.0, 10000.0)  # breath, -20 dB
    x *= _envelope(t, 0.1, 2.6, 0.3)
    return Material(0.4 * x[:, None] / np.abs(x).max(), 0.1, 2.6)


def fading(seed: int = 0) -> Material:
    """Model-like: a drifting tone in a little noise that fades out over its last 40 %."""
    rng = np.random.default_rng(seed)
    t = _t(5.0)
    f = 174.6 * (1 + 0.002 * np.sin(2 * np.pi * 0.3 * t))
    ph = _phase(f)
    x = sum(0.2 / k * np.sin(k * ph) for k in range(1, 9)) + 0.01 * _noise(len(t), rng, 50.0, 8000.0)
    x *= np.clip(t / 0.05, 0.0, 1.0) * np.clip((5.0 - t) / 2.0, 0.0, 1.0)
    return Material(0.4 * x[:, None] / np.abs(x).max(), 0.05, 3.0)


SUSTAINED: Dict[str, Callable[..., Material]] = {
    "organ": organ,
    "strings": strings,
    "pad": pad,
    "choir": choir,
    "flute": flute,
    "fading": fading,
}


def pluck(seed: int = 0) -> np.ndarray:
    t = _t(3.0)
    ph = _phase(np.full_like(t, 330.0))
    x = sum(0.3 / k * np.sin(k * ph) * np.exp(-t * k / 0.4) for k in range(1, 8))
    return 0.4 * x[:, None] / np.abs(x).max()


def sweep(seed: int = 0) -> np.ndarray:
    """A steady level, but the pitch glides an octave: nothing repeats."""
    t = _t(3.0)
    ph = _phase(200.0 * 2 ** (t / 3.0))
    x = sum(0.3 / k * np.sin(k * ph) for k in range(1, 6)) * np.clip(t / 0.05, 0, 1) * np.clip((3.0 - t) / 0.3, 0, 1)
    return 0.4 * x[:, None] / np.abs(x).max()


UNLOOPABLE: Dict[str, Callable[..., np.ndarray]] = {"pluck": pluck, "sweep": sweep}


# ---- judging a loop as it plays -----------------------------------------------------------------
SEAM_MS = 2.0  # around each pass over the seam, where a click would be
SPECTRUM_MS = 20.0


def played(audio: np.ndarray, loop: Dict, passes: int = 3) -> np.ndarray:
    """The sound as the engine plays it at its root (a forward loop with the finder's crossfade),
    long enough to cross the seam ``passes`` times: mono, float64."""
    from promptsynth.engine.sampler import Sampler, VoiceParams
    from promptsynth.engine.sound import prepare

    period = 128
    params = VoiceParams(attack=0.0, decay=0.0, sustain=1.0, release=0.0, gain_db=0.0, velocity_track=0.0)
    s = Sampler(RATE, period, params, renderer="kernel")
    s.load(
        prepare(audio, loop_mode="forward", loop_start=loop["start"], loop_end=loop["end"], crossfade=loop["crossfade"])
    )
    s.set_params(gain_db=0.0)
    s.note_on(60, 127)
    frames = loop["end"] + passes * (loop["end"] - loop["start"]) + RATE // 10
    out = [s.render()[:, 0].astype(np.float64) for _ in range(frames // period + 1)]
    return np.concatenate(out)[:frames]


def _log_spectrum(x: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-9)


def seam(audio: np.ndarray, loop: Dict, passes: int = 3) -> Dict[str, float]:
    """How the seam sounds, against the loop's own material: ``click`` is the largest sample step
    within SEAM_MS of a crossing over the loop's own 99.9th-percentile step (1 = as smooth as
    the sound itself); ``timbre`` is the change of spectrum across a crossing (SPECTRUM_MS
    windows either side, mean absolute dB difference over the loudest bins) over the median of
    the same change between neighbouring windows inside the loop (``timbre_db``: the change
    itself, in dB)."""
    y = played(audio, loop, passes)
    s, e = loop["start"], loop["end"]
    length = e - s
    crossings = [e + k * length for k in range(passes)]
    step = np.abs(np.diff(y))
    natural = float(np.percentile(step[s:e], 99.9)) + 1e-12
    half = int(SEAM_MS * RATE / 1000)
    click = max(float(step[c - half : c + half].max()) for c in crossings) / natural
    n = int(SPECTRUM_MS * RATE / 1000)

    def change(at: int) -> float:
        a, b = _log_spectrum(y[at - n : at]), _log_spectrum(y[at : at + n])
        loud = np.maximum(a, b) > max(a.max(), b.max()) - 40  # the bins that carry the sound
        return float(np.mean(np.abs(a - b)[loud]))

    inside = [change(int(at)) for at in np.linspace(s + n, e - n, 40)]
    jump = max(change(c) for c in crossings)
    timbre = jump / (float(np.median(inside)) + 1e-12)
    return {"click": round(click, 3), "timbre": round(timbre, 3), "timbre_db": round(jump, 2)}
