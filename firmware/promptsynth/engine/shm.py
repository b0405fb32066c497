"""Sounds in shared memory: the supervisor publishes, the engine maps them without copying."""

from __future__ import annotations

import dataclasses
import uuid
from multiprocessing import shared_memory
from typing import Tuple

import numpy as np

from promptsynth.engine.messages import LoadSound
from promptsynth.engine.sound import PlayableSound


def publish(sound: PlayableSound, current: bool = True) -> Tuple[shared_memory.SharedMemory, LoadSound]:
    """Copy the sound into a new shared-memory block; the caller owns (and later unlinks) it.
    ``current``: new notes play it (else it is kept for a keymap)."""
    arr = np.ascontiguousarray(sound.planar, dtype=np.float32)
    shm = shared_memory.SharedMemory(create=True, size=max(arr.nbytes, 1), name="psynth-" + uuid.uuid4().hex[:16])
    view: np.ndarray = np.ndarray(arr.shape, dtype=np.float32, buffer=shm.buf)
    view[:] = arr
    del view
    channels, padded = arr.shape
    msg = LoadSound(
        shm_name=shm.name,
        shape=(channels, padded),
        frames=sound.frames,
        root=sound.root,
        tune=sound.tune,
        start=sound.start,
        end=sound.end,
        loop_mode=sound.loop_mode,
        loop_start=sound.loop_start,
        loop_end=sound.loop_end,
        crossfade=sound.crossfade,
        sound_id=sound.sound_id,
        name=sound.name,
        current=current,
    )
    return shm, msg


def attach(msg: LoadSound) -> Tuple[shared_memory.SharedMemory, PlayableSound]:
    """Map a published sound; keep the returned block until no voice plays the sound."""
    shm = shared_memory.SharedMemory(name=msg.shm_name)
    planar: np.ndarray = np.ndarray(tuple(msg.shape), dtype=np.float32, buffer=shm.buf)
    skip = ("shm_name", "shape", "current")
    fields = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg) if f.name not in skip}
    return shm, PlayableSound(planar=planar, **fields)


def release(shm: shared_memory.SharedMemory, unlink: bool = True) -> bool:
    """Close (and by default unlink) a block; False while a view of it still exists."""
    try:
        shm.close()
        if unlink:
            shm.unlink()
    except BufferError:
        return False
    except OSError:  # already unlinked (a restart raced us): nothing left to do
        pass
    return True
