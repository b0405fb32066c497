"""The peak memory (RSS high-water mark, split into anonymous and file pages) of loading a
full-size random model from disk through the instrument's loader, with accelerate and without,
in float32 and float16, each in a fresh process (so nothing else this process holds counts)."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Dict


def _memory_mib() -> Dict[str, int]:
    """This process's RSS high-water mark and its resident memory now, split into anonymous
    memory (copies) and file pages (weights still mapped from their safetensors files)."""
    import resource

    found = {"peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)}  # KiB on Linux
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile"):
                    found[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024.0)
    except OSError:
        pass
    return found


def _load_peak(path: str, low_cpu_mem_usage: bool, dtype: str, conn) -> None:
    """In a child process: load ``path``, then read every weight once (mapped files count only
    when read); send back the memory before, after the load and after the read."""
    from promptsynth.generator.pipeline import load

    try:
        import diffusers  # noqa: F401  (imports count in the baseline, not in the load)
        import torch
        import transformers  # noqa: F401

        found: Dict[str, object] = {"baseline_mib": _memory_mib()["peak_mib"]}
        t0 = time.monotonic()
        pipe = load(path, "cpu", low_cpu_mem_usage=low_cpu_mem_usage, dtype=getattr(torch, dtype))
        found["load_s"] = round(time.monotonic() - t0, 1)
        found["after_load"] = _memory_mib()
        with torch.inference_mode():
            for comp in pipe.components.values():
                if isinstance(comp, torch.nn.Module):
                    for p in comp.parameters():
                        p.float().sum()
        found["after_reading_weights"] = _memory_mib()
        conn.send(found)
    except Exception as e:  # reported, not raised: the parent says which way failed
        conn.send({"error": "%s: %s" % (type(e).__name__, e)})


def _in_child(fn, *args) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=fn, args=args + (child,))
    proc.start()
    child.close()
    try:
        return parent.recv()
    except EOFError:
        return {"error": "the child process died (exit code %s)" % proc.exitcode}
    finally:
        proc.join()


def _save_random(model: str, dest: str, narrow: bool, conn) -> None:
    from promptsynth.generator.build import real_size
    from promptsynth.generator.models import make_portable

    try:
        real_size(model, narrow=narrow).save_pretrained(dest, safe_serialization=True)
        make_portable(dest)
        conn.send({})
    except Exception as e:
        conn.send({"error": "%s: %s" % (type(e).__name__, e)})


def load_memory(model: str = "audioldm2", narrow: bool = False) -> Dict[str, object]:
    """Peak memory of loading ``model`` (random weights, saved in diffusers layout) through the
    instrument's loader, with accelerate (weights put straight into place) and without (a random
    model first, then the weights over it), each in a fresh process so the high-water marks are
    the loads' own."""
    import shutil

    folder = tempfile.mkdtemp(prefix="psynth-mem-")
    try:
        saved = _in_child(_save_random, model, os.path.join(folder, model), narrow)
        if "error" in saved:
            return {"model": model, "error": saved["error"]}
        found: Dict[str, Any] = {"model": model, "bytes_on_disk": _dir_bytes(os.path.join(folder, model))}
        # float32 as on this CPU, float16 as on the GPU (the weights are float32 files)
        for dtype in ("float32", "float16"):
            for key, low in (("with_accelerate", True), ("without_accelerate", False)):
                got = _in_child(_load_peak, os.path.join(folder, model), low, dtype)
                if "after_reading_weights" in got:
                    got["load_mib"] = got["after_reading_weights"]["peak_mib"] - got["baseline_mib"]
                found.setdefault(dtype, {})[key] = got
        return found
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
