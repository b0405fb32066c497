"""What the panel's inputs produce: encoder turns, button presses and keys. Every input source
(GPIO encoders, the evdev keyboard, the simulator's window) turns its events into these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Turn:
    encoder: int  # 0: select (pages, rows), 1: value
    delta: int
    t: Optional[float] = None  # when (seconds, any clock): how fast it turns, for acceleration
    fine: bool = False  # fine mode: the smallest steps (its button held while turning, Shift)


@dataclass(frozen=True)
class Press:
    button: int  # 0: the select encoder's push button, 1: the value encoder's
    kind: str  # "short", "long", or "hold" (held [panel] kiosk_unlock_hold seconds, kiosk mode only)


@dataclass(frozen=True)
class Key:
    name: str = ""  # a named key ("enter", "left"...), or "" for text
    char: str = ""  # the character typed, for text


Event = Union[Turn, Press, Key]  # what an input source yields
