"""The sound library: audio at the engine's rate (float WAV) plus a JSON sidecar per sound.

The WAV is written first and the sidecar last, each atomically, so a sound exists exactly when
its sidecar does: a power cut mid-save leaves the earlier sounds untouched and the new one
either whole or absent. Reading skips (and reports) a sidecar that does not parse, a schema it
does not know, or audio that is missing or shorter than the sidecar says; one bad file never
hides the others.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from promptsynth.library import atomic

SCHEMA = 1
_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\:*?\"<>|]{1,64}$")
_RESERVED = {"con", "prn", "aux", "nul"} | {"com%d" % i for i in range(10)} | {"lpt%d" % i for i in range(10)}
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class LibraryError(Exception):
    pass


class Exists(LibraryError):
    """Saving or exporting would replace a file that holds something else: ask first (the panel:
    "exists: overwrite?"; the CLI: --force), then call again with ``overwrite=True``."""

    def __init__(self, what: str, path: str):
        super().__init__("%s already exists (%s): overwrite it explicitly (--force on the command line)" % (what, path))
        self.what, self.path = what, path


class InUse(LibraryError):
    """Deleting a sound that presets play: ``users`` names them ("bank/name")."""

    def __init__(self, sound: str, users: List[str]):
        super().__init__(
            "sound %s is used by %d preset%s: %s (delete anyway with --force: they then say "
            "'sound missing' and can be generated again from their recipe)"
            % (sound, len(users), "" if len(users) == 1 else "s", ", ".join(users))
        )
        self.sound, self.users = sound, list(users)


class Ambiguous(LibraryError):
    """A name that several sounds share: ``candidates`` are their ids (newest first)."""

    def __init__(self, key: str, candidates: List[SoundEntry]):
        super().__init__(
            "%d sounds are named %r: give the id (%s)" % (len(candidates), key, ", ".join(e.id for e in candidates))
        )
        self.key, self.candidates = key, list(candidates)


def safe_name(name: str, what: str = "name") -> str:
    """A name a user typed, made safe to be shown and to become part of a file name, or an error.

    Refused: empty, over 64 characters, path separators, control characters, characters that
    FAT (USB sticks) forbids, names starting or ending with a dot or a space, "..", and device
    names (CON, NUL, COM1...).
    """
    if not isinstance(name, str):
        raise LibraryError("the %s must be text" % what)
    n = " ".join(name.split())
    if not n:
        raise LibraryError("the %s is empty" % what)
    if not _NAME.match(n) or n.startswith(".") or n.endswith(".") or ".." in n:
        raise LibraryError(
            "the %s %r is not allowed: use letters, digits, spaces and - _ ( ) , + . "
            "(no slashes, no leading dot, at most 64 characters)" % (what, name[:80])
        )
    if n.split(".")[0].strip().lower() in _RESERVED:
        raise LibraryError("the %s %r is a reserved device name" % (what, n))
    return n


_PLAIN = re.compile(r"^[A-Za-z0-9.\- ]+$")


def old_file_stem(name: str) -> str:
    """The stem files were named with before names could carry non-ASCII letters (so "音 pad" and
    "鐘 pad" were both `pad`): only used to find such files again."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", safe_name(name)).strip("_") or "sound"


def file_stem(name: str) -> str:
    """A file-system-safe stem for a safe name, unique and stable for every name.

    The readable ASCII part is kept (a USB stick's file list stays legible); where it loses
    anything (non-ASCII letters, punctuation, an underscore that a space could also have made),
    8 hex digits of the name's SHA-256 follow, so "音 pad" and "鐘 pad" become `pad-1a2b3c4d` and
    `pad-5e6f7a8b`. Plain names (letters, digits, `.`, `-`, spaces) keep their old stems, so their
    existing files keep their names. The readable name itself lives in the JSON.
    """
    n = safe_name(name)
    slug = old_file_stem(n)
    if _PLAIN.match(n):  # spaces are the only change, and they are the only source of "_": lossless
        return slug
    digest = hashlib.sha256(n.encode("utf-8")).hexdigest()[:8]
    return "%s-%s" % (slug, digest)  # a name with no ASCII letter at all: "sound-<hash>"


@dataclass
class SoundEntry:
    id: str
    meta: Dict[str, Any]  # the sidecar (JSON)

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.id)


def make_folder(path: str) -> bool:
    """Create a library folder if it can be; False on a read-only or missing disk (the write
    that needs it reports that, and the instrument plays on meanwhile)."""
    try:
        os.makedirs(path, exist_ok=True)
        return True
    except OSError:
        return False


