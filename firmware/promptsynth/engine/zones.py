"""Zones: which sounds a note plays, and how (a keymap of up to MAX_ZONES zones).

A zone maps a key range and a velocity range to a sound, with its own root and tune, envelope,
gain, pan and play mode (normal, or one-shot: the note-off is ignored and the sound plays to its
end, as drums do). Zones that overlap layer: a note starts a voice in each zone it falls in.
A zone in a choke group cuts the sounding notes of its group when it starts (an open hi-hat cut
by the closed one) with the steal's short fade. A zone may hold up to MAX_ALTERNATES sounds,
played in turn (round robin) or at random without repeating the last, so a repeated drum does
not sound like a machine gun.

A scan (a morph series on the keyboard) is zones with places 1..N over the same keys: the mod
wheel says where in the series a note plays, and the note sounds the two nearest places,
crossfaded at equal power (cos and sin of the distance): at a place exactly, that one alone.
Sounding notes follow the wheel (engine/sampler.py glides the position and ramps each voice's
gain across the period; a place the wheel reaches joins the note where it is).

The keymap is built once when it is set (between periods), as a list of zones per key; a note-on
then looks at its key's few zones and their velocity ranges, and nothing more.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from promptsynth.config import MAX_ALTERNATES, MAX_SCAN, MAX_ZONES, ROUND_ROBIN

__all__ = [
    "MAX_ALTERNATES",
    "MAX_SCAN",
    "MAX_ZONES",
    "ROUND_ROBIN",
    "Keymap",
    "Zone",
    "scan_places_at",
    "scan_weight",
    "scan_weights",
]

SCAN_FLOOR = 1e-6  # a place weighed less than this is not started


def scan_weight(place: int, position: float) -> float:
    """The gain of ``place`` (0-based) with the scan at ``position`` (0 .. places - 1):
    cos(d * pi / 2) within one place of it, 0 beyond (equal power between neighbours)."""
    d = abs(position - place)
    return math.cos(d * math.pi / 2.0) if d < 1.0 else 0.0


def scan_weights(places: np.ndarray, position: float) -> np.ndarray:
    """:func:`scan_weight` of each 1-based place in ``places`` at once (below SCAN_FLOOR: 0)."""
    d = np.abs(position - (places - 1.0))
    w = np.cos(np.minimum(d, 1.0) * (math.pi / 2.0))
    w[w < SCAN_FLOOR] = 0.0
    return w


def scan_places_at(position: float) -> FrozenSet[int]:
    """The 1-based places that sound at ``position`` (0 .. places - 1): one at a place, else
    the two around it."""
    lo = math.floor(position)
    return frozenset((lo + 1,)) if position == lo else frozenset((lo + 1, lo + 2))


@dataclass(frozen=True)
class Zone:
    """One zone. ``sounds``: the engine sound ids of its alternates (one, or up to 4 for round
    robin). Envelope times in ms; None takes the preset's setting."""

    sounds: Tuple[int, ...]
    lokey: int = 0
    hikey: int = 127
    lovel: int = 1
    hivel: int = 127
    root: float = 60.0
    tune: float = 0.0  # cents
    attack: Optional[float] = None
    decay: Optional[float] = None
    sustain: Optional[float] = None
    release: Optional[float] = None
    gain_db: float = 0.0
    pan: float = 0.0  # -1 left .. 1 right
    one_shot: bool = False
    group: int = 0  # choke group (0: none)
    round_robin: str = "cycle"
    scan: int = 0  # place in a scan, 1..MAX_SCAN (0: none)

    def check(self) -> None:
        """Raise ValueError naming what is wrong."""
        if not 1 <= len(self.sounds) <= MAX_ALTERNATES:
            raise ValueError("a zone has 1 to %d sounds, not %d" % (MAX_ALTERNATES, len(self.sounds)))
        if not (0 <= self.lokey <= self.hikey <= 127 and 1 <= self.lovel <= self.hivel <= 127):
            raise ValueError("zone ranges must be 0 <= lokey <= hikey <= 127 and 1 <= lovel <= hivel <= 127")
        if not -1.0 <= self.pan <= 1.0:
            raise ValueError("pan must be within -1..1")
        if self.round_robin not in ROUND_ROBIN:
            raise ValueError("round_robin must be one of %s" % ", ".join(ROUND_ROBIN))
        if self.group < 0:
            raise ValueError("a choke group is 0 (none) or a positive number")
        if not 0 <= self.scan <= MAX_SCAN:
            raise ValueError("a scan place is 0 (none) or 1 to %d" % MAX_SCAN)


class Keymap:
    """Zones by key, and each zone's round-robin state."""

    def __init__(self, zones: Sequence[Zone], seed: int = 0):
        if len(zones) > MAX_ZONES:
            raise ValueError("a keymap has at most %d zones, not %d" % (MAX_ZONES, len(zones)))
        for z in zones:
            z.check()
        self.zones: Tuple[Zone, ...] = tuple(zones)
        by_key: List[List[int]] = [[] for _ in range(128)]
        for i, z in enumerate(self.zones):  # each zone's keys only: a 32-pad kit is 32 appends
            for key in range(z.lokey, z.hikey + 1):
                by_key[key].append(i)
        self._by_key: List[Tuple[int, ...]] = [tuple(k) for k in by_key]
        self._next = [0] * len(self.zones)  # the alternate each zone plays next (in turn)
        self._last = [-1] * len(self.zones)  # the alternate each zone played last (at random)
        self._rng = random.Random(seed)
        self.scan_places = max((z.scan for z in self.zones), default=0)

    def match(self, note: int, velocity: int) -> List[int]:
        """The zones a note plays, in the keymap's order."""
        if not 0 <= note <= 127:
            return []
        return [i for i in self._by_key[note] if self.zones[i].lovel <= velocity <= self.zones[i].hivel]

    def gain(self, i: int, mod: float) -> float:
        """Zone ``i``'s gain for a note starting with the mod wheel at ``mod`` (0-1): 1 unless it
        is a place in a scan."""
        place = self.zones[i].scan
        if not place:
            return 1.0
        return scan_weight(place - 1, mod * (self.scan_places - 1))

    def alternate(self, i: int) -> int:
        """Which of zone ``i``'s sounds this note plays (and advance its round robin)."""
        z = self.zones[i]
        n = len(z.sounds)
        if n == 1:
            return 0
        if z.round_robin == "random":  # any but the one played last
            pick = self._rng.choice([k for k in range(n) if k != self._last[i]])
            self._last[i] = pick
            return pick
        pick = self._next[i]
        self._next[i] = (pick + 1) % n
        return pick
