"""The panel's one font: X11 misc-fixed 6x10 (public domain, see fonts/README.md), a monospaced
bitmap font in PIL's own format, so every Pillow from 7 to the newest draws it the same way and
every character is exactly one 6-pixel cell: a text's width and a cursor's x are plain arithmetic,
never a measurement that differs between Pillow versions."""

from __future__ import annotations

import os

from PIL import ImageFont

CELL_W = 6  # pixels per character
LINE = 10  # pixels per text line (the cell's height)
COLS = 128 // CELL_W  # 21 characters on a line
PATH = os.path.join(os.path.dirname(__file__), "fonts", "6x10.pil")

FONT = ImageFont.load(PATH)


def printable(text: str) -> str:
    """The font has Latin-1 only: anything else shows as '?' (the text itself keeps it)."""
    return "".join(ch if 32 <= ord(ch) < 127 or 160 <= ord(ch) < 256 else "?" for ch in text)


def width(text: str) -> int:
    """Pixels a text takes."""
    return CELL_W * len(text)


def x_of(index: int, x0: int = 0) -> int:
    """The x of character ``index`` in a text drawn at ``x0`` (where a cursor goes)."""
    return x0 + CELL_W * index
