"""Which parts of the instrument work, and the rule that keeps a failing part from taking the
sound down: it is marked failed, reported once (log, panel, systemd STATUS=, doctor), and
tried again after a backoff while everything else, above all the engine, goes on.

A part is anything the daemon talks to that can break on its own: the engine process, the
generator, the display, the keyboard, the encoders, the state disk, the panel's own code.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from promptsynth.backoff import Backoff
from promptsynth.log import describe

log = logging.getLogger("health")

OK, FAILED, ABSENT, OFF = "ok", "failed", "absent", "off"


@dataclass
class Part:
    name: str
    state: str = OK  # ok, failed (retrying), absent (not there; looked for again), off
    detail: str = ""
    since: float = 0.0
    failures: int = 0  # in all, since start-up
    required: bool = True  # absent counts as a problem (an optional keyboard's absence does not)
    guard_failed: bool = False  # failed inside Health.guard (which then also marks it working again)
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 30.0))


class Health:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.parts: Dict[str, Part] = {}
        self.changes = 0  # bumped on every change of state or detail

    def add(
        self,
        name: str,
        first: float = 1.0,
        limit: float = 30.0,
        state: str = OK,
        detail: str = "",
        required: bool = True,
    ) -> Part:
        part = self.parts.get(name)
        if part is None:
            part = self.parts[name] = Part(
                name, state, detail, self.clock(), backoff=Backoff(first, limit), required=required
            )
            self.changes += 1
        return part

    def _set(self, part: Part, state: str, detail: str) -> None:
        if (part.state, part.detail) != (state, detail):
            part.state, part.detail, part.since = state, detail, self.clock()
            self.changes += 1

    def sync(self, name: str, state: str, detail: str = "", retry_in: Optional[float] = None) -> None:
        """Set a part's state (ok, failed, absent, off): logged when it changes, not at every retry.
        Parts that retry by themselves (display, keyboard, encoders, engine, generator) report
        here; their own backoff decides when."""
        part = self.add(name)
        if (part.state, part.detail) == (state, detail):
            return
        if state == OK:
            if part.state in (FAILED, ABSENT):
                log.info("%s works again%s", name, ": " + detail if detail else "")
        elif state in (FAILED, ABSENT):
            part.failures += 1
            if part.required or state == FAILED:
                (log.warning if state == ABSENT else log.error)(
                    "%s %s: %s%s", name, state, detail, "" if retry_in is None else " (next try in %.1f s)" % retry_in
                )
        self._set(part, state, detail)

    def guard(self, name: str, fn: Callable, *args, default=None):
        """Call ``fn(*args)`` as part ``name``: an exception marks the part failed and returns
        ``default``; the part is then skipped until its backoff allows another try, and marked
        working again by the first call that succeeds."""
        part = self.add(name)
        now = self.clock()
        if not part.backoff.due(now):
            return default
        try:
            result = fn(*args)
        except Exception as e:  # containment: a part's bug or fault never ends the loop
            delay = part.backoff.failed(now)
            part.guard_failed = True
            self.sync(name, FAILED, describe(e), retry_in=delay)
            return default
        if part.guard_failed:
            part.guard_failed = False
            part.backoff.succeeded()
            self.sync(name, OK)
        return result

    def problems(self) -> List[Part]:
        return [p for p in self.parts.values() if p.state == FAILED or (p.state == ABSENT and p.required)]

    def summary(self) -> str:
        """One line for systemd's STATUS= and the panel: what does not work."""
        bad = self.problems()
        if not bad:
            return "all parts working"
        return "; ".join("%s %s: %s" % (p.name, p.state, p.detail) for p in bad)[:400]

    def to_json(self) -> Dict[str, object]:
        return {
            "time": time.time(),
            "pid": os.getpid(),
            "parts": {
                p.name: {"state": p.state, "detail": p.detail, "failures": p.failures} for p in self.parts.values()
            },
        }


def health_path(state_dir: str) -> str:
    """Where the running daemon leaves its health for `doctor`: the service's runtime directory
    (tmpfs: no disk wear, works when the state disk is full), else the state directory."""
    return os.path.join(os.environ.get("RUNTIME_DIRECTORY") or state_dir, "health.json")


def write_health(health: Health, path: str) -> Optional[str]:
    """Write the health file atomically; returns why it could not be written (never raises)."""
    from promptsynth.library import atomic

    try:
        atomic.write_bytes(path, json.dumps(health.to_json(), indent=1).encode("utf-8"))
        return None
    except OSError as e:
        return describe(e)
