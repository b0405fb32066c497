"""`promptsynth generate` (a sound from text, with a progress bar) and `promptsynth models`."""

from __future__ import annotations

import json
import logging
import os
import sys

from promptsynth.config import state_dir

log = logging.getLogger("promptsynth")


def cmd_generate(args, cfg) -> int:
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient, JobFailed
    from promptsynth.generator.models import ModelError
    from promptsynth.generator.params import GenerationParams, ParamError

    g = cfg.generate
    params = GenerationParams(
        prompt=args.prompt,
        negative=g.negative if args.negative is None else args.negative,
        seconds=g.seconds if args.seconds is None else args.seconds,
        steps=g.steps if args.steps is None else args.steps,
        guidance=g.guidance if args.guidance is None else args.guidance,
        seed=args.seed,
        scheduler=args.scheduler or g.scheduler,
        candidates=args.candidates or g.candidates,
    )
    g = cfg.generate
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
        job = client.submit(params)
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
    out = result.paths[0]
    if args.output:
        from promptsynth.library import atomic

        with open(out, "rb") as fh:
            atomic.write_bytes(args.output, fh.read())
        out = args.output
    print("seed %d -> %s (%.1f s)" % (result.recipe["seed"], out, result.seconds.get("model", 0.0)))
    for extra in result.paths[1:]:
        print("  also: %s" % extra)
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
