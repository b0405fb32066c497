"""What a generation asks for, checked before it reaches the model.

A prompt is only ever text for the tokenizers: it is normalised (NFC), control characters are
turned into spaces, and it must hold something after that and fit the length limit. Every
number is range-checked with a message that names it.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Optional

NEGATIVE = "low quality, average quality, noise, high pitch, artefacts"
SCHEDULERS = ("dpm", "ddim")
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

    def to_dict(self) -> dict:
        return asdict(self)


# what a sound's recipe records, in presets and sidecars alike: the model and every parameter
RECIPE_KEYS = ("model",) + tuple(f.name for f in fields(GenerationParams))


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


def validate(
    p: GenerationParams, max_seconds: float = 30.0, min_seconds: float = 0.5, max_prompt_chars: int = MAX_PROMPT_CHARS
) -> GenerationParams:
    """A checked copy of ``p`` with the prompts cleaned and a seed drawn if none was given."""
    prompt = clean_text(p.prompt, "prompt", max_prompt_chars)
    negative = clean_text(p.negative, "negative prompt", max_prompt_chars, allow_empty=True)
    seconds = _number("length (seconds)", p.seconds, min_seconds, max_seconds)
    steps = _number("steps", p.steps, 1, 500, integer=True)
    guidance = _number("guidance", p.guidance, 1.0, 10.0)
    if p.scheduler not in SCHEDULERS:
        raise ParamError("scheduler must be one of %s, got %r" % (", ".join(SCHEDULERS), p.scheduler))
    candidates = _number("candidates", p.candidates, 1, 4, integer=True)
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
    )
