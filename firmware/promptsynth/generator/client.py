"""The supervisor's side of the generator: a bounded job queue in front of one worker process.

It never imports torch. Jobs are checked here first (a bad prompt or value is refused before
it costs anything), queued (the caller learns at once when the queue is full), and handed to
the worker one at a time. If the worker dies, the running job fails with a clear reason and
the next job starts a new worker; a job that overruns its time is ended, by the worker at a
step boundary or, if it is stuck inside a step, by killing the worker.
"""

from __future__ import annotations

import collections
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Deque, List, Optional, Set, Tuple

import numpy as np

from promptsynth.generator import protocol as msg
from promptsynth.generator.models import ModelError, info_for, is_installed, model_dir, not_installed_message
from promptsynth.generator.params import GenerationParams, ParamError, validate

KILL_GRACE_S = 15.0  # a job stuck inside one step this long past its timeout: kill the worker


class QueueFull(Exception):
    pass


MAX_SOURCE_S = 60.0  # longer sources are cut (a sound is at most 30 s)


def check_source(audio: Optional[np.ndarray], rate: int) -> np.ndarray:
    """A sound-to-sound source as the worker takes it (mono float32), or ParamError saying what
    is wrong with it."""
    if audio is None:
        raise ParamError("sound to sound needs the source's samples")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 384000:
        raise ParamError("the source's sample rate must be 8000-384000 Hz, got %r" % (rate,))
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=1)
    if a.ndim != 1 or a.size < rate // 100:
        raise ParamError("the source sound is empty (or not mono/stereo samples)")
    if not np.isfinite(a).all():
        raise ParamError("the source sound holds NaN or infinite samples")
    return np.ascontiguousarray(a[: int(MAX_SOURCE_S * rate)])


