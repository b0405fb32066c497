"""The polyphonic sampler: voices rendered one period at a time, vectorised over voices.

Nothing here does I/O, logs, or takes locks; events (note on/off, controllers, new sounds)
are applied between two calls of :meth:`Sampler.render`, which is the period boundary.

Per period and per active voice the render computes, as (voices x frames) arrays:
  phase    read position, with the per-frame increment ramped from the last period's pitch to
           this period's (bend and vibrato never step);
  position phase folded into the loop (forward or ping-pong) with one closed formula;
  sample   4-point, 3rd-order Hermite interpolation (exact at integer positions);
  gain     one closed-form ADSR for held and released voices alike, times velocity, times a
           de-click ramp before a trimmed end point;
and sums the voices into a stereo period, then applies the smoothed master gain and the soft
limiter.  Work arrays are allocated once; the per-period allocations are the few (voices,)
vectors of per-voice parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from promptsynth.engine.limiter import SoftLimiter
from promptsynth.engine.sound import PAD, PlayableSound

SOURCES = 16              # MIDI inputs whose notes and pedal are kept apart (0: the engine's own)
SPARE_VOICES = 8          # extra voices so a stolen note can fade while its successor starts
STEAL_MS = 6.0            # fade of a stolen voice (sfizz uses the same)
MIN_RELEASE_MS = 2.0      # a release of 0 still de-clicks
DECLICK_MS = 2.0          # ramp before a trimmed end point
MAX_SLOTS = 8             # sounds that can sound at once (new sounds never cut old notes)
ENV_FLOOR = 1e-9          # envelope values below -180 dB are flushed to 0 (no denormals)
T_MAX = 1.0e7             # frames since note-on are clamped here (float32 stays exact)
FAR = 1.0e15              # "loop start" of voices that do not loop, "end" of those that do

# columns of the per-voice parameter matrix, written at note events and gathered once a period
# BASE: note - root + tune in semitones; STEADY: frames after which a held voice's envelope is
# constant (FAR once released)
(BASE, AR, A0, DR, D0, SUS, OMS, LS, CL, PL, FEND, END, REND, STEADY) = range(14)
NCOLS = 14


@dataclass
class VoiceParams:
    """Settings that apply to voices (times in milliseconds, levels linear unless named)."""
    attack: float = 2.0
    decay: float = 200.0
    sustain: float = 1.0
    release: float = 300.0
    gain_db: float = -6.0
    velocity_track: float = 100.0
    bend_range: float = 2.0
    vibrato_rate: float = 5.5
    vibrato_depth: float = 50.0     # cents at full mod wheel
    polyphony: int = 16


class Sampler:
    def __init__(self, rate: int = 48000, period: int = 128, params: Optional[VoiceParams] = None,
                 max_polyphony: int = 64):
        self.rate = int(rate)
        self.n = n = int(period)
        self.params = params or VoiceParams()
        self.max_polyphony = max_polyphony
        v = self.nv = max_polyphony + SPARE_VOICES
        # voice state
        self.active = np.zeros(v, bool)
        self.slot = np.zeros(v, np.intp)
        self.note = np.zeros(v, np.int16)
        self.source = np.zeros(v, np.int16)       # the MIDI input the note came from
        self.key_down = np.zeros(v, bool)
        self.sustained = np.zeros(v, bool)      # key released while the pedal was down
        self.off_pending = np.zeros(v, bool)    # key released before the voice made a sound
        self._pending = 0
        self.released = np.zeros(v, bool)
        self.stealing = np.zeros(v, bool)
        self.phase = np.zeros(v, np.float64)
        self.inc = np.full(v, np.nan)             # last frame's increment (NaN: start a new voice)
        self.t = np.zeros(v, np.float64)          # frames since note-on or since release
        self.level = np.ones(v, np.float32)       # velocity gain x level at release
        self.att = np.zeros(v, np.float32)        # snapshot of A/D/S (frames) at note-on
        self.dec = np.zeros(v, np.float32)
        self.sus = np.ones(v, np.float32)
        self.rel = np.ones(v, np.float32)         # release length in frames (set at release)
        self.age = np.zeros(v, np.int64)
        self._age = 0
        self.vp = np.zeros((v, NCOLS), np.float64)
        self.vp32 = np.zeros((v, NCOLS), np.float32)      # float32 copy for the (voices, frames) math
        # sounds
        self.sounds: List[Optional[PlayableSound]] = [None] * MAX_SLOTS
        self.current = -1
        s = MAX_SLOTS
        self.s_root = np.zeros(s, np.float64)
        self.s_tune = np.zeros(s, np.float64)
        self.s_start = np.zeros(s, np.float64)
        self.s_fade_end = np.zeros(s, np.float64)
        # controllers
        self.bend = 0.0                           # -1..1
        self.mod = 0.0                            # 0..1
        self.volume = 1.0                         # CC7 as 0..1
        self.pedals = np.zeros(SOURCES, bool)     # each input's sustain pedal
        self._lfo = 0.0
        self._pitch_offset = 0.0
        self._mod_smooth = 0.0
        self._gain = self._gain_target()
        # work arrays, (voices, frames): allocated once
        self.ramp = np.arange(n, dtype=np.float64)                 # frame index within the period
        self.ramp_q = self.ramp * (self.ramp + 1) / (2 * n)        # sum of the increment ramp
        self.ramp_g = ((np.arange(n) + 1) / n).astype(np.float32)  # 0..1 gain ramp
        self.ramp32 = self.ramp.astype(np.float32)
        self._p = np.empty((v, n), np.float64)
        self._q = np.empty((v, n), np.float64)
        self._mask = np.empty((v, n), bool)
        self._idx = [np.empty((v, n), np.intp) for _ in range(4)]
        self._f = np.empty((v, n), np.float32)
        self._g = np.empty((v, n), np.float32)
        self._h = np.empty((v, n), np.float32)
        # per channel count (mono or stereo sounds), so every slice [a:b] stays contiguous
        self._y = {ch: [np.empty((ch, v, n), np.float32) for _ in range(6)] for ch in (1, 2)}
        self._sum = {ch: np.empty((ch, n), np.float32) for ch in (1, 2)}
        self._mix = np.empty((2, n), np.float32)
        self._r = np.empty((v, n), np.float64)
        self.out = np.zeros((n, 2), np.float32)
        self._gr = np.empty(n, np.float32)
        self.limiter = SoftLimiter(rate, n)
        self.peak = 0.0
        self.voices_sounding = 0
        self.steals = 0

    # ---- settings -------------------------------------------------------------------------
    def _ms(self, ms: float) -> float:
        return ms * self.rate / 1000.0

    def _gain_target(self) -> float:
        return 10 ** (self.params.gain_db / 20.0) * self.volume * self.volume

    def set_params(self, **changes) -> None:
        for k, val in changes.items():
            if not hasattr(self.params, k):
                raise KeyError(k)
            setattr(self.params, k, val)

    def set_tune(self, root: Optional[int] = None, tune: Optional[float] = None) -> None:
        """Retune the current sound; sounding notes follow (smoothly, through the increment ramp)."""
        if self.current < 0:
            return
        i = self.current
        if root is not None:
            self.s_root[i] = root
        if tune is not None:
            self.s_tune[i] = tune
        on = np.flatnonzero(self.active & (self.slot == i))
        self.vp[on, BASE] = self.note[on] - self.s_root[i] + self.s_tune[i] / 100.0

    def load(self, sound: PlayableSound) -> List[int]:
        """Make ``sound`` the one new notes play; notes sounding an older one play on.

        Returns the ids of sounds that no voice uses any more (their memory can be released).
        """
        freed = self.collect_unused()
        free = [i for i in range(MAX_SLOTS) if self.sounds[i] is None]
        if not free:  # every slot still sounds: cut the voices of the oldest non-current slot
            victim = min((i for i in range(MAX_SLOTS) if i != self.current),
                         key=lambda i: self.sounds[i].sound_id)
            self.active[self.slot == victim] = False
            freed.append(self.sounds[victim].sound_id)
            self.sounds[victim] = None
            free = [victim]
        i = free[0]
        self.sounds[i] = sound
        self.s_root[i] = sound.root
        self.s_tune[i] = sound.tune
        self.s_start[i] = sound.start
        # the de-click before the end point is only needed where the sound was trimmed
        self.s_fade_end[i] = sound.end if sound.end < sound.frames else FAR
        self.current = i
        return freed + self.collect_unused()

    def collect_unused(self) -> List[int]:
        """Release the sounds no voice plays any more (never the current one); return their ids."""
        used = set(self.slot[self.active].tolist())
        freed = []
        for i, snd in enumerate(self.sounds):
            if snd is not None and i != self.current and i not in used:
                freed.append(snd.sound_id)
                self.sounds[i] = None
        return freed

    # ---- events (applied at the period boundary) -------------------------------------------
    def _env_now(self, i: int) -> float:
        """Envelope value of voice i at its current time (for the level a release starts from)."""
        t = self.t[i]
        if self.released[i]:
            x = min(t / max(self.rel[i], 1.0), 1.0)
            return float(self.level[i]) * (1.0 - x) ** 3
        a, d, s = float(self.att[i]), float(self.dec[i]), float(self.sus[i])
        x = 1.0 if a <= 0 else min(t / a, 1.0)
        y = 1.0 if d <= 0 else min(max((t - a) / d, 0.0), 1.0)
        return float(self.level[i]) * x * (s + (1.0 - s) * (1.0 - y) ** 3)

    def _release(self, i: int, frames: float) -> None:
        lvl = self._env_now(i)
        self.level[i] = lvl
        self.released[i] = True
        self.key_down[i] = False
        self.sustained[i] = False
        self.off_pending[i] = False
        self.t[i] = 0.0
        self.rel[i] = max(frames, 1.0)
        row = self.vp[i]
        row[AR], row[A0] = 0.0, 1.0
        row[DR], row[D0] = 1.0 / self.rel[i], 0.0
        row[SUS], row[OMS] = 0.0, lvl
        row[REND] = self.rel[i]
        row[STEADY] = FAR
        self.vp32[i] = row

    def _steal(self, i: int) -> None:
        self._release(i, self._ms(STEAL_MS))
        self.stealing[i] = True
        self.steals += 1

    @property
    def pedal(self) -> bool:
        """The engine's own pedal (source 0)."""
        return bool(self.pedals[0])

    def note_on(self, note: int, velocity: int, source: int = 0) -> None:
        if velocity <= 0:
            self.note_off(note, source)
            return
        if self.current < 0:
            return
        p = self.params
        playing = self.active & ~self.stealing
        if int(playing.sum()) >= p.polyphony:
            cand = np.flatnonzero(playing & self.released)
            if cand.size == 0:
                cand = np.flatnonzero(playing)
            self._steal(int(cand[np.argmin(self.age[cand])]))
        free = np.flatnonzero(~self.active)
        if free.size:
            i = int(free[0])
        else:  # every voice, spares too, is busy fading: cut the quietest fading one
            fading = np.flatnonzero(self.stealing)
            i = int(fading[np.argmax(self.t[fading] / self.rel[fading])])
        self.active[i] = True
        self.slot[i] = self.current
        self.note[i] = note
        self.source[i] = source
        self.key_down[i] = True
        self.sustained[i] = False
        self.off_pending[i] = False
        self.released[i] = False
        self.stealing[i] = False
        self.phase[i] = self.s_start[self.current]
        self.t[i] = 0.0
        vt = p.velocity_track / 100.0
        self.level[i] = (velocity / 127.0) ** (2.0 * vt)
        self.att[i] = self._ms(p.attack)
        if self.s_start[self.current] > 0:   # starting mid-sound: never start with a step
            self.att[i] = max(self.att[i], self._ms(DECLICK_MS))
        self.dec[i] = self._ms(p.decay)
        self.sus[i] = p.sustain
        self._age += 1
        self.age[i] = self._age
        snd = self.sounds[self.current]
        row = self.vp[i]
        row[BASE] = note - self.s_root[self.current] + self.s_tune[self.current] / 100.0
        att, dec, sus, lvl = float(self.att[i]), float(self.dec[i]), float(self.sus[i]), float(self.level[i])
        row[STEADY] = att + dec
        row[AR], row[A0] = (1.0 / att, 0.0) if att > 0 else (0.0, 1.0)
        row[DR], row[D0] = (1.0 / dec, -att / dec) if dec > 0 else (0.0, 1.0)
        row[SUS], row[OMS] = lvl * sus, lvl * (1.0 - sus)
        if snd.loop_mode == "off":
            row[LS], row[CL], row[PL] = FAR, 0.0, 1.0
            row[END] = snd.end
        else:
            length = float(snd.loop_end - snd.loop_start)
            pp = snd.loop_mode == "pingpong"
            row[LS] = snd.loop_start
            row[CL] = length if pp else 0.0
            row[PL] = 2.0 * length if pp else length
            row[END] = FAR
        row[FEND] = self.s_fade_end[self.current]
        row[REND] = FAR
        self.vp32[i] = row
        # the first period starts at the current pitch (no ramp from nowhere)
        self.inc[i] = 2.0 ** ((row[BASE] + self._pitch_offset) / 12.0)

    def _release_time(self) -> float:
        return self._ms(max(self.params.release, MIN_RELEASE_MS))

    def note_off(self, note: int, source: int = 0) -> None:
        """Release ``note`` as started from ``source`` (another input's same note plays on)."""
        held = np.flatnonzero(self.active & self.key_down & (self.note == note) & (self.source == source)
                              & ~self.released)
        for i in held:
            self.key_down[i] = False
            if self.pedals[source]:
                self.sustained[i] = True
            elif self.t[i] == 0.0:
                # on and off in one period (a stalled loop, a zero-length sequencer note): a release
                # from here would start at the attack's level 0 and the note would make no sound,
                # so it sounds for one period first
                self.off_pending[i] = True
                self._pending += 1
            else:
                self._release(int(i), self._release_time())

    def sustain_pedal(self, down: bool, source: int = 0) -> None:
        self.pedals[source] = bool(down)
        if not down:
            for i in np.flatnonzero(self.active & self.sustained & (self.source == source) & ~self.released):
                self._release(int(i), self._release_time())

    def all_notes_off(self, source: Optional[int] = None) -> None:
        """CC123: release the held notes (and the pedal) of ``source``, or of every input."""
        if source is None:
            self.pedals[:] = False
            mine = self.active & ~self.released
        else:
            self.pedals[source] = False
            mine = self.active & ~self.released & (self.source == source)
        for i in np.flatnonzero(mine):
            self._release(int(i), self._release_time())

    def all_sound_off(self) -> None:
        """CC120 and panic: every voice fades out within a few milliseconds."""
        self.pedals[:] = False
        for i in np.flatnonzero(self.active & ~self.stealing):
            self._steal(int(i))

    def reset_controllers(self, source: Optional[int] = None) -> None:
        """CC121: bend, mod wheel and volume (shared by every input) and the pedal of ``source``
        (of every input when None)."""
        self.bend = 0.0
        self.mod = 0.0
        self.volume = 1.0
        if source is None:
            for src in np.flatnonzero(self.pedals):
                self.sustain_pedal(False, int(src))
        else:
            self.sustain_pedal(False, source)

    def pitch_bend(self, value: float) -> None:
        self.bend = min(max(float(value), -1.0), 1.0)

    def mod_wheel(self, value: float) -> None:
        self.mod = min(max(float(value), 0.0), 1.0)

    def set_volume(self, value: float) -> None:
        self.volume = min(max(float(value), 0.0), 1.0)

    # ---- rendering ------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        """Render one period; returns the (period, 2) float32 output (a buffer reused each call)."""
        n = self.n
        # controllers: smoothed once a period, then ramped per frame
        self._mod_smooth += (self.mod - self._mod_smooth) * 0.2
        self._lfo = (self._lfo + self.params.vibrato_rate * n / self.rate) % 1.0
        vib = self.params.vibrato_depth / 100.0 * self._mod_smooth * math.sin(2 * math.pi * self._lfo)
        pitch_offset = self.bend * self.params.bend_range + vib
        self._pitch_offset = pitch_offset
        g0 = self._gain
        g1 = g0 + (self._gain_target() - g0) * 0.15   # ~20 ms time constant at 128 frames
        if abs(g1) < 1e-12:
            g1 = 0.0
        self._gain = g1

        act = np.flatnonzero(self.active)
        k = act.size
        mix = self._mix
        out = self.out
        if k:
            slots = self.slot[act]
            if slots[0] != slots[-1] or (k > 2 and len(set(slots.tolist())) > 1):
                act = act[np.argsort(slots, kind="stable")]
                slots = self.slot[act]
            self.voices_sounding = k - self._render_voices(act, slots, pitch_offset)
            # master gain, ramped per frame, applied while interleaving into the output
            if g0 == g1:
                np.multiply(mix.T, g1, out=out)
            else:
                gr = self._gr
                np.multiply(self.ramp_g, g1 - g0, out=gr)
                gr += g0
                np.multiply(mix.T, gr[:, None], out=out)
        else:
            self.voices_sounding = 0
            out.fill(0.0)
        if self._pending:                     # notes released before they sounded have now sounded
            self._pending = 0
            for i in np.flatnonzero(self.off_pending & self.active):
                self._release(int(i), self._release_time())
        self.peak = self.limiter.process(out)
        return out

    def _render_voices(self, act: np.ndarray, slots: np.ndarray, pitch_offset: float) -> None:
        k = act.size
        n = self.n
        vp = self.vp[act]                                    # (k, columns) per-voice parameters
        # --- pitch: increment per frame, ramped from last period's value to this one's
        inc1 = np.exp2((vp[:, BASE] + pitch_offset) * (1.0 / 12.0))
        inc0 = self.inc[act]
        ph0 = self.phase[act]
        p = self._p[:k]
        q = self._q[:k]
        np.multiply.outer(inc0, self.ramp, out=p)
        p += ph0[:, None]
        dinc = inc1 - inc0
        if dinc.any():
            np.multiply.outer(dinc, self.ramp_q, out=q)
            p += q
        ph1 = ph0 + inc0 * n + dinc * ((n + 1) / 2.0)       # unfolded phase at the next period
        # --- loop folding: pos = ls + |u + cL - pL*floor((u + cL)/pL) - cL|, u = phase - ls >= 0
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
            np.subtract(p, ls[:, None], out=q)
            np.greater_equal(q, 0.0, out=mask)
            q += cl
            r = self._r[:k]
            np.divide(q, pl, out=r)                         # exact at whole multiples (1/pL is not)
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
        # --- gain: one closed form for held and released voices, times level:
        #     level * clip(t*ar + a0) * (sus + (1-sus) * (1 - clip(t*dr + d0))^3)
        g = self._g[:k]
        h = self._h[:k]
        f = self._f[:k]
        t0 = self.t[act]
        if (t0 >= vp[:, STEADY]).all():
            # every voice holds its sustain level: the envelope is a constant per voice
            np.copyto(g, vp[:, SUS].astype(np.float32)[:, None])
        else:
            v32 = self.vp32[act]
            np.add.outer(t0.astype(np.float32), self.ramp32, out=h)   # time in frames
            np.multiply(h, v32[:, DR, None], out=g)
            g += v32[:, D0, None]
            np.maximum(g, 0.0, out=g)
            np.minimum(g, 1.0, out=g)
            np.subtract(1.0, g, out=g)
            np.multiply(g, g, out=f)
            g *= f                                          # (1 - x)^3
            g *= v32[:, OMS, None]                          # level * (1 - sus)
            g += v32[:, SUS, None]                          # level * sus
            if (v32[:, A0] < 1.0).any():                    # some voice is still in its attack
                h *= v32[:, AR, None]
                h += v32[:, A0, None]
                np.minimum(h, 1.0, out=h)                   # t >= 0, so no lower clip
                g *= h
            mask = self._mask[:k]
            np.less(g, ENV_FLOOR, out=mask)
            np.copyto(g, 0.0, where=mask)
        # de-click before a trimmed end point (only non-looping voices reach it)
        fade_end = vp[:, FEND]
        if (fade_end < FAR).any():
            np.subtract(fade_end[:, None], p, out=q)
            q *= 1.0 / self._ms(DECLICK_MS)
            np.clip(q, 0.0, 1.0, out=q)
            g *= q
        # --- interpolation indices and fractions (positions are never negative)
        np.modf(p, out=(f, q), casting="same_kind")          # fraction (float32) and whole frames
        i0, i1, i2, i3 = (x[:k] for x in self._idx)        # indices of the 4 taps
        np.add(q, PAD - 1, out=i0, casting="unsafe")        # the sample before the position
        np.add(i0, 1, out=i1)
        np.add(i0, 2, out=i2)
        np.add(i0, 3, out=i3)
        # --- per sound: gather 4 taps per channel, Hermite, weight, sum over voices
        mix = self._mix
        first = True
        if slots[0] == slots[-1]:
            runs = ((0, k),)
        else:
            bounds = np.flatnonzero(np.diff(slots)) + 1
            runs = tuple(zip([0] + bounds.tolist(), bounds.tolist() + [k]))
        for a, b in runs:
            data = self.sounds[int(slots[a])].planar        # (channels, frames): one row a channel
            ch = data.shape[0]
            ym1, y0, y1, y2, c, v = (y[:, a:b] for y in self._y[ch])
            for j in range(ch):
                row = data[j]
                np.take(row, i0[a:b], out=ym1[j], mode="clip")
                np.take(row, i1[a:b], out=y0[j], mode="clip")
                np.take(row, i2[a:b], out=y1[j], mode="clip")
                np.take(row, i3[a:b], out=y2[j], mode="clip")
            fr = f[a:b]
            # Hermite (Catmull-Rom), Laurent de Soras' form:
            #   c = (y1-ym1)/2; v = y0-y1; w = c+v; a = w+v+(y2-y0)/2; y = ((a f - (w+a)) f + c) f + y0
            np.subtract(y1, ym1, out=c)
            c *= 0.5
            np.subtract(y0, y1, out=v)
            np.subtract(y2, y0, out=y2)
            y2 *= 0.5
            v += c                                           # v = w
            y2 += v
            np.subtract(y0, y1, out=y1)                       # y1 = v again
            y2 += y1                                          # y2 = a
            v += y2                                           # v = w + a
            np.multiply(y2, fr, out=ym1)
            ym1 -= v
            ym1 *= fr
            ym1 += c
            ym1 *= fr
            ym1 += y0
            ym1 *= g[a:b]
            if first and ch == 2:
                np.add.reduce(ym1, axis=1, out=mix)
            else:
                s = self._sum[ch]
                np.add.reduce(ym1, axis=1, out=s)
                if first:
                    mix[:] = s                               # a mono sound goes to both sides
                else:
                    mix += s
            first = False
        # --- advance voices, free the finished ones
        self.phase[act] = ph1
        self.inc[act] = inc1
        t1 = self.t[act] + n
        self.t[act] = np.minimum(t1, T_MAX)
        done = t1 >= vp[:, REND]
        done |= ph1 >= vp[:, END]
        if done.any():
            gone = act[done]
            self.active[gone] = False
            self.stealing[gone] = False
            return gone.size
        return 0
