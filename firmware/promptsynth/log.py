"""Logging to stdout, one line per event (systemd's journal adds the time)."""
from __future__ import annotations

import logging
import sys


def setup(verbose: bool = False, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
