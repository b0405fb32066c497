"""Builds the engine's compiled render kernel (firmware/promptsynth/engine/kernel/render.c) with
cffi; everything else about the package is in pyproject.toml.

The kernel is optional: where it cannot be compiled (no C compiler) the install goes on and the
engine plays through its numpy renderer, saying so (`promptsynth doctor`, the engine's log).
"""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join("firmware", "promptsynth", "engine", "kernel"))
from build import ffibuilder  # noqa: E402  (the builder, without importing the package)

kernel = ffibuilder.distutils_extension(tmpdir=os.path.join("build", "cffi"))
kernel.optional = True  # a failed build warns; the engine falls back to numpy

setup(ext_modules=[kernel])
