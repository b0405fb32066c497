"""From raw model output to an instrument: resample, clean, level, tune, loop, cut to one hit.

Each step can be turned off (:class:`ShapeOptions`) and records what it did in the returned
metadata, so a sound's sidecar says exactly how it was made. numpy/scipy plus soxr (resampling)
and pyloudnorm (ITU-R BS.1770 loudness).

Root pitch is YIN (de Cheveigné & Kawahara 2002) on frames of the sustained part, with a
voicing test across frames, so noise and drums come back as unpitched instead of with an
invented note. Loops are library/loops.py's: found in the sustained part wherever it lies,
where waveform and spectrum match, or "no good loop" with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from promptsynth.library.loops import LoopSearch, search

SINGLE_HIT = re.compile(
    r"\b(kick|kickdrum|kick drum|snare|clap|rimshot|rim shot|tom|hi-?hat|hat|cowbell|shaker|"
    r"stab|hit|ting|pluck|one[- ]shot|single|808|909|blip|zap|impact|thud|knock)s?\b",
    re.I,
)
NOT_SINGLE = re.compile(r"\b(break|loop|beat|groove|pattern|melody|chords?|solo|song|rhythm|sequence|roll)s?\b", re.I)


def wants_single_hit(prompt: str) -> bool:
    """Prompts that ask for one hit ("a kickdrum", "a single snare"), not for a pattern."""
    return bool(SINGLE_HIT.search(prompt or "")) and not NOT_SINGLE.search(prompt or "")


@dataclass
class ShapeOptions:
    resample: bool = True
    dc: bool = True
    single_hit: Optional[bool] = None  # None: decided from the prompt
    trim: bool = True
    fades: bool = True
    loudness: bool = True
    pitch: bool = True
    loop: bool = True
    target_lufs: float = -16.0
    ceiling_dbtp: float = -1.0
    trim_db: float = -60.0  # below the peak: silence
    fade_in_ms: float = 2.0
    fade_out_ms: float = 10.0
    crossfade_ms: float = 30.0


@dataclass
class Shaped:
    audio: np.ndarray  # (frames, channels) float32 at ``rate``
    rate: int
    steps: List[Dict[str, object]] = field(default_factory=list)
    analysis: Dict[str, Any] = field(default_factory=dict)  # for the sidecar (JSON)


# ---- the chain --------------------------------------------------------------------------------


def shape(
    audio: np.ndarray, rate: int, out_rate: int = 48000, prompt: str = "", options: Optional[ShapeOptions] = None
) -> Shaped:
    o = options or ShapeOptions()
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("cannot shape empty or non-finite audio")
    steps: List[Dict[str, object]] = []
    analysis: Dict[str, Any] = {}
    if o.dc:  # first: resampling would turn an offset into an edge
        x, info = remove_dc(x, rate)
        steps.append(dict(step="dc", **info))
    if o.resample and rate != out_rate:
        import soxr

        x = soxr.resample(x, rate, out_rate, quality="VHQ")
        steps.append({"step": "resample", "from": rate, "to": out_rate, "quality": "soxr VHQ"})
        rate = out_rate
    single = wants_single_hit(prompt) if o.single_hit is None else o.single_hit
    if single:
        x, info = keep_first_hit(x, rate)
        steps.append(dict(step="single_hit", **info))
        analysis["onsets"] = info["onsets_s"]
    if o.trim:
        x, info = trim_silence(x, rate, o.trim_db)
        steps.append(dict(step="trim", **info))
    if o.fades:
        x = apply_fades(x, rate, o.fade_in_ms, o.fade_out_ms)
        steps.append({"step": "fades", "in_ms": o.fade_in_ms, "out_ms": o.fade_out_ms})
    if o.loudness:
        x, info = normalise(x, rate, o.target_lufs, o.ceiling_dbtp)
        steps.append(dict(step="loudness", **info))
        analysis["loudness_lufs"] = info["after_lufs"]
    pitch = None
    if o.pitch:
        pitch = detect_pitch(x.mean(axis=1), rate)
        analysis["pitch"] = pitch
        steps.append({"step": "pitch", "pitched": pitch["pitched"]})
    if o.loop and not single:
        found = analyse_loop(x, rate, pitch, o.crossfade_ms)
        analysis["loop"] = found.loop
        analysis["loop_note"] = found.note
        steps.append({"step": "loop", "found": found.loop is not None, "note": found.note})
    return Shaped(audio=x.astype(np.float32), rate=rate, steps=steps, analysis=analysis)


# ---- steps ------------------------------------------------------------------------------------


def remove_dc(x: np.ndarray, rate: int, cutoff_hz: float = 10.0) -> Tuple[np.ndarray, Dict[str, object]]:
    """Remove the mean; where slow drift remains (energy below ``cutoff_hz`` above -40 dB of the
    whole), also a causal 2nd-order high-pass (causal: no pre-ringing before attacks)."""
    from scipy.signal import butter, sosfilt

    mean = x.mean(axis=0)
    y = x - mean
    hp = False
    if len(y) > rate // 10:
        low = sosfilt(butter(2, cutoff_hz, btype="lowpass", fs=rate, output="sos"), y, axis=0)
        if np.sum(low * low) > np.sum(y * y) * 1e-4:
            y = sosfilt(butter(2, cutoff_hz, btype="highpass", fs=rate, output="sos"), y, axis=0)
            hp = True
    return y, {"mean_removed": [round(float(v), 6) for v in mean], "highpass_hz": cutoff_hz if hp else None}


def _envelope_db(x: np.ndarray, rate: int, ms: float = 5.0) -> Tuple[np.ndarray, int]:
    hop = max(int(rate * ms / 1000), 1)
    mono = np.abs(x).max(axis=1)
    n = len(mono) // hop
    if n == 0:
        return np.array([20 * np.log10(mono.max() + 1e-12)]), hop
    peaks = mono[: n * hop].reshape(n, hop).max(axis=1)
    return 20 * np.log10(peaks + 1e-12), hop


def trim_silence(
    x: np.ndarray, rate: int, threshold_db: float = -60.0, pre_ms: float = 5.0, post_ms: float = 20.0
) -> Tuple[np.ndarray, Dict[str, object]]:
    """Cut leading and trailing parts quieter than ``threshold_db`` below the peak."""
    level = np.abs(x).max(axis=1)
    peak = float(level.max())
    if peak <= 0:
        return x, {"start_s": 0.0, "end_s": len(x) / rate, "removed_s": 0.0}
    loud = np.flatnonzero(level > peak * 10 ** (threshold_db / 20))
    a = max(int(loud[0]) - int(pre_ms * rate / 1000), 0)
    b = min(int(loud[-1]) + int(post_ms * rate / 1000) + 1, len(x))
    return x[a:b], {
        "start_s": round(a / rate, 4),
        "end_s": round(b / rate, 4),
        "removed_s": round((len(x) - (b - a)) / rate, 4),
    }


def apply_fades(x: np.ndarray, rate: int, in_ms: float, out_ms: float) -> np.ndarray:
    """Raised-cosine fades: the sound starts and ends at exactly zero."""
    y = x.copy()
    n_in = min(int(rate * in_ms / 1000), len(y) // 4)
    n_out = min(int(rate * out_ms / 1000), len(y) // 4)
    if n_in > 0:
        y[:n_in] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(n_in) / n_in))[:, None]
    if n_out > 0:
        y[len(y) - n_out :] *= (0.5 + 0.5 * np.cos(np.pi * (np.arange(n_out) + 1) / n_out))[:, None]
    return y


def true_peak(x: np.ndarray, rate: int) -> float:
    """Peak of the signal oversampled 4x (BS.1770 true peak)."""
    import soxr

    if len(x) < 16:
        return float(np.abs(x).max())
    up = soxr.resample(x, rate, rate * 4, quality="HQ")
    return float(max(np.abs(up).max(), np.abs(x).max()))


def loudness(x: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770); clips under 0.4 s (too short for its gating) are
    measured as K-weighted-free RMS, which is what the meter reduces to for a steady signal."""
    if len(x) >= int(0.4 * rate):
        import pyloudnorm

        value = pyloudnorm.Meter(rate).integrated_loudness(x if x.shape[1] > 1 else x[:, 0])
        if math.isfinite(value):
            return float(value)
    ms = float(np.mean(np.sum(x * x, axis=1)))
    return -0.691 + 10 * math.log10(ms + 1e-20)