class SoundLibrary:
    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "sounds")
        make_folder(self.dir)

    def _paths(self, sound_id: str) -> Tuple[str, str]:
        if not _ID.match(sound_id or ""):
            raise LibraryError("no sound %r" % sound_id)
        return os.path.join(self.dir, sound_id + ".wav"), os.path.join(self.dir, sound_id + ".json")

    def add(self, audio: np.ndarray, rate: int, meta: Mapping[str, object], name: Optional[str] = None) -> str:
        """Store a sound; returns its id. Raises DiskFullError (nothing lost) or LibraryError."""
        import soundfile as sf

        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[:, None]
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise LibraryError("refusing to store empty or non-finite audio")
        now = datetime.datetime.utcnow()
        sound_id = "%s-%s" % (now.strftime("%Y%m%d-%H%M%S"), secrets.token_hex(3))
        wav, js = self._paths(sound_id)
        os.makedirs(self.dir, exist_ok=True)
        full = dict(meta)
        full.update(
            {
                "schema": SCHEMA,
                "id": sound_id,
                "rate": int(rate),
                "frames": int(len(a)),
                "channels": int(a.shape[1]),
                "name": safe_name(name) if name else full.get("name") or sound_id,
                "stored": now.isoformat(timespec="seconds") + "Z",
                "stored_ns": time.time_ns(),  # orders sounds stored within one second (retention)
            }
        )
        atomic.write_with(wav, lambda fh: sf.write(fh, a, rate, subtype="FLOAT", format="WAV"))
        try:
            atomic.write_json(js, full)
        except BaseException:
            try:
                os.unlink(wav)
            except OSError:
                pass
            raise
        return sound_id

    def meta(self, sound_id: str) -> Dict[str, Any]:
        _, js = self._paths(sound_id)
        try:
            with open(js, "rb") as fh:
                m = json.loads(fh.read().decode("utf-8"))
        except FileNotFoundError:
            raise LibraryError("no sound %r" % sound_id) from None
        except (OSError, ValueError) as e:
            raise LibraryError("sound %s: unreadable sidecar (%s)" % (sound_id, e)) from None
        if not isinstance(m, dict) or m.get("schema") != SCHEMA:
            raise LibraryError(
                "sound %s: unknown schema %r" % (sound_id, m.get("schema") if isinstance(m, dict) else None)
            )
        return m

    def load(self, sound_id: str) -> Tuple[np.ndarray, int, Dict[str, Any]]:
        import soundfile as sf

        m = self.meta(sound_id)
        wav, _ = self._paths(sound_id)
        try:
            a, rate = sf.read(wav, dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises several types for broken files
            raise LibraryError("sound %s: unreadable audio (%s)" % (sound_id, e)) from None
        if len(a) != m.get("frames") or rate != m.get("rate"):
            raise LibraryError(
                "sound %s: audio is truncated or does not match its sidecar (%d of %s frames)"
                % (sound_id, len(a), m.get("frames"))
            )
        return a, rate, m

    def entries(self) -> Tuple[List[SoundEntry], List[str]]:
        """Every readable sound, newest first, and a report line for each one skipped."""
        import soundfile as sf

        found, problems = [], []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return [], []
        except OSError as e:
            return [], ["the sounds folder %s is unreadable: %s" % (self.dir, e)]
        for fn in sorted(names, reverse=True):
            if fn.startswith("."):
                if fn.endswith(".tmp"):  # left by a save that a power cut interrupted
                    try:
                        os.unlink(os.path.join(self.dir, fn))
                    except OSError:
                        pass
                continue
            if not fn.endswith(".json"):
                continue
            sid = fn[:-5]
            try:
                m = self.meta(sid)
                info = sf.info(self._paths(sid)[0])
                if info.frames != m.get("frames"):
                    raise LibraryError(
                        "sound %s: audio is truncated (%d of %s frames)" % (sid, info.frames, m.get("frames"))
                    )
            except LibraryError as e:
                problems.append(str(e))
                continue
            except Exception as e:
                problems.append("sound %s: unreadable audio (%s)" % (sid, e))
                continue
            found.append(SoundEntry(sid, m))
        # ids resolve only seconds: sounds stored within one second are ordered by stored_ns
        found.sort(key=lambda e: (e.id[:15], int(e.meta.get("stored_ns") or 0), e.id), reverse=True)
        return found, problems

    def find(self, key: str) -> SoundEntry:
        """A sound by id or by exact name (the newest of that name)."""
        entries, _ = self.entries()
        for e in entries:
            if e.id == key or e.name == key:
                return e
        raise LibraryError("no sound %r" % key)

    def resolve(self, key: str) -> SoundEntry:
        """A sound by id, or by a name exactly one sound has; several of that name raise
        :class:`Ambiguous` naming their ids (for deleting: never a guess)."""
        entries, _ = self.entries()
        for e in entries:
            if e.id == key:
                return e
        named = [e for e in entries if e.name == key]
        if len(named) > 1:
            raise Ambiguous(key, named)
        if not named:
            raise LibraryError("no sound %r" % key)
        return named[0]

    def with_source_hash(self, digest: str) -> Optional[SoundEntry]:
        """The sound imported from a file with this content (SHA-256), if there is one."""
        for e in self.entries()[0]:
            if e.meta.get("source_sha256") == digest:
                return e
        return None

    def rename(self, sound_id: str, name: str) -> None:
        m = self.meta(sound_id)
        m["name"] = safe_name(name)
        atomic.write_json(self._paths(sound_id)[1], m)

    def delete(self, sound_id: str) -> None:
        wav, js = self._paths(sound_id)
        if not os.path.exists(js):
            raise LibraryError("no sound %r" % sound_id)
        os.unlink(js)  # the sidecar first: the sound is gone at once
        try:
            os.unlink(wav)
        except FileNotFoundError:
            pass
