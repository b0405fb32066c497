"""Presets: a sound plus every sampler setting and the generation recipe, with a name, in banks.

User banks are folders of JSON files under ``<state>/presets/<bank>/``; the factory bank ships
with the package (read-only). A factory preset names no sound, only a recipe with a fixed seed:
its sound is generated on first use and found in the library by that recipe afterwards.
The current state (the preset being played, with its edits) is ``<state>/state.json``.

A preset read from disk is always complete: every sampler setting and every recipe key not in
the file takes the schema's default (a file written before a key existed, or by hand, never
leaves a page showing "None" nor lets the previous preset's value linger). The factory bank
states its shared settings once, in its "defaults" block, and each preset inherits from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from promptsynth.config import (
    MAX_ZONES,
    ConfigError,
    GenerateConfig,
    ModelConfig,
    SamplerConfig,
    SoundSettings,
    ZoneSettings,
    from_mapping,
)
from promptsynth.generator.params import RECIPE_KEYS, recipe_of
from promptsynth.library import atomic
from promptsynth.library.sounds import Exists, LibraryError, file_stem, make_folder, old_file_stem, safe_name

SCHEMA = 1
FACTORY = "factory"
FACTORY_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "factory_bank.json")


def generation_defaults() -> Dict[str, Any]:
    """Every recipe key's default, from the config schema ([model] id and [generate]): what a
    preset that does not state a key means by it. The schema's defaults, not this instrument's
    config, so a preset means the same on every instrument. No prompt: the preset has no recipe
    (it plays a stored or the init sound); no seed: a new one each time."""
    g = GenerateConfig()
    return {
        "model": ModelConfig().id,
        "prompt": "",
        "negative": g.negative,
        "seconds": g.seconds,
        "steps": g.steps,
        "guidance": g.guidance,
        "seed": None,
        "scheduler": g.scheduler,
        "candidates": g.candidates,
        "conditioning": g.conditioning,
        "spacing": g.spacing,
        "morph": [],
        "position": 0.0,
        "position_y": 0.0,
        "series": 0,
        "source": "",
        "strength": 1.0,
    }


@dataclass
class Preset:
    name: str
    bank: str = "user"
    sound: Optional[str] = None  # library id; None: generate from the recipe
    sampler: SoundSettings = field(default_factory=SoundSettings)
    generation: Dict[str, Any] = field(default_factory=dict)  # the recipe (RECIPE_KEYS)
    # several sounds at once (a kit, layers, key ranges): each zone names its library sounds;
    # none: ``sound`` plays across the keyboard
    zones: List[ZoneSettings] = field(default_factory=list)
    # not stored: set by library.manage.mark_missing when ``sound`` names a sound the library no
    # longer has (deleted, or its file lost); such a preset plays again once generated anew from
    # its recipe (Instrument.load_preset does that)
    missing_sound: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        # complete in memory too: a preset built in code (the Init state, a CLI save) names every
        # recipe key, so whatever shows or applies it finds a value for each
        gen = generation_defaults()
        gen.update({k: v for k, v in dict(self.generation or {}).items() if k in RECIPE_KEYS})
        self.generation = gen

    @property
    def has_recipe(self) -> bool:
        return bool(self.generation.get("prompt"))

    def to_json(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        del d["missing_sound"]
        d["schema"] = SCHEMA
        return d

    @classmethod
    def from_json(cls, d: Dict[str, Any], inherit: Optional[Dict[str, Any]] = None) -> Preset:
        """A preset from its JSON; ``inherit``: a bank's "defaults" block ({"sampler": ...,
        "generation": ...}) under the preset's own keys; the schema's defaults fill the rest."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise LibraryError("unknown preset schema %r" % (d.get("schema") if isinstance(d, dict) else None))
        base = inherit or {}
        try:
            sampler = from_mapping(SoundSettings, dict(base.get("sampler") or {}, **dict(d.get("sampler") or {})))
        except ConfigError as e:
            raise LibraryError("bad setting: %s" % e) from None
        stored: Dict[str, Any] = {}
        for part in (base.get("generation"), d.get("generation")):
            stored.update(dict(part or {}))
        gen = generation_defaults()
        gen.update(recipe_of(stored))  # a recipe from before a key existed means what it meant then
        sound = d.get("sound")
        if sound is not None and not isinstance(sound, str):
            raise LibraryError("bad sound id %r" % (sound,))
        return cls(
            name=safe_name(str(d.get("name", "")), "preset name"),
            bank=str(d.get("bank", "user")),
            sound=sound,
            sampler=sampler,
            generation=gen,
            zones=zones_from(d.get("zones")),
        )

    def recipe_key(self) -> str:
        """Identifies the sound a recipe makes (for the generate-once cache of factory presets)."""
        g = {k: self.generation.get(k) for k in RECIPE_KEYS if k != "candidates"}
        return hashlib.sha256(json.dumps(g, sort_keys=True).encode()).hexdigest()[:16]


