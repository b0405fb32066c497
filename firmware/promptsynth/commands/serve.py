"""`promptsynth serve`: the generation server for a fleet of instruments (docs/remote.md), and
`promptsynth serve token NAME`: a new instrument's API token."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from promptsynth import config as config_mod
from promptsynth.config import ConfigError

log = logging.getLogger("promptsynth")


def cmd_serve(args, cfg) -> int:
    from promptsynth.server import tokens

    if args.action == "token":
        if not args.name:
            raise ConfigError("serve token NAME: name the instrument the token is for")
        token, entry = tokens.new_token(args.name)
        print("token for %s (put it in that instrument's [generator] token; it is shown only now):" % args.name)
        print("  %s" % token)
        print("add to the server's [server] tokens:")
        print('  "%s"' % entry)
        return 0
    sv = cfg.server
    if not sv.tokens:  # nothing listens without authentication
        raise ConfigError(
            "[server] tokens is empty: nobody could use the server (make one: promptsynth serve token NAME)"
        )
    tokens.parse(sv.tokens)
    if sys.version_info < (3, 10):
        log.error("the generation server needs Python 3.10 or newer (ray 2.60); this is %d.%d", *sys.version_info[:2])
        return 1
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        log.error("Ray Serve is not installed: pip install 'promptsynth[server]'")
        return 1
    from promptsynth.server import app

    stop = threading.Event()

    def on_signal(*_) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    log.info("starting the generation server: %s on %s:%d", ", ".join(sv.models), sv.host, sv.port)
    app.start(cfg)
    # ray.init replaced ours with its own (a bare sys.exit) behind its C++ crash handler, which
    # dumps a stack trace into the log at every ordinary stop (systemd's SIGTERM): ours again
    signal.signal(signal.SIGTERM, on_signal)
    where = "http://%s:%d/v1" % (sv.host, sv.port)
    log.info("serving %s at %s (state in %s)", ", ".join(sv.models), where, config_mod.state_dir(cfg))
    try:
        stop.wait()
    finally:
        log.info("stopping the generation server")
        app.stop()
    return 0
