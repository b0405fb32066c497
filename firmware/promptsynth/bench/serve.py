"""`promptsynth bench serve`: the generation server with the tiny model on this machine's CPU,
measured in one run. Needs Python 3.10+ and the ``server`` extra (Ray Serve).

* For 1 and 2 replicas, with batching (up to 4 jobs a pipeline call) and without (1): 1, 4 and 8
  instruments at once, each making its jobs one after another through the real client: sounds
  per minute, and each job's latency (submit to result) median and p99; each deployment's time
  to be ready. ``--quick``: 1 and 4 instruments, one job each, and no (2 replicas, unbatched).
* The batching gain (sounds per minute with over without, 8 instruments) and the replica scaling
  (2 replicas over 1, batching on, 8 instruments), as ratios.
* The remote path's overhead: one instrument, jobs one at a time, the server's wall time against
  a local generation of the same job as the instrument makes it (its generator process; the aim:
  within 10 % of the job), and against the bare pipeline in this process; and, from the same
  jobs, the serving layer's own share: the client's wall time less what the replica spent in the
  model (no second process to compare, so no noise between two runs). Measured on two jobs: the
  one the instrument makes by default ([generate] seconds and steps: the aim's job) and the
  bench's short job above (a quarter of the length, 10 steps: the fixed cost at its largest).
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
import threading
import time
from typing import Any, Dict, List

import numpy as np

JOB: Dict[str, Any] = dict(seconds=1.28, steps=10)  # short, so the throughput runs stay quick


def default_job() -> Dict[str, Any]:
    """The job the instrument makes when a visitor types a prompt: [generate]'s defaults."""
    from promptsynth.config import Config

    g = Config().generate
    return dict(seconds=g.seconds, steps=g.steps)