def zones_from(data: Any) -> List[ZoneSettings]:
    """A preset's zones from its JSON (none: an empty list); raises LibraryError naming the zone
    and what is wrong with it."""
    if data is None:
        return []
    if not isinstance(data, list) or len(data) > MAX_ZONES:
        raise LibraryError("zones must be a list of at most %d zones" % MAX_ZONES)
    zones = []
    for i, z in enumerate(data):
        if not isinstance(z, dict):
            raise LibraryError("zone %d: must be a table of settings" % (i + 1))
        try:
            zone = from_mapping(ZoneSettings, z)
        except ConfigError as e:
            raise LibraryError("zone %d: %s" % (i + 1, e)) from None
        wrong = zone.problems()
        if wrong:
            raise LibraryError("zone %d: %s" % (i + 1, "; ".join(wrong)))
        zones.append(zone)
    return zones


def sampler_settings(cfg_sampler: SamplerConfig) -> SoundSettings:
    """The sound settings of a [sampler] config section (everything but its start-up file)."""
    return SoundSettings(**{f.name: getattr(cfg_sampler, f.name) for f in dataclasses.fields(SoundSettings)})


_factory_cache: Dict[str, List[Preset]] = {}


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

    @staticmethod
    def _name_in(path: str) -> Optional[str]:
        try:
            with open(path, "rb") as fh:
                d = json.loads(fh.read().decode("utf-8"))
            return str(d.get("name")) if isinstance(d, dict) else None
        except (OSError, ValueError):
            return None

    def file_of(self, bank: str, name: str) -> Optional[str]:
        """The file that holds preset ``name`` in ``bank``, found by the name stored in it: the
        stem it would get now, the stem older versions gave it, else any file of the bank."""
        name = safe_name(name, "preset name")
        path = self._path(bank, name)
        folder = os.path.dirname(path)
        first = [path, os.path.join(folder, old_file_stem(name) + ".json")]
        for p in first:
            if os.path.exists(p) and self._name_in(p) == name:
                return p
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for fn in names:
            p = os.path.join(folder, fn)
            if fn.endswith(".json") and not fn.startswith(".") and p not in first and self._name_in(p) == name:
                return p
        return None

    def factory(self) -> List[Preset]:
        # package data never changes while running: parsed and checked once (34 presets of 18
        # checked settings cost 40 ms, paid at every listing otherwise); copies handed out
        if _factory_cache.get(FACTORY_FILE) is None:
            with open(FACTORY_FILE, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8"))
            inherit = data.get("defaults") or {}
            _factory_cache[FACTORY_FILE] = [
                Preset.from_json(dict(p, bank=FACTORY, schema=SCHEMA), inherit) for p in data["presets"]
            ]
        return [dataclasses.replace(p, generation=dict(p.generation)) for p in _factory_cache[FACTORY_FILE]]

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

    def save(self, preset: Preset, overwrite: bool = False) -> str:
        """Write a preset; returns its path. A preset of that name in that bank raises
        :class:`Exists` unless ``overwrite`` (nothing is replaced without being asked)."""
        preset.name = safe_name(preset.name, "preset name")
        path = self._path(preset.bank, preset.name)
        preset.bank = self.bank_id(preset.bank)
        old = self.file_of(preset.bank, preset.name)
        if old is not None and not overwrite:
            raise Exists("preset %s/%s" % (preset.bank, preset.name), old)
        if os.path.exists(path) and old != path:  # another name's file (only a hash collision)
            raise LibraryError("preset %s/%s: its file %s holds another preset" % (preset.bank, preset.name, path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic.write_json(path, preset.to_json())
        if old is not None and old != path:  # an old-style file name: the new file replaces it
            os.unlink(old)
        return path

    def delete(self, bank: str, name: str) -> None:
        self._path(bank, name)  # refuses the factory bank
        path = self.file_of(bank, name)
        if path is None:
            raise LibraryError("no preset %r in bank %r" % (name, bank))
        os.unlink(path)

    def users_of(self, sound_id: str) -> List[str]:
        """The presets ("bank/name") that play sound ``sound_id``."""
        return ["%s/%s" % (p.bank, p.name) for p in self.list()[0] if p.sound == sound_id]

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
