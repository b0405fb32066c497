"""The library as the web page reads it, from the web's own threads: the list (cached until the
folder changes), a sound's audio and waveform, downloads as zips, uploads.

Only reads and imports happen here, on the library's own files (written atomically: a reader
sees a sound whole or not at all); whatever changes what the instrument plays goes through the
instrument (web/actions.py).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from promptsynth.config import SoundSettings
from promptsynth.library import bundles
from promptsynth.library.presets import PresetStore
from promptsynth.library.sounds import LibraryError, SoundEntry, SoundLibrary

WAV_MAGIC = (b"RIFF", b"WAVE")
FLAC_MAGIC = b"fLaC"
ZIP_MAGIC = b"PK\x03\x04"
UPLOAD_KINDS = (".wav", ".flac", ".zip")
ZIP_MAX_FILES = 512  # an SFZ kit with its samples, or a folder of sounds: never more
ZIP_MAX_RATIO = 4  # unpacked at most this many times the upload limit (a zip bomb stops there)


class UploadRefused(ValueError):
    """An upload that is not what it says, or too big once unpacked (HTTP 415 / 413)."""

    def __init__(self, message: str, status: int = 415):
        super().__init__(message)
        self.status = status


def sniff_audio(head: bytes) -> Optional[str]:
    """The file's real type from its first bytes ("wav", "flac", "zip"), or None: a name is no proof."""
    if head[:4] == WAV_MAGIC[0] and head[8:12] == WAV_MAGIC[1]:
        return "wav"
    if head[:4] == FLAC_MAGIC:
        return "flac"
    if head[:4] == ZIP_MAGIC:
        return "zip"
    return None


