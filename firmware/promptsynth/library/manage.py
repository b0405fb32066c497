"""The library as a whole: which presets use a sound, deleting without dangling presets, the
kiosk's retention policy, and leftovers of raw generations.

Nothing here deletes what a preset or the current state plays, except a sound deleted with
``force`` (the presets it leaves without a sound then say so and can be generated anew).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import List, Optional, Set, Tuple

from promptsynth.library.presets import Preset, PresetStore
from promptsynth.library.sounds import InUse, LibraryError, SoundLibrary

log = logging.getLogger("library")

GENERATED = "generated"  # <state>/generated: raw model output `promptsynth generate` writes


def users_of(store: PresetStore, sound_id: str) -> List[str]:
    """Every user of a sound: presets as "bank/name", and "the current state" when it plays it."""
    users = store.users_of(sound_id)
    state, _ = store.load_state()
    if state is not None and state.sound == sound_id:
        users.append("the current state")
    return users


def made_from(lib: SoundLibrary, sound_id: str) -> List[str]:
    """The sounds whose recipe starts from ``sound_id`` (sound to sound), as "sound ID": the
    source stays while they name it, so their recipes can make them again."""
    return ["sound %s" % e.id for e in lib.entries()[0] if (e.meta.get("recipe") or {}).get("source") == sound_id]


def delete_sound(lib: SoundLibrary, store: PresetStore, sound_id: str, force: bool = False) -> List[str]:
    """Delete a sound; refuses with :class:`InUse` (naming the presets) while presets use it,
    unless ``force``. Returns the users it was deleted from under (for the log)."""
    lib.meta(sound_id)  # a clear "no sound" before anything else
    users = users_of(store, sound_id) + made_from(lib, sound_id)
    if users and not force:
        raise InUse(sound_id, users)
    lib.delete(sound_id)
    if users:
        log.warning("sound %s deleted although %s used it: they now say 'sound missing'", sound_id, ", ".join(users))
    return users


def mark_missing(lib: SoundLibrary, presets: List[Preset]) -> List[Preset]:
    """Set ``missing_sound`` on each preset whose stored sound the library no longer has (one
    directory listing for all of them, not a read per preset). Returns the presets."""
    have = {e.id for e in lib.entries()[0]}
    for p in presets:
        p.missing_sound = p.sound not in (None, "init") and p.sound not in have
    return presets


def protected(store: PresetStore) -> Set[str]:
    """What retention never deletes nor counts: sounds presets play (by id), and recipe keys of
    presets (a factory preset's sound is found by its recipe: pruning it would cost the next
    visitor who loads it a generation)."""
    keep: Set[str] = set()
    presets, _ = store.list()
    for p in presets:
        if p.sound:
            keep.add(p.sound)
        if p.has_recipe:
            keep.add("recipe:" + p.recipe_key())
    return keep


def prune(lib: SoundLibrary, store: PresetStore, keep: int, also_keep: Optional[Set[str]] = None) -> List[str]:
    """The kiosk's retention: of the generated sounds no preset uses, keep the newest ``keep`` and
    delete the rest (0 = keep all); the current state's sound and ``also_keep`` count among them
    but are never deleted. Imported sounds are never pruned (visitors cannot import; an operator
    did). Returns the ids deleted."""
    if keep <= 0:
        return []
    safe = protected(store)
    # counted among the newest, never deleted: the sound just stored, the one being played
    spare = set(also_keep or ())
    state, _ = store.load_state()
    if state is not None and state.sound:
        spare.add(state.sound)
    entries, _ = lib.entries()  # newest first
    # a source of another sound's recipe stays while that sound does (sound to sound)
    safe |= {
        str((e.meta.get("recipe") or {}).get("source")) for e in entries if (e.meta.get("recipe") or {}).get("source")
    }
    visitors = [
        e
        for e in entries
        if e.meta.get("kind") == "generated"
        and e.id not in safe
        and "recipe:%s" % (e.meta.get("recipe") or {}).get("recipe_key") not in safe
    ]
    gone = []
    for e in visitors[keep:]:
        if e.id in spare:
            continue
        try:
            lib.delete(e.id)
            gone.append(e.id)
        except (OSError, LibraryError) as err:  # one that will not go is tried again next time
            log.warning("retention: sound %s not deleted: %s", e.id, err)
    if gone:
        log.info("retention: %d old visitor sound(s) deleted, the newest %d kept", len(gone), keep)
    return gone


def retain(lib: SoundLibrary, store: PresetStore, keep: int, newest: Optional[str]) -> None:
    """:func:`prune` after a generation was stored (``newest``); a disk that refuses is logged,
    never raised: the sound plays on and the next generation tries again."""
    try:
        prune(lib, store, keep, {newest} if newest else None)
    except (OSError, LibraryError) as e:
        log.warning("retention: %s", e)


def mend(store: PresetStore, preset: Preset, sound: Optional[str]) -> Preset:
    """A user preset whose sound was missing, with its newly generated sound: saved over its file
    if that still holds the preset as it was (its own settings kept, only the sound new)."""
    mended = dataclasses.replace(preset, sound=sound, missing_sound=False)
    try:
        if store.get(preset.bank, preset.name).sound == preset.sound:
            store.save(dataclasses.replace(mended), overwrite=True)
            log.info("preset %s/%s plays its sound again (%s)", preset.bank, preset.name, sound)
    except LibraryError:  # renamed or deleted meanwhile: play it, write nothing
        pass
    return mended


def _recipe_key(recipe: object) -> Optional[tuple]:
    if not isinstance(recipe, dict) or not recipe.get("created"):
        return None
    return tuple(str(recipe.get(k)) for k in ("model", "prompt", "seed", "created"))


def clean_generated(state_dir: str, lib: SoundLibrary) -> Tuple[int, int]:
    """Remove the raw generations under ``<state>/generated`` (WAV + JSON recipe, as `promptsynth
    generate` writes them) that the library has stored, shaped, under the same recipe (model,
    prompt, seed, time): what a run stopped between storing and cleaning up, or an older version,
    left there. Files the library does not have stay (they are the only copy). Returns (removed,
    left)."""
    import json

    folder = os.path.join(state_dir, GENERATED)
    try:
        names = os.listdir(folder)
    except OSError:
        return 0, 0
    stored = {_recipe_key(e.meta.get("recipe")) for e in lib.entries()[0]} - {None}
    removed = left = 0
    for fn in sorted(names):
        path = os.path.join(folder, fn)
        if fn.startswith(".") and fn.endswith(".tmp"):  # a write a power cut interrupted
            gone = [path]
        elif fn.startswith("gen-") and fn.endswith(".json"):
            try:
                with open(path, "rb") as fh:
                    key = _recipe_key(json.loads(fh.read().decode("utf-8")))
            except (OSError, ValueError):
                key = None
            if key is None or key not in stored:
                left += 1
                continue
            gone = [path[: -len(".json")] + ".wav", path]  # the audio first: a sidecar never dangles
        else:
            continue
        for p in gone:
            try:
                os.unlink(p)
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("%s not removed: %s", p, e)
    try:
        os.rmdir(folder)  # only when empty
    except OSError:
        pass
    if removed:
        log.info("removed %d raw generation file(s) the library has stored from %s", removed, folder)
    if left:
        log.info("%d raw generation(s) in %s are not in the library (kept)", left, folder)
    return removed, left
