"""`promptsynth generate` (a sound from text, with a progress bar) and `promptsynth models`."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Optional

from promptsynth.config import state_dir

log = logging.getLogger("promptsynth")

EXIT_USAGE = 2


def output_problem(path: str, force: bool) -> Optional[str]:
    """Why ``-o path`` cannot be written, or None: checked before a generation that may take
    minutes, so a typo costs nothing (and never ends in a traceback after the work is done)."""
    if os.path.isdir(path):
        return "-o %s is a folder: name the file, e.g. %s" % (path, os.path.join(path, "sound.wav"))
    if os.path.splitext(path)[1].lower() != ".wav":
        return "-o %s: the file is written as WAV, so its name must end in .wav" % path
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "-o %s: the folder %s does not exist" % (path, folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "-o %s: the folder %s is not writable" % (path, folder)
    if os.path.lexists(path) and not force:
        return "-o %s already exists: add --force to replace it" % path
    return None


def cmd_generate(args, cfg) -> int:
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient, JobFailed
    from promptsynth.generator.models import ModelError
    from promptsynth.generator.params import GenerationParams, ParamError

    g = cfg.generate
    source, source_rate, source_id = None, 0, ""
    if args.source:
        from promptsynth.library.audiofile import AudioFileError
        from promptsynth.library.sounds import LibraryError, SoundLibrary
        from promptsynth.library.sources import source_audio

        try:
            source_id, source, source_rate = source_audio(SoundLibrary(state_dir(cfg)), args.source, cfg.audio.rate)
        except (LibraryError, AudioFileError, OSError) as e:
            log.error("--from %s: %s", args.source, e)
            return EXIT_USAGE
    seconds = g.seconds if args.seconds is None else args.seconds
    if source is not None and args.seconds is None:  # as long as the source (within the model's range)
        seconds = round(min(max(len(source) / source_rate, 0.5), 30.0), 2)
    params = GenerationParams(
        prompt=args.prompt,
        negative=g.negative if args.negative is None else args.negative,
        seconds=seconds,
        steps=g.steps if args.steps is None else args.steps,
        guidance=g.guidance if args.guidance is None else args.guidance,
        seed=args.seed,
        scheduler=args.scheduler or g.scheduler,
        candidates=args.candidates or g.candidates,
        conditioning=args.conditioning or g.conditioning,
        spacing=args.spacing or g.spacing,
        morph=tuple(args.morph or ()),
        position=args.position if args.position is not None else (0.5 if args.morph and not args.series else 0.0),
        position_y=args.position_y if args.position_y is not None else (0.5 if len(args.morph or ()) == 3 else 0.0),
        series=args.series or 0,
        source=source_id,
        strength=(0.5 if source_id else 1.0) if args.strength is None else args.strength,
    )
    if args.output:
        problem = output_problem(args.output, args.force)
        if problem:
            log.error("%s", problem)
            return EXIT_USAGE
    g = cfg.generate
    # each candidate's raw WAV + JSON recipe (with its own seed) lands in <state>/generated;
    # _keep shapes them into the library and removes them there once stored
    client = GeneratorClient(
        args.model or cfg.model.id,
        state_dir(cfg),
        args.device or cfg.model.device,
        cfg.model.threads,
        g.queue,
        g.timeout,
        max_prompt_chars=g.max_prompt_chars,
        out_dir=os.path.join(state_dir(cfg), "generated"),
    )
    try:
        job = client.submit(params, source=source, source_rate=source_rate)
    except (ParamError, ModelError) as e:
        log.error("%s", e)
        return 2
    from tqdm import tqdm

    queued = client.params_of(job)
    assert queued is not None  # just submitted: waiting or running
    bar = tqdm(total=queued.steps, unit="step", desc="generating", file=sys.stderr)
    result = None
    try:
        while result is None:
            try:
                for ev in client.poll(0.2):
                    if isinstance(ev, msg.ModelStatus):
                        bar.set_description("model %s: %s" % (ev.model, ev.state))
                        if ev.state == "failed":
                            log.error("model %s failed to load: %s", ev.model, ev.detail)
                    elif isinstance(ev, msg.Progress) and ev.job_id == job:
                        bar.set_description("generating")
                        bar.n = ev.step
                        bar.set_postfix_str("%.1f s left" % ev.remaining)
                        bar.refresh()
                    elif isinstance(ev, msg.Result) and ev.job_id == job:
                        result = ev
                    elif isinstance(ev, msg.Failed) and ev.job_id == job:
                        raise JobFailed(ev)
            except KeyboardInterrupt:
                bar.set_description("cancelling")
                client.cancel(job)
    except JobFailed as e:
        bar.close()
        log.error("generation %s: %s", e.failed.kind, e)
        return 130 if e.failed.kind == "cancelled" else 1
    finally:
        client.stop()
    bar.close()
    for w in result.warnings:
        log.warning("%s", w)
    return _keep(args, cfg, result)


def _keep(args, cfg, result) -> int:
    """Every candidate shaped into the library (best first, as the instrument would play it) and
    its raw files removed once stored; ``-o``: the best one as a WAV with its root and loop in a
    `smpl` chunk (--raw: the model's output as it came). A failure leaves the raw files."""
    from promptsynth.library import atomic
    from promptsynth.library.export import loop_frames, wav_with_smpl
    from promptsynth.library.intake import settings_for, shape_and_store
    from promptsynth.library.presets import sampler_settings
    from promptsynth.library.sounds import LibraryError, SoundLibrary

    lib = SoundLibrary(state_dir(cfg))
    ids = []
    try:
        for wav, audio in zip(result.paths, result.audio):
            with open(os.path.splitext(wav)[0] + ".json", "rb") as fh:
                recipe = json.loads(fh.read().decode("utf-8"))  # this candidate's own seed and rank
            ids.append(shape_and_store(lib, audio, result.rate, recipe, cfg.audio.rate))
        out = None
        if args.output:
            if args.raw:
                with open(result.paths[0], "rb") as fh:
                    atomic.write_bytes(args.output, fh.read())
            else:
                audio, rate, meta = lib.load(ids[0][0])
                s = settings_for(meta, sampler_settings(cfg.sampler))
                data = wav_with_smpl(audio, rate, s.root, s.tune, loop_frames(s, rate, len(audio)), subtype="FLOAT")
                atomic.write_bytes(args.output, data)
            out = args.output
    except (OSError, LibraryError, ValueError) as e:  # a full disk says so: DiskFullError's message
        log.error("the sound was generated but not kept: %s (its raw output: %s)", e, ", ".join(result.paths))
        return 1
    for wav in result.paths:  # stored: the raw files have served
        for path in (wav, os.path.splitext(wav)[0] + ".json"):
            try:
                os.unlink(path)
            except OSError:
                pass
    try:
        os.rmdir(os.path.dirname(result.paths[0]))  # only when empty
    except (OSError, IndexError):
        pass
    sid, meta = ids[0]
    print(
        "seed %d -> sound %s (%s)%s (%.1f s)"
        % (result.recipe["seed"], sid, meta["name"], " -> %s" % out if out else "", result.seconds.get("model", 0.0))
    )
    for extra, _ in ids[1:]:
        print("  also: sound %s" % extra)
    return 0


def cmd_models(args, cfg) -> int:
    from promptsynth.generator import models

    state = state_dir(cfg)
    if args.action == "list":
        rows = models.listing(state)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for r in rows:
            print(
                "%-20s %-13s %8s  %s"
                % (r["id"], "installed" if r["installed"] else "not installed", r["size"], r["licence"])
            )
        return 0
    if not args.id:
        log.error("models fetch needs a model id")
        return 2
    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, desc="fetching %s" % args.id, file=sys.stderr)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        path = models.fetch(args.id, state, source=getattr(args, "from"), progress=progress)
    except models.ModelError as e:
        bar.close()
        log.error("%s", e)
        return 1
    bar.close()
    print("%s installed in %s (licence: %s)" % (args.id, path, models.MODELS[args.id].licence))
    return 0
