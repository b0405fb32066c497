"""MIDI learn: a long press on a Sound page row binds the next controller that moves to it.

The engine publishes controllers the sampler does not use (number, value, a count) in its
shared stats; the panel reads them through the instrument's meters. The map is kept in
``<state>/ccmap.json``; a value 0-127 spans the setting's range from the config's schema.
"""

from __future__ import annotations

import json
import logging
from typing import Dict, Optional, Tuple

from promptsynth.config import SoundSettings, bounds, choices
from promptsynth.library import atomic

log = logging.getLogger("panel")

POINT_SPAN_S = 30.0  # start/loop points: a knob spans the first 30 s, not the schema's hour


class CCLearn:
    def __init__(self, path: str, seen: int = 0):
        self.path = path
        self.map: Dict[int, str] = self._load()
        self.learning: Optional[str] = None
        self.seen = seen  # the engine's controller count when last looked at

    def _load(self) -> Dict[int, str]:
        try:
            with open(self.path) as fh:
                return {int(k): str(v) for k, v in json.load(fh).items()}
        except (OSError, ValueError, AttributeError) as e:
            if not isinstance(e, FileNotFoundError):
                log.warning("cc map %s unreadable, starting empty: %s", self.path, e)
            return {}

    def learn(self, key: str) -> None:
        """The next controller that moves controls ``key`` (a sound setting)."""
        self.learning = key

    def feed(self, count: int, number: int, value: int) -> Tuple[Optional[str], object]:
        """Look at the last controller the engine saw. Returns ("learned", key) when a binding was
        made, (key, new value) when a bound knob moved, (None, None) otherwise."""
        if count == self.seen:
            return None, None
        self.seen = count
        if self.learning is not None:
            key, self.learning = self.learning, None
            self.map = {n: k for n, k in self.map.items() if k != key}
            self.map[number] = key
            atomic.write_json(self.path, {str(n): k for n, k in self.map.items()})  # OSError: the caller says so
            return "learned", key
        bound = self.map.get(number)
        if bound is None:
            return None, None
        return bound, scaled(bound, value)


def scaled(key: str, value: int) -> object:
    """A controller value 0-127 as a value of the sound setting ``key``."""
    modes = tuple(c for c in choices(SoundSettings, key) if c != "auto")
    if modes:
        return modes[min(value * len(modes) // 128, len(modes) - 1)]
    lo, hi = bounds(SoundSettings, key)
    if key in ("start", "end", "loop_start", "loop_end"):
        hi = min(hi, POINT_SPAN_S)
    v = lo + (hi - lo) * value / 127.0
    return int(round(v)) if isinstance(getattr(SoundSettings(), key), int) else round(v, 4)
