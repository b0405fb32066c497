"""Rotary encoders and push buttons from raw edges: no hardware here, only timestamps and levels.

Quadrature decoding uses the 16-entry validity table: each new (A, B) state is compared with the
previous one; a valid Gray-code step counts +1 or -1, an impossible jump (both lines changed,
i.e. a missed or bounced edge) counts 0. Steps accumulate to detents (4 steps a detent on the
usual encoders), so contact bounce, which goes back and forth between two states, cancels out.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

# index: previous state << 2 | new state, states as (A << 1) | B
_TABLE = (0, -1, +1, 0, +1, 0, 0, -1, -1, 0, 0, +1, 0, +1, -1, 0)


class QuadratureDecoder:
    def __init__(self, steps_per_detent: int = 4, a: int = 1, b: int = 1):
        self.steps_per_detent = steps_per_detent
        self.state = (a << 1) | b
        self.acc = 0
        self.invalid = 0

    def edge(self, a: int, b: int) -> int:
        """Feed the levels after an edge on either line; returns whole detents moved (+/-)."""
        new = ((a & 1) << 1) | (b & 1)
        if new == self.state:
            return 0
        step = _TABLE[(self.state << 2) | new]
        if step == 0:
            self.invalid += 1
        self.state = new
        self.acc += step
        detents = int(self.acc / self.steps_per_detent)  # toward zero
        self.acc -= detents * self.steps_per_detent
        return detents


class Acceleration:
    """Fast turns move further: detents closer together than ``fast_s`` count more."""

    def __init__(self, fast_s: float = 0.03, medium_s: float = 0.08, fast: int = 5, medium: int = 2):
        self.fast_s, self.medium_s, self.fast, self.medium = fast_s, medium_s, fast, medium
        self.last: Optional[float] = None

    def scale(self, detents: int, t: float) -> int:
        if detents == 0:
            return 0
        dt = None if self.last is None else t - self.last
        self.last = t
        if dt is not None and dt < self.fast_s:
            return detents * self.fast
        if dt is not None and dt < self.medium_s:
            return detents * self.medium
        return detents


class Button:
    """Debounced push button (active low by default): 'short' on release, 'long' once held, and
    'hold' once held ``hold_s`` (None: never; the kiosk's unlock holds both buttons that long)."""

    def __init__(
        self, debounce_s: float = 0.02, long_s: float = 0.6, active_low: bool = True, hold_s: Optional[float] = None
    ):
        self.debounce_s, self.long_s, self.active_low, self.hold_s = debounce_s, long_s, active_low, hold_s
        self.hold_sent = False
        self.raw = False
        self.changed = 0.0
        self.pressed = False
        self.pressed_at = 0.0
        self.long_sent = False

    def level(self, value: int, t: float) -> None:
        """A raw level seen at time t (edge callbacks, or polling)."""
        down = (value == 0) if self.active_low else (value == 1)
        if down != self.raw:
            self.raw = down
            self.changed = t

    def poll(self, t: float) -> List[str]:
        """Events due at time t: 'short', 'long', 'hold'."""
        out = []
        if self.raw != self.pressed and t - self.changed >= self.debounce_s:
            self.pressed = self.raw
            if self.pressed:
                self.pressed_at = t
                self.long_sent = self.hold_sent = False
            elif not self.long_sent:
                out.append("short")
        if self.pressed and not self.long_sent and t - self.pressed_at >= self.long_s:
            self.long_sent = True
            out.append("long")
        if self.pressed and self.hold_s and not self.hold_sent and t - self.pressed_at >= self.hold_s:
            self.hold_sent = True
            out.append("hold")
        return out


def quadrature_edges(detents: int, steps_per_detent: int = 4, start: Tuple[int, int] = (1, 1)) -> List[Tuple[int, int]]:
    """The (A, B) levels an ideal encoder produces turning ``detents`` (for tests and the simulator)."""
    cw = [(1, 1), (0, 1), (0, 0), (1, 0)]
    i = cw.index(start)
    out = []
    step = 1 if detents > 0 else -1
    for _ in range(abs(detents) * steps_per_detent):
        i = (i + step) % 4
        out.append(cw[i])
    return out
