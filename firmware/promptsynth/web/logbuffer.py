"""The daemon's last log lines, kept in memory for the web page's System page."""

from __future__ import annotations

import collections
import logging
from typing import Deque, List

KEEP = 300


class LogBuffer(logging.Handler):
    """A logging handler that keeps the last KEEP formatted lines (logging's own lock guards it)."""

    def __init__(self, keep: int = KEEP):
        super().__init__(logging.INFO)
        self._lines: Deque[str] = collections.deque(maxlen=keep)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not the page's problem
            self.handleError(record)

    def lines(self) -> List[str]:
        self.acquire()
        try:
            return list(self._lines)
        finally:
            self.release()
