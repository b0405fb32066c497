"""Logging: one line per event on stderr (systemd's journal adds the time); stdout is kept for
what a command produces (results, JSON), so the two can be piped apart."""

from __future__ import annotations

import logging
import sys


def setup(level: int = logging.INFO, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def describe(e: BaseException) -> str:
    """One line for an exception: its type (luma's errors say little without it) and message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__
