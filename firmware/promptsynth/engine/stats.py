"""Numbers the engine publishes to the supervisor through shared memory, without locks.

The engine writes plain floats into a shared array every period; readers take a snapshot.
A torn read of one number is harmless (they are meters and counters), and the engine never
waits for a reader.
"""

from __future__ import annotations

import multiprocessing
from typing import Dict

import numpy as np

FIELDS = (
    "heartbeat",
    "periods",
    "xruns",
    "audio_ok",
    "audio_opens",
    "voices",
    "peak",
    "steals",
    "limiter_clipped",
    "midi_messages",
    "midi_events",
    "midi_malformed",
    "midi_sysex",
    "midi_ignored",
    "midi_filtered",
    "midi_ports",
    "render_us",
    "render_us_max",
    "sound_id",
    "rate",
    "buffer_frames",
    "format_code",
    "realtime",
    "memory_locked",
    "note_on_time",
    "note_on_queued",
    "note_on_count",
    "cc_number",
    "cc_value",
    "cc_count",
    "kernel",  # 1: the compiled kernel renders; 0: the numpy reference
    "clock_bpm",  # the incoming MIDI clock's tempo, 0 when none arrives
    "last_note",  # the key of the last note-on (the panel's pad page selects by playing)
)
INDEX = {name: i for i, name in enumerate(FIELDS)}
RING = 8192  # render times kept for percentiles (about 22 s at 128 frames)


class EngineStats:
    """Shared counters plus a ring of the last RING render times (microseconds)."""

    def __init__(self, ctx=None) -> None:
        ctx = ctx or multiprocessing.get_context("spawn")
        self._values = ctx.RawArray("d", len(FIELDS))
        self._ring = ctx.RawArray("d", RING)
        self._pos = ctx.RawValue("q", 0)
        self.attach()

    def attach(self) -> None:
        """(Re)create the numpy views; called after unpickling in the engine process."""
        self.values = np.frombuffer(self._values, dtype=np.float64)
        self.ring = np.frombuffer(self._ring, dtype=np.float64)

    def __getstate__(self):
        return {"_values": self._values, "_ring": self._ring, "_pos": self._pos}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.attach()

    def push_render(self, us: float) -> None:
        pos = self._pos.value
        self.ring[pos % RING] = us
        self._pos.value = pos + 1

    def render_times(self) -> np.ndarray:
        pos = self._pos.value
        if pos <= RING:
            return self.ring[:pos].copy()
        return np.roll(self.ring, -(pos % RING)).copy()

    def snapshot(self) -> Dict[str, float]:
        v = self.values.copy()
        return {name: float(v[i]) for i, name in enumerate(FIELDS)}

    def __getitem__(self, name: str) -> float:
        return float(self.values[INDEX[name]])
