"""Kits from prompts: a list of pads (key, name, prompt), generated as one job into a preset with
one zone a pad.

A kit comes from a template that ships with the package (`data/kit_templates.json`: drums on
the General MIDI drum keys, hand percussion, foley) or from the user's own JSON file of the same
form. An optional style phrase ("808, punchy") is added to every pad's prompt. Each pad is cut
to a single hit (the shaping's single-hit step, on whatever its prompt says), is a one-shot
zone on its key, and plays its sound as it is there. With several candidates a pad keeps all of
them as alternates, played in turn (round robin). Pads in a choke group (the hi-hats) cut each
other.

:class:`KitJob` runs the pads through a generator. It works with anything that can submit a
prompt, cancel a job and say how much room its queue has: the daemon's Generation, or the
command line's own GeneratorClient. It feeds the queue as it empties, and follows each pad's
progress. A pad can be cancelled with the rest, or re-rolled alone with a new seed.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from promptsynth.config import MAX_ALTERNATES, MAX_ZONES, ZoneSettings
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import LibraryError, safe_name

TEMPLATES_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "kit_templates.json")
MAX_PROMPT = 200  # a pad's prompt, before the style


@dataclass(frozen=True)
class Pad:
    key: int
    name: str
    prompt: str
    group: int = 0


@dataclass(frozen=True)
class Kit:
    name: str
    pads: Tuple[Pad, ...]


def templates() -> Dict[str, Any]:
    with open(TEMPLATES_FILE, encoding="utf-8") as f:
        return json.load(f)


def kit_from(data: Any, name: str) -> Kit:
    """A kit from a template's or a file's JSON ({"pads": [{"key", "name", "prompt", "group"}]});
    raises LibraryError saying which pad is wrong."""
    pads_in = data.get("pads") if isinstance(data, dict) else None
    if not isinstance(pads_in, list) or not pads_in:
        raise LibraryError('a kit is {"pads": [{"key": 36, "name": "kick", "prompt": "..."}, ...]}')
    if len(pads_in) > MAX_ZONES:
        raise LibraryError("a kit has at most %d pads, not %d" % (MAX_ZONES, len(pads_in)))
    pads, keys = [], set()
    for i, p in enumerate(pads_in, 1):
        if not isinstance(p, dict):
            raise LibraryError("pad %d: must be a table" % i)
        key, prompt, group = p.get("key"), p.get("prompt"), p.get("group", 0)
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= 127:
            raise LibraryError("pad %d: key must be 0-127, got %r" % (i, key))
        if key in keys:
            raise LibraryError("pad %d: key %d is taken by another pad" % (i, key))
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
            raise LibraryError("pad %d: prompt must be text of 1-%d characters" % (i, MAX_PROMPT))
        if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group <= 64:
            raise LibraryError("pad %d: group must be 0-64, got %r" % (i, group))
        keys.add(key)
        pads.append(
            Pad(key, safe_name(str(p.get("name") or "pad %d" % i), "pad name"), " ".join(prompt.split()), group)
        )
    return Kit(safe_name(name, "kit name"), tuple(pads))


def load_kit(template_or_file: str) -> Kit:
    """A template by name, or a JSON file of pads; raises LibraryError."""
    known = templates()
    if template_or_file in known:
        return kit_from(known[template_or_file], template_or_file)
    if not os.path.isfile(template_or_file):
        raise LibraryError(
            "%r is neither a template (%s) nor a kit file" % (template_or_file, ", ".join(sorted(known)))
        )
    try:
        with open(template_or_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise LibraryError("kit file %s: %s" % (template_or_file, e)) from None
    return kit_from(data, str(data.get("name") or os.path.splitext(os.path.basename(template_or_file))[0]))


def pad_prompt(pad: Pad, style: str) -> str:
    style = " ".join((style or "").split())
    return "%s, %s" % (pad.prompt, style) if style else pad.prompt


def kit_preset(kit: Kit, sounds: Dict[int, List[str]], bank: str = "kits") -> Preset:
    """The preset of a generated kit: one one-shot zone a pad that has sounds (its candidates as
    alternates in turn), on its key, its sound as it is there."""
    zones = [
        ZoneSettings(
            name=pad.name,
            sounds=tuple(sounds[i][:MAX_ALTERNATES]),
            lokey=pad.key,
            hikey=pad.key,
            mode="one_shot",
            group=pad.group,
        )
        for i, pad in enumerate(kit.pads)
        if sounds.get(i)
    ]
    return Preset(name=kit.name, bank=bank, sound=None, zones=zones)


# ---- running a kit through a generator ----------------------------------------------------------


@dataclass
class PadState:
    state: str = "waiting"  # waiting, running, done, failed, cancelled
    job: Optional[int] = None
    step: int = 0
    total: int = 0
    sounds: List[str] = field(default_factory=list)
    reason: str = ""


class KitJob:
    """The pads of ``kit`` through a generator: ``submit(prompt, seed) -> job id`` (raising when
    its queue is full), ``cancel(job)``, ``room()`` (jobs its queue can still take)."""

    def __init__(
        self,
        kit: Kit,
        style: str,
        submit: Callable[[str, Optional[int]], int],
        cancel: Callable[[int], Any],
        room: Callable[[], int],
        seed: Optional[int] = None,
    ):
        self.kit, self.style = kit, style
        self._submit, self._cancel, self._room = submit, cancel, room
        self.pads = [PadState() for _ in kit.pads]
        self._rng = random.Random(seed)
        self._seeds = [self._rng.randrange(2**31) for _ in kit.pads]

    def pump(self) -> None:
        """Submit waiting pads while the generator's queue has room."""
        for i, p in enumerate(self.pads):
            if p.state != "waiting":
                continue
            if self._room() <= 0:
                return
            p.job = self._submit(pad_prompt(self.kit.pads[i], self.style), self._seeds[i])
            p.state = "running"

    def pad_of(self, job: int) -> Optional[int]:
        for i, p in enumerate(self.pads):
            if p.job == job and p.state == "running":
                return i
        return None

    def progress(self, job: int, step: int, total: int) -> None:
        i = self.pad_of(job)
        if i is not None:
            self.pads[i].step, self.pads[i].total = step, total

    def finished(self, job: int, sounds: List[str]) -> Optional[int]:
        """A pad's job gave these library sounds (best first); returns the pad."""
        i = self.pad_of(job)
        if i is not None:
            p = self.pads[i]
            p.state, p.sounds, p.step = "done", list(sounds), p.total
        return i

    def failed(self, job: int, reason: str, cancelled: bool = False) -> Optional[int]:
        i = self.pad_of(job)
        if i is not None:
            self.pads[i].state = "cancelled" if cancelled else "failed"
            self.pads[i].reason = reason
        return i

    def cancel(self) -> None:
        """Cancel every pad not done."""
        for p in self.pads:
            if p.state == "running" and p.job is not None:
                self._cancel(p.job)
            if p.state in ("waiting", "running"):
                p.state, p.reason = "cancelled", "cancelled"

    def reroll(self, i: int) -> None:
        """Generate pad ``i`` again with a new seed (its old sounds stay in the library)."""
        p = self.pads[i]
        if p.state == "running" and p.job is not None:
            self._cancel(p.job)
        self._seeds[i] = self._rng.randrange(2**31)
        self.pads[i] = PadState()
        self.pump()

    @property
    def done(self) -> bool:
        return all(p.state in ("done", "failed", "cancelled") for p in self.pads)

    def sounds(self) -> Dict[int, List[str]]:
        return {i: p.sounds for i, p in enumerate(self.pads) if p.state == "done"}

    def preset(self, bank: str = "kits") -> Preset:
        return kit_preset(self.kit, self.sounds(), bank)

    def summary(self) -> str:
        counts: Dict[str, int] = {}
        for p in self.pads:
            counts[p.state] = counts.get(p.state, 0) + 1
        return ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))