def _clients_run(cfg, token: str, clients: int, jobs_each: int) -> Dict[str, Any]:
    """``clients`` instruments at once, ``jobs_each`` jobs each in turn."""
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.params import GenerationParams
    from promptsynth.remote.client import RemoteClient

    latencies: List[float] = []
    failures: List[str] = []
    lock = threading.Lock()

    def instrument(k: int) -> None:
        c = RemoteClient("http://127.0.0.1:%d" % cfg.server.port, token, "tiny", stall_timeout=120.0)
        for j in range(jobs_each):
            t0 = time.monotonic()
            try:
                r = c.run(GenerationParams("bench %d-%d" % (k, j), seed=k * 1000 + j, **JOB), timeout=600)
                ok = isinstance(r, msg.Result)
            except Exception as e:  # a failed job is reported, not timed
                ok = False
                with lock:
                    failures.append(str(e))
            if ok:
                with lock:
                    latencies.append(time.monotonic() - t0)

    t0 = time.monotonic()
    threads = [threading.Thread(target=instrument, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    a = np.asarray(latencies)
    return {
        "sounds": int(a.size),
        "failed": len(failures),
        "wall_s": round(wall, 2),
        "sounds_per_min": round(60.0 * a.size / wall, 1),
        "latency_p50_s": round(float(np.median(a)), 3) if a.size else None,
        "latency_p99_s": round(float(np.percentile(a, 99)), 3) if a.size else None,
    }


def _say(line: str) -> None:
    """Progress on stderr (stdout is the JSON): where a slow run spends its time."""
    import sys

    print("bench serve: " + line, file=sys.stderr, flush=True)


def _overhead(cfg, token: str, plan: Dict[str, Any]) -> Dict[str, Any]:
    """The remote path against a local generation of the same job, one job at a time, taking
    turns: the instrument's own path (its generator process, GeneratorClient) and the bare
    pipeline on the same runner code in this process. And, from the same remote jobs, the serving
    layer's own share: the client's wall time less the replica's time in the model. ``plan``:
    name -> (job parameters, how many jobs); the figures come back under each name."""
    import torch

    from promptsynth import config
    from promptsynth.generator.client import GeneratorClient, wait_loaded
    from promptsynth.generator.jobs import load_runner
    from promptsynth.generator.models import model_dir
    from promptsynth.generator.params import GenerationParams
    from promptsynth.remote.client import RemoteClient

    state = config.state_dir(cfg)
    runner = load_runner("tiny", model_dir("tiny", state), "cpu")
    torch.set_num_threads(1)  # as the replica has it (Ray: one thread for half a CPU)
    # the instrument's local generator, as the daemon runs it, with the replica's one thread
    local = GeneratorClient("tiny", state, "cpu", threads=1, timeout=600.0, nice=0)
    local.start()
    client = RemoteClient("http://127.0.0.1:%d" % cfg.server.port, token, "tiny", stall_timeout=120.0)
    out: Dict[str, Any] = {}
    try:
        if not wait_loaded(local, local.timeout):  # its worker failed or died loading the model
            raise RuntimeError("the local generator did not start: %s" % local.model_detail)
        for name, (job, jobs) in plan.items():
            local.run(GenerationParams("overhead warm", seed=0, **job))
            client.run(GenerationParams("overhead warm", seed=0, **job), timeout=600)
            out[name] = _turns(local, runner, client, job, jobs)
    finally:
        local.stop()
    return out


def _turns(local, runner, client, job: Dict[str, Any], jobs: int) -> Dict[str, Any]:
    """``jobs`` rounds of one job each way (local, bare pipeline, remote), and their figures."""
    from promptsynth.generator.params import GenerationParams, validate

    local_s, pipeline_s, remote_s, serving_s = [], [], [], []
    local_model_s, remote_model_s = [], []  # each side's time in the model: where a gap comes from
    for i in range(jobs):
        p = validate(GenerationParams("overhead %d" % i, seed=i, **job))
        t0 = time.monotonic()
        lr = local.run(dataclasses.replace(p, prompt="overhead local %d" % i))
        local_s.append(time.monotonic() - t0)
        local_model_s.append(lr.seconds.get("model", 0.0))
        t0 = time.monotonic()
        runner.generate(p)
        pipeline_s.append(time.monotonic() - t0)
        t0 = time.monotonic()
        r = client.run(dataclasses.replace(p, prompt="overhead remote %d" % i), timeout=600)
        remote_s.append(time.monotonic() - t0)
        serving_s.append(remote_s[-1] - r.seconds.get("model", 0.0) - r.seconds.get("write", 0.0))
        remote_model_s.append(r.seconds.get("model", 0.0))
    lm, pm = statistics.median(local_s), statistics.median(pipeline_s)
    rm, sm = statistics.median(remote_s), statistics.median(serving_s)
    return {
        "job": dict(job),
        "jobs": jobs,
        "local_median_s": round(lm, 3),
        "pipeline_median_s": round(pm, 3),
        "remote_median_s": round(rm, 3),
        "remote_p90_s": round(float(np.percentile(remote_s, 90)), 3),
        "local_model_median_s": round(statistics.median(local_model_s), 3),
        "remote_model_median_s": round(statistics.median(remote_model_s), 3),
        "overhead_s": round(rm - lm, 3),
        "overhead_pct": round(100.0 * (rm - lm) / lm, 1),
        "overhead_vs_pipeline_pct": round(100.0 * (rm - pm) / pm, 1),
        "serving_median_s": round(sm, 3),
        "serving_max_s": round(max(serving_s), 3),
        "serving_pct": round(100.0 * sm / rm, 1),
        "torch_threads_each": 1,
    }


def run(quick: bool = False) -> Dict[str, Any]:
    # Ray's driver prints its processes' news to stdout (at shutdown too): to stderr while we run,
    # so stdout stays the JSON
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return _run(quick)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _run(quick: bool) -> Dict[str, Any]:
    from promptsynth import config
    from promptsynth.bench.rig import free_port
    from promptsynth.server import app
    from promptsynth.server.tokens import new_token

    state = tempfile.mkdtemp(prefix="psynth-serve-")
    ray_dir = tempfile.mkdtemp(prefix="ray-")
    token, entry = new_token("bench")
    base = config.replace(config.Config(), "paths", state=state)
    base = config.replace(
        base,
        "server",
        port=free_port(),
        models=("tiny",),
        gpus_per_replica=0.0,
        cpus_per_replica=0.5,
        device="cpu",
        batch_wait_ms=50.0,
        queue=64,
        tokens=(entry,),
    )
    jobs_each = 1 if quick else 3
    counts = (1, 4) if quick else (1, 4, 8)
    out: Dict[str, Any] = {"job": dict(JOB, model="tiny", device="cpu"), "jobs_per_instrument": jobs_each}
    runs: Dict[str, Any] = {}
    # each deployment restarts its replicas (serve.run gives every deployment a new code version):
    # the remote overhead is measured on (1, 1) while it is up, and --quick leaves out (2, 1)
    configs = [(1, 4), (1, 1), (2, 4)] + ([] if quick else [(2, 1)])
    deploy_s: Dict[str, float] = {}
    try:
        from ray import serve

        for replicas, batch in configs:
            key = "replicas_%d_batch_%d" % (replicas, batch)
            cfg = config.replace(base, "server", replicas=replicas, max_batch=batch)
            t0 = time.monotonic()
            if not deploy_s:
                app.start(cfg, num_cpus=2, temp_dir=ray_dir)
            else:  # the same Ray, the application deployed again with these settings
                serve.run(app.build(cfg), name=app.APP_NAME, route_prefix="/")
            deploy_s[key] = round(time.monotonic() - t0, 1)
            _say("%s deployed in %.1f s" % (key, deploy_s[key]))
            t0 = time.monotonic()
            _clients_run(cfg, token, 1, 1)  # warm: first calls, caches
            runs[key] = {str(n): _clients_run(cfg, token, n, jobs_each) for n in counts}
            _say("%s measured in %.1f s" % (key, time.monotonic() - t0))
            if (replicas, batch) == (1, 1):
                t0 = time.monotonic()
                o = _overhead(
                    cfg,
                    token,
                    {"default": (default_job(), 2 if quick else 8), "short": (JOB, 3 if quick else 10)},
                )
                out["remote_overhead"], out["remote_overhead_short"] = o["default"], o["short"]
                _say("remote overhead measured in %.1f s" % (time.monotonic() - t0))
        out["runs"] = runs
        out["deploy_s"] = deploy_s
        top = str(counts[-1])
        out["batching_gain_%s" % top] = round(
            runs["replicas_1_batch_4"][top]["sounds_per_min"] / runs["replicas_1_batch_1"][top]["sounds_per_min"], 3
        )
        out["replica_scaling_%s" % top] = round(
            runs["replicas_2_batch_4"][top]["sounds_per_min"] / runs["replicas_1_batch_4"][top]["sounds_per_min"], 3
        )
        # the aim is on the instrument's default job; the short job's figure is reported beside it
        out["aims"] = {"remote_overhead_pct<=10": out["remote_overhead"]["overhead_pct"] <= 10.0}
    finally:
        app.stop()
        shutil.rmtree(ray_dir, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    return out
