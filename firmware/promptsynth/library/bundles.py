"""A sound or a preset as files to take away (WAV with its `smpl` loop + SFZ), and a folder of
them as one zip: what `sounds export`, `presets export` and the web page's downloads give."""

from __future__ import annotations

import io
import os
import zipfile
from typing import List

from promptsynth.config import SoundSettings
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import LibraryError, SoundLibrary, file_stem


def missing_sound(preset: Preset) -> LibraryError:
    if preset.has_recipe:
        return LibraryError(
            "preset %s/%s: its sound %s is missing (deleted); loading it on the instrument generates it "
            "again from its recipe (%s, seed %s)"
            % (preset.bank, preset.name, preset.sound, preset.generation.get("model"), preset.generation.get("seed"))
        )
    return LibraryError("preset %s/%s: its sound %s is missing (deleted)" % (preset.bank, preset.name, preset.sound))


def export_sound(
    folder: str, lib: SoundLibrary, sound_id: str, base: SoundSettings, overwrite: bool = False
) -> List[str]:
    """A library sound with its own root and loop (over ``base``): NAME.wav + NAME.sfz."""
    from promptsynth.library.export import export
    from promptsynth.library.intake import settings_for

    audio, rate, meta = lib.load(sound_id)
    name = str(meta.get("name") or sound_id)
    return list(export(folder, file_stem(name), audio, rate, settings_for(meta, base), overwrite=overwrite))


def export_preset(folder: str, lib: SoundLibrary, preset: Preset, overwrite: bool = False) -> List[str]:
    """A preset: its sound as WAV + SFZ with its settings, or a kit's SFZ and every zone's WAV."""
    from promptsynth.library.export import export
    from promptsynth.library.sfz import export_kit

    stem = file_stem(preset.name)
    if preset.zones:
        return export_kit(folder, stem, preset, lib, overwrite=overwrite)
    if preset.sound in (None, "init"):
        raise LibraryError("preset %s has no stored sound to export yet" % preset.name)
    try:
        lib.meta(str(preset.sound))
    except LibraryError:
        raise missing_sound(preset) from None
    audio, rate, _ = lib.load(str(preset.sound))
    return list(export(folder, stem, audio, rate, preset.sampler, overwrite=overwrite))


def zip_folder(folder: str) -> bytes:
    """Every file under ``folder`` in a zip, with paths relative to it (WAVs are stored: they do
    not compress, and storing is fast)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for root, _, files in os.walk(folder):
            for fn in sorted(files):
                path = os.path.join(root, fn)
                kind = zipfile.ZIP_STORED if fn.lower().endswith(".wav") else zipfile.ZIP_DEFLATED
                z.write(path, os.path.relpath(path, folder), compress_type=kind)
    return buf.getvalue()
