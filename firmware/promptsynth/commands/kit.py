"""`promptsynth kit`: the kit templates, and a kit generated from one (or from a file of pads)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Dict, List

from promptsynth.config import state_dir

log = logging.getLogger("promptsynth")

EXIT_USAGE = 2


def cmd_kit(args, cfg) -> int:
    from promptsynth.library.kits import load_kit, templates
    from promptsynth.library.sounds import LibraryError

    if args.action == "templates":
        for name, t in sorted(templates().items()):
            pads = ", ".join("%d %s" % (p["key"], p["name"]) for p in t["pads"])
            print("%-11s %s: %s" % (name, t.get("about", ""), pads))
        return 0
    if not args.target:
        log.error("kit generate needs a template (%s) or a kit file" % ", ".join(sorted(templates())))
        return EXIT_USAGE
    try:
        kit = load_kit(args.target)
    except LibraryError as e:
        log.error("%s", e)
        return EXIT_USAGE
    if args.name:
        from dataclasses import replace

        kit = replace(kit, name=args.name)
    return _generate(kit, args, cfg)


def _generate(kit, args, cfg) -> int:
    """Every pad through one generator (the model loaded once), each pad's sounds shaped to one
    hit into the library, then the preset."""
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient
    from promptsynth.generator.models import ModelError
    from promptsynth.generator.params import GenerationParams, ParamError
    from promptsynth.library.intake import shape_and_store
    from promptsynth.library.kits import KitJob
    from promptsynth.library.presets import PresetStore
    from promptsynth.library.shaping import ShapeOptions
    from promptsynth.library.sounds import Exists, LibraryError, SoundLibrary

    g = cfg.generate
    state = state_dir(cfg)
    lib, store = SoundLibrary(state), PresetStore(state)
    if not args.force:
        try:
            store.get(args.bank, kit.name)
            log.error(
                "a preset %s/%s exists: add --force to replace it, or --name to name the kit", args.bank, kit.name
            )
            return EXIT_USAGE
        except LibraryError:
            pass
    client = GeneratorClient(
        args.model or cfg.model.id,
        state,
        args.device or cfg.model.device,
        cfg.model.threads,
        g.queue,
        g.timeout,
        max_prompt_chars=g.max_prompt_chars,
        out_dir=os.path.join(state, "generated"),
    )

    def submit(prompt: str, seed) -> int:
        p = GenerationParams(
            prompt=prompt,
            negative=g.negative,
            seconds=args.seconds or min(g.seconds, 2.0),  # one hit: two seconds are plenty
            steps=args.steps or g.steps,
            guidance=g.guidance,
            seed=seed,
            scheduler=g.scheduler,
            candidates=args.candidates or 1,
        )
        return client.submit(p)

    job = KitJob(kit, args.style or "", submit, client.cancel, lambda: g.queue - len(client.queue), seed=args.seed)
    started = time.monotonic()
    took: Dict[int, float] = {}
    last_step: Dict[int, int] = {}
    single = ShapeOptions(single_hit=True)
    try:
        try:
            job.pump()
        except (ParamError, ModelError) as e:
            log.error("%s", e)
            return EXIT_USAGE
        pad_started = {i: started for i in range(len(kit.pads))}
        while not job.done:
            try:
                for ev in client.poll(0.2):
                    if isinstance(ev, msg.ModelStatus) and ev.state == "failed":
                        log.error("model %s failed to load: %s", ev.model, ev.detail)
                        job.cancel()
                    elif isinstance(ev, msg.Progress):
                        i = job.pad_of(ev.job_id)
                        if i is not None:
                            if ev.step == 1:
                                pad_started[i] = time.monotonic()
                            job.progress(ev.job_id, ev.step, ev.total)
                            if ev.step in (1, ev.total) and last_step.get(i) != ev.step:
                                last_step[i] = ev.step
                                print(
                                    "pad %d/%d %s: step %d/%d"
                                    % (i + 1, len(kit.pads), kit.pads[i].name, ev.step, ev.total),
                                    file=sys.stderr,
                                )
                    elif isinstance(ev, msg.Result):
                        i = job.pad_of(ev.job_id)
                        if i is None:
                            continue
                        ids = _keep(lib, ev, cfg.audio.rate, single, shape_and_store)
                        job.finished(ev.job_id, ids)
                        took[i] = time.monotonic() - pad_started[i]
                        print(
                            "pad %d/%d %s: sound %s (%.2f s)"
                            % (i + 1, len(kit.pads), kit.pads[i].name, ids[0], took[i])
                        )
                    elif isinstance(ev, msg.Failed):
                        i = job.failed(ev.job_id, ev.reason, ev.kind == "cancelled")
                        if i is not None:
                            log.error("pad %s: %s", kit.pads[i].name, ev.reason)
                job.pump()
            except KeyboardInterrupt:
                log.warning("cancelling the kit")
                job.cancel()
    finally:
        client.stop()
    total = time.monotonic() - started
    made = job.sounds()
    if not made:
        log.error("no pad was generated (%s)", job.summary())
        return 130 if all(p.state == "cancelled" for p in job.pads) else 1
    preset = job.preset(args.bank)
    try:
        path = store.save(preset, overwrite=args.force)
    except (Exists, LibraryError, OSError) as e:
        log.error("the kit's sounds are in the library, but its preset was not saved: %s", e)
        return 1
    print(
        "kit %s/%s: %d of %d pads in %.1f s (%.2f s a pad) -> %s"
        % (preset.bank, preset.name, len(made), len(kit.pads), total, total / max(len(made), 1), path)
    )
    return 0 if len(made) == len(kit.pads) else 1


def _keep(lib, result, rate: int, options, shape_and_store) -> List[str]:
    """Each candidate of a pad shaped to one hit into the library (best first); the raw files
    removed once stored."""
    import json

    ids = []
    for wav, audio in zip(result.paths, result.audio):
        with open(os.path.splitext(wav)[0] + ".json", "rb") as fh:
            recipe = json.loads(fh.read().decode("utf-8"))
        ids.append(shape_and_store(lib, audio, result.rate, recipe, rate, options)[0])
        for path in (wav, os.path.splitext(wav)[0] + ".json"):
            try:
                os.unlink(path)
            except OSError:
                pass
    return ids
