"""Sounds in slots: every sound that can sound at once, and which one plain notes play.

A voice remembers the slot of the sound it started with, so loading a new sound never cuts a
note still sounding an old one. A keymap's zones (engine/zones.py) keep their sounds resident
in slots too: a 32-pad kit with 4 alternates a pad is 128 sounds, and MAX_SLOTS leaves room
beside them for the sounds of the preset before, still ringing. Which slots are still in use is
the voices' to say (:meth:`Voices.slots_in_use <promptsynth.engine.voices.Voices.slots_in_use>`);
this module only keeps the sounds and the per-slot values a note-on copies into its voice.
``version`` changes whenever a slot does, so a renderer re-binds only then.
"""

from __future__ import annotations

from typing import Collection, Dict, List, Optional

import numpy as np

from promptsynth.engine.sound import PlayableSound
from promptsynth.engine.voices import FAR

MAX_SLOTS = 160  # must equal render.h's PS_MAX_SLOTS


class SoundSlots:
    def __init__(self) -> None:
        self.sounds: List[Optional[PlayableSound]] = [None] * MAX_SLOTS
        self.current = -1  # the slot plain notes play (-1: none loaded yet)
        self.version = 0
        self._slot_of: Dict[int, int] = {}  # sound id -> its slot
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

    def find(self, sound_id: int) -> int:
        """The slot holding sound ``sound_id``, or -1."""
        return self._slot_of.get(sound_id, -1)

    def oldest(self, keep: Collection[int] = ()) -> int:
        """The slot of the oldest sound other than the current one and those in ``keep`` (the
        one to give up when the slots are full); -1 if every sound is kept."""
        cands = [i for i in range(MAX_SLOTS) if i != self.current and i not in keep and self.sounds[i] is not None]
        return min(cands, key=lambda i: self.held(i).sound_id) if cands else -1

    def remove(self, i: int) -> int:
        """Empty slot ``i`` (one that holds a sound); returns the id of the sound it held."""
        sid = self.held(i).sound_id
        self.sounds[i] = None
        self._slot_of.pop(sid, None)
        self.version += 1
        return sid

    def put(self, sound: PlayableSound, current: bool = True) -> int:
        """Put ``sound`` in the first empty slot (there must be one), the current one if
        ``current``; returns the slot."""
        i = next(j for j, snd in enumerate(self.sounds) if snd is None)
        self.sounds[i] = sound
        self._slot_of[sound.sound_id] = i
        self.root[i] = sound.root
        self.tune[i] = sound.tune
        self.start[i] = sound.start
        # the de-click before the end point is only needed where the sound was trimmed
        self.fade_end[i] = sound.end if sound.end < sound.frames else FAR
        if current:
            self.current = i
        self.version += 1
        return i

    def release_unused(self, used: Collection[int], keep: Collection[int] = ()) -> List[int]:
        """Empty the slots not in ``used`` or ``keep`` (never the current one); returns their
        sounds' ids."""
        freed = []
        for i, snd in enumerate(self.sounds):
            if snd is not None and i != self.current and i not in used and i not in keep:
                freed.append(snd.sound_id)
                self._slot_of.pop(snd.sound_id, None)
                self.sounds[i] = None
        if freed:
            self.version += 1
        return freed
