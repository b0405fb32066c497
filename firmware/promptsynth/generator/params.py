"""What a generation asks for, checked before it reaches the model.

A prompt is only ever text for the tokenizers: it is normalised (NFC), control characters are
turned into spaces, and it must hold something after that and fit the length limit. Every
number is range-checked with a message that names it.

A morph names up to three more prompts and a position between them: two prompts lie on a line
(``position`` 0 is the first, 1 the second), three on a path through the middle one (0.5), four
on the corners of a square (``position`` across, ``position_y`` up: 0,0 the first, 1,0 the
second, 0,1 the third, 1,1 the fourth), as on NSynth Super's pad. A series is that many sounds
along the line (or across the square at ``position_y``), each its own morph of one position.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

from promptsynth.config import CONDITIONINGS, SPACINGS

NEGATIVE = "low quality, average quality, noise, high pitch, artefacts"
SCHEDULERS = ("dpm", "ddim")
MAX_MORPH = 3  # prompts besides the first
MAX_SERIES = 16
# what a stored recipe that names its seed but predates a key was made with (so it makes the same
# sound again); a recipe without a seed takes today's defaults
LEGACY = {"conditioning": "stock", "spacing": "model"}
MAX_SEED = 2**64 - 1
MAX_PROMPT_CHARS = 1000


class ParamError(ValueError):
    pass


@dataclass(frozen=True)
class GenerationParams:
    prompt: str
    negative: str = NEGATIVE
    seconds: float = 5.12
    steps: int = 25
    guidance: float = 3.5
    seed: Optional[int] = None  # None: a random seed is drawn (and reported)
    scheduler: str = "dpm"
    candidates: int = 1
    conditioning: str = "padded"
    spacing: str = "trailing"
    morph: Tuple[str, ...] = ()  # the other prompts of a morph (none: plain text to sound)
    position: float = 0.0  # along the morph (across the square of four)
    position_y: float = 0.0  # up the square of four
    series: int = 0  # 0: one sound; N >= 2: N sounds along the morph
    # sound to sound: the library id of the sound transformed ("": none, text to sound), and how
    # far from it (0: the sound through the model's VAE and vocoder; 1: text to sound)
    source: str = ""
    strength: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["morph"] = list(self.morph)  # JSON has no tuples
        return d

    def prompts(self) -> Tuple[str, ...]:
        return (self.prompt,) + tuple(self.morph)

    def steps_run(self) -> int:
        """Denoising steps each sound takes: sound to sound runs the last ``strength`` of them."""
        if self.source:
            return min(int(self.steps * self.strength), self.steps)
        return self.steps

    def positions(self) -> List[Tuple[float, float]]:
        """The (x, y) of each sound the job makes."""
        if self.series >= 2:
            return [(i / (self.series - 1), self.position_y) for i in range(self.series)]
        return [(self.position, self.position_y)]


# what a sound's recipe records, in presets and sidecars alike: the model and every parameter
RECIPE_KEYS = ("model",) + tuple(f.name for f in fields(GenerationParams))


def recipe_of(d: Dict[str, Any]) -> Dict[str, Any]:
    """The recipe keys of a stored mapping (a sidecar, a preset), with LEGACY filled in for a
    recipe that names its seed but was made before a key existed."""
    r = {k: v for k, v in d.items() if k in RECIPE_KEYS}
    if r.get("seed") is not None:
        for k, v in LEGACY.items():
            r.setdefault(k, v)
    return r


def batch_key(p: GenerationParams) -> Optional[Tuple[object, ...]]:
    """What jobs must share to run in one pipeline call (generator/runner.py's generate_batch);
    None for a job that runs alone (a series, sound to sound)."""
    if p.series or p.source:
        return None
    return (p.seconds, p.steps, p.guidance, p.scheduler, p.spacing, p.conditioning, p.candidates, p.guidance > 1.0)


def from_dict(d: Any) -> GenerationParams:
    """Parameters from a JSON object (a remote job): only the known keys, each of the JSON type
    it must be; ParamError names what is wrong. Ranges are :func:`validate`'s."""
    if not isinstance(d, dict):
        raise ParamError("the job's parameters must be a JSON object")
    known = {f.name: f for f in fields(GenerationParams)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ParamError("unknown parameter(s): %s" % ", ".join(str(u)[:40] for u in unknown[:5]))
    if "prompt" not in d:
        raise ParamError("the job names no prompt")
    kw = dict(d)
    if "morph" in kw:
        if not isinstance(kw["morph"], list):
            raise ParamError("morph must be a list of prompts, got %r" % (kw["morph"],))
        kw["morph"] = tuple(kw["morph"])
    for name in ("scheduler", "conditioning", "spacing", "source"):
        if name in kw and not isinstance(kw[name], str):
            raise ParamError("%s must be text, got %r" % (name, kw[name]))
    return GenerationParams(**kw)


def morph_weights(n: int, x: float, y: float = 0.0) -> List[float]:
    """Each of ``n`` prompts' weight at (x, y): a line for 2, a path through the middle for 3,
    bilinear on a square for 4. An end or a corner is exactly one weight of 1."""
    if n == 1:
        return [1.0]
    if n == 2:
        return [1.0 - x, x]
    if n == 3:
        if x <= 0.5:
            t = x * 2
            return [1.0 - t, t, 0.0]
        t = x * 2 - 1
        return [0.0, 1.0 - t, t]
    return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y]


def clean_text(text, what: str = "prompt", max_chars: int = MAX_PROMPT_CHARS, allow_empty: bool = False) -> str:
    if not isinstance(text, str):
        raise ParamError("the %s must be text, got %s" % (what, type(text).__name__))
    t = unicodedata.normalize("NFC", text)
    # control and format characters (C0, C1, bidi overrides, zero-width...) become spaces
    t = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else ch for ch in t)
    t = " ".join(t.split())
    if not t and not allow_empty:
        raise ParamError('the %s is empty: describe a sound, e.g. "a warm analog pad"' % what)
    if len(t) > max_chars:
        raise ParamError("the %s is %d characters long; the limit is %d" % (what, len(t), max_chars))
    return t


