"""The sound a sound-to-sound job starts from: a library sound (by id or name) or a file, which is
imported first so that the result's recipe can name it by library id (and make it again)."""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np

from promptsynth.library.sounds import SoundLibrary


def source_audio(lib: SoundLibrary, key: str, out_rate: int) -> Tuple[str, np.ndarray, int]:
    """(library id, mono float32 samples, rate) of ``key``: a sound's id or name, or the path of
    a WAV/FLAC file (imported like `sounds import`). Raises LibraryError or AudioFileError."""
    if os.path.isfile(key):
        from promptsynth.library.intake import import_file

        key = import_file(lib, key, out_rate).id
    entry = lib.resolve(key)
    audio, rate, _ = lib.load(entry.id)
    return entry.id, np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32), rate
