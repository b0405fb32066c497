"""Messages to and from the engine process: small, typed, pickled over a pipe.

Audio never travels in a message: a sound's samples are in shared memory
(:mod:`promptsynth.engine.shm`) and the message carries its name and shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from promptsynth.engine.programs import Program
from promptsynth.engine.zones import Zone


@dataclass(frozen=True)
class LoadSound:
    """Play this sound for new notes (notes sounding the old one play on); or, with ``current``
    False, keep it resident for a keymap's zones (SetKeymap names it by ``sound_id``)."""

    shm_name: str
    shape: Tuple[int, int]  # (channels, padded frames) of the planar float32 array
    frames: int
    root: int
    tune: float
    start: int
    end: int
    loop_mode: str
    loop_start: int
    loop_end: int
    crossfade: int
    sound_id: int
    name: str = ""
    current: bool = True


@dataclass(frozen=True)
class SetKeymap:
    """Play notes through these zones (engine/zones.py: their sounds by engine sound id, loaded
    first); None: plain notes play the current sound. A bad keymap is refused with a notice."""

    zones: Optional[Tuple[Zone, ...]] = None


@dataclass(frozen=True)
class SetPrograms:
    """The presets Program Change switches to (engine/programs.py), their sounds loaded first
    with ``current=False``; ``channel``: the MIDI channel (1-16) whose Program Change listens,
    0 for none (the table is then dropped)."""

    programs: Tuple[Program, ...] = ()
    channel: int = 0


@dataclass(frozen=True)
class SetParams:
    """Change voice settings (names of :class:`~promptsynth.engine.sampler.VoiceParams`)."""

    changes: Dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SetTune:
    """Retune the current sound; sounding notes follow."""

    root: int
    tune: float


@dataclass(frozen=True)
class Midi:
    """MIDI bytes to play as if they came from a port (the front panel, tests)."""

    data: bytes


@dataclass(frozen=True)
class Panic:
    """Everything off now: every voice fades within milliseconds, controllers reset."""


@dataclass(frozen=True)
class Stop:
    """Fade out and exit."""


# engine -> supervisor


@dataclass(frozen=True)
class Notice:
    """Something worth a log line (device opened or lost, a port found, a warning)."""

    level: str
    text: str


@dataclass(frozen=True)
class SoundsReleased:
    """No voice plays these sounds any more: their shared memory can be unlinked."""

    sound_ids: List[int]


@dataclass(frozen=True)
class Ready:
    """The engine has written its first periods of audio to the device."""

    rate: int
    buffer_frames: int
    format: str


@dataclass(frozen=True)
class ProgramChanged:
    """A Program Change switched to this resident program."""

    bank: int
    number: int
    name: str


@dataclass(frozen=True)
class ProgramWanted:
    """A Program Change asked for a program the table does not hold: the daemon loads it (bank
    -1: no Bank Select was sent, so the bank being played)."""

    bank: int
    number: int
