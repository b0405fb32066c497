"""`promptsynth sounds` and `promptsynth presets`: the library from the command line."""

from __future__ import annotations

import json
import logging

from promptsynth.config import state_dir
from promptsynth.generator.params import RECIPE_KEYS
from promptsynth.library.presets import Preset, PresetStore, sampler_settings
from promptsynth.library.sounds import LibraryError, SoundLibrary, file_stem

log = logging.getLogger("promptsynth")


def _library(cfg):
    state = state_dir(cfg)
    return SoundLibrary(state), PresetStore(state)


def cmd_sounds(args, cfg) -> int:
    lib, store = _library(cfg)
    try:
        if args.action == "list":
            entries, problems = lib.entries()
            for e in entries:
                pitch = (e.meta.get("analysis") or {}).get("pitch") or {}
                print(
                    "%s  %-32s %-9s %6.2f s  %s"
                    % (
                        e.id,
                        e.name[:32],
                        e.meta.get("kind", ""),
                        e.meta["frames"] / e.meta["rate"],
                        "note %s %+.0f c" % (pitch["note"], pitch["cents"]) if pitch.get("pitched") else "unpitched",
                    )
                )
            for p in problems:
                log.warning("skipped: %s", p)
        elif args.action == "show":
            print(json.dumps(lib.find(args.target).meta, indent=2, ensure_ascii=False))
        elif args.action == "import":
            from promptsynth.library.intake import import_folder

            ids, problems = import_folder(lib, args.target, cfg.audio.rate)
            for i in ids:
                print("imported %s (%s)" % (i, lib.meta(i)["name"]))
            for p in problems:
                log.error("not imported: %s", p)
            return 1 if problems and not ids else 0
        elif args.action == "export":
            from promptsynth.library.export import export
            from promptsynth.library.intake import settings_for

            e = lib.find(args.target)
            audio, rate, meta = lib.load(e.id)
            for path in export(
                args.out or ".", file_stem(e.name), audio, rate, settings_for(meta, sampler_settings(cfg.sampler))
            ):
                print(path)
        elif args.action == "delete":
            e = lib.find(args.target)
            lib.delete(e.id)
            print("deleted %s" % e.id)
    except (LibraryError, OSError) as e:
        log.error("%s", e)
        return 1
    return 0


def cmd_presets(args, cfg) -> int:
    lib, store = _library(cfg)
    try:
        if args.action == "list":
            presets, problems = store.list(args.bank)
            for p in presets:
                g = p.generation
                print(
                    "%-10s %-40s %s"
                    % (
                        p.bank,
                        p.name[:40],
                        "%s: %s" % (g.get("model"), g.get("prompt")) if g.get("prompt") else p.sound or "",
                    )
                )
            for p in problems:
                log.warning("skipped: %s", p)
            return 0
        if args.action == "save":
            from promptsynth.library.intake import settings_for

            e = lib.find(args.sound)
            p = Preset(
                name=args.target,
                bank=args.bank or "user",
                sound=e.id,
                sampler=settings_for(e.meta, sampler_settings(cfg.sampler)),
                generation={k: v for k, v in (e.meta.get("recipe") or {}).items() if k in RECIPE_KEYS},
            )
            print(store.save(p))
            return 0
        bank, _, name = (args.target or "").rpartition("/")
        preset = store.get(bank or args.bank or "user", name)
        if args.action == "show":
            print(json.dumps(preset.to_json(), indent=2, ensure_ascii=False))
        elif args.action == "load":
            store.save_state(preset)
            print(
                "%s/%s is the current state: the instrument plays it from its next start" % (preset.bank, preset.name)
            )
        elif args.action == "delete":
            store.delete(preset.bank, preset.name)
            print("deleted %s/%s" % (preset.bank, preset.name))
        elif args.action == "export":
            from promptsynth.library.export import export

            if preset.sound in (None, "init"):
                raise LibraryError("preset %s has no stored sound to export yet" % preset.name)
            audio, rate, meta = lib.load(preset.sound)
            for path in export(args.out or ".", file_stem(preset.name), audio, rate, preset.sampler):
                print(path)
    except (LibraryError, OSError) as e:
        log.error("%s", e)
        return 1
    return 0
