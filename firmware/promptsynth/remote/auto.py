"""``[generator] backend = "auto"``: jobs go to the generation server while it answers, and to the
instrument's own model when it does not. A remote job that fails for a reason the local model
does not share (the server unreachable, down or busy, the network cut mid-job, a refused token)
is made again locally with the same parameters and seed, so it is the same sound, and the server
is left alone for [generator] retry seconds. Each fallback is counted, with its reason.

It has GeneratorClient's interface, so the rest of the instrument does not know which made a
sound (the result's recipe says: ``server`` names the server that made it).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Callable, Dict, List, Optional, Tuple

from promptsynth.generator import protocol as msg
from promptsynth.remote.client import FALLBACK_KINDS


class AutoClient:
    def __init__(self, remote, local, retry_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.remote, self.local = remote, local
        self.retry_s = retry_s
        self.clock = clock
        self.model = local.model
        self.fallbacks = 0
        self.last_fallback = ""  # why the last job was made locally
        self._down_until = 0.0
        self._next = 1
        # our id -> (where, its id there, the job's arguments for a resubmit)
        self._jobs: Dict[int, Tuple[str, int, tuple]] = {}
        self._events: List[object] = []

    # ---- GeneratorClient's attributes ------------------------------------------------------------
    @property
    def model_state(self) -> str:
        return "ready" if "ready" in (self.remote.model_state, self.local.model_state) else self.local.model_state

    @property
    def model_detail(self) -> str:
        return self.remote.model_detail if self.remote.model_state == "ready" else self.local.model_detail

    @property
    def proc(self):
        return self.local.proc  # the daemon restarts a dead local generator through start()

    @property
    def restarts(self) -> int:
        return self.local.restarts

    def _mine(self, where: str, theirs: int) -> Optional[int]:
        return next((k for k, (w, t, _) in self._jobs.items() if w == where and t == theirs), None)

    @property
    def queue(self) -> List[msg.Job]:
        """The jobs waiting, on either side, by our ids."""
        out = []
        for where, client in (("remote", self.remote), ("local", self.local)):
            for job in list(client.queue):
                mine = self._mine(where, job.job_id)
                if mine is not None:
                    out.append(dataclasses.replace(job, job_id=mine))
        return out

    @property
    def running(self):
        """(the job being made, since when) by our id, on either side."""
        for where, client in (("remote", self.remote), ("local", self.local)):
            r = client.running
            mine = self._mine(where, r[0].job_id) if r is not None else None
            if mine is not None:
                return dataclasses.replace(r[0], job_id=mine), r[1]
        return None

    def where(self, job_id: int) -> str:
        """ "server" or "local": where a job is being made."""
        entry = self._jobs.get(job_id)
        return "server" if entry is not None and entry[0] == "remote" else "local"

    def server_usable(self) -> bool:
        return self.remote.model_state != "failed" and self.clock() >= self._down_until

    # ---- process ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.local.proc is None:
            self.local.start()
        if self.remote.model_state in ("stopped", "failed"):
            self.remote.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.remote.stop(timeout)
        self.local.stop(timeout)

    # ---- jobs ------------------------------------------------------------------------------------
    def submit(self, params, model: Optional[str] = None, source=None, source_rate: int = 0) -> int:
        if params.seed is None:  # drawn here: a job made again locally is the same sound
            params = dataclasses.replace(params, seed=secrets.randbits(64))
        args = (params, model, source, source_rate)
        if self.server_usable():
            where, theirs = "remote", self.remote.submit(*args)
        else:
            where, theirs = "local", self.local.submit(*args)
        mine = self._next
        self._next += 1
        self._jobs[mine] = (where, theirs, args)
        return mine

    def params_of(self, job_id: int):
        entry = self._jobs.get(job_id)
        if entry is None:
            return None
        return (self.remote if entry[0] == "remote" else self.local).params_of(entry[1])

    def cancel(self, job_id: int) -> bool:
        entry = self._jobs.get(job_id)
        if entry is None:
            return False
        return (self.remote if entry[0] == "remote" else self.local).cancel(entry[1])

    def poll(self, timeout: float = 0.0) -> List[object]:
        events, self._events = self._events, []
        for where, client in (("remote", self.remote), ("local", self.local)):
            for ev in client.poll(timeout if where == "local" else 0.0):
                out = self._translate(where, ev)
                if out is not None:
                    events.append(out)
        return events

    def _translate(self, where: str, ev):
        """``ev`` of one side as ours (our job id); a remote failure the local model can make
        good is resubmitted locally instead of passed on."""
        job_id = getattr(ev, "job_id", None)
        if job_id is None:  # ModelStatus: the local model's is the instrument's
            return ev if where == "local" else None  # (the server's state shows as fallbacks)
        mine = self._mine(where, job_id)
        if mine is None:
            return None
        if where == "remote" and isinstance(ev, msg.Failed) and ev.kind in FALLBACK_KINDS:
            _, _, args = self._jobs[mine]
            self.fallbacks += 1
            self.last_fallback = ev.reason
            self._down_until = self.clock() + self.retry_s
            try:
                self._jobs[mine] = ("local", self.local.submit(*args), args)
                return None  # it goes on locally: the same parameters and seed, the same sound
            except Exception as e:  # the local queue is full too: this job fails, saying both
                ev = msg.Failed(job_id, "%s; and locally: %s" % (ev.reason, e), ev.kind)
        if isinstance(ev, (msg.Result, msg.Failed)):
            self._jobs.pop(mine, None)
        return dataclasses.replace(ev, job_id=mine)
