"""Builds the render kernel (render.c) into ``promptsynth.engine.kernel._render`` with cffi.

Run by setup.py when the package is installed (``cffi_modules``), so the device compiles it once
with its own compiler and flags; ``python -m promptsynth.engine.kernel.build`` builds it in place
for a source checkout. A failed build is not fatal: the engine then plays through the numpy
renderer (engine/render.py) and says so.
"""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = "promptsynth.engine.kernel._render"


def _header() -> str:
    with open(os.path.join(HERE, "render.h")) as f:
        return "".join(line for line in f if not line.startswith("#"))


def make_builder(relative: bool = True) -> FFI:
    """The cffi builder; paths relative to the working directory (setuptools, run from the
    project root, refuses absolute ones) or absolute (a build in place from anywhere)."""
    where = os.path.relpath if relative else os.path.abspath
    builder = FFI()
    builder.cdef(_header())
    builder.set_source(
        MODULE,
        '#include "render.h"',
        sources=[where(os.path.join(HERE, "render.c"))],
        include_dirs=[where(HERE)],
        # -O3: the per-frame loops vectorise (-fno-trapping-math lets them select without
        # branches; it changes no result). No -ffast-math, and no fused multiply-add (which
        # aarch64 compilers use by default): every operation rounds as written
        extra_compile_args=["-O3", "-std=gnu99", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"],
        libraries=["m"],
    )
    return builder


ffibuilder = make_builder()  # what setup.py's cffi_modules names

if __name__ == "__main__":
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # C file and objects stay out of the tree
        built = make_builder(relative=False).compile(tmpdir=tmp)
        shutil.copy(built, HERE)
        print(os.path.join(HERE, os.path.basename(built)))
