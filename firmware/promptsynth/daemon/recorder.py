"""Recording from the audio input: a count-in, a level meter, a maximum length.

A thread reads the input a period at a time from the moment recording is asked for: during the
count-in the audio only feeds the meter (so the level can be set before the take), then it is
kept until ``stop()`` or the maximum length. Time is counted in frames read, not by the clock,
so the take is exactly what the input delivered. The caller stores the take (it owns the
library); nothing here touches the engine.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

IDLE, COUNT_IN, RECORDING, CAPTURED, FAILED = "idle", "count_in", "recording", "captured", "failed"
METER_FLOOR_DB = -90.0


@dataclass(frozen=True)
class RecordStatus:
    phase: str = IDLE
    count: int = 0  # whole seconds of count-in left (3, 2, 1)
    level_db: float = METER_FLOOR_DB  # the input's peak in the last period read
    seconds: float = 0.0  # recorded so far
    max_seconds: float = 0.0
    error: str = ""
    overruns: int = 0


class Recorder:
    def __init__(self, open_input: Callable[[], object], rate: int, channels: int, max_seconds: float, count_in: float):
        """``open_input()`` returns an opened input (hw/alsa_in.AlsaInput or one like it) or raises."""
        self._open = open_input
        self.rate, self.channels = rate, channels
        self.max_frames = int(max_seconds * rate)
        self.count_in_frames = int(count_in * rate)
        self._lock = threading.Lock()
        self._status = RecordStatus(max_seconds=max_seconds)
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._take: Optional[np.ndarray] = None

    def status(self) -> RecordStatus:
        with self._lock:
            return self._status

    def _set(self, **kw) -> None:
        with self._lock:
            self._status = RecordStatus(**dict(self._status.__dict__, **kw))

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.busy:
            return
        self._stop.clear()
        self._cancel.clear()
        self._take = None
        self._set(phase=COUNT_IN if self.count_in_frames else RECORDING, seconds=0.0, error="", overruns=0)
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the take (what was recorded is kept); during the count-in, nothing was: idle."""
        self._stop.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._stop.set()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def take(self) -> Optional[np.ndarray]:
        """The captured take ((frames, channels) float32), once; None if there is none."""
        with self._lock:
            take, self._take = self._take, None
            if self._status.phase == CAPTURED:
                self._status = RecordStatus(**dict(self._status.__dict__, phase=IDLE))
            return take

    def _run(self) -> None:
        buf = np.empty((self.max_frames, self.channels), np.float32)  # allocated once per take
        kept = 0
        counted = 0
        dev = None
        try:
            dev = self._open()
            while not self._stop.is_set() and kept < self.max_frames:
                block = dev.read()  # type: ignore[attr-defined]
                if not len(block):
                    continue
                peak = float(np.abs(block).max())
                level = 20 * math.log10(peak) if peak > 0 else METER_FLOOR_DB
                level = max(level, METER_FLOOR_DB)
                if counted < self.count_in_frames:
                    skip = min(self.count_in_frames - counted, len(block))
                    counted += skip
                    block = block[skip:]
                    left = self.count_in_frames - counted
                    self._set(
                        level_db=level, count=int(math.ceil(left / self.rate)), phase=COUNT_IN if left else RECORDING
                    )
                n = min(len(block), self.max_frames - kept)
                buf[kept : kept + n] = block[:n]
                kept += n
                self._set(level_db=level, seconds=kept / self.rate, overruns=getattr(dev, "overruns", 0))
        except Exception as e:  # the input failed (or could not be opened): say so, keep nothing
            self._set(phase=FAILED, error=str(e) or type(e).__name__)
            return
        finally:
            if dev is not None:
                dev.close()  # type: ignore[attr-defined]
        if self._cancel.is_set() or kept == 0:
            self._set(phase=IDLE, count=0)
            return
        with self._lock:
            self._take = buf[:kept].copy()
            self._status = RecordStatus(**dict(self._status.__dict__, phase=CAPTURED, count=0))


def make_recorder(audio) -> Recorder:
    """A recorder on the configured input (``[audio]``: capture_device, capture_channels, rate,
    record_max, record_count_in). The device is opened at each take, not before."""

    def open_input():
        from promptsynth.hw.alsa_in import AlsaInput

        dev = AlsaInput(audio.capture_device, audio.rate, audio.capture_channels)
        dev.open()
        return dev

    return Recorder(open_input, audio.rate, audio.capture_channels, audio.record_max, audio.record_count_in)
