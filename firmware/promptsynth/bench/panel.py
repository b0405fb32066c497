"""`promptsynth bench panel`: drawing cost per page, and whether continuous redrawing in the
supervisor moves the engine's render time (it runs in another process: it must not)."""

from __future__ import annotations

import tempfile
import threading
import time
from typing import Any, Dict

from promptsynth.bench.stats import summary_us
from promptsynth.engine.stats import INDEX


def _panel(state_dir: str, host=None):
    """A panel on an instrument (on ``host``'s running engine, or on none: the pages need no engine
    to draw), drawing through the real SSD1306 driver into a recording bus."""
    from promptsynth import config
    from promptsynth.daemon.run import Daemon
    from promptsynth.panel.display import Display, RecordingSerial, factory
    from promptsynth.panel.panel import Panel

    d = Daemon(config.replace(config.Config(), "paths", state=state_dir or tempfile.mkdtemp(prefix="psynth-panel-")))
    if host is not None:
        d.inst.host = host
    serial = RecordingSerial()
    return Panel(d.inst, Display(factory("ssd1306", serial=serial)), fps=1000.0), serial


def page_costs(draws: int = 200) -> Dict[str, object]:
    p, serial = _panel(tempfile.mkdtemp(prefix="psynth-panel-"))
    out: Dict[str, object] = {}
    host = p.inst.host
    for name, page in p.pages.items():
        p.set_page(name)
        p.refresh(time.monotonic())
        p.tick(0.0)  # first draw: device init
        render, total = [], []
        for k in range(draws):
            host.stats.values[INDEX["peak"]] = (k % 20) / 20.0  # the meter moves: every frame differs
            t0 = time.perf_counter()
            img = p.render()
            t1 = time.perf_counter()
            p.display.device.display(img)  # the real driver's encoding, to a recording bus
            t2 = time.perf_counter()
            render.append(t1 - t0)
            total.append(t2 - t0)
            serial.log.clear()
        out[page.title.lower()] = {"draw": summary_us(render), "draw_and_encode": summary_us(total)}
    return out


def engine_effect(seconds: float = 5.0) -> Dict[str, object]:
    """Engine render time (from the engine's own ring) idle vs. with the panel redrawing flat out."""
    from promptsynth.bench.engine import _engine_rig
    from promptsynth.engine import messages as m

    rig, sup, kbd = _engine_rig({"polyphony": 16})
    try:
        for i in range(16):
            sup.send(m.Midi(bytes([0x90, 40 + i * 2, 100])))
        time.sleep(0.5)

        def window(busy: bool):
            stop = threading.Event()
            draws = [0]
            if busy:
                p, serial = _panel("", sup)

                def loop():
                    k = 0
                    while not stop.is_set():
                        p.set_page(p.order[k % len(p.order)])
                        p.refresh(time.monotonic())
                        p.display.show(p.render(), time.monotonic())
                        serial.log.clear()
                        draws[0] += 1
                        k += 1

                th = threading.Thread(target=loop, daemon=True)
                th.start()
            p0 = sup.stats["periods"]
            time.sleep(seconds)
            stop.set()
            n = int(sup.stats["periods"] - p0)
            times = sup.stats.render_times()[-n:] / 1e6
            return summary_us(times, 128 / 48000), draws[0], int(sup.stats["xruns"])

        idle, _, x0 = window(False)
        busy, draws, x1 = window(True)
        return {
            "idle": idle,
            "panel_redrawing": busy,
            "panel_draws": draws,
            "draws_per_s": round(draws / seconds, 1),
            "p99_change_us": round(busy["p99_us"] - idle["p99_us"], 1),
            "xruns_during": x1 - x0,
        }
    finally:
        sup.stop()
        rig.close()


def run(quick: bool = False) -> Dict[str, object]:
    result: Dict[str, Any] = {"pages": page_costs(50 if quick else 200)}
    result["engine_effect"] = engine_effect(2.0 if quick else 5.0)
    worst = max(v["draw_and_encode"]["max_us"] for v in result["pages"].values())
    result["aims"] = {
        "every_page_under_5ms_max": worst < 5000.0,
        "engine_p99_within_noise_(+-15%)": abs(result["engine_effect"]["p99_change_us"])
        <= 0.15 * result["engine_effect"]["idle"]["p99_us"],
    }
    return result
