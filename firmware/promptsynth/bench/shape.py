"""`promptsynth bench shape`: the whole shaping chain on model-like output, as a share of its length."""

from __future__ import annotations

import statistics
import time
from typing import Any, Dict

import numpy as np


def model_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A stand-in for AudioLDM output: a drifting harmonic tone in noise, with a DC offset and
    silence at both ends (16 kHz, mono)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f = 196.0 * (1 + 0.002 * np.sin(2 * np.pi * 0.3 * t))
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = sum(0.2 / k * np.sin(k * phase) for k in range(1, 9)) + 0.02 * rng.standard_normal(n)
    env = np.clip(t / 0.05, 0, 1) * np.clip((seconds - t) / 0.3, 0, 1)
    x = x * env + 0.01
    x[: int(0.2 * rate)] = 0.01
    return x


def loop_report() -> Dict[str, Any]:
    """The loop finder on recordings of sustained instruments (bench/loop_material.py): per
    sound, what it found, its match, the seam as played, and the search time."""
    from promptsynth.bench import loop_material as lm
    from promptsynth.library.shaping import analyse_loop, detect_pitch

    rate = lm.RATE
    out: Dict[str, Any] = {"sounds": {}}
    named = [(n, f().audio, True) for n, f in lm.SUSTAINED.items()]
    named += [(n, f(), False) for n, f in lm.UNLOOPABLE.items()]
    hits = refused = 0
    for name, audio, loopable in named:
        pitch = detect_pitch(audio.mean(axis=1), rate)
        t0 = time.perf_counter()
        found = analyse_loop(audio, rate, pitch)
        took = time.perf_counter() - t0
        entry: Dict[str, Any] = {
            "found": found.loop is not None,
            "note": found.note,
            "search_ms": round(took * 1000, 1),
        }
        if found.loop is not None:
            lp = found.loop
            entry.update(
                match=lp["match"], wave=lp["wave"], spectrum=lp["spectrum"], loop_s=[lp["start_s"], lp["end_s"]]
            )
            entry["seam"] = lm.seam(audio, lp)
        else:
            entry["best_match"] = round(found.best_match, 3)
        hits += loopable and found.loop is not None
        refused += (not loopable) and found.loop is None
        out["sounds"][name] = entry
    out["hit_rate"] = round(hits / len(lm.SUSTAINED), 3)
    out["unloopable_refused"] = round(refused / len(lm.UNLOOPABLE), 3)
    return out


def run(quick: bool = False) -> Dict[str, object]:
    from promptsynth.library.shaping import shape

    shape(model_like(1.0), 16000, 48000, prompt="warm up")
    out: Dict[str, Any] = {"rate_in": 16000, "rate_out": 48000}
    for seconds in (2.0, 5.0, 10.0, 30.0):
        x = model_like(seconds)
        times = []
        for _ in range(2 if quick else 5):
            t0 = time.perf_counter()
            r = shape(x, 16000, 48000, prompt="a warm organ")
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out["%gs" % seconds] = {
            "median_ms": round(med * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
            "share_of_duration_pct": round(100 * med / seconds, 3),
            "steps": [s["step"] for s in r.steps],
            "loop_found": r.analysis.get("loop") is not None,
            "pitched": r.analysis["pitch"]["pitched"],
        }
    out["loops"] = loop_report()
    out["aims"] = {
        "share<=2pct_all_lengths": all(out["%gs" % s]["share_of_duration_pct"] <= 2.0 for s in (2.0, 5.0, 10.0, 30.0)),
        "5s_in<=100ms": out["5s"]["median_ms"] <= 100.0,
        "every_sustained_looped": out["loops"]["hit_rate"] == 1.0,
        "no_loop_offered_for_unloopable": out["loops"]["unloopable_refused"] == 1.0,
    }
    return out
