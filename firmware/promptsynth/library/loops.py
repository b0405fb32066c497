"""Loop points for a sustained sound, wherever its sustain lies, or a clear "no good loop".

1. **The sustained part** is found from the level alone: the longest stretch whose level (10 ms
   RMS frames, smoothed over 50 ms) stays within SUSTAIN_DB (vibrato's tremolo, beating ranks
   and drifting partials move it a few dB), within FLOOR_DB of the peak, and has no trend of
   more than TREND_DB across it; then its edges lose any ramp, where the level (a moving
   median over 150 ms) is more than EDGE_DB below the part's median: the end of an attack, the
   start of a release or a fade-out.
2. **Candidates.** Loop starts are tried early in the sustained part and loop ends late in it,
   each within SEARCH_S: a long loop repeats less audibly. When no end there matches (two
   organ ranks beating slowly never line up again within the note), ends are tried in zones
   further back, and the longest loop that matches wins. For each start, every end in its zone
   is scored at once by normalised cross-correlation (through the FFT). The score compares the
   audio just before the end with the audio just before the start, so the waveform goes on
   across the seam. The level has to match too.
3. **The spectrum.** The best ends are checked against the start's spectrum, over windows of
   SPECTRUM_N samples (about 43 ms at 48 kHz). A waveform can line up for a few periods while
   the timbre has moved: beating ranks, drifting partials, a vowel changing.
4. **The verdict.** The match is the mean of the waveform and spectrum similarities (each 0-1),
   or the lower of them when either is under FLOOR_MATCH. Below GOOD_MATCH the finder reports
   "no good loop" and the best it found, instead of offering a loop that clicks or jumps in
   timbre. A chorused pad's waveform never repeats exactly (about 0.85 at best), and the
   crossfade covers that, so the mean and not the lower decides.

Unpitched noise has no waveform to continue, so it scores low and is not looped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

FRAME_S = 0.01
SMOOTH_FRAMES = 5
SUSTAIN_DB = 6.0
TREND_DB = 4.0
EDGE_DB = 1.5  # an edge of the sustained part this far below its median level is a ramp
EDGE_FRAMES = 15  # the level the edges are judged by is a moving median over 150 ms
FLOOR_DB = -30.0
MIN_SUSTAIN_S = 0.4
SEARCH_S = 0.5  # the longest start zone and end zone searched
END_ZONES = 6  # end zones tried, from the end of the sustained part back
MIN_LOOP_S = 0.2
WAVE_PERIODS = 6
STARTS = 6  # loop starts tried in the start zone
ENDS_CHECKED = 6  # the best-correlating ends per start whose spectrum is checked
SPECTRUM_N = 2048
GOOD_MATCH = 0.85
FLOOR_MATCH = 0.7  # neither the waveform nor the spectrum may match worse than this


@dataclass
class LoopSearch:
    """What the finder concluded: ``loop`` (or None) and, either way, why."""

    loop: Optional[Dict[str, Any]]
    note: str
    sustain: Optional[Tuple[int, int]] = None  # the sustained part, in frames
    best_match: float = 0.0


def level_db(mono: np.ndarray, rate: int) -> Tuple[np.ndarray, int]:
    """RMS level in dB per FRAME_S frame, median-smoothed over SMOOTH_FRAMES; and the hop."""
    hop = max(int(FRAME_S * rate), 1)
    m = len(mono) // hop
    if m == 0:
        return np.zeros(0), hop
    rms = np.sqrt(np.mean(mono[: m * hop].reshape(m, hop) ** 2, axis=1))
    db = 20 * np.log10(rms + 1e-12)
    if m >= SMOOTH_FRAMES:
        pad = SMOOTH_FRAMES // 2
        padded = np.pad(db, pad, mode="edge")
        db = np.median(np.lib.stride_tricks.sliding_window_view(padded, SMOOTH_FRAMES), axis=1)
    return db, hop


def sustained_part(mono: np.ndarray, rate: int) -> Optional[Tuple[int, int]]:
    """The longest steady stretch (frames [a, b)), or None if none lasts MIN_SUSTAIN_S."""
    db, hop = level_db(mono, rate)
    m = len(db)
    if m == 0:
        return None
    floor = db.max() + FLOOR_DB
    # prefix sums for each window's least-squares trend, in O(1) a window
    idx = np.arange(m, dtype=np.float64)
    s_y, s_ty = np.concatenate([[0.0], np.cumsum(db)]), np.concatenate([[0.0], np.cumsum(idx * db)])

    def trend(i: int, j: int) -> float:  # dB change across frames i..j-1 by the fitted line
        k = j - i
        if k < 3:
            return 0.0
        t_mean = (i + j - 1) / 2.0
        sy, sty = s_y[j] - s_y[i], s_ty[j] - s_ty[i]
        var_t = (k * k - 1) / 12.0 * k
        slope = (sty - t_mean * sy) / var_t
        return abs(slope) * (k - 1)

    best = (0, 0)
    i = 0
    maxq: List[int] = []  # deques of frame indices: the window's max and min levels
    minq: List[int] = []
    mh = ml = 0  # heads of the deques
    for j in range(m):
        if db[j] < floor:  # too quiet to be the sustain: start afresh after it
            i, maxq, minq, mh, ml = j + 1, [], [], 0, 0
            continue
        while len(maxq) > mh and db[maxq[-1]] <= db[j]:
            maxq.pop()
        maxq.append(j)
        while len(minq) > ml and db[minq[-1]] >= db[j]:
            minq.pop()
        minq.append(j)
        while db[maxq[mh]] - db[minq[ml]] > SUSTAIN_DB:
            i += 1
            if maxq[mh] < i:
                mh += 1
            if minq[ml] < i:
                ml += 1
        # the longest window ending here that also has no trend (shortened from the left)
        k = i
        while j + 1 - k > best[1] - best[0] and trend(k, j + 1) > TREND_DB:
            k += max((j + 1 - k) // 8, 1)
        if j + 1 - k > best[1] - best[0]:
            best = (k, j + 1)
    a, b = _trim_ramps(db, best[0], best[1])
    if (b - a) * hop < MIN_SUSTAIN_S * rate:
        return None
    return a * hop, b * hop


def _trim_ramps(db: np.ndarray, a: int, b: int) -> Tuple[int, int]:
    """[a, b) without the ramps at its edges: the end of an attack or the start of a fade can
    sit inside the level range, but its level is below the part's own."""
    if b - a < EDGE_FRAMES:
        return a, b
    level = np.median(
        np.lib.stride_tricks.sliding_window_view(np.pad(db[a:b], EDGE_FRAMES // 2, mode="edge"), EDGE_FRAMES), axis=1
    )
    steady = np.median(db[a:b]) - EDGE_DB
    inside = np.flatnonzero(level >= steady)
    if inside.size == 0:
        return a, b
    return a + int(inside[0]), a + int(inside[-1]) + 1


def _ncc_all(seg: np.ndarray, ref: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised cross-correlation of ``ref`` with every window of ``seg``, and each window's
    level relative to ref's."""
    from scipy.signal import correlate

    w = len(ref)
    num = correlate(seg, ref, mode="valid", method="fft")
    sq = np.concatenate([[0.0], np.cumsum(seg * seg)])
    energy = sq[w:] - sq[:-w]
    ref_e = float(np.dot(ref, ref)) + 1e-20
    ncc = num / (np.sqrt(np.maximum(energy, 1e-20)) * math.sqrt(ref_e))
    return ncc, np.sqrt(energy / ref_e)


_WINDOW = np.hanning(SPECTRUM_N)


def _spectrum(mono: np.ndarray, end: int) -> np.ndarray:
    return np.abs(np.fft.rfft(mono[end - SPECTRUM_N : end] * _WINDOW))


def _peaks(score: np.ndarray, spacing: int, count: int) -> List[int]:
    """The ``count`` highest local maxima of ``score`` (each the highest within ``spacing``):
    one candidate per correlation peak, not a peak's neighbours."""
    from scipy.ndimage import maximum_filter1d

    local = np.flatnonzero(score >= maximum_filter1d(score, size=2 * spacing + 1, mode="nearest"))
    if local.size > count:
        local = local[np.argpartition(score[local], -count)[-count:]]
    return [int(i) for i in local[np.argsort(score[local])[::-1]]]


def spectral_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two magnitude spectra, 0-1."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-20))


def _best_in_zone(
    mono: np.ndarray, starts: np.ndarray, spectra: List[np.ndarray], lo: int, hi: int, w: int
) -> Tuple[float, int, int, float, float]:
    """The best (match, start, end, wave, spectrum) with the end in [lo, hi)."""
    best = (-1.0, 0, 0, 0.0, 0.0)
    for s, spec_s in zip(starts, spectra):
        ref = mono[s - w : s]
        ncc, level = _ncc_all(mono[lo - w : hi], ref)
        wave = ncc - np.abs(np.log(np.maximum(level, 1e-6)))  # shape and level
        for c in _peaks(wave, w // 2, ENDS_CHECKED):
            e = lo + c
            # 3. the spectrum where the seam is crossed
            spec = spectral_similarity(spec_s, _spectrum(mono, e))
            wv = float(max(wave[c], 0.0))
            match = 0.5 * (wv + spec) if min(wv, spec) >= FLOOR_MATCH else min(wv, spec)
            if match > best[0]:
                best = (match, int(s), e, wv, spec)
    return best


def search(x: np.ndarray, rate: int, period: Optional[float] = None, crossfade_ms: float = 30.0) -> LoopSearch:
    """Find a loop in ``x`` (frames, channels); ``period``: the pitch period in frames, if known."""
    mono = np.asarray(x, dtype=np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    # 1. the sustained part
    part = sustained_part(mono, rate)
    if part is None:
        return LoopSearch(None, "no sustained part (the level never holds for %.1f s)" % MIN_SUSTAIN_S)
    a, b = part
    # the waveform is compared over WAVE_PERIODS periods: long enough that a pitch that has
    # moved (a glide) no longer lines up, short enough that vibrato stays in phase
    w = int(period * WAVE_PERIODS) if period else int(0.02 * rate)
    w = max(min(w, int(0.04 * rate)), int(0.01 * rate))
    lead = max(w, SPECTRUM_N)  # audio needed before a loop point to judge it
    a = max(a, lead)
    span = b - a
    zone = min(int(SEARCH_S * rate), span // 3)
    if zone < w or span < int(0.1 * rate):
        return LoopSearch(None, "the sustained part is too short to loop", part)
    # 2. candidates: starts early in the part; ends late in it, and, when no loop that long
    # matches (ranks beating slowly, say), in zones further back: the longest good loop wins
    best: Optional[Tuple[float, int, int, float, float]] = None
    starts = np.linspace(a, a + zone, STARTS).astype(int)
    spectra = [_spectrum(mono, int(s)) for s in starts]
    for k in range(END_ZONES):
        hi = b - k * zone
        lo = hi - zone
        if lo - w < a + zone + int(MIN_LOOP_S * rate):
            break
        zone_best = _best_in_zone(mono, starts, spectra, lo, hi, w)
        if best is None or zone_best[0] > best[0]:
            best = zone_best
        if zone_best[0] >= GOOD_MATCH:
            best = zone_best
            break
    if best is None:
        return LoopSearch(None, "the sustained part is too short to loop", part)
    match, s, e, wv, spec = best
    # 4. the verdict
    if match < GOOD_MATCH:
        return LoopSearch(
            None,
            "no good loop: the best match is %.2f (a good one is at least %.2f)" % (match, GOOD_MATCH),
            part,
            match,
        )
    xf = int(min(crossfade_ms * rate / 1000, (e - s) / 4, s))
    loop = {
        "start": s,
        "end": e,
        "crossfade": xf,
        "match": round(match, 4),
        "wave": round(wv, 4),
        "spectrum": round(spec, 4),
        "start_s": round(s / rate, 4),
        "end_s": round(e / rate, 4),
        "sustain_s": [round(part[0] / rate, 3), round(part[1] / rate, 3)],
    }
    return LoopSearch(loop, "loop %.3f-%.3f s, match %.2f" % (s / rate, e / rate, match), part, match)