def normalise(x: np.ndarray, rate: int, target_lufs: float, ceiling_dbtp: float) -> Tuple[np.ndarray, Dict]:
    before = loudness(x, rate)
    gain_db = target_lufs - before
    tp = true_peak(x, rate) * 10 ** (gain_db / 20)
    limited = False
    ceiling = 10 ** (ceiling_dbtp / 20)
    if tp > ceiling:  # the true-peak ceiling wins over the loudness target
        gain_db -= 20 * math.log10(tp / ceiling)
        limited = True
    gain_db = min(gain_db, 60.0)  # never lift near-silence into loud noise
    y = x * 10 ** (gain_db / 20)
    return y, {
        "before_lufs": round(before, 2),
        "after_lufs": round(loudness(y, rate), 2),
        "gain_db": round(gain_db, 2),
        "target_lufs": target_lufs,
        "ceiling_dbtp": ceiling_dbtp,
        "peak_limited": limited,
    }


# ---- pitch ------------------------------------------------------------------------------------


def _yin(frame: np.ndarray, tau_min: int, tau_max: int) -> Tuple[float, float]:
    """(period in samples, aperiodicity) of one frame; aperiodicity 1 when nothing is found."""
    n = len(frame) - tau_max
    x = frame - frame.mean()
    # difference function via FFT cross-correlation: d(t) = E0 + Et - 2 r(t)
    size = 1 << int(math.ceil(math.log2(len(x) + n)))
    spec_a = np.fft.rfft(x, size)
    spec_b = np.fft.rfft(x[:n], size)
    r = np.fft.irfft(spec_a * np.conj(spec_b), size)[: tau_max + 1]
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    e0 = sq[n]
    et = sq[np.arange(tau_max + 1) + n] - sq[np.arange(tau_max + 1)]
    d = e0 + et - 2 * r
    d[0] = 0.0
    cum = np.cumsum(d[1:])
    dn = np.ones_like(d)
    dn[1:] = d[1:] * np.arange(1, tau_max + 1) / np.maximum(cum, 1e-20)
    below = np.flatnonzero(dn[tau_min:tau_max] < 0.15)
    if below.size:
        t = tau_min + int(below[0])
        while t + 1 < tau_max and dn[t + 1] < dn[t]:
            t += 1
    else:
        t = tau_min + int(np.argmin(dn[tau_min:tau_max]))
    if 1 <= t < tau_max:  # parabolic interpolation of the minimum
        a, b, c = dn[t - 1], dn[t], dn[t + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den > 0 else 0.0
    else:
        off = 0.0
    return t + off, float(dn[t])


def detect_pitch(x: np.ndarray, rate: int, fmin: float = 30.0, fmax: float = 2000.0) -> Dict[str, Any]:
    """Root note, cents and a confidence from frames of the loud part; unpitched when the frames
    do not agree on one periodic pitch."""
    x = np.asarray(x, dtype=np.float64)
    tau_min, tau_max = int(rate / fmax), int(rate / fmin) + 1
    win = max(2 * tau_max, int(0.04 * rate))
    env = np.abs(x)
    peak = env.max() if x.size else 0.0
    if peak <= 0 or len(x) < win + tau_max:
        return {"pitched": False, "hz": None, "note": None, "cents": None, "confidence": 0.0}
    hop = max(win // 2, 1)
    starts = range(0, len(x) - win - tau_max, hop)
    found_periods: List[float] = []
    found_aper: List[float] = []
    for s in starts:
        frame = x[s : s + win + tau_max]
        if np.sqrt(np.mean(frame**2)) < peak * 0.03:  # quiet frames do not vote
            continue
        p, a = _yin(frame, tau_min, tau_max)
        found_periods.append(p)
        found_aper.append(a)
        if len(found_periods) >= 60:
            break
    if len(found_periods) < 3:
        return {"pitched": False, "hz": None, "note": None, "cents": None, "confidence": 0.0}
    periods, aper = np.array(found_periods), np.array(found_aper)
    voiced = aper < 0.2
    if voiced.sum() < max(3, 0.5 * len(aper)):
        return {"pitched": False, "hz": None, "note": None, "cents": None, "confidence": round(float(voiced.mean()), 3)}
    hz_frames = rate / periods[voiced]
    cents_frames = 1200 * np.log2(hz_frames / np.median(hz_frames))
    spread = float(np.percentile(np.abs(cents_frames), 75))
    if spread > 30:  # the frames disagree: a sweep, noise, a chord
        return {
            "pitched": False,
            "hz": None,
            "note": None,
            "cents": None,
            "confidence": round(float(voiced.mean() * 0.3), 3),
        }
    hz = float(np.median(hz_frames))
    midi = 69 + 12 * math.log2(hz / 440.0)
    note = int(round(midi))
    conf = float(voiced.mean() * (1 - np.median(aper[voiced])) * max(0.0, 1 - spread / 30))
    return {
        "pitched": True,
        "hz": round(hz, 3),
        "note": note,
        "cents": round((midi - note) * 100, 2),
        "confidence": round(conf, 3),
    }


# ---- loops ------------------------------------------------------------------------------------


def analyse_loop(
    x: np.ndarray, rate: int, pitch: Optional[Mapping[str, Any]], crossfade_ms: float = 30.0
) -> LoopSearch:
    """The loop search (library/loops.py) with the pitch analysis' period, when it found one."""
    period = rate / pitch["hz"] if pitch and pitch.get("pitched") and pitch.get("hz") else None
    return search(x, rate, period, crossfade_ms)


# ---- single hit -------------------------------------------------------------------------------


def onsets(x: np.ndarray, rate: int, min_gap_ms: float = 60.0) -> List[int]:
    """Onset frames from the rise of the level envelope (5 ms frames, log domain)."""
    env_db, hop = _envelope_db(x, rate, 5.0)
    smooth = np.maximum(env_db, env_db.max() - 60)
    rise = np.diff(smooth, prepend=env_db.max() - 60)  # as if silence came before the clip
    peak_level = smooth.max()
    found, last = [], -(10**9)
    gap = int(min_gap_ms / 5)
    for i in np.flatnonzero(rise > 6.0):  # +6 dB within 5 ms: something struck
        if i - last < gap or smooth[min(i + 2, len(smooth) - 1)] < peak_level - 30:
            continue
        j = i
        while j > 0 and rise[j - 1] > 1.0:  # back to where the rise began
            j -= 1
        found.append(j * hop)
        last = i
    return found


def keep_first_hit(x: np.ndarray, rate: int, fade_ms: float = 8.0) -> Tuple[np.ndarray, Dict[str, object]]:
    """Keep the first event: cut just before the second onset, with a short fade."""
    on = onsets(x, rate)
    info: Dict[str, object] = {"onsets_s": [round(o / rate, 4) for o in on], "kept_s": round(len(x) / rate, 4)}
    if len(on) < 2:
        return x, info
    cut = max(on[1] - int(0.002 * rate), on[0] + int(0.01 * rate))
    y = x[on[0] : cut].copy() if on[0] > 0 else x[:cut].copy()
    nf = min(int(fade_ms * rate / 1000), len(y) // 2)
    if nf > 0:
        y[len(y) - nf :] *= (0.5 + 0.5 * np.cos(np.pi * (np.arange(nf) + 1) / nf))[:, None]
    info["kept_s"] = round(len(y) / rate, 4)
    return y, info


def options_from(d: Mapping[str, Any]) -> ShapeOptions:
    known = set(asdict(ShapeOptions()))
    return ShapeOptions(**{k: v for k, v in d.items() if k in known})
