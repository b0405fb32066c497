"""`promptsynth bench web`: does the web page cost the engine anything, and how fast is the
library page with 1,000 sounds? Measured in one run, through the real daemon on the rig's paced
ALSA tap, the real uvicorn on 127.0.0.1 and a real HTTP client.

* The engine's render times (its own shared stats: median, p99, max) and xruns with 16 notes
  sounding, in three phases of equal length: quiet, the page polled 10 times a second (the
  status, as the page does, and the library's first 100 sounds once a second), quiet again. The
  two quiet phases measure the noise; the polled one is compared with their mean.
* The library page: the page itself, its script and style, the session and the first 100 of
  1,000 sounds, cold (the library just changed: every sidecar read) and warm (cached).
* A status request's round trip while the loop runs (median, p95, max).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from promptsynth.bench.stats import summary_us

PASSWORD = "bench password"
SOUNDS = 1000


class _Http:
    """A logged-in page: its cookie and CSRF token."""

    def __init__(self, port: int):
        self.port, self.cookie, self.csrf = port, "", ""

    def get(self, path: str, body: Any = None, method: str = "GET") -> Tuple[int, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Cookie": "ps_session=" + self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h.update({"Content-Type": "application/json", "X-CSRF-Token": self.csrf})
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            out = r.read()
            for v in r.headers.get_all("Set-Cookie") or []:
                if v.startswith("ps_session="):
                    self.cookie = v.split(";")[0].split("=", 1)[1]
            return r.status, out
        finally:
            c.close()

    def login(self) -> None:
        self.csrf = json.loads(self.get("/api/session")[1])["csrf"]
        status, out = self.get("/api/login", {"password": PASSWORD}, "POST")
        if status != 200:
            raise RuntimeError("bench login refused: %r" % out[:200])
        self.csrf = json.loads(out)["csrf"]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fill_library(state: str, n: int, rate: int) -> None:
    from promptsynth.library.sounds import SoundLibrary

    lib = SoundLibrary(state)
    t = np.arange(rate // 10) / rate
    for i in range(n):
        tone = (0.2 * np.sin(2 * np.pi * (110.0 + i) * t)).astype(np.float32)[:, None]
        lib.add(tone, rate, {"kind": "imported", "analysis": {}}, "bench tone %04d" % i)


def run(quick: bool = False) -> Dict[str, Any]:
    from promptsynth import config
    from promptsynth.bench.rig import Rig, free_port, wait_for
    from promptsynth.daemon.run import Daemon
    from promptsynth.web.auth import hash_password

    phase_s = 3.0 if quick else 10.0
    sounds = 200 if quick else SOUNDS
    tmp = tempfile.mkdtemp(prefix="promptsynth-bench-web-")
    rig = Rig()
    d = None
    looper = None
    stop = threading.Event()
    try:
        state = os.path.join(tmp, "state")
        _fill_library(state, sounds, rig.rate)
        port = free_port()
        cfg = config.replace(rig.config("tap_jack", polyphony=16), "paths", state=state)
        cfg = config.replace(
            cfg, "web", enabled=True, host="127.0.0.1", port=port, password_hash=hash_password(PASSWORD)
        )
        d = Daemon(cfg, rig.env)
        d.start(generator=False)
        if not d.host.wait_ready(30.0) or d.network.web is None:
            raise RuntimeError("the daemon or its page did not start: %s" % d.health.summary())

        def loop() -> None:  # the daemon loop on its own thread, as in life
            while not stop.is_set():
                d.step()

        for i in range(16):  # 16 notes held through every phase (sent before the loop's thread runs)
            d.inst.note(40 + 2 * i, 100)
        looper = threading.Thread(target=loop, daemon=True)
        looper.start()
        page = _Http(port)
        page.login()
        if not wait_for(lambda: d.host.stats["voices"] >= 16, 10.0):
            raise RuntimeError("the notes never sounded")
        time.sleep(0.5)

        status_rtt: List[float] = []

        def poll() -> None:  # what an open page does, ten times faster than it needs to
            n = 0
            while not poll_stop.is_set():
                t0 = time.perf_counter()
                page.get("/api/status")
                status_rtt.append(time.perf_counter() - t0)
                if n % 10 == 0:
                    page.get("/api/sounds?offset=0&limit=100")
                n += 1
                poll_stop.wait(max(0.0, 0.1 - (time.perf_counter() - t0)))

        budget = rig.period / rig.rate
        phases: Dict[str, Any] = {}
        for name in ("quiet", "polled", "quiet_again"):
            poll_stop = threading.Event()
            poller = threading.Thread(target=poll, daemon=True) if name == "polled" else None
            if poller is not None:
                poller.start()
            x0, p0 = d.host.stats["xruns"], d.host.stats["periods"]
            time.sleep(phase_s)
            periods = int(d.host.stats["periods"] - p0)
            renders = d.host.stats.render_times()[-periods:]
            poll_stop.set()
            if poller is not None:
                poller.join(5)
            phases[name] = dict(
                summary_us(list(renders / 1e6), budget), xruns=int(d.host.stats["xruns"] - x0), periods=periods
            )

        # the library page: cold (the folder just changed) and warm
        def library_page() -> None:
            for path in ("/", "/static/app.js", "/static/style.css", "/api/session", "/api/sounds?offset=0&limit=100"):
                status, _ = page.get(path)
                if status != 200:
                    raise RuntimeError("%s answered %d" % (path, status))

        cold, warm = [], []
        for _ in range(3 if quick else 5):
            stamp = time.time_ns()  # as a save or rename does: the list is read again
            os.utime(os.path.join(state, "sounds"), ns=(stamp, stamp))
            cold.append(_timed(library_page))
            warm.append(_timed(library_page))

        quiet_p99 = [phases["quiet"]["p99_us"], phases["quiet_again"]["p99_us"]]
        mean_quiet = statistics.mean(quiet_p99)
        out: Dict[str, Any] = {
            "phase_seconds": phase_s,
            "voices": int(d.host.stats["voices"]),
            "renderer": "kernel" if d.host.stats["kernel"] else "numpy",
            "render": phases,
            "p99_polled_over_quiet": round(phases["polled"]["p99_us"] / mean_quiet, 3),
            "p99_quiet_spread": round(abs(quiet_p99[0] - quiet_p99[1]) / mean_quiet, 3),
            "status_requests": len(status_rtt),
            "status_rtt_ms": {
                "median": round(1000 * statistics.median(status_rtt), 2),
                "p95": round(1000 * float(np.percentile(status_rtt, 95)), 2),
                "max": round(1000 * max(status_rtt), 2),
            },
            "library_sounds": sounds,
            "library_page_cold_ms": {
                "median": round(1000 * statistics.median(cold), 1),
                "max": round(1000 * max(cold), 1),
            },
            "library_page_warm_ms": {
                "median": round(1000 * statistics.median(warm), 1),
                "max": round(1000 * max(warm), 1),
            },
        }
        out["aims"] = {
            "xruns==0": all(p["xruns"] == 0 for p in phases.values()),
            "polled_p99_within_noise": phases["polled"]["p99_us"]
            <= max(quiet_p99) * 1.0 + abs(quiet_p99[0] - quiet_p99[1]) + 0.05 * mean_quiet,
        }
        return out
    finally:
        stop.set()
        if looper is not None:
            looper.join(10)
        if d is not None:
            d.stop()
        rig.close()
        shutil.rmtree(tmp, ignore_errors=True)
