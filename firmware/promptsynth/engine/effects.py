"""Master effects on the voices' mix, numpy reference: chorus, then delay, then reverb
(engine/kernel/effects.h is the compiled twin; both run the same recurrences on the same state,
which lives here in numpy arrays that either renderer advances).

  chorus  one modulated tap a channel (7 ms +- depth x 5 ms, a sine LFO, the right channel a
          quarter cycle behind), read with linear interpolation, added to the dry signal;
  delay   a stereo echo with feedback; its time glides (tape-like) to a new setting instead
          of jumping, read with linear interpolation;
  reverb  Freeverb (Jezar at Dreampoint's public-domain design): the mono sum into 8
          low-passed feedback combs and 4 allpasses a channel, the right channel's lines 23
          samples longer, lengths scaled from 44.1 kHz.

Each effect's wet level is smoothed a period at a time and ramped across it; at 0 the effect is
bypassed, which costs nothing and leaves the mix bit for bit as it was, and its lines are
cleared so it starts clean when turned up again. Values under FLUSH (-200 dB) are written as 0,
so a tail decays to exactly nothing instead of into subnormals.

The reference processes a period in blocks of BLOCK frames, shorter than every line's shortest
delay, so that within a block every read is of a sample written before it: each block is a few
vector operations (the combs' damping low-pass through scipy's lfilter), fast enough to play.
"""

from __future__ import annotations

import math

import numpy as np

from promptsynth.config import DELAY_SYNC_BEATS

COMBS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)  # Freeverb's tuning, at 44.1 kHz
ALLPASSES = (556, 441, 341, 225)
SPREAD = 23
FIXED_GAIN, SCALE_WET, SCALE_DAMP, SCALE_ROOM, OFFSET_ROOM = 0.015, 3.0, 0.4, 0.28, 0.7
ALLPASS_FEEDBACK = 0.5
DELAY_MAX_S = 2.0
CHORUS_BASE_S, CHORUS_SWING_S = 0.007, 0.005
FLUSH = 1e-10
BLOCK = 32
WET_SMOOTH = 0.3  # of the way to the setting, a period

# the settings this period (the sampler's targets): render.c's FX_*
FX_REV_MIX, FX_REV_FEEDBACK, FX_REV_DAMP, FX_DEL_MIX, FX_DEL_FRAMES, FX_DEL_FEEDBACK = range(6)
FX_CHO_MIX, FX_CHO_RATE, FX_CHO_DEPTH = range(6, 9)
FX_COUNT = 9
# the state's scalars: smoothed wets, the delay's current time, the chorus LFO's phase, the
# combs' low-pass states (16)
ST_REV_WET, ST_DEL_WET, ST_CHO_WET, ST_DEL_D, ST_CHO_PH = range(5)
ST_COMB = 5
ST_COUNT = ST_COMB + 16
# write positions: combs (16), allpasses (8), delay, chorus
POS_COMB, POS_AP, POS_DEL, POS_CHO = 0, 16, 24, 25
POS_COUNT = 26


