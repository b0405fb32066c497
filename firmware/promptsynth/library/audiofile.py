"""Reading sound files (WAV, FLAC, ...) at the engine's rate, with clear errors."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

MAX_SECONDS = 600.0  # a longer file is refused rather than eating the Jetson's shared memory


class AudioFileError(ValueError):
    pass


@dataclass
class AudioData:
    audio: np.ndarray  # (frames, channels) float32, channels 1 or 2
    rate: int
    source_rate: int
    loop: Optional[Tuple[int, int]] = None  # frames at ``rate``, end exclusive
    root: Optional[int] = None


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """High-quality resampling (libsoxr, very high quality) of (frames, channels) float audio."""
    if src == dst:
        return np.ascontiguousarray(audio, dtype=np.float32)
    import soxr

    return np.ascontiguousarray(soxr.resample(audio, src, dst, quality="VHQ"), dtype=np.float32)


def read(path: str, rate: int) -> AudioData:
    """Read a sound file, mix down to at most stereo, resample to ``rate``."""
    import soundfile as sf

    if not os.path.isfile(path):
        raise AudioFileError("%s: no such file" % path)
    try:
        info = sf.info(path)
    except FileNotFoundError:
        raise AudioFileError("%s: no such file" % path) from None
    except (RuntimeError, sf.LibsndfileError, OSError) as e:
        raise AudioFileError("%s: not a readable sound file (%s)" % (path, e)) from None
    if info.frames <= 0:
        raise AudioFileError("%s: the file holds no audio" % path)
    if info.duration > MAX_SECONDS:
        raise AudioFileError(
            "%s: %.0f s is longer than the %.0f s a sound may last" % (path, info.duration, MAX_SECONDS)
        )
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as e:
        raise AudioFileError("%s: cannot decode (%s)" % (path, e)) from None
    if data.shape[0] == 0:
        raise AudioFileError("%s: the file holds no audio" % path)
    if not np.all(np.isfinite(data)):
        raise AudioFileError("%s: the file contains NaN or infinite samples" % path)
    if data.shape[1] > 2:  # more than stereo: keep the first two channels (front left/right)
        data = data[:, :2]
    out = resample(data, sr, rate)
    root, loop = _smpl(path, data.shape[0], sr, out.shape[0], rate)
    return AudioData(audio=out, rate=rate, source_rate=sr, loop=loop, root=root)


def _smpl(
    path: str, frames: int, sr: int, out_frames: int, rate: int
) -> Tuple[Optional[int], Optional[Tuple[int, int]]]:
    """Root note and first loop (in frames at ``rate``) from a WAV's `smpl` chunk, where it has a
    sane one: a broken chunk costs the sound its loop, never its place as the start-up sound."""
    from promptsynth.library.export import read_smpl

    try:
        smpl = read_smpl(path)
    except (OSError, ValueError, struct.error):
        return None, None
    if not smpl:
        return None, None
    root = int(smpl["unity"]) if 0 <= int(smpl["unity"]) <= 127 else None
    loop = None
    loops = smpl.get("loops") or []
    if loops:
        start, end = int(loops[0]["start"]), int(loops[0]["end"])
        if 0 <= start < end <= frames:
            scale = rate / sr
            ls, le = int(round(start * scale)), min(int(round(end * scale)), out_frames)
            if le - ls >= 2:
                loop = (ls, le)
    return root, loop
