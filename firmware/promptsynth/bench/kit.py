"""`promptsynth bench kit`: what many sounds at once cost.

- **Memory** of a 32-pad kit of 1 s sounds, as the engine holds it.
- **A Program Change's switch**: the keymap of 32 zones and the settings, applied between two
  periods (its cost in microseconds, within the period it arrives in), against a period.
- **Kit generation with the tiny model**: a kit made as one job (`promptsynth kit generate`: the
  model loaded once, the negative prompt encoded once and then cached) against the same pads
  made one by one (`promptsynth generate` each, as a user would without kits). Per pad and in
  total, measured in one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import numpy as np


def kit_memory(pads: int = 32, seconds: float = 1.0, rate: int = 48000) -> Dict[str, Any]:
    from promptsynth.engine.sound import prepare

    hit = np.zeros(int(seconds * rate), np.float32)
    total = sum(prepare(hit, sound_id=i).planar.nbytes for i in range(pads))
    return {
        "pads": pads,
        "seconds_each": seconds,
        "bytes": total,
        "mb": round(total / 1e6, 2),
        "bytes_per_second_mono": int(prepare(hit).planar.nbytes / seconds),
    }


def program_switch(runs: int = 2000) -> Dict[str, Any]:
    """The engine's work for a Program Change to a 32-zone kit and back to a plain sound."""
    from promptsynth.engine.sampler import Sampler, VoiceParams
    from promptsynth.engine.sound import prepare
    from promptsynth.engine.zones import Zone

    rate, period = 48000, 128
    s = Sampler(rate, period, VoiceParams(), renderer="kernel")
    tone = np.zeros(rate // 10, np.float32)
    for i in range(33):
        s.load(prepare(tone, sound_id=i + 1), current=False)
    zones = tuple(Zone((z + 1,), lokey=36 + z, hikey=36 + z) for z in range(32))
    params = {"attack": 2.0, "release": 100.0, "gain_db": -3.0}
    times: List[float] = []
    for i in range(runs):
        t0 = time.perf_counter()
        if i % 2 == 0:
            s.set_keymap(zones)
        else:
            s.set_current(33)
            s.set_keymap(None)
        s.set_params(**params)
        times.append(time.perf_counter() - t0)
    a = np.array(times) * 1e6
    return {
        "median_us": round(float(np.median(a)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "period_us": round(period / rate * 1e6, 1),
        # a note-on in the same MIDI message already plays the new program
        "takes_effect": "the period the Program Change arrives in",
    }


def _cli(args: List[str], cfg: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "promptsynth"] + args + ["--config", cfg], capture_output=True, text=True, timeout=1800
    )


def kit_generation(pads: int, steps: int = 5) -> Dict[str, Any]:
    """The same pads with the tiny model: one kit job, then each pad by `generate` on its own."""
    from promptsynth.library.kits import load_kit

    kit = load_kit("drums")
    chosen = [dict(key=p.key, name=p.name, prompt=p.prompt) for p in kit.pads[:pads]]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "c.toml")
        with open(cfg, "w") as f:
            f.write('[paths]\nstate = "%s"\n[model]\ndevice = "cpu"\nthreads = 1\n' % os.path.join(tmp, "state"))
        kit_file = os.path.join(tmp, "kit.json")
        with open(kit_file, "w") as f:
            json.dump({"name": "Bench", "pads": chosen}, f)
        common = ["--model", "tiny", "--steps", str(steps), "--seconds", "2.0", "--seed", "1"]
        t0 = time.perf_counter()
        r = _cli(["kit", "generate", kit_file] + common, cfg)
        kit_s = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError("kit generate failed: %s" % r.stderr[-500:])
        singles = []
        for p in chosen:
            t0 = time.perf_counter()
            r = _cli(["generate", str(p["prompt"])] + common, cfg)
            singles.append(time.perf_counter() - t0)
            if r.returncode != 0:
                raise RuntimeError("generate failed: %s" % r.stderr[-500:])
    one_by_one = sum(singles)
    return {
        "pads": pads,
        "steps": steps,
        "kit_total_s": round(kit_s, 2),
        "kit_per_pad_s": round(kit_s / pads, 2),
        "one_by_one_total_s": round(one_by_one, 2),
        "one_by_one_per_pad_s": round(one_by_one / pads, 2),
        "kit_speedup": round(one_by_one / kit_s, 2),
    }


def run(quick: bool = False) -> Dict[str, object]:
    out: Dict[str, Any] = {"memory_32_pads_1s": kit_memory(), "program_switch": program_switch(200 if quick else 2000)}
    out["kit_generation_tiny"] = kit_generation(2 if quick else 6, steps=3 if quick else 5)
    sw = out["program_switch"]
    out["aims"] = {
        "program_switch_p99<=one_period": sw["p99_us"] <= sw["period_us"],
        "kit_faster_than_one_by_one": out["kit_generation_tiny"]["kit_speedup"] > 1.0,
    }
    return out
