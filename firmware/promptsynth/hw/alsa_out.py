"""Audio out through ALSA (pyalsaaudio): open with retry, negotiated format, xrun recovery.

:meth:`AlsaOutput.write` never raises and never blocks for long: the PCM is opened
non-blocking and a full buffer is waited for with ``poll()`` on the PCM's descriptors (demangled
by ``polldescriptors_revents``, which ALSA plugins such as jack need) with a timeout.  A device
that errors, or that takes no audio for STALL_S, makes it return ``LOST``; the caller paces
itself until :meth:`AlsaOutput.try_open` succeeds again.  A stalled PCM is never closed (closing
the jack plugin after its server died blocks forever): it is parked, and a new one opened.
"""

from __future__ import annotations

import errno
import select
from typing import Any, List, Optional

import numpy as np

OK, XRUN, LOST = 0, 1, 2
STALL_S = 1.0  # no progress for this long: the device is gone
FORMATS = ("S16_LE", "S32_LE", "FLOAT_LE")
FORMAT_CODES = {name: i + 1 for i, name in enumerate(FORMATS)}


_quiet_handler = None


def quiet_alsa_lib() -> bool:
    """Stop libasound printing its own error lines to stderr. A missing card is retried every
    second, and each try made libasound print a dozen lines: weeks of them in a kiosk's journal.
    The reason is still reported, once, from the exception pyalsaaudio raises."""
    global _quiet_handler
    if _quiet_handler is not None:
        return True
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if not name:
        return False
    try:
        lib = ctypes.CDLL(name)
        # void handler(const char *file, int line, const char *function, int err, const char *fmt, ...)
        proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
        handler = proto(lambda *args: None)
        lib.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError):
        return False
    _quiet_handler = handler  # kept alive: libasound holds a pointer to it
    return True


class AlsaOutput:
    def __init__(self, device: str, rate: int, period: int, periods: int, fmt: str = "S16_LE"):
        import alsaaudio  # only here: the core must import on machines without ALSA

        quiet_alsa_lib()
        self._alsa = alsaaudio
        self.device = device
        self.rate = rate
        self.period = period
        self.periods = periods
        self.wanted = fmt
        self.pcm: Optional[Any] = None  # the alsaaudio PCM while open
        self.format: Optional[str] = None
        self.buffer_frames = 0
        self.error = ""
        self.parked: List[object] = []  # stalled PCMs: closing them could block forever
        self._poll: Optional[select.poll] = None  # the PCM's descriptors, registered when it opened
        self._timeout_ms = max(int(1000.0 * period * (periods + 1) / rate), 5)
        self._f64 = np.empty((period, 2), np.float64)
        self._f32 = np.empty((period, 2), np.float32)
        self._i16 = np.empty((period, 2), np.int16)
        self._i32 = np.empty((period, 2), np.int32)

    def try_open(self) -> bool:
        """Open the PCM; the wanted format first, then the others. Sets ``error`` on failure."""
        a = self._alsa
        codes = {"S16_LE": a.PCM_FORMAT_S16_LE, "S32_LE": a.PCM_FORMAT_S32_LE, "FLOAT_LE": a.PCM_FORMAT_FLOAT_LE}
        order = [self.wanted] + [f for f in FORMATS if f != self.wanted]
        last = ""
        for fmt in order:
            try:
                pcm = a.PCM(
                    type=a.PCM_PLAYBACK,
                    mode=a.PCM_NONBLOCK,
                    device=self.device,
                    rate=self.rate,
                    channels=2,
                    format=codes[fmt],
                    periodsize=self.period,
                    periods=self.periods,
                )
            except a.ALSAAudioError as e:
                last = str(e)
                continue
            info = pcm.info()
            got = info.get("format_name", fmt)
            if (
                got not in FORMATS
                or info.get("rate") != self.rate
                or info.get("channels", 2) != 2
                or info.get("period_size") != self.period
            ):
                last = "device offers %s %s Hz, %s channels, period %s" % (
                    got,
                    info.get("rate"),
                    info.get("channels"),
                    info.get("period_size"),
                )
                pcm.close()
                continue
            poller = select.poll()
            for fd, events in pcm.polldescriptors():
                poller.register(fd, events)
            self._poll = poller
            self.pcm = pcm
            self.format = got
            self.buffer_frames = int(info.get("buffer_size", self.period * self.periods))
            self.error = ""
            return True
        self.error = last or "cannot open"
        return False

    def _encode(self, frames: np.ndarray):
        if self.format == "FLOAT_LE":
            np.clip(frames, -1.0, 1.0, out=self._f32)
            return self._f32
        if self.format == "S16_LE":
            np.multiply(frames, 32767.0, out=self._f32)
            np.rint(self._f32, out=self._f32)
            np.copyto(self._i16, self._f32, casting="unsafe")
            return self._i16
        # S32 in float64: 2**31-1 is not representable in float32 and would wrap at full scale
        np.multiply(frames, 2147483647.0, out=self._f64, dtype=np.float64)
        np.rint(self._f64, out=self._f64)
        np.copyto(self._i32, self._f64, casting="unsafe")
        return self._i32

    def write(self, frames: np.ndarray) -> int:
        """Write one period of float frames in -1..1, shaped (period, 2).

        Waits (in ``poll``, without the GIL) while the buffer is full. Returns OK, XRUN (an
        underrun happened; the period was still written whole) or LOST.
        """
        pcm, poller = self.pcm, self._poll
        if pcm is None or poller is None:  # (both are set together when the PCM opens)
            return LOST
        buf = self._encode(frames)
        done = 0
        waited = 0
        underruns = 0
        total = len(buf)
        try:
            while done < total:
                n = pcm.write(buf[done:] if done else buf)
                if n > 0:
                    done += n
                elif n < 0:
                    # -EPIPE: underrun; pyalsaaudio has re-prepared the device: write again
                    underruns += 1
                    if underruns > 8 or n != -errno.EPIPE:
                        self.error = "write failed (%s)" % errno.errorcode.get(-n, n)
                        self.close()
                        return LOST
                else:
                    ready = poller.poll(self._timeout_ms)
                    if ready:
                        pcm.polldescriptors_revents(ready)
                    else:
                        waited += self._timeout_ms
                        if waited >= STALL_S * 1000:
                            self.error = "the device took no audio for %.1f s" % STALL_S
                            self.parked.append(pcm)
                            self.pcm = None
                            return LOST
        except self._alsa.ALSAAudioError as e:
            self.error = str(e)
            self.close()
            return LOST
        return XRUN if underruns else OK

    def queued(self) -> int:
        """Frames written but not yet played (what a new note waits behind)."""
        if self.pcm is None:
            return 0
        try:
            return max(self.buffer_frames - int(self.pcm.avail()), 0)
        except Exception:
            return 0

    def close(self) -> None:
        if self.pcm is not None:
            try:
                self.pcm.close()
            except Exception:  # the device may already be gone
                pass
            self.pcm = None