class Effects:
    """The effects' lines and state for ``rate``."""

    def __init__(self, rate: int):
        self.rate = rate
        scale = rate / 44100.0
        lens = [int(round(c * scale)) + s for s in (0, SPREAD) for c in COMBS]
        self.comb_len = np.array(lens, np.int64)
        self.comb_off = np.concatenate([[0], np.cumsum(self.comb_len)[:-1]]).astype(np.int64)
        self.comb = np.zeros(int(self.comb_len.sum()), np.float32)
        lens = [int(round(a * scale)) + s for s in (0, SPREAD) for a in ALLPASSES]
        self.ap_len = np.array(lens, np.int64)
        self.ap_off = np.concatenate([[0], np.cumsum(self.ap_len)[:-1]]).astype(np.int64)
        self.ap = np.zeros(int(self.ap_len.sum()), np.float32)
        self.del_len = int(DELAY_MAX_S * rate) + 4
        self.delay = np.zeros((2, self.del_len), np.float32)
        self.cho_len = int((CHORUS_BASE_S + CHORUS_SWING_S) * rate) + 4
        self.chorus = np.zeros((2, self.cho_len), np.float32)
        self.state = np.zeros(ST_COUNT)
        self.pos = np.zeros(POS_COUNT, np.int64)
        self.fx = np.zeros(FX_COUNT)  # this period's settings
        assert min(ALLPASSES) * scale > BLOCK + 2 and CHORUS_BASE_S - CHORUS_SWING_S > (BLOCK + 2) / rate

    def settings(self, p, quarter: float = 0.0) -> None:
        """This period's settings from the sound's (percent and milliseconds) into ``fx``;
        ``quarter``: the MIDI clock's quarter note in seconds (0: no clock), which times the delay
        when the sound syncs it."""
        fx, rate = self.fx, self.rate
        beats = DELAY_SYNC_BEATS.get(p.delay_sync, 0.0)  # 0 for "off"
        delay_ms = quarter * beats * 1000.0 if quarter > 0.0 and beats else p.delay_time
        fx[FX_REV_MIX] = p.reverb_mix / 100.0
        fx[FX_REV_FEEDBACK] = p.reverb_size / 100.0 * SCALE_ROOM + OFFSET_ROOM
        fx[FX_REV_DAMP] = p.reverb_damping / 100.0 * SCALE_DAMP
        fx[FX_DEL_MIX] = p.delay_mix / 100.0
        fx[FX_DEL_FRAMES] = min(delay_ms / 1000.0 * rate, self.del_len - 4)
        fx[FX_DEL_FEEDBACK] = p.delay_feedback / 100.0
        fx[FX_CHO_MIX] = p.chorus_mix / 100.0
        fx[FX_CHO_RATE] = p.chorus_rate / rate
        fx[FX_CHO_DEPTH] = p.chorus_depth / 100.0 * CHORUS_SWING_S * rate


def smooth(w0: float, target: float) -> float:
    """A wet level's next value (render.c's smooth)."""
    w1 = w0 + (target - w0) * WET_SMOOTH
    return target if abs(w1 - target) < 1e-4 else w1


def _flush(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < FLUSH, 0.0, x)


