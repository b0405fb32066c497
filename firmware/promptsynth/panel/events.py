"""What the panel's inputs produce: encoder turns, button presses and keys. Every input source
(GPIO encoders, the evdev keyboard, the simulator's window) turns its events into these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Turn:
    encoder: int  # 0: select (pages, rows), 1: value
    delta: int


@dataclass(frozen=True)
class Press:
    button: int
    kind: str  # "short", "long", or "hold" (held [panel] kiosk_unlock_hold seconds, kiosk mode only)


@dataclass(frozen=True)
class Key:
    name: str = ""  # a named key ("enter", "left"...), or "" for text
    char: str = ""  # the character typed, for text


Event = Union[Turn, Press, Key]  # what an input source yields
