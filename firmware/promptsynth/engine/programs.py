"""Program Change: the presets of a bank made resident ahead, so a switch costs no more than the
period it arrives in.

The daemon sends a table (messages.SetPrograms): for each program number of the bank, either
the engine sound plain notes play or a keymap's zones, and the voice settings. Their sounds are
in the engine already (loaded with ``current=False`` and pinned while the table names them). A
Program Change on the listening channel then switches the keymap, the current sound and the
settings between two periods; notes already sounding ring on with the sound they started with.
A program the table lacks (another bank, a preset whose sound is not made yet) is asked of the
daemon, which loads it the slow way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Set, Tuple

from promptsynth.engine.zones import Zone


@dataclass(frozen=True)
class Program:
    """One preset, resident: ``sound`` (an engine sound id) for plain notes, or ``zones``."""

    bank: int  # Bank Select: CC0 x 128 + CC32 (the daemon's bank order: 0 the factory bank)
    number: int  # 0-127
    name: str = ""
    sound: int = -1
    zones: Optional[Tuple[Zone, ...]] = None
    params: Dict[str, Any] = field(default_factory=dict)  # VoiceParams names

    def sound_ids(self) -> Set[int]:
        if self.zones is not None:
            return {sid for z in self.zones for sid in z.sounds}
        return {self.sound}


def table(programs) -> Dict[Tuple[int, int], Program]:
    """Programs by (bank, number)."""
    return {(p.bank, p.number): p for p in programs}
