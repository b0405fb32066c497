"""Presets: a sound plus every sampler setting and the generation recipe, with a name, in banks.

User banks are folders of JSON files under ``<state>/presets/<bank>/``; the factory bank ships
with the package (read-only). A factory preset names no sound, only a recipe with a fixed seed:
its sound is generated on first use and found in the library by that recipe afterwards.
The current state (the preset being played, with its edits) is ``<state>/state.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from promptsynth.config import ConfigError, SamplerConfig, SoundSettings, from_mapping
from promptsynth.generator.params import RECIPE_KEYS
from promptsynth.library import atomic
from promptsynth.library.sounds import LibraryError, file_stem, make_folder, safe_name

SCHEMA = 1
FACTORY = "factory"
FACTORY_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "factory_bank.json")


@dataclass
class Preset:
    name: str
    bank: str = "user"
    sound: Optional[str] = None  # library id; None: generate from the recipe
    sampler: SoundSettings = field(default_factory=SoundSettings)
    generation: Dict[str, Any] = field(default_factory=dict)  # the recipe (RECIPE_KEYS)

    def to_json(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema"] = SCHEMA
        return d

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> Preset:
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise LibraryError("unknown preset schema %r" % (d.get("schema") if isinstance(d, dict) else None))
        try:
            sampler = from_mapping(SoundSettings, dict(d.get("sampler") or {}))
        except ConfigError as e:
            raise LibraryError("bad setting: %s" % e) from None
        gen = {k: v for k, v in dict(d.get("generation") or {}).items() if k in RECIPE_KEYS}
        sound = d.get("sound")
        if sound is not None and not isinstance(sound, str):
            raise LibraryError("bad sound id %r" % (sound,))
        return cls(
            name=safe_name(str(d.get("name", "")), "preset name"),
            bank=str(d.get("bank", "user")),
            sound=sound,
            sampler=sampler,
            generation=gen,
        )

    def recipe_key(self) -> str:
        """Identifies the sound a recipe makes (for the generate-once cache of factory presets)."""
        g = {k: self.generation.get(k) for k in RECIPE_KEYS if k != "candidates"}
        return hashlib.sha256(json.dumps(g, sort_keys=True).encode()).hexdigest()[:16]


def sampler_settings(cfg_sampler: SamplerConfig) -> SoundSettings:
    """The sound settings of a [sampler] config section (everything but its start-up file)."""
    return SoundSettings(**{f.name: getattr(cfg_sampler, f.name) for f in dataclasses.fields(SoundSettings)})


class PresetStore:
    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "presets")
        self.state_path = os.path.join(state_dir, "state.json")
        make_folder(self.dir)

    def banks(self) -> List[str]:
        try:
            names = os.listdir(self.dir)
        except OSError:  # a missing or unreadable disk: the factory bank still works
            names = []
        user = sorted(b for b in names if os.path.isdir(os.path.join(self.dir, b)) and not b.startswith("."))
        return [FACTORY] + [b for b in user if b != FACTORY]

    @staticmethod
    def bank_id(bank: str) -> str:
        """A bank's one canonical name: its folder's (what the user typed, made file-safe)."""
        return file_stem(safe_name(bank, "bank name"))

    def _path(self, bank: str, name: str) -> str:
        bank = self.bank_id(bank)
        if bank == FACTORY:
            raise LibraryError("the factory bank is read-only: save under another bank")
        return os.path.join(self.dir, bank, file_stem(name) + ".json")

    def factory(self) -> List[Preset]:
        with open(FACTORY_FILE, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
        return [Preset.from_json(dict(p, bank=FACTORY, schema=SCHEMA)) for p in data["presets"]]

    def list(self, bank: Optional[str] = None) -> Tuple[List[Preset], List[str]]:
        """Presets (of one bank or all), and a report line for each file skipped."""
        out, problems = [], []
        want = self.bank_id(bank) if bank is not None else None
        for b in self.banks():
            if want is not None and b != want:
                continue
            if b == FACTORY:
                out.extend(self.factory())
                continue
            folder = os.path.join(self.dir, b)
            try:
                names = sorted(os.listdir(folder))
            except OSError as e:
                problems.append("bank %s unreadable: %s" % (b, e))
                continue
            for fn in names:
                if fn.startswith(".") or not fn.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(folder, fn), "rb") as fh:
                        p = Preset.from_json(json.loads(fh.read().decode("utf-8")))
                    p.bank = b
                    out.append(p)
                except (OSError, ValueError, LibraryError) as e:
                    problems.append("preset %s/%s skipped: %s" % (b, fn, e))
        return out, problems

    def get(self, bank: str, name: str) -> Preset:
        for p in self.list(bank)[0]:
            if p.name == name:
                return p
        raise LibraryError("no preset %r in bank %r" % (name, bank))

    def save(self, preset: Preset) -> str:
        preset.name = safe_name(preset.name, "preset name")
        path = self._path(preset.bank, preset.name)
        preset.bank = self.bank_id(preset.bank)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic.write_json(path, preset.to_json())
        return path

    def delete(self, bank: str, name: str) -> None:
        path = self._path(bank, name)
        if not os.path.exists(path):
            raise LibraryError("no preset %r in bank %r" % (name, bank))
        os.unlink(path)

    # ---- the current state ----------------------------------------------------------------------
    def save_state(self, preset: Preset) -> None:
        os.makedirs(os.path.dirname(self.state_path), exist_ok=True)
        atomic.write_json(self.state_path, {"schema": SCHEMA, "current": preset.to_json()})

    def load_state(self) -> Tuple[Optional[Preset], Optional[str]]:
        """The preset last played (with its edits), or None; and a problem report if unreadable."""
        try:
            with open(self.state_path, "rb") as fh:
                d = json.loads(fh.read().decode("utf-8"))
            if d.get("schema") != SCHEMA:
                raise LibraryError("unknown state schema %r" % d.get("schema"))
            return Preset.from_json(d["current"]), None
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError, KeyError, TypeError, LibraryError) as e:
            return None, "last state unreadable, starting fresh: %s" % e
