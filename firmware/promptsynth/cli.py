"""The `promptsynth` command: arguments in, one subcommand run (commands/), an exit code out.

Conventions: results go to stdout (lists, paths, JSON), log lines and errors to stderr.
Exit codes:
  0    done
  1    it did not work: a generation failed, a library error, `doctor` found a failure
  2    a usage or config error (nothing was done; the message names the key)
  130  cancelled with Ctrl-C
"""

from __future__ import annotations

import argparse
import logging
from typing import List, Optional

from promptsynth import __version__
from promptsynth import config as config_mod

log = logging.getLogger("promptsynth")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def _with_config(fn):
    """Load the --config file (naming where it came from), then run the command with it."""

    def run(args) -> int:
        cfg, where = config_mod.load(args.config)
        log.info("config: %s", where)
        return fn(args, cfg)

    return run


def _commands():
    from promptsynth.commands import generate, kit, library, record, run, serve, tools, web

    return {
        "run": _with_config(run.cmd_run),
        "generate": _with_config(generate.cmd_generate),
        "models": _with_config(generate.cmd_models),
        "kit": _with_config(kit.cmd_kit),
        "record": _with_config(record.cmd_record),
        "serve": _with_config(serve.cmd_serve),
        "sounds": _with_config(library.cmd_sounds),
        "presets": _with_config(library.cmd_presets),
        "web": web.cmd_web,
        "doctor": tools.cmd_doctor,
        "bench": tools.cmd_bench,
        "config": tools.cmd_config,
    }