def unpack(zip_path: str, folder: str, max_bytes: int) -> List[str]:
    """The zip's files into ``folder`` (which must be empty and private): only plain files, under
    names that stay inside it, at most ZIP_MAX_FILES and ``max_bytes`` in all (counted as they are
    written, not as the zip claims). Returns the paths written."""
    import zipfile

    from promptsynth.library.sounds import safe_name

    try:
        z = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UploadRefused("not a readable zip file (%s)" % e) from None
    written, total = [], 0
    with z:
        members = [m for m in z.infolist() if not m.is_dir()]
        if len(members) > ZIP_MAX_FILES:
            raise UploadRefused("the zip holds %d files: at most %d" % (len(members), ZIP_MAX_FILES), 413)
        for m in members:
            parts = m.filename.replace("\\", "/").split("/")
            if m.filename.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]):
                raise UploadRefused("the zip names a path outside itself: %r" % m.filename[:100], 400)
            if (m.external_attr >> 16) & 0o170000 not in (0, 0o100000):  # links, devices: never
                raise UploadRefused("the zip holds something that is not a plain file: %r" % m.filename[:100], 400)
            try:
                safe = [safe_name(p, "name in the zip") for p in parts]
            except LibraryError as e:
                raise UploadRefused(str(e), 400) from None
            dest = os.path.join(folder, *safe)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(m) as src, open(dest, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_bytes:
                        raise UploadRefused("the zip unpacks to more than %d MB" % (max_bytes >> 20), 413)
                    out.write(chunk)
            written.append(dest)
    return written


def summary(e: SoundEntry) -> Dict[str, Any]:
    m = e.meta
    recipe = m.get("recipe") if isinstance(m.get("recipe"), dict) else {}
    rate = float(m.get("rate") or 1)
    return {
        "id": e.id,
        "name": e.name,
        "kind": str(m.get("kind", "")),
        "prompt": str(recipe.get("prompt", "")) if recipe else "",
        "seconds": round(float(m.get("frames") or 0) / rate, 2),
        "created": str(m.get("created", "")),
    }


class LibraryView:
    def __init__(self, state_dir: str, rate: int, base: SoundSettings):
        self.lib = SoundLibrary(state_dir)
        self.store = PresetStore(state_dir)
        self.rate, self.base = rate, base
        self._lock = threading.Lock()  # the cache: several request threads read at once
        self._cache: Tuple[Optional[int], List[Dict[str, Any]]] = (None, [])

    # ---- the list -------------------------------------------------------------------------------
    def _all(self) -> List[Dict[str, Any]]:
        """Every sound's summary, newest first; read again only when the folder changed (a save,
        rename or delete replaces a file, which changes the folder's mtime)."""
        try:
            stamp: Optional[int] = os.stat(self.lib.dir).st_mtime_ns
        except OSError:
            stamp = None
        with self._lock:
            if stamp is not None and self._cache[0] == stamp:
                return self._cache[1]
        rows = [summary(e) for e in self.lib.entries()[0]]
        with self._lock:
            self._cache = (stamp, rows)
        return rows

    def sounds(self, q: str = "", offset: int = 0, limit: int = 100) -> Dict[str, Any]:
        rows = self._all()
        words = q.lower().split()
        if words:
            text = [(r["name"] + " " + r["prompt"] + " " + r["kind"]).lower() for r in rows]
            rows = [r for r, t in zip(rows, text) if all(w in t for w in words)]
        offset, limit = max(0, offset), min(max(1, limit), 500)
        return {"total": len(rows), "sounds": rows[offset : offset + limit]}

    # ---- one sound ------------------------------------------------------------------------------
    def wav16(self, sound_id: str) -> bytes:
        """The sound as a 16-bit WAV: what every browser's audio element plays."""
        import soundfile as sf

        audio, rate, _ = self.lib.load(sound_id)
        buf = io.BytesIO()
        sf.write(buf, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
        return buf.getvalue()

    def peaks(self, sound_id: str, n: int = 600) -> Dict[str, List[float]]:
        """The waveform in ``n`` columns: each column's lowest and highest sample (of the mix)."""
        audio, _, _ = self.lib.load(sound_id)
        mono = audio.mean(axis=1) if audio.ndim > 1 else audio
        n = int(min(max(n, 10), 4000, max(len(mono), 1)))
        edges = np.linspace(0, len(mono), n + 1).astype(int)
        lo = [float(mono[a:b].min()) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])]
        hi = [float(mono[a:b].max()) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])]
        return {"min": [round(v, 4) for v in lo], "max": [round(v, 4) for v in hi]}

    # ---- downloads ------------------------------------------------------------------------------
    def sound_zip(self, sound_id: str) -> Tuple[str, bytes]:
        with tempfile.TemporaryDirectory(prefix="promptsynth-web-") as d:
            paths = bundles.export_sound(d, self.lib, sound_id, self.base)
            return os.path.splitext(os.path.basename(paths[0]))[0] + ".zip", bundles.zip_folder(d)

    def preset_zip(self, bank: str, name: str) -> Tuple[str, bytes]:
        preset = self.store.get(bank, name)
        with tempfile.TemporaryDirectory(prefix="promptsynth-web-") as d:
            paths = bundles.export_preset(d, self.lib, preset)
            return os.path.splitext(os.path.basename(paths[0]))[0] + ".zip", bundles.zip_folder(d)

    def bank_zip(self, bank: str) -> Tuple[str, bytes]:
        """Every preset of a bank that has its sound, each in its own folder; the ones that cannot
        be exported are listed in SKIPPED.txt inside the zip."""
        from promptsynth.library.sounds import file_stem

        presets, _ = self.store.list(bank)
        if not presets:
            raise LibraryError("no bank %r (or it is empty)" % bank)
        skipped = []
        with tempfile.TemporaryDirectory(prefix="promptsynth-web-") as d:
            for p in presets:
                try:
                    bundles.export_preset(os.path.join(d, file_stem(p.name)), self.lib, p)
                except (LibraryError, OSError) as e:
                    skipped.append("%s: %s" % (p.name, e))
            if skipped:
                with open(os.path.join(d, "SKIPPED.txt"), "w", encoding="utf-8") as fh:
                    fh.write("\n".join(skipped) + "\n")
            return file_stem(presets[0].bank) + ".zip", bundles.zip_folder(d)

    # ---- uploads --------------------------------------------------------------------------------
    def import_upload(self, path: str) -> Dict[str, Any]:
        """A received file, already sniffed, imported as a USB stick's would be."""
        from promptsynth.library.intake import import_file

        got = import_file(self.lib, path, self.rate)
        e = self.lib.find(got.id)
        return {"sound": summary(e), "new": got.new, "warnings": list(got.warnings)}

    def import_zip(self, path: str, max_bytes: int) -> Dict[str, Any]:
        """A zip as a USB stick: each SFZ in it becomes a preset in the bank "imported" (its
        samples into the library), and every other WAV/FLAC a sound. Returns what was made and,
        per file, what was not."""
        from promptsynth.library.intake import AUDIO_EXT, import_file
        from promptsynth.library.sfz import import_sfz

        folder = tempfile.mkdtemp(dir=os.path.dirname(path))
        try:
            files = unpack(path, folder, max_bytes)
            presets, sounds, problems = [], [], []
            used: set = set()
            for f in sorted(x for x in files if x.lower().endswith(".sfz")):
                try:
                    preset, report = import_sfz(self.lib, f, self.rate, self.base)
                    preset.bank = "imported"
                    self.store.save(preset, overwrite=True)
                    presets.append({"bank": preset.bank, "name": preset.name, "zones": len(preset.zones)})
                    used.update(_samples_of(f))
                    problems += ["%s: %s" % (os.path.basename(f), r) for r in report]
                except (LibraryError, OSError, ValueError) as e:
                    problems.append("%s: %s" % (os.path.basename(f), e))
            for f in sorted(x for x in files if x.lower().endswith(AUDIO_EXT) and os.path.realpath(x) not in used):
                try:
                    sounds.append(summary(self.lib.find(import_file(self.lib, f, self.rate).id)))
                except Exception as e:  # soundfile's errors are of several types: each file's own line
                    problems.append("%s: %s" % (os.path.relpath(f, folder), e))
            if not presets and not sounds:
                raise UploadRefused(
                    "nothing in the zip could be imported: %s" % "; ".join(problems[:5] or ["no SFZ, WAV or FLAC"])
                )
            return {"presets": presets, "sounds": sounds, "problems": problems}
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _samples_of(sfz_path: str) -> List[str]:
    """The files an SFZ's regions play (so they are not imported a second time as loose sounds)."""
    from promptsynth.library.sfz import parse, sample_path

    with open(sfz_path, encoding="utf-8", errors="replace") as fh:
        control, regions, _, _ = parse(fh.read())
    out = []
    for r in regions:
        try:
            out.append(sample_path(os.path.dirname(sfz_path), control.get("default_path", ""), r.get("sample", "")))
        except LibraryError:
            pass
    return out
