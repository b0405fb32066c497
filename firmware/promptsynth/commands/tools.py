"""`promptsynth doctor`, `promptsynth bench` and `promptsynth config`."""

from __future__ import annotations

import importlib
import json
import sys

BENCHES = ("engine", "generate", "shape", "panel", "boot", "faults", "kiosk", "kit", "serve", "web")


def cmd_doctor(args) -> int:
    from promptsynth import doctor

    checks = doctor.run(args.config)
    if args.json:
        print(json.dumps(doctor.as_json(checks), indent=2))
    else:
        for c in checks:
            print("%-4s  %-13s %s" % (c.status.upper(), c.part, c.detail))
            if c.fix and c.status != "pass":
                print("      %-13s fix: %s" % ("", c.fix))
    return 1 if any(c.status == "fail" for c in checks) else 0


def cmd_bench(args) -> int:
    bench = importlib.import_module("promptsynth.bench." + args.part)
    kwargs: dict = {"full_model": args.model} if args.part == "generate" else {}
    if args.part == "kiosk" and getattr(args, "visitors", None):
        kwargs["visitors"] = args.visitors
    result = bench.run(quick=args.quick, **kwargs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print("%s: %s" % (key, value))
    return 0 if result.get("ok", True) else 1  # a bench that checks something (kiosk) says so


def cmd_config(args) -> int:
    from promptsynth import config as config_mod

    if args.action == "example":
        sys.stdout.write(config_mod.example_toml())
        return 0
    errors = config_mod.errors_in(args.config)
    if errors:  # every bad key at once, each named
        import logging

        for e in errors:
            logging.getLogger("promptsynth").error("config error: %s", e)
        return 2
    cfg, where = config_mod.load(args.config)
    print("ok: %s" % where)
    return 0
