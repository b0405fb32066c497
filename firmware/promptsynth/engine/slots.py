"""Sounds in slots: the sounds that can sound at once, and which one new notes play.

A voice remembers the slot of the sound it started with, so loading a new sound never cuts a
note still sounding an old one. Which slots are still in use is the voices' to say
(:meth:`Voices.slots_in_use <promptsynth.engine.voices.Voices.slots_in_use>`); this module
only keeps the sounds and the per-slot values a note-on copies into its voice.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from promptsynth.engine.sound import PlayableSound
from promptsynth.engine.voices import FAR

MAX_SLOTS = 8  # sounds that can sound at once (new sounds never cut old notes)


class SoundSlots:
    def __init__(self) -> None:
        self.sounds: List[Optional[PlayableSound]] = [None] * MAX_SLOTS
        self.current = -1  # the slot new notes play (-1: none loaded yet)
        self.root = np.zeros(MAX_SLOTS, np.float64)
        self.tune = np.zeros(MAX_SLOTS, np.float64)  # cents
        self.start = np.zeros(MAX_SLOTS, np.float64)
        self.fade_end = np.zeros(MAX_SLOTS, np.float64)  # FAR: no de-click before the end

    def full(self) -> bool:
        return all(snd is not None for snd in self.sounds)

    def held(self, i: int) -> PlayableSound:
        """The sound in slot ``i``, which must hold one."""
        snd = self.sounds[i]
        assert snd is not None, "slot %d is empty" % i
        return snd

    def oldest(self) -> int:
        """The slot of the oldest sound other than the current one (the one to give up; the
        slots are full)."""
        return min((i for i in range(MAX_SLOTS) if i != self.current), key=lambda i: self.held(i).sound_id)

    def remove(self, i: int) -> int:
        """Empty slot ``i`` (one that holds a sound); returns the id of the sound it held."""
        sid = self.held(i).sound_id
        self.sounds[i] = None
        return sid

    def put(self, sound: PlayableSound) -> None:
        """Put ``sound`` in the first empty slot (there must be one) and make it current."""
        i = next(j for j, snd in enumerate(self.sounds) if snd is None)
        self.sounds[i] = sound
        self.root[i] = sound.root
        self.tune[i] = sound.tune
        self.start[i] = sound.start
        # the de-click before the end point is only needed where the sound was trimmed
        self.fade_end[i] = sound.end if sound.end < sound.frames else FAR
        self.current = i

    def release_unused(self, used: set) -> List[int]:
        """Empty the slots not in ``used`` (never the current one); returns their sounds' ids."""
        freed = []
        for i, snd in enumerate(self.sounds):
            if snd is not None and i != self.current and i not in used:
                freed.append(snd.sound_id)
                self.sounds[i] = None
        return freed
