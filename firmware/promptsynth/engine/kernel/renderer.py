"""The compiled renderer: the same interface as engine/render.py's VoiceRenderer, one C call a
period for every voice (render.c).

The kernel reads and advances the voices' own arrays in place, so they are bound once (their
addresses never change: engine/voices.py never replaces them); a period passes only the pitch
offset and the master gain. The slots' sounds are bound again only when one changes.
"""

from __future__ import annotations

from types import ModuleType
from typing import List, Optional, Tuple

import numpy as np

from promptsynth.engine.effects import Effects
from promptsynth.engine.limiter import SoftLimiter
from promptsynth.engine.slots import MAX_SLOTS, SoundSlots
from promptsynth.engine.voices import DECLICK_MS, NCOLS, Voices

MAX_PERIOD = 4096  # render.c's stack buffers


class KernelRenderer:
    name = "kernel"

    def __init__(self, module: ModuleType, rate: int, period: int, count: int):
        if not 0 < period <= MAX_PERIOD:
            raise ValueError("the kernel renders periods of 1..%d frames, not %d" % (MAX_PERIOD, period))
        self.ffi = module.ffi
        self.lib = module.lib
        self.n = period
        self.count = count
        self.mix = np.zeros((2, period), np.float32)
        self.s = self.ffi.new("ps_voices *")
        self.s.count = count
        self.s.n = period
        self.s.declick = 1.0 / (DECLICK_MS * rate / 1000.0)
        self.s.mix = self._ptr("float *", self.mix)
        self.ramp_g = ((np.arange(period) + 1) / period).astype(np.float32)
        self.m = self.ffi.new("ps_master *")
        self.m.ramp = self._ptr("float *", self.ramp_g)
        self._sounding = self.ffi.new("int *")
        self._out: Optional[np.ndarray] = None
        self._limiter: Optional[SoftLimiter] = None
        self._voices: Optional[Voices] = None
        self._fp: Optional[np.ndarray] = None
        self.e = self.ffi.new("ps_effects *")
        self._effects: Optional[Effects] = None
        self._version = -1  # the slots' version bound
        self._rows: List[np.ndarray] = []
        assert len(self.s.frames) == MAX_SLOTS, "render.h and engine/slots.py disagree on the slots"

    def _ptr(self, ctype: str, a: np.ndarray):
        assert a.flags.c_contiguous
        return self.ffi.cast(ctype, a.ctypes.data)

    def _bind(self, voices: Voices) -> None:
        assert voices.count == self.count and voices.vp.shape[1] == NCOLS
        assert voices.active.dtype == np.bool_ and voices.slot.dtype.itemsize == 8
        s = self.s
        s.vp = self._ptr("double *", voices.vp)
        s.vp32 = self._ptr("float *", voices.vp32)
        s.active = self._ptr("uint8_t *", voices.active)
        s.stealing = self._ptr("uint8_t *", voices.stealing)
        s.slot = self._ptr("int64_t *", voices.slot)
        s.phase = self._ptr("double *", voices.phase)
        s.inc = self._ptr("double *", voices.inc)
        s.t = self._ptr("double *", voices.t)
        s.fstate = self._ptr("double *", voices.fstate)
        s.lt = self._ptr("double *", voices.lt)
        s.age = self._ptr("int64_t *", voices.age)
        self._voices = voices  # keeps the arrays alive

    def _bind_sounds(self, slots: SoundSlots) -> None:
        s = self.s
        keep = []
        for i, snd in enumerate(slots.sounds):
            if snd is None:
                s.frames[i] = 0
                s.channels[i] = 0
                continue
            data = snd.planar
            if not data.flags.c_contiguous:  # never on the engine's own sounds: they are made so
                data = np.ascontiguousarray(data)
            keep.append(data)  # the rows the kernel reads stay alive while bound
            rows = [self._ptr("float *", data[j]) for j in range(data.shape[0])]
            s.data[i][0] = rows[0]
            s.data[i][1] = rows[-1]
            s.frames[i] = data.shape[1]
            s.channels[i] = data.shape[0]
        self._version = slots.version
        self._rows = keep

    def _bind_effects(self, fxs: Effects) -> None:
        e = self.e
        e.rate = fxs.rate
        e.fx = self._ptr("double *", fxs.fx)
        e.state = self._ptr("double *", fxs.state)
        e.pos = self._ptr("int64_t *", fxs.pos)
        e.comb = self._ptr("float *", fxs.comb)
        e.comb_off = self._ptr("int64_t *", fxs.comb_off)
        e.comb_len = self._ptr("int64_t *", fxs.comb_len)
        e.comb_total = fxs.comb.size
        e.ap = self._ptr("float *", fxs.ap)
        e.ap_off = self._ptr("int64_t *", fxs.ap_off)
        e.ap_len = self._ptr("int64_t *", fxs.ap_len)
        e.ap_total = fxs.ap.size
        e.delay = self._ptr("float *", fxs.delay)
        e.del_len = fxs.del_len
        e.chorus = self._ptr("float *", fxs.chorus)
        e.cho_len = fxs.cho_len
        self._effects = fxs  # keeps the arrays alive

    def _bind_master(self, out: np.ndarray, limiter: SoftLimiter) -> None:
        assert out.shape == (self.n, 2) and out.dtype == np.float32
        m = self.m
        m.out = self._ptr("float *", out)
        m.state = self._ptr("double *", limiter.state)
        m.threshold, m.release, m.knee = limiter.threshold, limiter.release, limiter.knee
        self._out, self._limiter = out, limiter

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
        """A whole period into ``out`` (frames, 2) in one call: the voices, the master gain
        ramped from ``g0`` to ``g1``, the limiter. Returns (peak, voices sounding)."""
        if voices is not self._voices:
            self._bind(voices)
        if out is not self._out or limiter is not self._limiter:
            self._bind_master(out, limiter)
        if effects is not self._effects:
            self._bind_effects(effects)
        if fp is not self._fp:
            self.s.fp = self._ptr("double *", fp)
            self._fp = fp
        if slots.version != self._version:
            self._bind_sounds(slots)
        peak = self.lib.ps_period(self.s, self.m, self.e, pitch_offset, g0, g1, self._sounding)
        return peak, self._sounding[0]
