"""The server's job table: each job's state, its events as its instrument reads them, its result.

A job belongs to the instrument whose token submitted it; its id is random, so a job cannot be
guessed, and another instrument's id is "not found". The queue is bounded per model: a job that
would wait behind ``queue`` others is refused with an estimate of when to retry, not queued.
Finished jobs are kept ``keep_s`` for their results to be fetched, then dropped.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from promptsynth.generator.params import GenerationParams
from promptsynth.remote.api import ApiError

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")
PROGRESS_EVERY_S = 0.1  # a job's progress goes out at most this often (its last step always)


class ProgressGate:
    """Which of a job's steps are sent as progress: one every ``every_s`` at most, counted from
    the job's start (``begin``), and the last. Each event is a hop from the replica through the
    ingress and Serve's proxy to the instrument: a few a second is news enough, and on a fast model
    a step takes milliseconds (the instrument has "started" at once)."""

    def __init__(self, every_s: float = PROGRESS_EVERY_S, clock=time.monotonic):
        self.every_s = every_s
        self.clock = clock
        self.last: Dict[int, float] = {}

    def begin(self, job: int) -> None:
        self.last[job] = self.clock()

    def passes(self, job: int, step: int, total: int) -> bool:
        if step >= total:
            self.last.pop(job, None)
            return True
        now = self.clock()
        if job in self.last and now - self.last[job] < self.every_s:
            return False
        self.last[job] = now
        return True


@dataclass
class Job:
    id: str  # public and random
    number: int  # the replicas' job id
    owner: str  # the instrument that submitted it
    model: str
    params: GenerationParams
    source: Optional[np.ndarray] = None
    source_rate: int = 0
    created: float = field(default_factory=time.monotonic)
    state: str = "queued"
    events: List[Dict[str, Any]] = field(default_factory=list)
    result: Optional[Dict[str, Any]] = None  # when done: recipes, warnings, seconds, calls, rate, batch
    audio: List[np.ndarray] = field(default_factory=list)
    finished: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stream: Any = None  # the replica's response generator while it runs (to cancel it)

    def add(self, event: Dict[str, Any]) -> None:
        """Record an event and wake the readers of the stream."""
        self.events.append(event)
        kind = event["event"]
        if kind == "started":
            self.state = "running"
        elif kind in ("done", "failed"):
            self.state = "done" if kind == "done" else ("cancelled" if event.get("kind") == "cancelled" else "failed")
            self.finished = time.monotonic()
        self.changed.set()
        self.changed = asyncio.Event()  # the next readers wait on a fresh one

    def summary(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"job": self.id, "model": self.model, "state": self.state}
        if self.result is not None:
            out.update(self.result)
            out["candidates"] = len(self.audio)
        if self.state in ("failed", "cancelled"):
            last = self.events[-1]
            out.update(kind=last.get("kind"), reason=last.get("reason"))
        return out


class JobTable:
    def __init__(self, queue: int, replicas: int, keep_s: float, clock=time.monotonic):
        self.queue = queue
        self.replicas = replicas
        self.keep_s = keep_s
        self.clock = clock
        self.jobs: Dict[str, Job] = {}
        self._number = 0
        self.job_s = 5.0  # a job's time, running average (for retry estimates)

    def waiting(self, model: str) -> List[Job]:
        return [j for j in self.jobs.values() if j.model == model and j.state == "queued"]

    def add(self, owner: str, model: str, params: GenerationParams, source=None, source_rate: int = 0) -> Job:
        """A new queued job; ApiError 503 with a retry estimate when the model's queue is full."""
        self.expire()
        waiting = len(self.waiting(model))
        if waiting >= self.queue:
            retry = max(1, math.ceil(self.job_s * (waiting + 1) / max(self.replicas, 1)))
            raise ApiError(503, "busy: %d jobs wait for %s; retry in %d s" % (waiting, model, retry), retry)
        self._number += 1
        job = Job(secrets.token_hex(12), self._number, owner, model, params, source, source_rate)
        self.jobs[job.id] = job
        return job

    def get(self, owner: str, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.owner != owner:
            raise ApiError(404, "no such job")
        return job

    def position(self, job: Job) -> int:
        """Jobs of its model queued before it."""
        return sum(1 for j in self.waiting(job.model) if j.number < job.number)

    def finished(self, job: Job) -> None:
        """Fold a finished job's time into the estimate."""
        if job.state == "done":
            took = job.finished - job.created
            self.job_s += (took - self.job_s) * 0.2

    def expire(self) -> None:
        now = self.clock()
        for jid in [j.id for j in self.jobs.values() if j.state in FINAL and now - j.finished > self.keep_s]:
            del self.jobs[jid]
