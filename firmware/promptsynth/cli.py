"""The `promptsynth` command: run the instrument, benchmark it, check its config."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import List, Optional

from promptsynth import __version__
from promptsynth import config as config_mod

log = logging.getLogger("promptsynth")


def _load_config(path: Optional[str]) -> config_mod.Config:
    cfg, where = config_mod.load(path)
    log.info("config: %s", where)
    return cfg


def cmd_run(args) -> int:
    cfg = _load_config(args.config)
    env = {}
    jack = None
    if args.sim:
        from promptsynth import sim
        cfg, env, jack = sim.prepare(cfg)
    from promptsynth.supervisor import Supervisor
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sup = Supervisor(cfg, env)
    try:
        sup.start()
        sup.load_startup_sound()
        # front panel and generator attach here (later issues)
        last_xruns = 0.0
        while not stop:
            sup.poll(0.2)
            if not sup.alive():
                log.error("engine process ended unexpectedly (exit code %s)", sup.proc.exitcode)
                return 1
            xr = sup.stats["xruns"]
            if xr > last_xruns:
                log.warning("audio: %d xruns so far", xr)
                last_xruns = xr
        log.info("stopping (signal %d)", stop[0])
    finally:
        sup.stop()
        if jack is not None:
            jack.stop()
    return 0


def cmd_bench(args) -> int:
    if args.part == "engine":
        from promptsynth.bench.engine import run as bench_engine
        result = bench_engine(quick=args.quick)
    else:  # argparse restricts the choices
        raise AssertionError(args.part)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print("%s: %s" % (key, value))
    return 0


def cmd_config(args) -> int:
    if args.action == "example":
        sys.stdout.write(config_mod.example_toml())
        return 0
    cfg, where = config_mod.load(args.config)
    print("ok: %s" % where)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptsynth", description="A text-to-sound sampler instrument.")
    p.add_argument("--version", action="version", version="promptsynth " + __version__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the instrument until SIGINT/SIGTERM")
    r.add_argument("--config", help="config file (default %s)" % config_mod.DEFAULT_PATH)
    r.add_argument("--sim", action="store_true",
                   help="simulator: JACK dummy audio and MIDI where there is no hardware")
    r.set_defaults(func=cmd_run)
    b = sub.add_parser("bench", help="benchmarks")
    b.add_argument("part", choices=["engine"])
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--quick", action="store_true", help="fewer periods (for smoke tests)")
    b.set_defaults(func=cmd_bench)
    c = sub.add_parser("config", help="print the documented default config, or check one")
    c.add_argument("action", choices=["example", "check"])
    c.add_argument("--config", help="config file to check")
    c.set_defaults(func=cmd_config)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from promptsynth import log as log_mod
    # the benchmark's stdout is its JSON: its log lines go to stderr
    log_mod.setup(args.verbose, sys.stderr if args.command == "bench" else None)
    try:
        return args.func(args)
    except config_mod.ConfigError as e:
        log.error("config error: %s", e)
        return 2
