"""Which audio a preset plays: its stored sound, the init sound, a sound generated earlier from
the same recipe, or none yet (it must be generated first); and the start-up sound.

Plain functions over the library, so the instrument only decides what to do with the answer.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import numpy as np

from promptsynth import config as config_mod
from promptsynth.config import Config, SoundSettings
from promptsynth.engine.sound import PlayableSound, init_sound
from promptsynth.engine.zones import Zone
from promptsynth.library.presets import Preset, sampler_settings
from promptsynth.library.sounds import LibraryError, SoundLibrary

log = logging.getLogger("instrument")


class Audio(NamedTuple):
    """A preset's sound, ready to be made playable: its id, audio, name and settings."""

    sound: str
    audio: np.ndarray
    name: str
    settings: SoundSettings


def startup_sound(cfg: Config, sound_id: int = 1) -> Tuple[PlayableSound, Optional[str]]:
    """The configured sound file, or the init sound (also when the file cannot be used).

    Returns the sound and, if the file was refused, why: the instrument must make a sound.
    """
    from promptsynth.library.intake import playable

    rate, s = cfg.audio.rate, sampler_settings(cfg.sampler)
    problem = None
    if cfg.sampler.sound:
        from promptsynth.library.audiofile import AudioFileError, read

        try:
            data = read(cfg.sampler.sound, rate)
            if data.root is not None:
                s = dataclasses.replace(s, root=data.root)
            return playable(data.audio, rate, s, sound_id, name=cfg.sampler.sound, own_loop=data.loop), None
        except AudioFileError as e:
            problem = "%s; playing the init sound instead" % e
    audio, loop = init_sound(rate)
    return playable(audio, rate, dataclasses.replace(s, root=60), sound_id, name="init", own_loop=loop), problem


def complete_settings(s) -> SoundSettings:
    """Sound settings with every key that ``s`` (settings, or a mapping) lacks or leaves None
    taken from the schema's defaults; every value checked against the schema."""
    values = (
        s if isinstance(s, Mapping) else {f.name: getattr(s, f.name, None) for f in dataclasses.fields(SoundSettings)}
    )
    return config_mod.from_mapping(SoundSettings, {k: v for k, v in values.items() if v is not None})


def have(library: SoundLibrary, sound_id: str) -> bool:
    try:
        library.meta(sound_id)
        return True
    except LibraryError:
        return False


def cached_sound(library: SoundLibrary, preset: Preset) -> Optional[str]:
    """A sound generated earlier from the preset's recipe (a factory preset's, made once)."""
    key = preset.recipe_key()
    for e in library.entries()[0]:
        if (e.meta.get("recipe") or {}).get("recipe_key") == key:
            return e.id
    return None


def sound_id_for(library: SoundLibrary, preset: Preset) -> Optional[str]:
    """The sound id a preset plays: "init", a stored sound, or None when it must be generated
    from its recipe first (never made yet, or deleted or lost since: the same seed and model
    make the same sound again)."""
    sid = preset.sound
    if sid is not None and sid != "init" and preset.has_recipe and not have(library, sid):
        log.warning("preset %s: its sound %s is missing: generating it again from its recipe", preset.name, sid)
        sid = None
    if sid is None and preset.has_recipe:
        return cached_sound(library, preset)
    return sid or "init"


def load(library: SoundLibrary, sound_id: str, settings: SoundSettings, rate: int) -> Audio:
    """The audio of ``sound_id`` ("init" or a library id) with the settings to play it with
    (the init sound brings its own root and loop). Raises LibraryError or OSError."""
    from promptsynth.library.intake import settings_for

    if sound_id == "init":
        audio, loop = init_sound(rate)
        meta: Dict[str, Any] = {
            "rate": rate,
            "analysis": {
                "pitch": {"pitched": True, "note": 60, "cents": 0.0},
                "loop": {"start": loop[0], "end": loop[1], "crossfade": 0},
            },
        }
        return Audio("init", audio, "init", settings_for(meta, settings))
    audio, _, meta = library.load(sound_id)
    return Audio(sound_id, audio, str(meta.get("name", sound_id)), settings)


def zone_sounds(
    library: SoundLibrary, preset: Preset, rate: int, new_id: Callable[[], int]
) -> Tuple[List[Zone], List[PlayableSound]]:
    """The engine zones of a preset with zones, and the sounds they play (made playable, each
    with a new engine id from ``new_id``, the zone's loop mode, its analysed loop). A sound two
    zones share is made playable once per zone, as each zone may loop it differently. Raises
    LibraryError (a sound missing or unreadable, named with its zone) or OSError."""
    from promptsynth.library.intake import playable, zone_settings

    zones: List[Zone] = []
    sounds: List[PlayableSound] = []
    for n, zs in enumerate(preset.zones, 1):
        ids = []
        root, tune = 60, 0.0
        for sid in zs.sounds:
            try:
                if sid == "init":
                    audio, loop = init_sound(rate)
                    meta: Dict[str, Any] = {
                        "rate": rate,
                        "analysis": {"pitch": {"pitched": True, "note": 60, "cents": 0.0}},
                    }
                    own: Optional[Tuple[int, int]] = loop
                else:
                    audio, _, meta = library.load(sid)
                    own = None
            except LibraryError as e:
                raise LibraryError("zone %d (%s): %s" % (n, zs.name or "unnamed", e)) from None
            s = zone_settings(meta, preset.sampler, zs)
            root, tune = s.root, s.tune
            engine_id = new_id()
            sounds.append(playable(audio, rate, s, engine_id, name="%s: %s" % (zs.name, sid), own_loop=own))
            ids.append(engine_id)
        zones.append(
            Zone(
                tuple(ids),
                lokey=zs.lokey,
                hikey=zs.hikey,
                lovel=zs.lovel,
                hivel=zs.hivel,
                root=float(root),
                tune=float(tune),
                attack=None if zs.attack < 0 else zs.attack,
                decay=None if zs.decay < 0 else zs.decay,
                sustain=None if zs.sustain < 0 else zs.sustain,
                release=None if zs.release < 0 else zs.release,
                gain_db=zs.gain,
                pan=zs.pan / 100.0,
                one_shot=zs.mode == "one_shot",
                group=zs.group,
                round_robin=zs.round_robin,
                scan=zs.scan,
            )
        )
    return zones, sounds
