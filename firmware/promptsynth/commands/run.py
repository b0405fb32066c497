"""`promptsynth run`: the instrument in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
from typing import Dict, List


def cmd_run(args, cfg) -> int:
    env: Dict[str, str] = {}  # environment variables the simulator sets (JACK, ALSA)
    jack = None
    if args.sim:
        from promptsynth import sim

        cfg, env, jack = sim.prepare(cfg)
    from promptsynth.daemon.run import run

    stop: List[int] = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return run(
            cfg,
            env,
            model_override="tiny" if args.sim else None,
            prompt=args.prompt,
            stop_reason=lambda: "signal %d" % stop[0] if stop else None,
            config_path=args.config,
        )
    finally:
        if jack is not None:
            jack.stop()