def build_parser() -> argparse.ArgumentParser:
    from promptsynth.commands.tools import BENCHES

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only warnings and errors"
    )
    p = argparse.ArgumentParser(
        prog="promptsynth",
        description="A text-to-sound sampler instrument.",
        parents=[common],
        epilog="exit codes: 0 done, 1 failed, 2 usage or config error, 130 cancelled",
    )
    p.add_argument("--version", action="version", version="promptsynth " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[common])

    r = command("run", "run the instrument until SIGINT/SIGTERM")
    r.add_argument("--config", help="config file (default %s)" % config_mod.DEFAULT_PATH)
    r.add_argument(
        "--sim",
        action="store_true",
        help="simulator: the tiny model, JACK dummy audio and MIDI where there is no hardware",
    )
    r.add_argument("--prompt", help="generate this sound once the model is ready, and play it")
    b = command("bench", "benchmarks (--json: figures as JSON on stdout)")
    b.add_argument("part", choices=BENCHES)
    b.add_argument("--model", default="audioldm2", help="bench generate: the full-size model to time")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--visitors", type=int, help="bench kiosk: visitors in the soak (default 1000, --quick 30)")
    b.add_argument("--quick", action="store_true", help="fewer runs, no full-size model (for smoke tests)")
    gp = command("generate", "make a sound from text (progress bar; Ctrl-C cancels)")
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
    gp.add_argument(
        "--morph",
        action="append",
        metavar="PROMPT",
        help="morph toward another prompt (up to 3 times: a line of 2, a path through 3, the corners of a square of 4)",
    )
    gp.add_argument("--position", type=float, help="0-1 along the morph (across the square of 4); default 0.5")
    gp.add_argument("--position-y", type=float, help="0-1 up the square of 4 prompts; default 0.5")
    gp.add_argument("--series", type=int, help="2-16 sounds along the morph in one job, each kept")
    gp.add_argument(
        "--from",
        dest="source",
        metavar="FILE_OR_SOUND",
        help="sound to sound: transform this library sound (id or name) or WAV/FLAC file (imported first)",
    )
    gp.add_argument(
        "--strength",
        type=float,
        help="with --from: 0 keeps the sound (through the model), 1 is text to sound; default 0.5",
    )
    gp.add_argument("--conditioning", choices=list(config_mod.CONDITIONINGS), help="default from [generate]")
    gp.add_argument("--spacing", choices=list(config_mod.SPACINGS), help="default from [generate]")
    gp.add_argument(
        "-o",
        "--output",
        help="also write the best result to this WAV file: the shaped sound the instrument plays (root and "
        "loop in its smpl chunk); checked before generating",
    )
    gp.add_argument("--raw", action="store_true", help="-o gets the model's raw output (16 kHz float) instead")
    gp.add_argument("--force", action="store_true", help="-o may replace an existing file")
    rp = command("record", "record from the audio input into the library (count-in, meter; Ctrl-C ends the take)")
    rp.add_argument("--config")
    rp.add_argument("--device", help="ALSA capture PCM (default: [audio] capture_device)")
    rp.add_argument("--seconds", type=float, help="longest take (default: [audio] record_max)")
    rp.add_argument("--count-in", type=float, help="seconds counted in first (default: [audio] record_count_in)")
    rp.add_argument("--name", help="the sound's name in the library (default: recording)")
    kp = command("kit", "kits from prompts: list the templates, or generate a kit into a preset")
    kp.add_argument("action", choices=["templates", "generate"])
    kp.add_argument("target", nargs="?", help="generate: a template (kit templates lists them) or a JSON file of pads")
    kp.add_argument("--style", help='added to every pad\'s prompt, e.g. "808, punchy"')
    kp.add_argument("--model", help="model id or local diffusers directory (default from the config)")
    kp.add_argument("--device", choices=["auto", "cuda", "cpu"])
    kp.add_argument("--seconds", type=float, help="each pad's length before the single-hit cut (default 2)")
    kp.add_argument("--steps", type=int)
    kp.add_argument("--candidates", type=int, help="1-4 a pad, kept as alternates played in turn")
    kp.add_argument("--seed", type=int, help="seeds the pads' seeds (the same seed makes the same kit)")
    kp.add_argument("--name", help="the preset's name (default: the template's or the file's)")
    kp.add_argument("--bank", default="kits", help="the bank the preset goes in (default: kits)")
    kp.add_argument("--force", action="store_true", help="replace a preset of that name")
    kp.add_argument("--config")
    mp = command("models", "list installed models, or fetch one")
    mp.add_argument("action", choices=["list", "fetch"])
    mp.add_argument("id", nargs="?")
    mp.add_argument("--from", help="copy from a local directory holding the model instead of downloading")
    mp.add_argument("--json", action="store_true")
    mp.add_argument("--config")
    sp = command("sounds", "the sound library: list, show, import a folder or an SFZ kit, export, delete")
    sp.add_argument("action", choices=["list", "show", "import", "export", "delete"])
    sp.add_argument(
        "target",
        nargs="?",
        help="a sound id or name; for import, a folder (its WAV/FLAC files and .sfz kits) or an .sfz",
    )
    sp.add_argument("--out", help="export: the folder to write WAV + SFZ into (default: here)")
    sp.add_argument(
        "--force", action="store_true", help="export: replace existing files; delete: even a sound presets use"
    )
    sp.add_argument("--config")
    pp = command("presets", "presets in banks: list, show, save, load, delete, export")
    pp.add_argument("action", choices=["list", "show", "save", "load", "delete", "export"])
    pp.add_argument("target", nargs="?", help="BANK/NAME (or NAME with --bank); for save, the new name")
    pp.add_argument("--bank", help="bank (default: user; the factory bank is read-only)")
    pp.add_argument("--sound", help="save: the sound (id or name) the preset plays")
    pp.add_argument("--out", help="export: the folder to write WAV + SFZ into (default: here)")
    pp.add_argument("--force", action="store_true", help="save, export: replace an existing preset or files")
    pp.add_argument("--config")
    sv = command("serve", "the generation server for a fleet (Ray Serve, Python 3.10+), or a new instrument's token")
    sv.add_argument("action", nargs="?", choices=["run", "token"], default="run")
    sv.add_argument("name", nargs="?", help="token: the instrument's name")
    sv.add_argument("--config", help="the server's config file ([server], [generate], [paths])")
    w = command("web", "the web page's password: prints the [web] lines for the config file")
    w.add_argument("action", choices=["password"])
    d = command("doctor", "check every part: pass, warn or fail, with the fix")
    d.add_argument("--config")
    d.add_argument("--json", action="store_true")
    c = command("config", "print the documented default config, or check one")
    c.add_argument("action", choices=["example", "check"])
    c.add_argument("--config", help="config file to check")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from promptsynth import log as log_mod

    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    log_mod.setup(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    try:
        return _commands()[args.command](args)
    except config_mod.ConfigError as e:
        log.error("config error: %s", e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        log.error("cancelled")
        return EXIT_CANCELLED
