"""The generator process: owns torch and one resident pipeline; runs one job at a time.

Started with ``spawn``. It runs at a lower CPU priority than the engine, loads the configured
model as soon as it starts (the instrument is playable before that), and reloads only when a
job asks for another model. A cancel arrives as a shared number (the job id), read at every
denoising step, so it takes effect within one step while the process is busy in the pipeline.
"""

from __future__ import annotations

import os
import time
from typing import Optional

from promptsynth.generator import protocol as msg
from promptsynth.generator.jobs import load_runner, run_job, versions


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

    from promptsynth.generator.models import ModelError
    from promptsynth.generator.runner import Runner

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
            runner = load_runner(model_id, model_path, device)
        except Exception as e:
            conn.send(msg.ModelStatus(model_id, "failed", str(e), time.monotonic() - t0))
            raise ModelError(str(e)) from None
        loaded, loaded_id = runner, model_id
        detail = "%s on %s" % (type(runner.pipe).__name__, device)
        conn.send(msg.ModelStatus(model_id, "ready", detail, time.monotonic() - t0))
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
        try:
            runner = ensure(job.model, job.model_path)
        except Exception as e:
            conn.send(msg.Failed(job.job_id, str(e), "invalid"))
            continue
        conn.send(run_job(runner, job, device, vers, conn.send, lambda job=job: cancel.value == job.job_id))
