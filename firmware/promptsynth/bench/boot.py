"""`promptsynth bench boot`: start to playable (with the last sound) and to model ready, peak
memory of each process, and a soak: the tiny model generating back to back while 16 voices play
through a paced PCM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from typing import Any, Dict, List, Optional

import numpy as np

from promptsynth.bench.stats import summary_us


def _status_kb(pid: int, field: str) -> int:
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pid(proc: Optional[BaseProcess]) -> int:
    """The pid of a started process."""
    assert proc is not None and proc.pid is not None, "the process has not been started"
    return proc.pid


def _children(pid: int) -> List[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE, text=True).stdout
        return [int(x) for x in out.split()]
    except (OSError, ValueError):
        return []


def boot(runs: int = 3) -> Dict[str, object]:
    """`promptsynth run --sim` from a state that has a last sound: process start to 'playable'
    and to 'model ready', as seen on its log."""
    state = tempfile.mkdtemp(prefix="psynth-boot-")
    cfg = os.path.join(state, "c.toml")
    with open(cfg, "w") as fh:
        fh.write(
            '[paths]\nstate = "%s"\n[audio]\nrt_priority = 0\nlock_memory = false\n'
            "[generate]\nseconds = 2.0\nsteps = 5\n" % state
        )
    playable: List[float] = []
    ready: List[float] = []
    restored: List[bool] = []
    peaks: Dict[str, int] = {}
    for i in range(runs + 1):  # the first run makes the last sound; the others boot with it
        args = [sys.executable, "-m", "promptsynth", "run", "--sim", "--config", cfg]
        if i == 0:
            args += ["--prompt", "a warm evening pad"]
        t0 = time.monotonic()
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t_play: Optional[float] = None
        t_ready: Optional[float] = None
        got_restore = False
        end = t0 + 180
        assert p.stdout is not None  # (a pipe)
        for line in p.stdout:
            now = time.monotonic()
            if "restored the last state" in line:
                got_restore = True
            if t_play is None and "playable:" in line:
                t_play = now - t0
            if t_ready is None and re.search(r"model \S+: ready", line):
                t_ready = now - t0
            if (i == 0 and "kept: root" in line) or (i > 0 and t_play and t_ready) or now > end:
                break
        time.sleep(0.5)
        kids = _children(p.pid)
        peaks["daemon_kb"] = max(peaks.get("daemon_kb", 0), _status_kb(p.pid, "VmHWM"))
        for k in kids:
            name = open("/proc/%d/cmdline" % k).read()
            key = "engine_kb" if "engine" in name or len(peaks) < 2 else "generator_kb"
            peaks[key] = max(peaks.get(key, 0), _status_kb(k, "VmHWM"))
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        if i > 0:
            if t_play is None or t_ready is None:  # it stopped, or took more than 180 s
                raise RuntimeError("boot %d: its log never said %s" % (i, "playable" if t_play is None else "ready"))
            playable.append(t_play)
            ready.append(t_ready)
            restored.append(got_restore)
    return {
        "start_to_playable_s": {"median": round(float(np.median(playable)), 2), "max": round(max(playable), 2)},
        "start_to_model_ready_s": {"median": round(float(np.median(ready)), 2), "max": round(max(ready), 2)},
        "restored_last_sound": all(restored),
        "runs": runs,
        "peak_rss": peaks,
        "note": "includes starting the simulator's jackd and Python's imports",
    }


def soak(seconds: float = 60.0) -> Dict[str, object]:
    from promptsynth import config
    from promptsynth.bench.rig import Rig
    from promptsynth.daemon.run import Daemon
    from promptsynth.engine import messages as m
    from promptsynth.generator import protocol as gm

    rig = Rig()
    cfg = config.replace(rig.config("tap_jack"), "model", id="tiny", device="cpu", threads=1)
    cfg = config.replace(cfg, "generate", seconds=2.0, steps=10)
    d = Daemon(cfg, rig.env)
    try:
        d.start()
        d.host.wait_ready(20.0)
        while d.gen.model_state != "ready":
            d.step()
        for i in range(16):
            d.host.send(m.Midi(bytes([0x90, 40 + 2 * i, 90])))
        time.sleep(1.0)
        stats = d.host.stats
        assert d.gen.client is not None  # (its model is ready)
        pids = {"engine": _pid(d.host.proc), "generator": _pid(d.gen.client.proc), "daemon": os.getpid()}
        rss0 = {k: _status_kb(v, "VmRSS") for k, v in pids.items()}
        x0, p0 = stats["xruns"], stats["periods"]
        renders: List[np.ndarray] = []
        last_pos = stats._pos.value
        done = failed = 0
        seq = d.inst.events_since(0)[0]
        t0 = time.monotonic()
        job = d.inst.generate("soak %d" % done)
        while time.monotonic() - t0 < seconds:
            d.step()
            seq, events = d.inst.events_since(seq)
            for ev in events:
                if isinstance(ev, (gm.Result, gm.Failed)) and ev.job_id == job:
                    done += isinstance(ev, gm.Result)
                    failed += isinstance(ev, gm.Failed)
                    job = d.inst.generate("soak %d" % (done + failed))
            pos = stats._pos.value
            if pos - last_pos > 4000:  # collect before the ring wraps
                renders.append(stats.render_times()[-(pos - last_pos) :])
                last_pos = pos
        pos = stats._pos.value
        renders.append(stats.render_times()[-(pos - last_pos) :])
        elapsed = time.monotonic() - t0
        rss1 = {k: _status_kb(v, "VmRSS") for k, v in pids.items()}
        all_r = np.concatenate(renders) / 1e6
        return {
            "seconds": round(elapsed, 1),
            "sounds_generated": done,
            "failed": failed,
            "voices": int(stats["voices"]),
            "xruns": int(stats["xruns"] - x0),
            "periods": int(stats["periods"] - p0),
            "periods_expected": int(elapsed * 48000 / 128),
            "render": summary_us(all_r, 128 / 48000),
            "rss_kb_start": rss0,
            "rss_kb_end": rss1,
            "rss_growth_kb": {k: rss1[k] - rss0[k] for k in rss0},
        }
    finally:
        d.stop()
        rig.close()


def run(quick: bool = False) -> Dict[str, object]:
    result: Dict[str, Any] = {"boot": boot(1 if quick else 3), "soak": soak(15.0 if quick else 60.0)}
    result["aims"] = {
        "playable_within_3s": result["boot"]["start_to_playable_s"]["max"] <= 3.0,
        "soak_xruns==0": result["soak"]["xruns"] == 0,
    }
    return result
