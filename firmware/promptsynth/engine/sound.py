"""A sound made ready for the engine: audio at the output rate plus the points it plays between.

Everything costly happens here, outside the real-time loop: zero padding for the interpolator,
flushing of denormal-range samples, and the loop crossfade, which is baked into a copy of the
audio so that playback needs no second read at the seam.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

LOOP_MODES = ("off", "forward", "pingpong")
PAD = 4  # zero frames on each side: Hermite reads 1 before and 2 after a position
FLUSH = 1e-20  # samples smaller than this (-400 dB) are set to 0: no denormals in the mix


@dataclass
class PlayableSound:
    """Audio (``planar``: one float32 row a channel, PAD zeros at each end) and playback points.

    All positions are in frames of ``data`` without the padding, at the engine's rate.
    """

    planar: np.ndarray
    frames: int
    root: int = 60
    tune: float = 0.0  # cents
    start: int = 0
    end: int = 0  # exclusive; == frames for the whole sound
    loop_mode: str = "off"
    loop_start: int = 0
    loop_end: int = 0  # exclusive
    crossfade: int = 0  # frames baked in before loop_end (forward loops)
    sound_id: int = 0
    name: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.planar.shape[0]

    def audio(self) -> np.ndarray:
        """The playable frames shaped (frames, channels) (a view, without padding)."""
        return self.planar[:, PAD : PAD + self.frames].T


class SoundError(ValueError):
    pass


def _frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))


def resolve_points(
    frames: int,
    rate: int,
    start_s: float = 0.0,
    end_s: float = 0.0,
    loop_mode: str = "auto",
    loop_start_s: float = 0.0,
    loop_end_s: float = 0.0,
    own_loop: Optional[Tuple[int, int]] = None,
) -> Tuple[int, int, str, int, int]:
    """Turn user settings in seconds (0 = default) into frame positions that are always valid.

    Settings outside the sound are clamped rather than refused: a preset made for a longer sound
    must still play on a shorter one.
    """
    start = min(max(_frames(start_s, rate), 0), max(frames - 1, 0))
    end = _frames(end_s, rate) if end_s > 0 else frames
    end = min(max(end, start + 1), frames)
    mode = loop_mode
    if mode == "auto":
        mode = "forward" if own_loop else "off"
    if loop_start_s > 0 or loop_end_s > 0:
        ls = _frames(loop_start_s, rate) if loop_start_s > 0 else start
        le = _frames(loop_end_s, rate) if loop_end_s > 0 else end
    elif own_loop:
        ls, le = own_loop
    else:
        ls, le = start, end
    ls = min(max(ls, start), end - 1) if end > start else start
    le = min(max(le, ls + 1), end)
    if mode != "off" and le - ls < 2:
        mode = "off"
    return start, end, mode, ls, le


def prepare(
    audio: np.ndarray,
    root: int = 60,
    tune: float = 0.0,
    start: int = 0,
    end: int = 0,
    loop_mode: str = "off",
    loop_start: int = 0,
    loop_end: int = 0,
    crossfade: int = 0,
    sound_id: int = 0,
    name: str = "",
) -> PlayableSound:
    """Build a :class:`PlayableSound` from float audio shaped (frames,) or (frames, channels)."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2):
        raise SoundError("audio must be mono or stereo, got shape %s" % (a.shape,))
    frames = a.shape[0]
    if frames < 1:
        raise SoundError("the sound is empty")
    if not np.all(np.isfinite(a)):
        raise SoundError("the sound contains NaN or infinite samples")
    if loop_mode not in LOOP_MODES:
        raise SoundError("loop mode must be one of %s" % ", ".join(LOOP_MODES))
    end = frames if end <= 0 else min(end, frames)
    start = min(max(start, 0), end - 1)
    planar = np.zeros((a.shape[1], frames + 2 * PAD), dtype=np.float32)
    planar[:, PAD : PAD + frames] = a.T
    body = planar[:, PAD : PAD + frames].T
    body[np.abs(body) < FLUSH] = 0.0
    xf = 0
    if loop_mode != "off":
        loop_start = min(max(loop_start, start), end - 2)
        loop_end = min(max(loop_end, loop_start + 2), end)
    if loop_mode == "forward" and crossfade > 0:
        # The xf frames before the loop end fade into the xf frames before the loop start, so the
        # jump from loop_end-1 to loop_start continues the material that precedes loop_start.
        xf = min(crossfade, loop_start, loop_end - loop_start)
        if xf > 0:
            w = (0.5 - 0.5 * np.cos(np.pi * (np.arange(xf) + 0.5) / xf)).astype(np.float32)[:, None]
            tail = body[loop_end - xf : loop_end].copy()
            lead = body[loop_start - xf : loop_start]
            body[loop_end - xf : loop_end] = tail * (1.0 - w) + lead * w
    # Frames after the loop end are never played in a loop mode, but the interpolator reads up
    # to 2 beyond a position: give it the loop's continuation (forward) or mirror (ping-pong).
    if loop_mode == "forward":
        planar[:, PAD + loop_end : PAD + loop_end + 3] = planar[:, PAD + loop_start : PAD + loop_start + 3]
    elif loop_mode == "pingpong":
        for j in (1, 2, 3):
            planar[:, PAD + loop_end + j] = planar[:, PAD + loop_end - j]
    return PlayableSound(
        planar=planar,
        frames=frames,
        root=int(root),
        tune=float(tune),
        start=int(start),
        end=int(end),
        loop_mode=loop_mode,
        loop_start=int(loop_start),
        loop_end=int(loop_end),
        crossfade=int(xf),
        sound_id=int(sound_id),
        name=name,
    )


@functools.lru_cache(maxsize=4)
def init_sound(rate: int, seconds: float = 3.0) -> Tuple[np.ndarray, Tuple[int, int]]:
    """The built-in init sound: a bright C4 (MIDI 60) tone with a pluck, slowly swaying in stereo.

    Its sustain is periodic and the returned loop spans the whole number of cycles whose length
    in frames is closest to an integer, so it loops seamlessly even without a crossfade.
    Returns (audio shaped (frames, 2), (loop_start, loop_end)). Made once per rate (0.1 s of
    synthesis; a kiosk's idle return loads it again and again) and read-only, so no caller can
    change it under another.
    """
    f0 = 440.0 * 2 ** ((60 - 69) / 12)
    cycles = np.arange(int(0.8 * f0), int(1.6 * f0))
    lengths = cycles * rate / f0
    best = int(np.argmin(np.abs(lengths - np.round(lengths))))
    loop_len = int(round(lengths[best]))
    n = max(int(seconds * rate), loop_len + int(0.5 * rate))
    t = np.arange(n) / rate
    left = np.zeros(n)
    right = np.zeros(n)
    for h in range(1, 9):
        amp = 0.5 / h**1.2
        left += amp * np.sin(2 * np.pi * f0 * h * t)
        right += amp * np.sin(2 * np.pi * f0 * h * t + 0.4 * h)
    sway = 2 * np.pi * t * rate / loop_len  # one sway per loop: periodic with it
    pluck = 1.0 + 1.5 * np.exp(-t / 0.08)  # brighter, louder onset
    fade_in = np.minimum(1.0, t / 0.002)  # starts at exactly 0
    env = pluck * fade_in
    audio = np.stack([left * (1 + 0.15 * np.sin(sway)), right * (1 - 0.15 * np.sin(sway))], axis=1) * env[:, None]
    audio *= 0.5 / np.max(np.abs(audio))
    loop_end = n - int(0.05 * rate)
    out = audio.astype(np.float32)
    out.setflags(write=False)
    return out, (loop_end - loop_len, loop_end)
