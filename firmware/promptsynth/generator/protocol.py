"""Messages between the supervisor and the generator process (pickled dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from promptsynth.generator.params import GenerationParams


@dataclass(frozen=True)
class Job:
    job_id: int
    model: str
    model_path: str
    params: GenerationParams  # validated, seed drawn
    out_dir: Optional[str]  # where the result's WAV + JSON go (None: nowhere, the audio
    # travels back in the Result only)
    timeout: float = 600.0
    # sound to sound: the source's samples (mono float32) and their rate; params.source names it
    source: Optional[np.ndarray] = None
    source_rate: int = 0


@dataclass(frozen=True)
class Shutdown:
    pass


# generator -> supervisor


@dataclass(frozen=True)
class ModelStatus:
    model: str
    state: str  # "loading", "ready", "failed"
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int  # steps done
    total: int
    elapsed: float  # seconds since the job started
    remaining: float  # estimate, seconds


@dataclass(frozen=True)
class Result:
    job_id: int
    paths: List[str]  # WAV files, best candidate first (none when the job asked for none)
    recipe: Dict[str, object]
    seconds: Dict[str, float] = field(default_factory=dict)  # timings: model, encode, write...
    warnings: List[str] = field(default_factory=list)
    calls: Dict[str, int] = field(default_factory=dict)  # forward calls of each model component
    audio: List[np.ndarray] = field(default_factory=list)  # each candidate, best first, float32 mono
    rate: int = 0  # ... at this rate (the model's, 16 kHz)
    recipes: List[Dict[str, object]] = field(default_factory=list)  # each row's, best first
    # (``recipe`` is the first's)
    batch: int = 1  # jobs that shared its pipeline call (a generation server batches them)


@dataclass(frozen=True)
class Failed:
    job_id: int
    reason: str
    kind: str = "error"  # "error", "cancelled", "timeout", "lost", "invalid"


@dataclass(frozen=True)
class Queued:
    job_id: int
    position: int
