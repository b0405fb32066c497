"""A job on a loaded model, as the instrument's generator process and the generation server's
replicas both run it: loading the runner, running one job or a batch of compatible jobs with
progress and cancel, and the Result each job gets (its recipes, and its files where it asked).
"""

from __future__ import annotations

import datetime
import os
import time
import traceback
from typing import Callable, List

import numpy as np

from promptsynth.generator import protocol as msg


def versions() -> dict:
    import diffusers
    import torch
    import transformers

    import promptsynth

    return {
        "promptsynth": promptsynth.__version__,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def write_result(job: msg.Job, out, device: str, dtype: str, vers: dict):
    """Each candidate's recipe; and, when the job names a folder, each candidate as a float WAV
    at the model rate plus its JSON recipe there, written atomically. Returns (paths, recipes)."""
    import soundfile as sf

    from promptsynth.library import atomic

    if job.out_dir is not None:
        os.makedirs(job.out_dir, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    p = job.params
    paths = []
    recipes = []
    for rank, row in enumerate(out.audio):
        stem = "gen-%s-j%d-%d" % (stamp, job.job_id, rank)
        recipe = {"schema": 1, "kind": "generated", "model": job.model}
        recipe.update(p.to_dict())
        # the row's own seed, and for a series its position: what makes this one sound again
        recipe.update(out.rows[rank] if out.rows else {"seed": out.seeds[rank]})
        recipe.update(
            {
                "rank": rank,
                "score": out.scores[rank] if out.scores else None,
                "rate": out.rate,
                "samples": int(row.size),
                "device": device,
                "dtype": dtype,
                "decode": out.decode,
                "versions": vers,
                "created": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
                "warnings": [w for w in out.warnings if w.startswith("candidate %d " % rank)],
            }
        )

        recipes.append(recipe)
        if job.out_dir is None:
            continue

        def put(fh, row=row):
            sf.write(fh, row, out.rate, subtype="FLOAT", format="WAV")

        wav = os.path.join(job.out_dir, stem + ".wav")
        atomic.write_with(wav, put)
        atomic.write_json(os.path.join(job.out_dir, stem + ".json"), recipe)
        paths.append(wav)
    return paths, recipes


def load_runner(model_id: str, model_path: str, device: str):
    """A Runner on the model at ``model_path`` (the tiny test model is built there first if it is
    missing or out of date)."""
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    if model_id == "tiny":
        from promptsynth.generator.build import save_tiny, tiny_is_current

        if not tiny_is_current(model_path):
            save_tiny(model_path)
    return Runner(load(model_path, device), model_id)


def run_job(runner, job: msg.Job, device: str, vers: dict, send, cancelled) -> object:
    """One job on a loaded runner: Progress through ``send``, a stop when ``cancelled()`` says so
    or the job's time is up; returns its Result, or Failed with the reason. The same code runs in
    the instrument's generator process and in the generation server's replicas."""
    import torch

    from promptsynth.generator.models import ModelError, info_for
    from promptsynth.generator.params import ParamError, validate
    from promptsynth.generator.runner import ModelOutputError, Stopped

    start = time.monotonic()
    try:
        info = info_for(job.model, job.model_path)
        p = validate(job.params, max_seconds=info.max_seconds, min_seconds=info.min_seconds)

        def on_step(done, total):
            el = time.monotonic() - start
            send(msg.Progress(job.job_id, done, total, el, el / done * (total - done)))

        def should_stop():
            if cancelled():
                return "cancelled"
            if time.monotonic() - start > job.timeout:
                return "timeout"
            return None

        source = None
        if p.source and job.source is not None:
            source = job.source
            if job.source_rate != runner.rate:
                import soxr

                source = soxr.resample(source, job.source_rate, runner.rate).astype(np.float32)
        out = runner.generate(p, on_step, should_stop, source)
        return result_of(job, out, time.monotonic() - start, device, vers)
    except Stopped as e:
        return msg.Failed(job.job_id, str(e), e.kind)
    except (ParamError, ModelError) as e:
        return msg.Failed(job.job_id, str(e), "invalid")
    except ModelOutputError as e:
        return msg.Failed(job.job_id, str(e), "error")
    except Exception as e:  # out of memory, a driver fault...: this job fails, we go on
        oom = type(e).__name__ == "OutOfMemoryError"
        if oom and torch.cuda.is_available():
            torch.cuda.empty_cache()
        reason = "%s: %s" % (type(e).__name__, e)
        if oom:
            reason = "out of GPU memory: try a shorter sound or fewer candidates"
        traceback.print_exc()
        return msg.Failed(job.job_id, reason, "error")


def result_of(job: msg.Job, out, model_s: float, device: str, vers: dict, batch: int = 1) -> msg.Result:
    """A finished job's Result: its files written where it asked, each row's recipe, timings."""
    from promptsynth.generator.pipeline import pick_device

    t0 = time.monotonic()
    dev, dt = pick_device(device)
    paths, recipes = write_result(job, out, dev, str(dt).replace("torch.", ""), vers)
    seconds = dict(out.seconds)
    seconds["model"] = model_s
    seconds["write"] = time.monotonic() - t0
    return msg.Result(
        job.job_id,
        paths,
        recipes[0],
        seconds,
        out.warnings,
        out.calls,
        [np.asarray(a, np.float32) for a in out.audio],
        int(out.rate),
        recipes,
        batch,
    )


def run_batch(runner, jobs: List[msg.Job], device: str, vers: dict, send, cancelled: Callable[[int], bool]) -> list:
    """Jobs that can share a pipeline call (one batch_key) run as one (runner.generate_batch);
    each gets its own Result, or Failed. Progress goes to every job; the call stops when every
    job in it is cancelled, or at the earliest job's time limit. A job cancelled while the others
    ran on ends cancelled (its sound is dropped). One job, or jobs that cannot share a call, run
    one after another as :func:`run_job`."""
    from promptsynth.generator.models import info_for
    from promptsynth.generator.params import ParamError, batch_key, validate
    from promptsynth.generator.runner import Stopped

    keys = {batch_key(j.params) for j in jobs}
    if len(jobs) == 1 or None in keys or len(keys) > 1:
        return [run_job(runner, j, device, vers, send, lambda j=j: cancelled(j.job_id)) for j in jobs]
    start = time.monotonic()
    try:
        ps = []
        for j in jobs:
            info = info_for(j.model, j.model_path)
            ps.append(validate(j.params, max_seconds=info.max_seconds, min_seconds=info.min_seconds))
    except ParamError:  # one of them is bad: each alone, so only it fails
        return [run_job(runner, j, device, vers, send, lambda j=j: cancelled(j.job_id)) for j in jobs]
    limit = min(j.timeout for j in jobs)

    def on_step(done, total):
        el = time.monotonic() - start
        for j in jobs:
            send(msg.Progress(j.job_id, done, total, el, el / done * (total - done)))

    def should_stop():
        if all(cancelled(j.job_id) for j in jobs):
            return "cancelled"
        if time.monotonic() - start > limit:
            return "timeout"
        return None

    try:
        outs = runner.generate_batch(ps, on_step, should_stop)
    except Stopped as e:
        return [msg.Failed(j.job_id, str(e), e.kind) for j in jobs]
    except Exception as e:  # the shared call failed: every job in it did
        traceback.print_exc()
        return [msg.Failed(j.job_id, "%s: %s" % (type(e).__name__, e), "error") for j in jobs]
    model_s = time.monotonic() - start
    return [
        msg.Failed(j.job_id, "cancelled", "cancelled")
        if cancelled(j.job_id)
        else result_of(j, out, model_s, device, vers, batch=len(jobs))
        for j, out in zip(jobs, outs)
    ]
