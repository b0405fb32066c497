"""The render path: one period of every active voice, vectorised over voices, into a stereo mix.

Per period and per active voice it computes, as (voices x frames) arrays:
  phase    read position, with the per-frame increment ramped from the last period's pitch to
           this period's (bend and vibrato never step);
  position phase folded into the loop (forward or ping-pong) with one closed formula;
  gain     one closed-form ADSR for held and released voices alike, times velocity, times a
           de-click ramp before a trimmed end point, times a scan's crossfade (ramped);
  sample   4-point, 3rd-order Hermite interpolation (exact at integer positions);
and sums the weighted voices of each sound into the (2, frames) ``mix``. The per-voice
parameters come from the matrix the note events wrote (engine/voices.py); the master gain and
the limiter are the sampler's (engine/sampler.py).

Real-time rules: the work arrays are allocated once, here; a period allocates only the few
(voices,) vectors of gathered parameters. No locks, no logging, and no Python loop over voices
(the one loop is over the sounds in use, at most 8, and their channels).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from promptsynth.engine import effects as fx
from promptsynth.engine import filter as filt
from promptsynth.engine import lfo
from promptsynth.engine import period_settings as ps
from promptsynth.engine.effects import Effects
from promptsynth.engine.limiter import SoftLimiter
from promptsynth.engine.slots import SoundSlots
from promptsynth.engine.sound import PAD, PlayableSound
from promptsynth.engine.voices import (
    A0,
    AR,
    BASE,
    CL,
    D0,
    DECLICK_MS,
    DR,
    END,
    F_STEADY,
    FAR,
    FBASE,
    FEND,
    LS,
    OMS,
    PAN_L,
    PAN_R,
    PL,
    REND,
    STEADY,
    SUS,
    XG0,
    XG1,
    Voices,
)

ENV_FLOOR = 1e-9  # envelope values below -180 dB are flushed to 0 (no denormals)
T_MAX = 1.0e7  # frames since note-on are clamped here (float32 stays exact)


class VoiceRenderer:
    """Work arrays for ``count`` voices of ``period`` frames, and the render that uses them."""

    name = "numpy"

    def __init__(self, rate: int, period: int, count: int):
        n = self.n = period
        v = count
        self.declick = 1.0 / (DECLICK_MS * rate / 1000.0)  # 1 / de-click length in frames
        self.ramp = np.arange(n, dtype=np.float64)  # frame index within the period
        self.ramp_q = self.ramp * (self.ramp + 1) / (2 * n)  # sum of the increment ramp
        self.ramp32 = self.ramp.astype(np.float32)
        # (voices, frames); a period uses the first k rows, so every slice stays contiguous
        self._p = np.empty((v, n), np.float64)
        self._q = np.empty((v, n), np.float64)
        self._r = np.empty((v, n), np.float64)
        self._mask = np.empty((v, n), bool)
        self._idx = [np.empty((v, n), np.intp) for _ in range(4)]
        self._f = np.empty((v, n), np.float32)
        self._g = np.empty((v, n), np.float32)
        self._h = np.empty((v, n), np.float32)
        # per channel count (mono or stereo sounds), so every slice [a:b] stays contiguous
        self._y = {ch: [np.empty((ch, v, n), np.float32) for _ in range(6)] for ch in (1, 2)}
        self._sum = {ch: np.empty((ch, n), np.float32) for ch in (1, 2)}
        self.mix = np.empty((2, n), np.float32)
        self.ramp_g = ((self.ramp + 1) / n).astype(np.float32)  # the master gain's ramp, 0..1
        self._gr = np.empty(n, np.float32)

    def period(
        self,
        voices: Voices,
        slots: SoundSlots,
        pitch_offset: float,
        fp: np.ndarray,
        effects: Effects,
        g0: float,
        g1: float,
        out: np.ndarray,
        limiter: SoftLimiter,
    ) -> Tuple[float, int]:
        """A whole period into ``out`` (frames, 2): the voices, the effects, the master gain
        ramped from ``g0`` to ``g1`` while interleaving, and the limiter. Returns (peak, voices
        sounding). With no voice sounding the mix is silence, and the effects' tails ring on."""
        mix = self.mix
        if voices.active.any():
            sounding = self.render(voices, slots.sounds, pitch_offset, fp)
        else:
            sounding = 0
            mix.fill(0.0)
        fx.process(effects, mix)
        if g0 == g1:
            np.multiply(mix.T, g1, out=out)
        else:
            gr = self._gr
            np.multiply(self.ramp_g, g1 - g0, out=gr)
            gr += g0
            np.multiply(mix.T, gr[:, None], out=out)
        return limiter.process(out), sounding

    def render(self, voices: Voices, sounds: List[Optional[PlayableSound]], pitch_offset: float, fp: np.ndarray) -> int:
        """Render every active voice (at least one) into ``mix``, advance them, free the
        finished ones; returns how many still sound."""
        act = np.flatnonzero(voices.active)
        k = act.size
        # the taps of each sound are gathered once for a run of voices: group them by slot
        act_slots = voices.slot[act]
        if act_slots[0] != act_slots[-1] or (k > 2 and len(set(act_slots.tolist())) > 1):
            act = act[np.argsort(act_slots, kind="stable")]
            act_slots = voices.slot[act]
        vp = voices.vp[act]  # (k, columns) per-voice parameters
        inc1, ph0, ph1 = self._phase(voices, act, vp, pitch_offset, fp)
        self._fold(vp, ph0, ph1)
        g = self._envelope(voices, act, vp)
        filtered = fp[ps.FP_TYPE] != filt.OFF
        lfo_cutoff = filtered and fp[ps.FP_LFO_CUTOFF] != 0.0
        lv = None  # the LFO at the control points (for the level, and the cutoff when filtered)
        if fp[ps.FP_LFO_LEVEL] != 0.0 or lfo_cutoff:
            pts = filt.control_points(self.n)
            lv = self._lfo(voices, act, fp, voices.lt[act][:, None] + pts)
            if fp[ps.FP_LFO_LEVEL] != 0.0:
                fac = lfo.ramp(1.0 - fp[ps.FP_LFO_LEVEL] * (1.0 - lv) / 2.0, pts, self.n)
                g *= fac.astype(np.float32)
        if (vp[:, XG0] != 1.0).any() or (vp[:, XG1] != 1.0).any():  # a scan's crossfade, ramped
            x0 = vp[:, XG0].astype(np.float32)
            h = np.multiply.outer(vp[:, XG1].astype(np.float32) - x0, self.ramp_g)
            h += x0[:, None]
            g *= h
        gc = None
        if filtered:
            lc = fp[ps.FP_LFO_CUTOFF] * lv if lfo_cutoff else None
            gc = filt.cutoff_gains(vp[:, FBASE:F_STEADY], voices.t[act], fp, self.n, lc)
        self._interpolate(sounds, act_slots, g, voices, act, fp, gc)
        return k - self._advance(voices, act, vp, inc1, ph1)

    @staticmethod
    def _lfo(voices: Voices, act: np.ndarray, fp: np.ndarray, lt: np.ndarray) -> np.ndarray:
        """The LFO of the voices ``act`` at their times ``lt``."""
        wave = int(fp[ps.FP_LFO_WAVE])
        rate, delay, fade = fp[ps.FP_LFO_RATE], fp[ps.FP_LFO_DELAY], fp[ps.FP_LFO_FADE]
        return lfo.values(wave, lt, rate, delay, fade, voices.age[act])

    def _phase(
        self, voices: Voices, act: np.ndarray, vp: np.ndarray, pitch_offset: float, fp: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unfolded read positions into ``_p``: the increment per frame ramps linearly from last
        period's value to this one's. Returns (new increment, phase now, phase next period)."""
        k = act.size
        n = self.n
        if fp[ps.FP_LFO_PITCH] != 0.0:  # the LFO at the period's end: the increment ramps to it
            end = self._lfo(voices, act, fp, voices.lt[act] + n)
            inc1 = np.exp2((vp[:, BASE] + pitch_offset + fp[ps.FP_LFO_PITCH] * end) * (1.0 / 12.0))
        else:
            inc1 = np.exp2((vp[:, BASE] + pitch_offset) * (1.0 / 12.0))
        inc0 = voices.inc[act]
        ph0 = voices.phase[act]
        p = self._p[:k]
        q = self._q[:k]
        np.multiply.outer(inc0, self.ramp, out=p)
        p += ph0[:, None]
        dinc = inc1 - inc0
        if dinc.any():
            np.multiply.outer(dinc, self.ramp_q, out=q)
            p += q
        ph1 = ph0 + inc0 * n + dinc * ((n + 1) / 2.0)  # unfolded phase at the next period
        return inc1, ph0, ph1

    def _fold(self, vp: np.ndarray, ph0: np.ndarray, ph1: np.ndarray) -> None:
        """Fold ``_p`` into the loops, in place, and wrap ``ph1`` (in place) back into them:
        pos = ls + |u + cL - pL*floor((u + cL)/pL) - cL|, with u = phase - ls >= 0."""
        k = ph0.size
        p = self._p[:k]
        ls = vp[:, LS]
        looping = ls < FAR
        # folding is the identity until a voice first passes ls + L: skip it while none does
        fold = looping & (ph1 > ls + vp[:, PL] - vp[:, CL])
        if fold.any() and not (vp[:, CL] > 0).any() and (vp[:, PL] >= ph1 - ph0).all():
            # forward loops only, each longer than this period's travel, and every phase wrapped
            # into its loop at the period start: positions pass the loop end at most once
            mask = self._mask[:k]
            np.greater_equal(p, (ls + vp[:, PL])[:, None], out=mask)
            np.subtract(p, vp[:, PL][:, None], out=p, where=mask)
            u = ph1 - ls
            wrap = looping & (u >= vp[:, PL])
            ph1[wrap] = ls[wrap] + np.mod(u[wrap], vp[wrap, PL])
        elif fold.any():
            cl = vp[:, CL][:, None]
            pl = vp[:, PL][:, None]
            mask = self._mask[:k]
            q = self._q[:k]
            np.subtract(p, ls[:, None], out=q)
            np.greater_equal(q, 0.0, out=mask)
            q += cl
            r = self._r[:k]
            np.divide(q, pl, out=r)  # exact at whole multiples (1/pL is not)
            np.floor(r, out=r)
            r *= pl
            q -= r
            q -= cl
            np.abs(q, out=q)
            q += ls[:, None]
            np.copyto(p, q, where=mask)
            # keep the stored phase small: the fold is periodic in pL
            plv = vp[:, PL]
            u = ph1 - ls
            wrap = looping & (u >= plv)
            if wrap.any():
                ph1[wrap] = ls[wrap] + np.mod(u[wrap], plv[wrap])

    def _envelope(self, voices: Voices, act: np.ndarray, vp: np.ndarray) -> np.ndarray:
        """The (k, frames) gain into ``_g``: one closed form for held and released voices,
        level * clip(t*ar + a0) * (sus + (1-sus) * (1 - clip(t*dr + d0))^3), times the
        de-click before a trimmed end point."""
        k = act.size
        g = self._g[:k]
        h = self._h[:k]
        f = self._f[:k]
        t0 = voices.t[act]
        if (t0 >= vp[:, STEADY]).all():
            # every voice holds its sustain level: the envelope is a constant per voice
            np.copyto(g, vp[:, SUS].astype(np.float32)[:, None])
        else:
            v32 = voices.vp32[act]
            np.add.outer(t0.astype(np.float32), self.ramp32, out=h)  # time in frames
            np.multiply(h, v32[:, DR, None], out=g)
            g += v32[:, D0, None]
            np.maximum(g, 0.0, out=g)
            np.minimum(g, 1.0, out=g)
            np.subtract(1.0, g, out=g)
            np.multiply(g, g, out=f)
            g *= f  # (1 - x)^3
            g *= v32[:, OMS, None]  # level * (1 - sus)
            g += v32[:, SUS, None]  # level * sus
            if (v32[:, A0] < 1.0).any():  # some voice is still in its attack
                h *= v32[:, AR, None]
                h += v32[:, A0, None]
                np.minimum(h, 1.0, out=h)  # t >= 0, so no lower clip
                g *= h
            mask = self._mask[:k]
            np.less(g, ENV_FLOOR, out=mask)
            np.copyto(g, 0.0, where=mask)
        # de-click before a trimmed end point (only non-looping voices reach it)
        fade_end = vp[:, FEND]
        if (fade_end < FAR).any():
            q = self._q[:k]
            np.subtract(fade_end[:, None], self._p[:k], out=q)
            q *= self.declick
            np.clip(q, 0.0, 1.0, out=q)
            g *= q
        return g

    def _interpolate(
        self,
        sounds: List[Optional[PlayableSound]],
        act_slots: np.ndarray,
        g: np.ndarray,
        voices: Voices,
        act: np.ndarray,
        fp: np.ndarray,
        gc: Optional[np.ndarray],
    ) -> None:
        """Per sound: gather 4 taps per channel at the positions ``_p``, Hermite-interpolate,
        filter (where ``gc``, the cutoff gains, is given), weight by ``g`` and sum over voices
        into ``mix`` (a mono sound goes to both sides)."""
        k = act_slots.size
        p = self._p[:k]
        q = self._q[:k]
        f = self._f[:k]
        # interpolation indices and fractions (positions are never negative)
        np.modf(p, out=(f, q), casting="same_kind")  # fraction (float32) and whole frames
        i0, i1, i2, i3 = (x[:k] for x in self._idx)  # indices of the 4 taps
        np.add(q, PAD - 1, out=i0, casting="unsafe")  # the sample before the position
        np.add(i0, 1, out=i1)
        np.add(i0, 2, out=i2)
        np.add(i0, 3, out=i3)
        mix = self.mix
        first = True
        runs: Tuple[Tuple[int, int], ...]  # [a, b) of act playing one sound
        if act_slots[0] == act_slots[-1]:
            runs = ((0, k),)
        else:
            bounds = np.flatnonzero(np.diff(act_slots)) + 1
            runs = tuple(zip([0] + bounds.tolist(), bounds.tolist() + [k]))
        for a, b in runs:
            snd = sounds[int(act_slots[a])]
            assert snd is not None  # a voice's slot keeps its sound while the voice plays
            data = snd.planar  # (channels, frames): one row a channel
            ch = data.shape[0]
            ym1, y0, y1, y2, c, v = (y[:, a:b] for y in self._y[ch])
            for j in range(ch):
                row = data[j]
                np.take(row, i0[a:b], out=ym1[j], mode="clip")
                np.take(row, i1[a:b], out=y0[j], mode="clip")
                np.take(row, i2[a:b], out=y1[j], mode="clip")
                np.take(row, i3[a:b], out=y2[j], mode="clip")
            fr = f[a:b]
            # Hermite (Catmull-Rom), Laurent de Soras' form, in place in the six work rows:
            #   c = (y1-ym1)/2; v = y0-y1; w = c+v; a = w+v+(y2-y0)/2; y = ((a f - (w+a)) f + c) f + y0
            np.subtract(y1, ym1, out=c)
            c *= 0.5
            np.subtract(y0, y1, out=v)
            np.subtract(y2, y0, out=y2)
            y2 *= 0.5
            v += c  # v = w
            y2 += v
            np.subtract(y0, y1, out=y1)  # y1 = v again
            y2 += y1  # y2 = a
            v += y2  # v = w + a
            np.multiply(y2, fr, out=ym1)
            ym1 -= v
            ym1 *= fr
            ym1 += c
            ym1 *= fr
            ym1 += y0
            if gc is not None:  # the filter sees the sound, before the envelope
                st = voices.fstate[act[a:b], :ch].transpose(1, 0, 2).copy()  # (channels, voices, 4)
                filt.run(int(fp[ps.FP_TYPE]), ym1, gc[a:b], float(fp[ps.FP_K]), st)
                voices.fstate[act[a:b], :ch] = st.transpose(1, 0, 2)
            ym1 *= g[a:b]
            pans = voices.vp32[act[a:b]][:, PAN_L : PAN_R + 1]  # (voices, 2): each side's gain
            if (pans != 1.0).any():  # a panned voice: each side weighted by its own gain
                sides = ym1[np.zeros(2, np.intp) if ch == 1 else np.arange(2)] * pans.T[:, :, None]
                if first:
                    np.add.reduce(sides, axis=1, out=mix)
                else:
                    mix += np.add.reduce(sides, axis=1)
            elif first and ch == 2:
                np.add.reduce(ym1, axis=1, out=mix)
            else:
                s = self._sum[ch]
                np.add.reduce(ym1, axis=1, out=s)
                if first:
                    mix[:] = s  # a mono sound goes to both sides
                else:
                    mix += s
            first = False

    def _advance(self, voices: Voices, act: np.ndarray, vp: np.ndarray, inc1: np.ndarray, ph1: np.ndarray) -> int:
        """Store where the voices got to; free those past their release or their sound's end."""
        voices.phase[act] = ph1
        voices.inc[act] = inc1
        voices.lt[act] += self.n  # float64: exact for ages, not clamped like t (an LFO never freezes)
        t1 = voices.t[act] + self.n
        voices.t[act] = np.minimum(t1, T_MAX)
        done = t1 >= vp[:, REND]
        done |= ph1 >= vp[:, END]
        if done.any():
            gone = act[done]
            voices.active[gone] = False
            voices.stealing[gone] = False
            return gone.size
        return 0
