"""`promptsynth sounds` and `promptsynth presets`: the library from the command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import List

from promptsynth.config import state_dir
from promptsynth.generator.params import recipe_of
from promptsynth.library.bundles import missing_sound
from promptsynth.library.presets import Preset, PresetStore, sampler_settings
from promptsynth.library.sounds import Ambiguous, LibraryError, SoundLibrary

log = logging.getLogger("promptsynth")

EXIT_USAGE = 2  # as cli.EXIT_USAGE (not imported: cli imports the commands)


def _sfz_files(target: str) -> List[str]:
    """The .sfz files a `sounds import` names: the file itself, or those in the folder."""
    if os.path.isdir(target):
        return sorted(os.path.join(target, f) for f in os.listdir(target) if f.lower().endswith(".sfz"))
    return [target] if target.lower().endswith(".sfz") else []


def _import_kits(lib, store, paths: List[str], cfg, overwrite: bool) -> int:
    """Import each SFZ as a preset with zones in the bank "imported" (its samples into the
    library); prints what was made and what was ignored. 1 if any could not be imported."""
    from promptsynth.library.sfz import import_sfz

    if not paths:
        log.error("not an .sfz file or a folder")
        return 1
    failed = 0
    for path in paths:
        try:
            preset, report = import_sfz(lib, path, cfg.audio.rate, sampler_settings(cfg.sampler))
            preset.bank = "imported"
            saved = store.save(preset, overwrite=overwrite)
        except (LibraryError, OSError) as e:
            log.error("not imported: %s: %s", os.path.basename(path), e)
            failed = 1
            continue
        print("preset %s/%s: %d zones (%s)" % (preset.bank, preset.name, len(preset.zones), saved))
        for line in report:
            log.warning("%s: %s", os.path.basename(path), line)
    return failed


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

            if not args.target:
                log.error("sounds import needs a folder or an .sfz file")
                return EXIT_USAGE
            kits = _sfz_files(args.target)
            if not os.path.isdir(args.target):  # an SFZ file: a preset with its samples
                return _import_kits(lib, store, kits, cfg, args.force)
            done, problems = import_folder(lib, args.target, cfg.audio.rate)
            for d in done:
                print("%s %s (%s)" % ("imported" if d.new else "already in the library:", d.id, d.name))
                for w in d.warnings:
                    log.warning("%s", w)
            for p in problems:
                log.error("not imported: %s", p)
            if kits:
                return max(_import_kits(lib, store, kits, cfg, args.force), 1 if problems else 0)
            return 1 if problems else 0  # any file that failed is a failure, even beside others
        elif args.action == "export":
            from promptsynth.library.bundles import export_sound

            e = lib.find(args.target)
            for path in export_sound(args.out or ".", lib, e.id, sampler_settings(cfg.sampler), overwrite=args.force):
                print(path)
        elif args.action == "delete":
            from promptsynth.library.manage import delete_sound

            if not args.target:
                log.error("sounds delete needs a sound id or name")
                return EXIT_USAGE
            try:
                e = lib.resolve(args.target)
            except Ambiguous as a:  # never a guess when deleting
                log.error("%s", a)
                for c in a.candidates:
                    print(
                        "%s  %s  %s  %.2f s"
                        % (c.id, c.name, c.meta.get("kind", ""), c.meta["frames"] / float(c.meta["rate"])),
                        file=sys.stderr,
                    )
                return EXIT_USAGE
            users = delete_sound(lib, store, e.id, force=args.force)
            print(
                "deleted %s (%s)%s" % (e.id, e.name, "; presets now without it: " + ", ".join(users) if users else "")
            )
    except (LibraryError, OSError) as e:
        log.error("%s", e)
        return 1
    return 0


def cmd_presets(args, cfg) -> int:
    lib, store = _library(cfg)
    try:
        if args.action == "list":
            from promptsynth.library.manage import mark_missing

            presets, problems = store.list(args.bank)
            for p in mark_missing(lib, presets):
                g = p.generation
                print(
                    "%-10s %-40s %s%s"
                    % (
                        p.bank,
                        p.name[:40],
                        "[sound missing%s] " % (": re-generated on load" if p.has_recipe else "")
                        if p.missing_sound
                        else "",
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
                generation=recipe_of(e.meta.get("recipe") or {}),
            )
            print(store.save(p, overwrite=args.force))
            return 0
        bank, _, name = (args.target or "").rpartition("/")
        preset = store.get(bank or args.bank or "user", name)
        stored = preset.sound not in (None, "init")
        if args.action == "show":
            print(json.dumps(preset.to_json(), indent=2, ensure_ascii=False))
        elif args.action == "load":
            if stored:
                try:
                    lib.meta(str(preset.sound))
                except LibraryError:
                    raise missing_sound(preset) from None
            store.save_state(preset)
            print(
                "%s/%s is the current state: the instrument plays it from its next start" % (preset.bank, preset.name)
            )
        elif args.action == "delete":
            store.delete(preset.bank, preset.name)
            print("deleted %s/%s" % (preset.bank, preset.name))
        elif args.action == "export":
            from promptsynth.library.bundles import export_preset

            for path in export_preset(args.out or ".", lib, preset, overwrite=args.force):
                print(path)
    except (LibraryError, OSError) as e:
        log.error("%s", e)
        return 1
    return 0
