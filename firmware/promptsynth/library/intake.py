"""Sounds into the library (generated results, imported files) and out of it into the engine."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from promptsynth.config import SoundSettings, ZoneSettings
from promptsynth.engine.sound import PlayableSound, prepare, resolve_points
from promptsynth.generator.params import RECIPE_KEYS
from promptsynth.library.presets import Preset
from promptsynth.library.shaping import ShapeOptions, analyse_loop, detect_pitch, shape, trim_silence
from promptsynth.library.sounds import LibraryError, SoundLibrary, safe_name

log = logging.getLogger("library")

AUDIO_EXT = (".wav", ".flac", ".aif", ".aiff", ".ogg")
LONG_S = 60.0  # longer imports are warned about (with what they take on disk): a sampler's
# sounds are notes and loops, and a forgotten 10-minute recording silently costs 230 MB
SHORT_S = 0.05  # shorter ones too: under 50 ms a note is a click


@dataclasses.dataclass
class Imported:
    id: str
    name: str
    new: bool  # False: the same file content was already in the library (nothing stored again)
    warnings: List[str]


def name_from_prompt(prompt: str) -> str:
    cleaned = "".join(ch for ch in prompt if ch.isalnum() or ch in " -_(),+.")
    cleaned = " ".join(cleaned.split()).strip(" .")[:64].strip(" .")
    try:
        return safe_name(cleaned or "sound")
    except LibraryError:
        return "sound"


def name_for(recipe: Mapping[str, object]) -> str:
    """A sound's name from its recipe: the prompt; for a morph the prompts and where it stands,
    e.g. "a kickdrum + a violin (0.25)"."""
    prompt = str(recipe.get("prompt", "") or "")
    morph = recipe.get("morph") or []
    if not isinstance(morph, (list, tuple)) or not morph:
        return name_from_prompt(prompt)
    prompts = [prompt] + [str(m) for m in morph]
    where = "%.2f" % float(recipe.get("position", 0.0) or 0.0)  # type: ignore[arg-type]
    if len(prompts) == 4:
        where += ", %.2f" % float(recipe.get("position_y", 0.0) or 0.0)  # type: ignore[arg-type]
    short = 56 // len(prompts)
    return name_from_prompt("%s (%s)" % (" + ".join(t[:short].strip() for t in prompts), where))


def shape_and_store(
    lib: SoundLibrary,
    audio: np.ndarray,
    rate: int,
    recipe: Mapping[str, object],
    out_rate: int,
    options: Optional[ShapeOptions] = None,
) -> Tuple[str, Dict[str, Any]]:
    """Shape raw model output and keep it; returns (id, sidecar)."""
    shaped = shape(audio, rate, out_rate, prompt=str(recipe.get("prompt", "")), options=options)
    meta = {
        "kind": "generated",
        "recipe": recipe,
        "analysis": shaped.analysis,
        "shaping": shaped.steps,
        "created": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
    }
    sid = lib.add(shaped.audio, shaped.rate, meta, name_for(recipe))
    return sid, lib.meta(sid)


def keep_generated(
    lib: SoundLibrary,
    audio: np.ndarray,
    rate: int,
    recipe: Mapping[str, Any],
    out_rate: int,
    current: SoundSettings,
    preset: Optional[Preset] = None,
) -> Preset:
    """A generated sound shaped into the library, as the preset to play: the preset that asked for
    it (a factory recipe, generated on first use, found by its recipe key next time), or a new
    one named after the prompt whose root and loop come from the sound, not from ``current``."""
    recipe = dict(recipe)
    if preset is not None:
        recipe["recipe_key"] = preset.recipe_key()
    sid, meta = shape_and_store(lib, audio, rate, recipe, out_rate)
    if preset is not None:
        base, name, bank = preset.sampler, preset.name, preset.bank
    else:
        base = dataclasses.replace(current, loop_mode="auto", loop_start=0.0, loop_end=0.0, start=0.0, end=0.0)
        name, bank = name_for(recipe), "user"
    new = Preset(
        name=name,
        bank=bank,
        sound=sid,
        sampler=settings_for(meta, base),
        generation={k: v for k, v in recipe.items() if k in RECIPE_KEYS},
    )
    pitch = (meta.get("analysis") or {}).get("pitch") or {}
    log.info(
        "sound %s kept: root %s%s, loop %s",
        sid,
        new.sampler.root,
        " (%+.0f cents)" % pitch["cents"] if pitch.get("pitched") else " (unpitched)",
        new.sampler.loop_mode,
    )
    return new


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def length_warnings(fn: str, seconds: float, channels: int, out_rate: int) -> List[str]:
    if seconds > LONG_S:
        mb = seconds * out_rate * channels * 4 / 1e6  # stored as float at the engine's rate
        return ["%s is %.0f s long: it takes %.0f MB in the library (float WAV at %d Hz)" % (fn, seconds, mb, out_rate)]
    if seconds < SHORT_S:
        return ["%s is only %.0f ms long: it plays as a click" % (fn, seconds * 1000.0)]
    return []


def import_file(lib: SoundLibrary, path: str, out_rate: int) -> Imported:
    """Bring a WAV/FLAC file in: resampled, its `smpl` root and loop kept, else its pitch and loop analysed.

    Idempotent: the sidecar records the file's SHA-256, and a file whose content is already in
    the library gives that sound back instead of a duplicate (which `sounds delete NAME` could
    not tell apart)."""
    import soundfile as sf

    from promptsynth.library.audiofile import read
    from promptsynth.library.export import read_smpl

    fn = os.path.basename(path)
    digest = file_sha256(path)
    same = lib.with_source_hash(digest)
    if same is not None:
        return Imported(same.id, same.name, False, [])
    try:
        info = sf.info(path)  # the length before reading: a huge file is reported as such
        warnings = length_warnings(fn, info.frames / float(info.samplerate or 1), min(info.channels, 2), out_rate)
    except Exception:  # soundfile raises several types; read() below reports the problem
        warnings = []
    data = read(path, out_rate)
    analysis: Dict[str, Any] = {}
    smpl = read_smpl(path) if path.lower().endswith(".wav") else None
    if smpl:
        analysis["pitch"] = {
            "pitched": True,
            "note": smpl["unity"],
            "cents": round(smpl["cents"], 2),
            "hz": None,
            "confidence": 1.0,
            "from": "smpl",
        }
        if smpl["loops"]:
            lp = smpl["loops"][0]
            scale = out_rate / data.source_rate
            analysis["loop"] = {
                "start": int(round(lp["start"] * scale)),
                "end": int(round(lp["end"] * scale)),
                "crossfade": 0,
                "mode": lp["mode"],
                "from": "smpl",
            }
    else:  # the same analysis as a generated sound's: root, and a loop where it sustains
        analysis = analyse(data.audio, out_rate)
    meta = {
        "kind": "imported",
        "source": fn,
        "source_sha256": digest,
        "source_rate": data.source_rate,
        "analysis": analysis,
        "created": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
    }
    name = name_from_prompt(os.path.splitext(fn)[0])
    return Imported(lib.add(data.audio, out_rate, meta, name), name, True, warnings)


def analyse(audio: np.ndarray, rate: int) -> Dict[str, Any]:
    """A sound's root (pitch) and, where it sustains, a loop: what a sidecar's "analysis" holds."""
    pitch = detect_pitch(audio.mean(axis=1), rate)
    found = analyse_loop(audio, rate, pitch)
    return {"pitch": pitch, "loop": found.loop, "loop_note": found.note}


def store_recording(
    lib: SoundLibrary, audio: np.ndarray, rate: int, out_rate: int, name: str = "recording", trim_db: float = -50.0
) -> Tuple[str, Dict[str, Any]]:
    """A recording into the library, like an import: its silent start and end cut (``trim_db``
    below its peak, a few ms kept before the first sound), resampled to ``out_rate``, its root
    and loop analysed; the samples otherwise exactly as captured. Returns (id, sidecar).
    Raises LibraryError for a silent recording, DiskFullError when the disk is full."""
    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.size == 0 or not np.isfinite(x).all() or float(np.abs(x).max()) < 10 ** (-90 / 20):
        raise LibraryError("the recording is silent: check the input, its cable and its level")
    trimmed, trim = trim_silence(x, rate, trim_db)
    if rate != out_rate:
        import soxr

        trimmed = soxr.resample(trimmed, rate, out_rate, quality="HQ").astype(np.float32)
    meta = {
        "kind": "recorded",
        "source_rate": rate,
        "trim": trim,
        "analysis": analyse(trimmed, out_rate),
        "created": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
    }
    label = name_from_prompt(name) if name else "recording"
    sid = lib.add(trimmed, out_rate, meta, label)
    return sid, lib.meta(sid)


def import_folder(lib: SoundLibrary, folder: str, out_rate: int) -> Tuple[List[Imported], List[str]]:
    """Import every sound file in ``folder`` (a USB stick, say); returns (imported, problems)."""
    from promptsynth.library.audiofile import AudioFileError

    done: List[Imported] = []
    problems: List[str] = []
    if not os.path.isdir(folder):
        return [], ["%s: no such folder" % folder]
    for fn in sorted(os.listdir(folder)):
        if fn.startswith(".") or not fn.lower().endswith(AUDIO_EXT):
            continue
        try:
            done.append(import_file(lib, os.path.join(folder, fn), out_rate))
        except (AudioFileError, LibraryError, OSError) as e:
            problems.append("%s: %s" % (fn, e))
    return done, problems


def zone_settings(meta: Mapping[str, Any], preset: SoundSettings, zone: ZoneSettings) -> SoundSettings:
    """The settings a zone plays one of its sounds with: the preset's, the zone's loop mode with
    the sound's own loop points, and its root and tune. A zone's own root wins; else a one-key
    zone (a kit's pad) plays the sound as it is on its key, and a key range plays it from its
    analysed root and cents. The zone's tune is added."""
    base = dataclasses.replace(preset, loop_mode=zone.loop_mode, loop_start=0.0, loop_end=0.0, start=0.0, end=0.0)
    s = settings_for(meta, base)
    if zone.root >= 0:
        root, tune = zone.root, zone.tune
    elif zone.lokey == zone.hikey:
        root, tune = zone.lokey, zone.tune
    else:
        root, tune = s.root, s.tune + zone.tune
    return dataclasses.replace(s, root=root, tune=min(max(tune, -1200.0), 1200.0))


def settings_for(meta: Mapping[str, Any], base: SoundSettings) -> SoundSettings:
    """Sound settings for a sound: ``base`` (a preset's or the config's), with root and tune from
    the sound's pitch analysis, and its loop where the base leaves the loop to the sound."""
    a = meta.get("analysis") or {}
    rate = int(meta.get("rate", 48000))
    changes: Dict[str, Any] = {}
    pitch = a.get("pitch") or {}
    if pitch.get("pitched"):
        changes["root"] = int(pitch["note"])
        changes["tune"] = round(-float(pitch.get("cents") or 0.0), 2)  # play the note's own pitch
    loop = a.get("loop")
    if base.loop_mode == "auto" and not base.loop_end:
        if loop:
            changes.update(
                loop_mode=loop.get("mode", "forward"),
                loop_start=loop["start"] / rate,
                loop_end=loop["end"] / rate,
                crossfade=loop.get("crossfade", 0) * 1000.0 / rate,
            )
        else:
            changes["loop_mode"] = "off"
    return dataclasses.replace(base, **changes)


def playable(
    audio: np.ndarray,
    rate: int,
    s: SoundSettings,
    sound_id: int,
    name: str = "",
    own_loop: Optional[Tuple[int, int]] = None,
) -> PlayableSound:
    """A PlayableSound from audio at the engine rate and sound settings (points in seconds);
    ``own_loop`` (frames) is what loop mode `auto` uses when the settings name no loop."""
    start, end, mode, ls, le = resolve_points(
        len(audio), rate, s.start, s.end, s.loop_mode, s.loop_start, s.loop_end, own_loop
    )
    return prepare(
        audio,
        root=s.root,
        tune=s.tune,
        start=start,
        end=end,
        loop_mode=mode,
        loop_start=ls,
        loop_end=le,
        crossfade=int(round(s.crossfade * rate / 1000.0)),
        sound_id=sound_id,
        name=name,
    )
