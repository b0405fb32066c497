"""The `promptsynth` command: run the instrument, benchmark it, check its config."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import List, Optional

from promptsynth import __version__
from promptsynth import config as config_mod

log = logging.getLogger("promptsynth")


def _load_config(path: Optional[str]) -> config_mod.Config:
    cfg, where = config_mod.load(path)
    log.info("config: %s", where)
    return cfg


def cmd_run(args) -> int:
    cfg = _load_config(args.config)
    env = {}
    jack = None
    if args.sim:
        from promptsynth import sim
        cfg, env, jack = sim.prepare(cfg)
    from promptsynth.supervisor import Supervisor
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sup = Supervisor(cfg, env, model_override="tiny" if args.sim else None)
    try:
        sup.start()
        sup.restore()
        # the generator starts after the engine: the instrument is playable before the model loads
        generator = sup.start_generator()
        pending_prompt = args.prompt if generator else None
        panel, inputs = _front_panel(cfg, sup)
        from promptsynth.notify import Notifier
        notifier = Notifier()
        started = time.monotonic()
        ready_sent = False
        last_pet = 0.0
        last_xruns = 0.0
        while not stop:
            sup.poll(0.02)
            event = sup.check()
            if event:
                panel.flash(event)
            now = time.monotonic()
            if not ready_sent and (sup.ready is not None or (now - started > 10.0 and sup.engine_healthy())):
                notifier.ready("playing" if sup.ready is not None else "no audio device yet: retrying every second")
                ready_sent = True
            if ready_sent and now - last_pet > 1.0 and sup.engine_healthy():   # only while healthy
                notifier.watchdog()
                last_pet = now
            for source in inputs:
                for ev in source():
                    panel.handle(ev)
            panel.tick()
            if getattr(panel.display, "closed", False):   # the simulator's window was closed
                stop.append(0)
            if pending_prompt and sup.generator.model_state == "ready":
                try:
                    sup.generate(pending_prompt)
                except Exception as e:       # a bad prompt is an error line, never a crash
                    log.error("prompt refused: %s", e)
                pending_prompt = None
            xr = sup.stats["xruns"]
            if xr > last_xruns:
                log.warning("audio: %d xruns so far", xr)
                last_xruns = xr
        log.info("stopping (signal %d)", stop[0])
    finally:
        try:
            Notifier().stopping()
        except OSError:
            pass
        sup.stop()
        if jack is not None:
            jack.stop()
    return 0


def _generator_client(cfg, model=None, device=None, env=None):
    from promptsynth.generator.client import GeneratorClient
    g = cfg.generate
    return GeneratorClient(model or cfg.model.id, config_mod.state_dir(cfg), device or cfg.model.device,
                           cfg.model.threads, g.queue, g.timeout, max_prompt_chars=g.max_prompt_chars, env=env)


def _front_panel(cfg, sup):
    """The panel with its display and input sources (each a function returning new events)."""
    import os
    import time as _time

    from promptsynth.panel.display import Display, factory
    from promptsynth.panel.panel import Panel, Press, Turn
    p = cfg.panel
    inputs = []
    if p.display == "window":
        from promptsynth.panel.window import Window
        display = Window()
        inputs.append(display.events)
    else:
        cap = p.capture_dir or os.path.join(config_mod.state_dir(cfg), "panel")
        try:
            display = Display(factory(p.display, p.i2c_bus, p.i2c_address, cap))
        except Exception as e:            # a missing display library never stops the sound
            log.error("display %s unavailable: %s", p.display, e)
            display = Display(None)
    panel = Panel(sup, display, fps=p.fps, kiosk=p.kiosk, prompt_limit=p.prompt_limit if p.kiosk else 1000,
                  idle_timeout=p.idle_timeout if p.kiosk else 0.0, attract=p.attract)
    try:
        from promptsynth.panel.keyboard import EvdevKeyboard
        kb = EvdevKeyboard(p.keyboard, p.keymap)
        kb.start()

        def keys():
            out = []
            while kb.keys:
                out.append(kb.keys.popleft())
            return out
        inputs.append(keys)
    except ImportError:
        log.info("no evdev: no USB keyboard on the panel")
    if p.gpio == "jetson":
        from promptsynth.panel.gpio import Controls, jetson
        controls = Controls([(p.encoder1_a, p.encoder1_b), (p.encoder2_a, p.encoder2_b)], [p.button1, p.button2])
        try:
            jetson(controls)

            def knobs():
                return [Turn(i, d) if kind == "turn" else Press(i, d) for kind, i, d in
                        controls.events(_time.monotonic())]
            inputs.append(knobs)
        except Exception as e:            # not a Jetson, or no permission: say so, play on
            log.warning("GPIO unavailable (%s): no encoders", str(e).splitlines()[0] if str(e) else type(e).__name__)
    return panel, inputs


def cmd_generate(args) -> int:
    cfg = _load_config(args.config)
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import JobFailed
    from promptsynth.generator.models import ModelError
    from promptsynth.generator.params import GenerationParams, ParamError
    g = cfg.generate
    params = GenerationParams(
        prompt=args.prompt, negative=g.negative if args.negative is None else args.negative,
        seconds=g.seconds if args.seconds is None else args.seconds, steps=g.steps if args.steps is None else args.steps,
        guidance=g.guidance if args.guidance is None else args.guidance, seed=args.seed,
        scheduler=args.scheduler or g.scheduler, candidates=args.candidates or g.candidates)
    client = _generator_client(cfg, args.model, args.device)
    try:
        job = client.submit(params)
    except (ParamError, ModelError) as e:
        log.error("%s", e)
        return 2
    from tqdm import tqdm
    bar = tqdm(total=client.params_of(job).steps, unit="step", desc="generating", file=sys.stderr)
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


def cmd_models(args) -> int:
    cfg = _load_config(args.config)
    from promptsynth.generator import models
    state = config_mod.state_dir(cfg)
    if args.action == "list":
        rows = models.listing(state)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for r in rows:
            print("%-20s %-13s %8s  %s" % (r["id"], "installed" if r["installed"] else "not installed",
                                           r["size"], r["licence"]))
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


def _library(cfg):
    from promptsynth.library.presets import PresetStore
    from promptsynth.library.sounds import SoundLibrary
    state = config_mod.state_dir(cfg)
    return SoundLibrary(state), PresetStore(state)


def cmd_sounds(args) -> int:
    cfg = _load_config(args.config)
    from promptsynth.library.sounds import LibraryError
    lib, store = _library(cfg)
    try:
        if args.action == "list":
            entries, problems = lib.entries()
            for e in entries:
                pitch = (e.meta.get("analysis") or {}).get("pitch") or {}
                print("%s  %-32s %-9s %6.2f s  %s" % (e.id, e.name[:32], e.meta.get("kind", ""),
                                                     e.meta["frames"] / e.meta["rate"],
                                                     "note %s %+.0f c" % (pitch["note"], pitch["cents"])
                                                     if pitch.get("pitched") else "unpitched"))
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
            from promptsynth.library.presets import sampler_settings
            from promptsynth.library.sounds import file_stem
            e = lib.find(args.target)
            audio, rate, meta = lib.load(e.id)
            s = _frames_for_export(settings_for(meta, sampler_settings(cfg.sampler)), rate, len(audio))
            for path in export(args.out or ".", file_stem(e.name), audio, rate, s):
                print(path)
        elif args.action == "delete":
            e = lib.find(args.target)
            lib.delete(e.id)
            print("deleted %s" % e.id)
    except LibraryError as e:
        log.error("%s", e)
        return 1
    return 0


def _frames_for_export(s, rate, frames):
    """Loop points in frames for the exporters (from seconds, or the whole sound)."""
    s = dict(s)
    if s.get("loop_mode") in ("forward", "pingpong"):
        s["loop_start_frames"] = int(round(float(s.get("loop_start", 0.0)) * rate))
        s["loop_end_frames"] = int(round(float(s.get("loop_end", 0.0)) * rate)) or frames
    return s


def cmd_presets(args) -> int:
    cfg = _load_config(args.config)
    from promptsynth.library.presets import Preset
    from promptsynth.library.sounds import LibraryError
    lib, store = _library(cfg)
    try:
        if args.action == "list":
            presets, problems = store.list(args.bank)
            for p in presets:
                g = p.generation
                print("%-10s %-40s %s" % (p.bank, p.name[:40], "%s: %s" % (g.get("model"), g.get("prompt"))
                                          if g.get("prompt") else p.sound or ""))
            for p in problems:
                log.warning("skipped: %s", p)
            return 0
        if args.action == "save":
            from promptsynth.library.intake import settings_for
            from promptsynth.library.presets import sampler_settings
            e = lib.find(args.sound)
            p = Preset(name=args.target, bank=args.bank or "user", sound=e.id,
                       sampler=settings_for(e.meta, sampler_settings(cfg.sampler)),
                       generation=dict((e.meta.get("recipe") or {})))
            print(store.save(p))
            return 0
        bank, _, name = args.target.rpartition("/")
        preset = store.get(bank or args.bank or "user", name)
        if args.action == "show":
            print(json.dumps(preset.to_json(), indent=2, ensure_ascii=False))
        elif args.action == "load":
            store.save_state(preset)
            print("%s/%s is the current state: the instrument plays it from its next start" % (preset.bank,
                                                                                              preset.name))
        elif args.action == "delete":
            store.delete(preset.bank, preset.name)
            print("deleted %s/%s" % (preset.bank, preset.name))
        elif args.action == "export":
            from promptsynth.library.export import export
            from promptsynth.library.sounds import file_stem
            if preset.sound in (None, "init"):
                raise LibraryError("preset %s has no stored sound to export yet" % preset.name)
            audio, rate, meta = lib.load(preset.sound)
            for path in export(args.out or ".", file_stem(preset.name),
                               audio, rate, _frames_for_export(preset.sampler, rate, len(audio))):
                print(path)
    except LibraryError as e:
        log.error("%s", e)
        return 1
    return 0


def cmd_doctor(args) -> int:
    from promptsynth import doctor
    checks = doctor.run(args.config)
    if args.json:
        print(json.dumps(doctor.as_json(checks), indent=2))
    else:
        for c in checks:
            print("%-4s  %-13s %s" % (c.status.upper(), c.part, c.detail))
            if c.fix and c.status != "pass":
                print("      %-13s fix: %s" % ("", c.fix))
    return 1 if any(c.status == "fail" for c in checks) else 0


def cmd_bench(args) -> int:
    if args.part == "engine":
        from promptsynth.bench.engine import run as bench_engine
        result = bench_engine(quick=args.quick)
    elif args.part == "boot":
        from promptsynth.bench.boot import run as bench_boot
        result = bench_boot(quick=args.quick)
    elif args.part == "panel":
        from promptsynth.bench.panel import run as bench_panel
        result = bench_panel(quick=args.quick)
    elif args.part == "shape":
        from promptsynth.bench.shape import run as bench_shape
        result = bench_shape(quick=args.quick)
    elif args.part == "generate":
        from promptsynth.bench.generate import run as bench_generate
        result = bench_generate(quick=args.quick, full_model=args.model)
    else:  # argparse restricts the choices
        raise AssertionError(args.part)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print("%s: %s" % (key, value))
    return 0


def cmd_config(args) -> int:
    if args.action == "example":
        sys.stdout.write(config_mod.example_toml())
        return 0
    cfg, where = config_mod.load(args.config)
    print("ok: %s" % where)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptsynth", description="A text-to-sound sampler instrument.")
    p.add_argument("--version", action="version", version="promptsynth " + __version__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the instrument until SIGINT/SIGTERM")
    r.add_argument("--config", help="config file (default %s)" % config_mod.DEFAULT_PATH)
    r.add_argument("--sim", action="store_true",
                   help="simulator: the tiny model, JACK dummy audio and MIDI where there is no hardware")
    r.add_argument("--prompt", help="generate this sound once the model is ready, and play it")
    r.set_defaults(func=cmd_run)
    b = sub.add_parser("bench", help="benchmarks")
    b.add_argument("part", choices=["engine", "generate", "shape", "panel", "boot"])
    b.add_argument("--model", default="audioldm2", help="bench generate: the full-size model to time")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--quick", action="store_true", help="fewer runs, no full-size model (for smoke tests)")
    b.set_defaults(func=cmd_bench)
    gp = sub.add_parser("generate", help="make a sound from text (progress bar; Ctrl-C cancels)")
    gp.add_argument("prompt")
    gp.add_argument("--config")
    gp.add_argument("--model", help="model id or local diffusers directory (default from the config)")
    gp.add_argument("--device", choices=["auto", "cuda", "cpu"])
    gp.add_argument("--seconds", type=float)
    gp.add_argument("--steps", type=int)
    gp.add_argument("--guidance", type=float)
    gp.add_argument("--seed", type=int, help="64-bit seed (random when not given; always printed)")
    gp.add_argument("--negative", help="negative prompt")
    gp.add_argument("--scheduler", choices=["dpm", "ddim"])
    gp.add_argument("--candidates", type=int, help="1-4, best first by CLAP")
    gp.add_argument("-o", "--output", help="also copy the best result to this WAV file")
    gp.set_defaults(func=cmd_generate)
    mp = sub.add_parser("models", help="list installed models, or fetch one")
    mp.add_argument("action", choices=["list", "fetch"])
    mp.add_argument("id", nargs="?")
    mp.add_argument("--from", help="copy from a local directory holding the model instead of downloading")
    mp.add_argument("--json", action="store_true")
    mp.add_argument("--config")
    mp.set_defaults(func=cmd_models)
    sp = sub.add_parser("sounds", help="the sound library: list, show, import a folder, export, delete")
    sp.add_argument("action", choices=["list", "show", "import", "export", "delete"])
    sp.add_argument("target", nargs="?", help="a sound id or name; for import, a folder")
    sp.add_argument("--out", help="export: the folder to write WAV + SFZ into (default: here)")
    sp.add_argument("--config")
    sp.set_defaults(func=cmd_sounds)
    pp = sub.add_parser("presets", help="presets in banks: list, show, save, load, delete, export")
    pp.add_argument("action", choices=["list", "show", "save", "load", "delete", "export"])
    pp.add_argument("target", nargs="?", help="BANK/NAME (or NAME with --bank); for save, the new name")
    pp.add_argument("--bank", help="bank (default: user; the factory bank is read-only)")
    pp.add_argument("--sound", help="save: the sound (id or name) the preset plays")
    pp.add_argument("--out", help="export: the folder to write WAV + SFZ into (default: here)")
    pp.add_argument("--config")
    pp.set_defaults(func=cmd_presets)
    d = sub.add_parser("doctor", help="check every part: pass, warn or fail, with the fix")
    d.add_argument("--config")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)
    c = sub.add_parser("config", help="print the documented default config, or check one")
    c.add_argument("action", choices=["example", "check"])
    c.add_argument("--config", help="config file to check")
    c.set_defaults(func=cmd_config)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from promptsynth import log as log_mod
    # the benchmark's stdout is its JSON: its log lines go to stderr
    log_mod.setup(args.verbose, sys.stderr if args.command == "bench" else None)
    try:
        return args.func(args)
    except config_mod.ConfigError as e:
        log.error("config error: %s", e)
        return 2
