"""The one way from a network thread (the web page, OSC) into the instrument.

The instrument is used from the daemon loop's thread only, as the front panel uses it. A network
thread queues a call here and waits for its answer; the loop runs the queued calls between its
other steps, a bounded slice of time a round, so a flood of requests slows the requests, never
the panel or the loop (and the engine, a process of its own, never notices either).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Callable, Optional

CALL_TIMEOUT_S = 5.0  # a call the loop has not answered by then is given up ("busy")
SLICE_S = 0.010  # the loop spends at most this long a round on queued calls
MAX_WAITING = 64  # calls that may wait; more are refused at once


class Busy(RuntimeError):
    """The daemon loop did not take the call in time, or too many wait (HTTP 503)."""


class _Call:
    __slots__ = ("fn", "args", "kwargs", "done", "result", "error", "abandoned")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.abandoned = False  # its caller gave up: the loop skips it


class Bridge:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._q: queue.Queue = queue.Queue(MAX_WAITING)
        self.clock = clock
        self.calls = 0  # calls run so far (for tests and `bench`)
        self._wake: Optional[tuple] = None  # (read fd, write fd), made by fileno()
        self._wake_lock = threading.Lock()  # a late caller never writes to a closed (reused) fd

    def fileno(self) -> int:
        """A file descriptor that becomes readable when a call is queued: the daemon loop waits
        on it beside the engine's pipe, so a request is taken at once, not at the next round."""
        if self._wake is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._wake = (r, w)
        return self._wake[0]

    def close(self) -> None:
        with self._wake_lock:
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None

    # ---- network threads ------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the daemon loop's thread and return what it returns (or
        raise what it raised). Raises Busy when the loop does not answer within ``timeout``."""
        c = _Call(fn, args, kwargs)
        try:
            self._q.put_nowait(c)
        except queue.Full:
            raise Busy("the instrument is busy: %d requests wait" % MAX_WAITING) from None
        with self._wake_lock:  # never blocks: the pipe's write end does not
            if self._wake is not None:
                try:
                    os.write(self._wake[1], b"\0")
                except OSError:  # full (BlockingIOError): the loop is woken already
                    pass
        if not c.done.wait(timeout):
            c.abandoned = True
            raise Busy("the instrument did not answer within %.0f s" % timeout)
        if c.error is not None:
            raise c.error
        return c.result

    # ---- the daemon loop ------------------------------------------------------------------------
    def run_pending(self, slice_s: float = SLICE_S) -> int:
        """Run queued calls for at most ``slice_s`` (at least one, if any wait); returns how many."""
        end = time.monotonic() + slice_s
        n = 0
        with self._wake_lock:
            if self._wake is not None:
                try:
                    while os.read(self._wake[0], 4096):
                        pass
                except OSError:  # empty (BlockingIOError): drained
                    pass
        while True:
            try:
                c = self._q.get_nowait()
            except queue.Empty:
                return n
            if not c.abandoned:
                try:
                    c.result = c.fn(*c.args, **c.kwargs)
                except Exception as e:  # handed to the caller: the loop carries on
                    c.error = e
                c.done.set()
                n += 1
                self.calls += 1
            if time.monotonic() >= end:
                return n

    def fail_pending(self, why: str) -> None:
        """The daemon stops: every waiting caller gets Busy at once."""
        while True:
            try:
                c = self._q.get_nowait()
            except queue.Empty:
                return
            c.error = Busy(why)
            c.done.set()
