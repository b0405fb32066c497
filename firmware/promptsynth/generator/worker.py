"""The generator process: owns torch and one resident pipeline; runs one job at a time.

Started with ``spawn``. It runs at a lower CPU priority than the engine, loads the configured
model as soon as it starts (the instrument is playable before that), and reloads only when a
job asks for another model. A cancel arrives as a shared number (the job id), read at every
denoising step, so it takes effect within one step while the process is busy in the pipeline.
"""

from __future__ import annotations

import datetime
import os
import time
import traceback
from typing import Optional

import numpy as np

from promptsynth.generator import protocol as msg


def _quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("diffusers", "transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except Exception:
        pass


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


def worker_main(
    conn, model: str, path: str, device: str, threads: int, cancel, env: Optional[dict] = None, nice: int = 10
) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops us (Ctrl-C reaches the group)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.update(env or {})
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        if nice:
            os.nice(nice)  # the daemon's own work comes first
    except OSError:
        pass
    _quiet()
    import torch

    from promptsynth.generator.models import ModelError, info_for
    from promptsynth.generator.params import ParamError, validate
    from promptsynth.generator.pipeline import load, pick_device
    from promptsynth.generator.runner import ModelOutputError, Runner, Stopped

    if threads > 0:
        torch.set_num_threads(threads)
    vers = versions()
    loaded: Optional[Runner] = None  # the runner of the model loaded last
    loaded_id: Optional[str] = None  # ... and that model's id

    def ensure(model_id: str, model_path: str) -> Runner:
        nonlocal loaded, loaded_id
        if loaded_id == model_id and loaded is not None:
            return loaded
        loaded = None
        t0 = time.monotonic()
        conn.send(msg.ModelStatus(model_id, "loading"))
        try:
            if model_id == "tiny":
                from promptsynth.generator.build import save_tiny, tiny_is_current

                if not tiny_is_current(model_path):
                    save_tiny(model_path)
            pipe = load(model_path, device)
        except Exception as e:
            conn.send(msg.ModelStatus(model_id, "failed", str(e), time.monotonic() - t0))
            raise ModelError(str(e)) from None
        loaded = Runner(pipe, model_id)
        loaded_id = model_id
        conn.send(msg.ModelStatus(model_id, "ready", "%s on %s" % (type(pipe).__name__, device), time.monotonic() - t0))
        return loaded

    try:
        ensure(model, path)
    except Exception:
        pass  # reported; a job will try again
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(item, msg.Shutdown):
            return
        if not isinstance(item, msg.Job):
            continue
        job = item
        start = time.monotonic()
        try:
            runner = ensure(job.model, job.model_path)
            info = info_for(job.model, job.model_path)
            p = validate(job.params, max_seconds=info.max_seconds, min_seconds=info.min_seconds)

            def on_step(done, total):
                el = time.monotonic() - start
                conn.send(msg.Progress(job.job_id, done, total, el, el / done * (total - done)))

            def should_stop():
                if cancel.value == job.job_id:
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
            t_model = time.monotonic() - start
            dev, dt = pick_device(device)
            paths, recipes = write_result(job, out, dev, str(dt).replace("torch.", ""), vers)
            seconds = dict(out.seconds)
            seconds["model"] = t_model
            seconds["write"] = time.monotonic() - start - t_model
            conn.send(
                msg.Result(
                    job.job_id,
                    paths,
                    recipes[0],
                    seconds,
                    out.warnings,
                    out.calls,
                    [np.asarray(a, np.float32) for a in out.audio],
                    int(out.rate),
                    recipes,
                )
            )
        except Stopped as e:
            conn.send(msg.Failed(job.job_id, str(e), e.kind))
        except (ParamError, ModelError) as e:
            conn.send(msg.Failed(job.job_id, str(e), "invalid"))
        except ModelOutputError as e:
            conn.send(msg.Failed(job.job_id, str(e), "error"))
        except Exception as e:  # out of memory, a driver fault...: this job fails, we go on
            oom = type(e).__name__ == "OutOfMemoryError"
            if oom and torch.cuda.is_available():
                torch.cuda.empty_cache()
            reason = (
                "out of GPU memory: try a shorter sound or fewer candidates"
                if oom
                else "%s: %s" % (type(e).__name__, e)
            )
            conn.send(msg.Failed(job.job_id, reason, "error"))
            traceback.print_exc()
