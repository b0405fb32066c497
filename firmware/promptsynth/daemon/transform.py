"""What only a text instrument does, as the instrument holds it: a morph series played across
velocity, variations of the current sound waiting to be auditioned, and recordings taken in.

The generation itself is the generator's (morph, sound to sound: generator/runner.py); this is
what the daemon does with the results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from promptsynth.config import ZoneSettings
from promptsynth.library.presets import Preset

log = logging.getLogger("instrument")

MAX_VARIATIONS = 8
GUIDANCE_JITTER = 0.5  # a variation's guidance moves at most this far from the sound's
# prompt jitter: a variation morphs a little way (at most PROMPT_JITTER) toward its prompt with
# one of these words added, so its meaning moves a little too, and its recipe still makes it again
JITTER_WORDS = ("brighter", "darker", "softer", "harder", "wider", "closer", "airier", "warmer")
PROMPT_JITTER = 0.3


def series_zones(ids: Sequence[str], positions: Sequence[float], play: str = "modwheel") -> List[ZoneSettings]:
    """A morph series on the keyboard, each sound over the whole keyboard at its own analysed
    root. ``modwheel``: a scan, the wheel picking where a note plays (engine/zones.py);
    ``velocity``: soft notes play the first prompt's end, hard notes the last, a band each."""
    n = len(ids)
    zones = []
    for i, (sid, x) in enumerate(zip(ids, positions)):
        if play == "modwheel":
            zones.append(ZoneSettings(name="%.2f" % x, sounds=(sid,), scan=i + 1))
        else:
            lo = 1 + (127 * i) // n
            hi = (127 * (i + 1)) // n
            zones.append(ZoneSettings(name="%.2f" % x, sounds=(sid,), lovel=lo, hivel=hi))
    return zones


def variation_jitter(i: int, seed: int, amount: float) -> float:
    """The guidance offset of variation ``i`` (a fixed pattern from the seed, so a set of
    variations is the same set again): within +/- ``amount`` x GUIDANCE_JITTER."""
    pattern = ((seed >> (4 * (i % 16))) & 0xF) / 15.0  # 0..1
    return round((pattern * 2 - 1) * GUIDANCE_JITTER * amount, 2)


@dataclass
class Variation:
    job: int
    seed: int
    guidance: float
    state: str = "waiting"  # waiting, running, ready, kept, dropped, failed
    preset: Optional[Preset] = None  # when ready: the sound as a preset to audition


@dataclass
class Variations:
    """N variations of one sound, made in the background while it plays."""

    of: Preset  # the sound they vary (played again when the set is closed)
    items: List[Variation] = field(default_factory=list)

    def by_job(self, job: int) -> Optional[Variation]:
        for v in self.items:
            if v.job == job:
                return v
        return None

    @property
    def pending(self) -> int:
        return sum(1 for v in self.items if v.state in ("waiting", "running"))

    def ready(self) -> List[Variation]:
        return [v for v in self.items if v.state in ("ready", "kept")]


def variation_overrides(p: Preset, i: int, jitter: float) -> dict:
    """The generation settings of variation ``i`` of preset ``p``: its recipe with the next seed
    and, with ``jitter`` (0-1), the guidance moved a little and, for a plain prompt, its meaning:
    a morph of ``jitter`` x PROMPT_JITTER toward the prompt with a word added ("brighter")."""
    g = dict(p.generation)
    seed = int(g.get("seed") or 0)
    g["seed"] = (seed + 1 + i) % (2**64)
    g["guidance"] = min(max(float(g.get("guidance", 3.5)) + variation_jitter(i, seed, jitter), 1.0), 10.0)
    g["candidates"] = 1
    g["series"] = 0
    if jitter > 0 and not g.get("morph"):
        word = JITTER_WORDS[(seed + i) % len(JITTER_WORDS)]
        g["morph"] = ["%s, %s" % (g["prompt"], word)]
        g["position"] = round(min(jitter, 1.0) * PROMPT_JITTER, 3)
        g["position_y"] = 0.0
    return g
