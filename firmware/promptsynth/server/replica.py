"""The model deployment: each replica holds one resident pipeline, through the same runner and
job code as the instrument's generator process (generator/jobs.py: embedding cache, schedulers,
NaN guard, ranking), and runs the jobs Ray Serve's batching hands it.

``run(job)`` streams a job's events. Jobs that arrive together are batched by ``@serve.batch``
(up to [server] max_batch, waiting [server] batch_wait_ms for more); in a batch, jobs that can
share a pipeline call (generator/params.py batch_key) make one call, each with its own seeds and
results; the rest run one after another. The pipeline runs in a worker thread; a job whose
caller went away (a cancel) is marked here, where that thread reads it at every step.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, AsyncGenerator, Dict, List, Optional, Set

from ray import serve

from promptsynth.generator import protocol as msg
from promptsynth.generator.jobs import load_runner, run_batch, versions
from promptsynth.generator.params import batch_key
from promptsynth.server.jobs import ProgressGate


def _event(item) -> Dict[str, Any]:
    """A job's message as its event (remote/api.py's stream)."""
    if isinstance(item, msg.Progress):
        return dict(event="progress", step=item.step, total=item.total, elapsed=item.elapsed, remaining=item.remaining)
    if isinstance(item, msg.Failed):
        return dict(event="failed", kind=item.kind, reason=item.reason)
    assert isinstance(item, msg.Result)
    return dict(
        event="done",
        recipes=item.recipes,
        warnings=item.warnings,
        seconds=item.seconds,
        calls=item.calls,
        rate=item.rate,
        batch=item.batch,
        audio=item.audio,  # arrays: they travel to the ingress through Ray's object store
    )


class ModelReplica:
    def __init__(self, model: str, model_path: str, device: str, max_batch: int, batch_wait_s: float):
        import torch

        self.model, self.model_path, self.device = model, model_path, device
        if device == "cpu":  # Ray gives a replica one thread per whole CPU it asked for
            torch.set_num_threads(max(torch.get_num_threads(), 1))
        self.runner = load_runner(model, model_path, device)
        self.vers = versions()
        self.cancelled: Set[int] = set()
        self.batches: collections.Counter = collections.Counter()  # batch sizes run (health, bench)
        self._batch.set_max_batch_size(max_batch)
        self._batch.set_batch_wait_timeout_s(batch_wait_s)

    async def run(self, job: Dict[str, Any]) -> AsyncGenerator[Dict[str, Any], None]:
        """A job's events: started, progress..., then done (with its audio) or failed."""
        try:
            async for ev in self._batch(job):
                if ev is not None:
                    yield ev
        except asyncio.CancelledError:  # the ingress cancelled it (or its caller went away)
            self.cancelled.add(job["number"])
            raise

    def stats(self) -> Dict[str, Any]:
        return {"model": self.model, "batches": dict(self.batches)}

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.05)
    async def _batch(self, jobs: List[Dict[str, Any]]) -> AsyncGenerator[List[Any], None]:
        """One list per yield, a slot per job: its next event, None for no news, or StopIteration
        once it is finished (Ray Serve's streaming batch protocol)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Optional[tuple]] = asyncio.Queue()
        index = {j["number"]: i for i, j in enumerate(jobs)}
        n = len(jobs)

        def put(i: int, ev: Dict[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (i, ev))

        gate = ProgressGate()

        def work() -> None:
            try:
                groups: Dict[Any, List[msg.Job]] = collections.defaultdict(list)
                for j in jobs:
                    mj = msg.Job(
                        j["number"],
                        self.model,
                        self.model_path,
                        j["params"],
                        None,
                        j["timeout"],
                        j.get("source"),
                        j.get("source_rate", 0),
                    )
                    key = batch_key(mj.params)
                    groups[key if key is not None else ("alone", mj.job_id)].append(mj)
                for group in groups.values():
                    live = [g for g in group if g.job_id not in self.cancelled]
                    for g in group:
                        if g.job_id in self.cancelled:
                            put(index[g.job_id], dict(event="failed", kind="cancelled", reason="cancelled"))
                    if not live:
                        continue
                    self.batches[len(live)] += 1
                    for g in live:
                        gate.begin(g.job_id)
                        put(index[g.job_id], dict(event="started", batch=len(live)))

                    def send(item) -> None:
                        if isinstance(item, msg.Progress) and not gate.passes(item.job_id, item.step, item.total):
                            return
                        put(index[item.job_id], _event(item))

                    for out in run_batch(self.runner, live, self.device, self.vers, send, self.cancelled.__contains__):
                        send(out)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        fut = loop.run_in_executor(None, work)
        finished = [False] * n
        while True:
            item = await queue.get()
            if item is None:
                break
            i, ev = item
            slots: List[Any] = [StopIteration if f else None for f in finished]
            slots[i] = ev
            if ev["event"] in ("done", "failed"):
                finished[i] = True
            yield slots
        await fut
        for j in jobs:
            self.cancelled.discard(j["number"])
