"""Rotary encoders and push buttons from raw edges: no hardware here, only timestamps and levels.

Quadrature decoding uses the 16-entry validity table: each new (A, B) state is compared with the
previous one; a valid Gray-code step counts +1 or -1, an impossible jump (both lines changed,
i.e. a missed or bounced edge) counts 0. Steps accumulate to detents (4 steps a detent on the
usual encoders), so contact bounce, which goes back and forth between two states, cancels out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


FAST_S = 0.025  # a detent this soon after the last one: full speed (a flick, ~40 detents a second)
SLOW_S = 0.12  # ... this late or later: slow, one step a detent (about 8 detents a second)
FAST_DETENTS = 24  # at full speed a range is crossed in this many detents: about one turn


class Speed:
    """How fast an encoder turns, from its detents' time stamps: 0 (slow) to 1 (fast), on a log
    scale between SLOW_S and FAST_S a detent. Only time stamps count, so tests give exact times."""

    def __init__(self) -> None:
        self.last: Optional[float] = None
        self.direction = 0

    def feed(self, detents: int, t: Optional[float]) -> float:
        if t is None or detents == 0:
            return 0.0
        direction = 1 if detents > 0 else -1
        dt = None if self.last is None or direction != self.direction else (t - self.last) / abs(detents)
        self.last, self.direction = t, direction
        if dt is None or dt >= SLOW_S:  # the first detent, or a change of direction: slow
            return 0.0
        if dt <= FAST_S:
            return 1.0
        return math.log(SLOW_S / dt) / math.log(SLOW_S / FAST_S)


@dataclass(frozen=True)
class Dial:
    """How one setting moves under the value encoder.

    Linear settings move ``step`` a detent when turned slowly; logarithmic ones (times and
    frequencies, where a millisecond matters at 5 ms and not at 5 s) move ``step`` of their range
    in log(1 + v / knee) a detent, so each detent changes the value by the same ratio. Turning
    faster grows the move geometrically up to 1/FAST_DETENTS of the range, so about one turn
    crosses any range; fine mode moves by ``quantum`` (linear) or a tenth of a slow step (log).
    Values are rounded to ``quantum``, and a detent always moves at least one quantum."""

    lo: float
    hi: float
    step: float  # one slow detent: in the value's unit (linear), or a fraction of the range (log)
    quantum: float  # the resolution
    log: bool = False
    knee: float = 1.0  # log: where the scale turns from linear to logarithmic (0 stays reachable)

    def _u(self, v: float) -> float:
        if not self.log:
            return (v - self.lo) / (self.hi - self.lo)
        return math.log1p((v - self.lo) / self.knee) / math.log1p((self.hi - self.lo) / self.knee)

    def _v(self, u: float) -> float:
        if not self.log:
            return self.lo + u * (self.hi - self.lo)
        return self.lo + self.knee * math.expm1(u * math.log1p((self.hi - self.lo) / self.knee))

    def turn(self, v: float, detents: int, speed: float = 0.0, fine: bool = False) -> float:
        if detents == 0 or self.hi <= self.lo:
            return v
        v = min(max(float(v), self.lo), self.hi)
        slow = self.step if self.log else self.step / (self.hi - self.lo)
        if fine:
            du = slow / 10 if self.log else self.quantum / (self.hi - self.lo)
        else:
            fast = max(1.0 / FAST_DETENTS, slow)
            du = slow * (fast / slow) ** min(max(speed, 0.0), 1.0)
        u = min(max(self._u(v) + detents * du, 0.0), 1.0)
        new = round(self._v(u) / self.quantum) * self.quantum
        if new == v or (new - v) * detents < 0:  # too small a move to show: one quantum
            new = v + (self.quantum if detents > 0 else -self.quantum)
        new = min(max(new, self.lo), self.hi)
        return float(round(new, 6))


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

    @property
    def down(self) -> bool:
        return self.raw or self.pressed

    def consume(self) -> None:
        """The press was used for something else (holding it while turning: fine mode): its
        release is no short press and holding on is no long press."""
        if self.down:
            self.long_sent = True
            if not self.pressed:  # pressed within the debounce: settle it as pressed now
                self.pressed, self.pressed_at = True, self.changed

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
