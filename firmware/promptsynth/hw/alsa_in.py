"""Audio in through ALSA (pyalsaaudio): a line or mic input, read a period at a time.

The PCM is opened non-blocking and waited for with ``poll()`` (as the output does), so a read
never hangs on a device that went away: no audio for STALL_S is an error, as is any error
pyalsaaudio raises. An overrun (the reader was late) loses audio; it is counted, and reading
goes on (pyalsaaudio prepares the device again).
"""

from __future__ import annotations

import errno
import select
from typing import Any, Optional

import numpy as np

from promptsynth.hw.alsa_out import quiet_alsa_lib

STALL_S = 1.0
FORMATS = ("S16_LE", "S32_LE", "FLOAT_LE")
SCALE = {"S16_LE": 32768.0, "S32_LE": 2147483648.0}
DTYPES = {"S16_LE": "<i2", "S32_LE": "<i4", "FLOAT_LE": "<f4"}


class CaptureError(Exception):
    pass


class AlsaInput:
    def __init__(self, device: str, rate: int, channels: int = 2, period: int = 480):
        import alsaaudio  # only here: the core must import on machines without ALSA

        quiet_alsa_lib()
        self._alsa = alsaaudio
        self.device = device
        self.rate = rate
        self.channels = channels
        self.period = period
        self.pcm: Optional[Any] = None
        self.format = ""
        self.overruns = 0
        self._poll: Optional[select.poll] = None
        self._timeout_ms = max(int(2000.0 * period / rate), 5)

    def open(self) -> None:
        """Open the capture PCM (S16 first, then the others); raises CaptureError saying why not."""
        a = self._alsa
        codes = {"S16_LE": a.PCM_FORMAT_S16_LE, "S32_LE": a.PCM_FORMAT_S32_LE, "FLOAT_LE": a.PCM_FORMAT_FLOAT_LE}
        last = ""
        for fmt in FORMATS:
            try:
                pcm = a.PCM(
                    type=a.PCM_CAPTURE,
                    mode=a.PCM_NONBLOCK,
                    device=self.device,
                    rate=self.rate,
                    channels=self.channels,
                    format=codes[fmt],
                    periodsize=self.period,
                    periods=4,
                )
            except a.ALSAAudioError as e:
                last = str(e)
                continue
            info = pcm.info()
            if info.get("rate") != self.rate or info.get("channels", self.channels) != self.channels:
                last = "device offers %s Hz, %s channels" % (info.get("rate"), info.get("channels"))
                pcm.close()
                continue
            self.format = info.get("format_name", fmt) if info.get("format_name") in FORMATS else fmt
            poller = select.poll()
            for fd, events in pcm.polldescriptors():
                poller.register(fd, events)
            self._poll, self.pcm = poller, pcm
            return
        raise CaptureError("cannot open %s for recording: %s" % (self.device, last or "no format it takes"))

    def _decode(self, data: bytes) -> np.ndarray:
        raw = np.frombuffer(data, DTYPES[self.format])
        frames = raw.reshape(-1, self.channels)
        if self.format == "FLOAT_LE":
            return frames.astype(np.float32)
        return (frames / SCALE[self.format]).astype(np.float32)

    def read(self) -> np.ndarray:
        """The next frames as float32 (n, channels) in -1..1 (n may be 0 when nothing is ready
        yet); raises CaptureError when the device fails or sends nothing for STALL_S."""
        pcm, poller = self.pcm, self._poll
        if pcm is None or poller is None:
            raise CaptureError("the input is not open")
        waited = 0
        try:
            while True:
                n, data = pcm.read()
                if n > 0:
                    return self._decode(data[: n * self.channels * np.dtype(DTYPES[self.format]).itemsize])
                if n < 0:
                    if n != -errno.EPIPE:
                        raise CaptureError("reading %s failed (%s)" % (self.device, errno.errorcode.get(-n, n)))
                    self.overruns += 1  # pyalsaaudio has prepared it again
                    continue
                ready = poller.poll(self._timeout_ms)
                if ready:
                    pcm.polldescriptors_revents(ready)
                else:
                    waited += self._timeout_ms
                    if waited >= STALL_S * 1000:
                        raise CaptureError("%s sent no audio for %.1f s" % (self.device, STALL_S))
        except self._alsa.ALSAAudioError as e:
            raise CaptureError("reading %s failed: %s" % (self.device, e)) from None

    def close(self) -> None:
        if self.pcm is not None:
            try:
                self.pcm.close()
            except Exception:  # the device may already be gone
                pass
            self.pcm = None