def _read(line: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Linear interpolation of a ring ``line`` at positions ``p`` (any real, taken modulo)."""
    n = line.shape[0]
    i = np.floor(p)
    f = p - i
    i0 = i.astype(np.int64) % n
    return line[i0] * (1.0 - f) + line[(i0 + 1) % n] * f


def process(e: Effects, mix: np.ndarray) -> None:
    """Run the effects over ``mix`` (2, n) float32 in place."""
    n = mix.shape[1]
    fx, st = e.fx, e.state
    wets = []
    for w, target in ((ST_CHO_WET, FX_CHO_MIX), (ST_DEL_WET, FX_DEL_MIX), (ST_REV_WET, FX_REV_MIX)):
        w0 = st[w]
        w1 = smooth(w0, fx[target])
        st[w] = w1
        wets.append((w0, w1))
    if not any(w0 or w1 for w0, w1 in wets):
        return
    x = mix.astype(np.float64)
    ramp = (np.arange(n) + 1.0) / n
    (c0, c1), (d0, d1), (r0, r1) = wets
    if c0 or c1:
        _chorus(e, x, c0 + (c1 - c0) * ramp)
    if d0 or d1:
        _delay(e, x, d0 + (d1 - d0) * ramp)
    if r0 or r1:
        _reverb(e, x, r0 + (r1 - r0) * ramp)
    for (w0, w1), clear in zip(wets, (_clear_chorus, _clear_delay, _clear_reverb)):
        if w0 != 0.0 and w1 == 0.0:  # just turned off: start clean when turned up again
            clear(e)
    mix[...] = x


def _clear_chorus(e: Effects) -> None:
    e.chorus[...] = 0.0


def _clear_delay(e: Effects) -> None:
    e.delay[...] = 0.0


def _clear_reverb(e: Effects) -> None:
    e.comb[...] = 0.0
    e.ap[...] = 0.0
    e.state[ST_COMB : ST_COMB + 16] = 0.0


def _chorus(e: Effects, x: np.ndarray, wet: np.ndarray) -> None:
    n = x.shape[1]
    fx, st, line, size = e.fx, e.state, e.chorus, e.cho_len
    w = int(e.pos[POS_CHO])
    ph = st[ST_CHO_PH] + fx[FX_CHO_RATE] * np.arange(1, n + 1)  # the LFO at each frame
    for c in range(2):
        d = CHORUS_BASE_S * e.rate + fx[FX_CHO_DEPTH] * np.sin(2.0 * math.pi * (ph + 0.25 * c))
        y = np.empty(n)
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            idx = (w + np.arange(a, b)) % size
            line[c, idx] = _flush(x[c, a:b])
            y[a:b] = _read(line[c], w + np.arange(a, b) - d[a:b])
        x[c] += wet * y
    e.pos[POS_CHO] = (w + n) % size
    st[ST_CHO_PH] = (st[ST_CHO_PH] + fx[FX_CHO_RATE] * n) % 1.0


def _delay(e: Effects, x: np.ndarray, wet: np.ndarray) -> None:
    n = x.shape[1]
    fx, st, size = e.fx, e.state, e.del_len
    w = int(e.pos[POS_DEL])
    d0 = st[ST_DEL_D] if st[ST_DEL_D] > 0 else fx[FX_DEL_FRAMES]
    d1 = d0 + (fx[FX_DEL_FRAMES] - d0) * 0.2  # glides to a new time
    d = d0 + (d1 - d0) * (np.arange(n) + 1.0) / n
    fb = fx[FX_DEL_FEEDBACK]
    for c in range(2):
        line = e.delay[c]
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            j = np.arange(a, b)
            r = _read(line, w + j - d[a:b])
            line[(w + j) % size] = _flush(x[c, a:b] + fb * r)
            x[c, a:b] += wet[a:b] * r
    e.pos[POS_DEL] = (w + n) % size
    st[ST_DEL_D] = d1


def _reverb(e: Effects, x: np.ndarray, wet: np.ndarray) -> None:
    # imported here: scipy.signal takes seconds to import on the device, and the engine that
    # plays through the kernel never needs it (boot -> playable is timed)
    from scipy.signal import lfilter

    n = x.shape[1]
    fx, st = e.fx, e.state
    fb, damp = fx[FX_REV_FEEDBACK], fx[FX_REV_DAMP]
    inp = (x[0] + x[1]) * FIXED_GAIN
    out = np.zeros((2, n))
    for i in range(16):
        c = i // 8
        off, size, w = int(e.comb_off[i]), int(e.comb_len[i]), int(e.pos[POS_COMB + i])
        line = e.comb[off : off + size]
        fs = st[ST_COMB + i]
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            idx = (w + np.arange(a, b)) % size
            y = line[idx].astype(np.float64)
            f, zf = lfilter([1.0 - damp], [1.0, -damp], y, zi=[damp * fs])
            fs = f[-1]
            line[idx] = _flush(inp[a:b] + f * fb)
            out[c, a:b] += y
        st[ST_COMB + i] = fs if abs(fs) >= FLUSH else 0.0
        e.pos[POS_COMB + i] = (w + n) % size
    for i in range(8):
        c = i // 4
        off, size, w = int(e.ap_off[i]), int(e.ap_len[i]), int(e.pos[POS_AP + i])
        line = e.ap[off : off + size]
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            idx = (w + np.arange(a, b)) % size
            bufout = line[idx].astype(np.float64)
            v = out[c, a:b]
            line[idx] = _flush(v + bufout * ALLPASS_FEEDBACK)
            out[c, a:b] = -v + bufout
        e.pos[POS_AP + i] = (w + n) % size
    x += wet * SCALE_WET * out