class GeneratorClient:
    def __init__(
        self,
        model: str,
        state_dir: str,
        device: str = "auto",
        threads: int = 0,
        queue_size: int = 4,
        timeout: float = 600.0,
        out_dir: Optional[str] = None,
        max_prompt_chars: int = 1000,
        env: Optional[dict] = None,
        nice: int = 10,
    ):
        """``nice``: the worker's niceness (10: the daemon's own work comes first; the engine
        runs SCHED_FIFO on the device in any case). A benchmark timing the model passes 0."""
        self.model = model
        self.nice = nice
        self.state_dir = state_dir
        self.device = device
        self.threads = threads
        self.queue_size = queue_size
        self.timeout = timeout
        self.out_dir = out_dir  # None: results come back as audio in the Result, no files
        self.max_prompt_chars = max_prompt_chars
        self.env = env or {}
        self.ctx = multiprocessing.get_context("spawn")
        self.proc: Optional[BaseProcess] = None  # the worker, while started
        self.conn: Optional[Connection] = None  # ... and our end of its pipe
        self.cancel_flag = self.ctx.RawValue("q", 0)
        self.queue: Deque[msg.Job] = collections.deque()
        self.running: Optional[Tuple[msg.Job, float]] = None
        self.model_state = "stopped"
        self.model_detail = ""
        self.restarts = 0
        self._started = False
        self._next = 1
        self._pending: List[object] = []
        self._cancel_asked: Set[int] = set()  # running jobs told to stop: no Result of theirs goes out

    # ---- process ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker; it loads the model in the background."""
        from promptsynth.generator.worker import worker_main

        parent, child = self.ctx.Pipe(duplex=True)
        path = model_dir(self.model, self.state_dir)
        self.proc = self.ctx.Process(
            target=worker_main,
            name="promptsynth-generator",
            daemon=True,
            args=(child, self.model, path, self.device, self.threads, self.cancel_flag, self.env, self.nice),
        )
        self.proc.start()
        if self._started:  # counted here, whoever restarts it
            self.restarts += 1
        self._started = True
        child.close()
        self.conn = parent
        self.model_state = "starting"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def _lost(self, why: str) -> None:
        code = self.proc.exitcode if self.proc is not None else None
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.proc = None
        self.model_state = "stopped"
        if self.running is not None:
            job, _ = self.running
            self.running = None
            self._cancel_asked.discard(job.job_id)
            self._pending.append(
                msg.Failed(
                    job.job_id,
                    "the generator process %s (exit code %s); this job was "
                    "lost, the next one starts a new generator" % (why, code),
                    "lost",
                )
            )

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the worker to exit; a busy one (loading, generating) gets a second, then is killed:
        it holds nothing that needs saving, its results are written atomically."""
        proc = self.proc
        if proc is None:
            return
        try:
            if self.conn is not None:
                self.conn.send(msg.Shutdown())
        except (OSError, EOFError):
            pass
        busy = self.running is not None or self.model_state in ("starting", "loading")
        proc.join(1.0 if busy else timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.model_state = "stopped"

    # ---- jobs ---------------------------------------------------------------------------------
    def submit(
        self,
        params: GenerationParams,
        model: Optional[str] = None,
        source: Optional[np.ndarray] = None,
        source_rate: int = 0,
    ) -> int:
        """Queue a job; returns its id. Raises ParamError, ModelError or QueueFull. Sound to sound
        (``params.source`` names it) takes the source's samples, mono, at ``source_rate``."""
        model = model or self.model
        path = model_dir(model, self.state_dir)
        if model != "tiny" and not is_installed(path):
            raise ModelError(not_installed_message(model))
        info = info_for(model, path)
        p = validate(
            params, max_seconds=info.max_seconds, min_seconds=info.min_seconds, max_prompt_chars=self.max_prompt_chars
        )
        if p.source:
            source = check_source(source, source_rate)
        if len(self.queue) >= self.queue_size:
            raise QueueFull("the generator queue is full (%d waiting): wait or cancel one" % len(self.queue))
        job = msg.Job(self._next, model, path, p, self.out_dir, self.timeout, source if p.source else None, source_rate)
        self._next += 1
        self.queue.append(job)
        self._pending.append(msg.Queued(job.job_id, len(self.queue) - (0 if self.running else 1)))
        self._dispatch()
        return job.job_id

    def params_of(self, job_id: int) -> Optional[GenerationParams]:
        for job in list(self.queue) + ([self.running[0]] if self.running else []):
            if job.job_id == job_id:
                return job.params
        return None

    def cancel(self, job_id: int) -> bool:
        for job in list(self.queue):
            if job.job_id == job_id:
                self.queue.remove(job)
                self._pending.append(msg.Failed(job_id, "cancelled before it started", "cancelled"))
                return True
        if self.running is not None and self.running[0].job_id == job_id:
            self.cancel_flag.value = job_id  # read by the worker at the next step
            self._cancel_asked.add(job_id)
            return True
        return False

    def _cancelled_result(self, result: msg.Result) -> msg.Failed:
        """A Result for a job cancelled after its last step (the worker reads the flag at step
        boundaries, so a cancel during decoding comes too late for it): the job ends cancelled as
        asked, and its sound is dropped. Whoever cancelled (Esc, the kiosk's idle return) must
        not have it played over what they went back to, nor its files left in the output folder."""
        import os

        for path in result.paths:
            for f in (path, os.path.splitext(path)[0] + ".json"):
                try:
                    os.unlink(f)
                except OSError:
                    pass
        return msg.Failed(result.job_id, "cancelled (it had finished: its sound is dropped)", "cancelled")

    def _dispatch(self) -> None:
        if self.running is not None or not self.queue:
            return
        if not self.alive():
            if self.proc is not None:
                self._lost("died")
            self.start()
        job = self.queue.popleft()
        conn = self.conn
        assert conn is not None  # the worker is alive (or just started): its pipe is open
        try:
            conn.send(job)
        except (OSError, EOFError):
            self.queue.appendleft(job)
            self._lost("could not be reached")
            return
        self.running = (job, time.monotonic())

    def poll(self, timeout: float = 0.0) -> List[object]:
        """Everything that happened since the last call: Queued, ModelStatus, Progress, Result, Failed."""
        events, self._pending = self._pending, []
        deadline = time.monotonic() + timeout
        while self.conn is not None:
            wait = max(deadline - time.monotonic(), 0.0) if not events else 0.0
            try:
                if not self.conn.poll(wait):
                    break
                item = self.conn.recv()
            except (EOFError, OSError):
                self._lost("died")
                break
            if isinstance(item, msg.ModelStatus):
                self.model_state, self.model_detail = item.state, item.detail
            elif isinstance(item, (msg.Result, msg.Failed)):
                if self.running is not None and self.running[0].job_id == item.job_id:
                    self.running = None
                if item.job_id in self._cancel_asked:
                    self._cancel_asked.discard(item.job_id)
                    if isinstance(item, msg.Result):
                        item = self._cancelled_result(item)
            events.append(item)
        if self.proc is not None and not self.proc.is_alive():
            self._lost("died")
        if self.running is not None:
            job, started = self.running
            if time.monotonic() - started > job.timeout + KILL_GRACE_S:
                self.running = None  # stuck inside a step: end the process
                if self.proc is not None:  # (None after stop(): nothing left to end)
                    self.proc.kill()
                    self.proc.join(2.0)
                self._lost("was stopped")
                self._pending.append(
                    msg.Failed(job.job_id, "the job ran past its %g s limit and was ended" % job.timeout, "timeout")
                )
        events.extend(self._pending)
        self._pending = []
        self._dispatch()
        return events

    def run(
        self,
        params: GenerationParams,
        model: Optional[str] = None,
        on_event=None,
        timeout: Optional[float] = None,
        source: Optional[np.ndarray] = None,
        source_rate: int = 0,
    ):
        """Submit and wait: returns the Result, or raises RuntimeError with the failure's reason."""
        job_id = self.submit(params, model, source, source_rate)
        return wait_for_job(self, job_id, timeout or self.timeout + 2 * KILL_GRACE_S + 300, on_event, "the generator")


def wait_loaded(client, seconds: float) -> bool:
    """Poll ``client`` while its model loads, at most ``seconds``: whether it is ready. (A worker
    that dies loading leaves it "stopped", not "failed": waiting for one of those two hangs.)"""
    end = time.monotonic() + seconds
    while client.model_state in ("starting", "loading") and time.monotonic() < end:
        client.poll(0.05)
    return client.model_state == "ready"


def wait_for_job(client, job_id: int, seconds: float, on_event=None, who: str = "the generator"):
    """Poll ``client`` (this module's or remote/client.py's) until job ``job_id`` ends: its
    Result, or JobFailed with the failure (a timeout after ``seconds`` with no end)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for ev in client.poll(0.1):
            if on_event is not None:
                on_event(ev)
            if isinstance(ev, msg.Result) and ev.job_id == job_id:
                return ev
            if isinstance(ev, msg.Failed) and ev.job_id == job_id:
                raise JobFailed(ev)
    raise JobFailed(msg.Failed(job_id, "no answer from %s" % who, "timeout"))


class JobFailed(RuntimeError):
    def __init__(self, failed: msg.Failed):
        super().__init__(failed.reason)
        self.failed = failed
