"""Retry delays, one rule for every part that can fail and come back (engine, generator,
display, keyboard, encoders, the state disk)."""

from __future__ import annotations

from collections import deque
from typing import Deque, Optional


class Backoff:
    """Delays that grow after failures and reset after a success.

    The first ``grace`` failures (within ``window`` seconds, if given) are retried at once;
    after that each failure waits ``first``, then ``first * factor``, ... up to ``limit``.
    """

    def __init__(self, first: float, limit: float, factor: float = 2.0, grace: int = 0, window: Optional[float] = None):
        self.first, self.limit, self.factor = first, limit, factor
        self.grace, self.window = grace, window
        self.times: Deque[float] = deque(maxlen=64)
        self.next_try = 0.0

    @property
    def failures(self) -> int:
        return len(self.times)

    def failed(self, now: float) -> float:
        """Count a failure at ``now``; returns the delay before the next try."""
        self.times.append(now)
        if self.window is not None:
            while self.times and now - self.times[0] >= self.window:
                self.times.popleft()
        n = len(self.times) - self.grace
        delay = 0.0 if n <= 0 else min(self.first * self.factor ** (n - 1), self.limit)
        self.next_try = now + delay
        return delay

    def succeeded(self) -> None:
        self.times.clear()
        self.next_try = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_try