def _number(name, value, lo, hi, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError("%s must be a number, got %r" % (name, value))
    if integer and int(value) != value:
        raise ParamError("%s must be a whole number, got %r" % (name, value))
    if not (lo <= value <= hi):  # also refuses NaN
        raise ParamError("%s must be between %s and %s, got %r" % (name, lo, hi, value))
    return int(value) if integer else float(value)


def _choice(name, value, options):
    if value not in options:
        raise ParamError("%s must be one of %s, got %r" % (name, ", ".join(options), value))


def validate(
    p: GenerationParams, max_seconds: float = 30.0, min_seconds: float = 0.5, max_prompt_chars: int = MAX_PROMPT_CHARS
) -> GenerationParams:
    """A checked copy of ``p`` with the prompts cleaned and a seed drawn if none was given."""
    prompt = clean_text(p.prompt, "prompt", max_prompt_chars)
    negative = clean_text(p.negative, "negative prompt", max_prompt_chars, allow_empty=True)
    seconds = _number("length (seconds)", p.seconds, min_seconds, max_seconds)
    steps = _number("steps", p.steps, 1, 500, integer=True)
    guidance = _number("guidance", p.guidance, 1.0, 10.0)
    _choice("scheduler", p.scheduler, SCHEDULERS)
    candidates = _number("candidates", p.candidates, 1, 4, integer=True)
    _choice("conditioning", p.conditioning, CONDITIONINGS)
    _choice("spacing", p.spacing, SPACINGS)
    if isinstance(p.morph, str) or not isinstance(p.morph, (list, tuple)):
        raise ParamError("morph must be a list of prompts, got %r" % (p.morph,))
    if len(p.morph) > MAX_MORPH:
        raise ParamError("a morph joins at most %d prompts, got %d" % (MAX_MORPH + 1, len(p.morph) + 1))
    morph = tuple(clean_text(m, "morph prompt %d" % (i + 2), max_prompt_chars) for i, m in enumerate(p.morph))
    position = _number("position", p.position, 0.0, 1.0)
    position_y = _number("position y", p.position_y, 0.0, 1.0)
    series = _number("series", p.series, 0, MAX_SERIES, integer=True)
    if not morph and (position or position_y or series):
        raise ParamError("position and series need a morph: name a second prompt")
    if position_y and len(morph) != 3:
        raise ParamError("position y needs four prompts (the corners of a square), got %d" % (len(morph) + 1))
    if series == 1:
        raise ParamError("a series has at least 2 sounds, got 1")
    if series and candidates > 1:
        raise ParamError("a series makes one sound per position: candidates must be 1, got %d" % candidates)
    if not isinstance(p.source, str) or len(p.source) > 200:
        raise ParamError("source must be a sound's library id, got %r" % (p.source,))
    strength = _number("strength", p.strength, 0.0, 1.0)
    if strength < 1.0 and not p.source:
        raise ParamError("a strength below 1 needs a source sound to start from")
    seed = p.seed
    if seed is None:
        seed = secrets.randbits(64)
    else:
        seed = _number("seed", seed, 0, MAX_SEED, integer=True)
    return GenerationParams(
        prompt=prompt,
        negative=negative,
        seconds=seconds,
        steps=steps,
        guidance=guidance,
        seed=seed,
        scheduler=p.scheduler,
        candidates=candidates,
        conditioning=p.conditioning,
        spacing=p.spacing,
        morph=morph,
        position=position,
        position_y=position_y,
        series=series,
        source=p.source,
        strength=strength,
    )
