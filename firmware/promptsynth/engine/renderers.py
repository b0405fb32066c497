"""Which renderer plays the voices, picked by name at start-up (``[audio] renderer``).

``kernel`` is the compiled one (engine/kernel/: one C call a period); ``numpy`` the reference
(engine/render.py), which renders the same sound within float32 rounding, only slower. ``auto``
and ``kernel`` both fall back to the reference, with a warning, where the kernel cannot load:
the instrument plays either way.
"""

from __future__ import annotations

from typing import Tuple, Union

from promptsynth.config import RENDERERS
from promptsynth.engine import kernel
from promptsynth.engine.kernel.renderer import MAX_PERIOD, KernelRenderer
from promptsynth.engine.render import VoiceRenderer

Renderer = Union[KernelRenderer, VoiceRenderer]


def choose(name: str, period: int) -> Tuple[str, str]:
    """Which renderer ``name`` gets for ``period`` frames here: ("kernel" or "numpy", and a
    warning, "" if none, when the kernel was asked for and cannot render)."""
    if name not in RENDERERS:
        raise ValueError("renderer %r: choose one of %s" % (name, ", ".join(RENDERERS)))
    if name == "numpy":
        return "numpy", ""
    if period > MAX_PERIOD:
        return "numpy", "numpy renderer plays: the kernel renders periods up to %d frames" % MAX_PERIOD
    if kernel.load() is None:
        return "numpy", "numpy renderer plays: %s" % kernel.load_error
    return "kernel", ""


def make_renderer(name: str, rate: int, period: int, count: int) -> Tuple[Renderer, str]:
    """The renderer ``name`` gets (see :func:`choose`) for ``count`` voices of ``period``
    frames, and its warning."""
    which, warning = choose(name, period)
    module = kernel.load()
    if which == "kernel" and module is not None:
        return KernelRenderer(module, rate, period, count), warning
    return VoiceRenderer(rate, period, count), warning
