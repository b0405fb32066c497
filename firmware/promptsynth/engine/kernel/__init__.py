"""The compiled render kernel (render.c, built by build.py with cffi) and its Python side.

``load()`` returns the compiled module, or None with the reason in ``load_error``: the engine
then plays through the numpy reference renderer (engine/render.py), which renders the same
sound, only slower.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Optional

load_error = ""


def layout() -> int:
    """The voice and settings layout this source expects of the kernel (render.c's ps_layout)."""
    from promptsynth.engine.period_settings import FP_COUNT
    from promptsynth.engine.voices import NCOLS

    return NCOLS * 100 + FP_COUNT


def load() -> Optional[ModuleType]:
    global load_error
    try:
        module = importlib.import_module(__name__ + "._render")
    except ImportError as e:  # not built (no compiler at install), or built for another Python
        load_error = "render kernel not built (%s)" % e
        return None
    if module.lib.ps_layout() != layout():  # built from an older render.c: it would misread the voices
        load_error = "render kernel out of date (rebuild it: python -m promptsynth.engine.kernel.build)"
        return None
    return module
