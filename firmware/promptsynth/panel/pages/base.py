"""What every page shares: the status bar, text helpers, a selectable list."""

from __future__ import annotations

from typing import List, Sequence

from PIL import ImageFont

FONT = ImageFont.load_default()
LINE = 10  # pixels per text line
COLS = 21  # characters per line (6 px each)


def ascii_only(text: str) -> str:
    """The OLED font has ASCII only: anything else shows as '?' (the prompt keeps its text)."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def text(d, x: int, y: int, s: str, fill: int = 1) -> None:
    d.text((x, y), ascii_only(s), font=FONT, fill=fill)


def status_bar(d, title: str, flags: str) -> None:
    """Inverted bar on top: page title left, what matters in a hurry right (GEN 40%, LOAD, ERR)."""
    d.rectangle((0, 0, 127, 9), fill=1)
    text(d, 1, -1, title[:12], fill=0)
    if flags:
        w = 6 * len(flags)
        text(d, 127 - w, -1, flags, fill=0)


def menu(d, rows: Sequence[str], selected: int, top: int = 12, lines: int = 5) -> None:
    """A list with the selected row inverted, scrolled so it is visible."""
    first = min(max(selected - lines + 1, 0), max(len(rows) - lines, 0))
    for i, row in enumerate(rows[first : first + lines]):
        y = top + i * LINE
        if first + i == selected:
            d.rectangle((0, y, 127, y + LINE - 1), fill=1)
            text(d, 2, y - 1, row[:COLS], fill=0)
        else:
            text(d, 2, y - 1, row[:COLS])


class Page:
    title = ""

    def draw(self, d, m, ui) -> None:
        raise NotImplementedError

    def turn(self, ui, encoder: int, delta: int) -> bool:
        return False

    def press(self, ui, kind: str) -> bool:
        return False

    def key(self, ui, key) -> bool:
        return False


class RowsPage(Page):
    """A page of selectable rows: up/down move the selection, left/right change the value
    (as turning the value encoder does)."""

    rows = 0  # how many rows (set by the page)

    def key(self, ui, key):
        if key.name in ("up", "down"):
            self.sel = (self.sel + (1 if key.name == "down" else -1)) % self.rows
            return True
        if key.name in ("left", "right"):
            return self.turn(ui, 1, 1 if key.name == "right" else -1)
        return False


def clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def rows_from(pairs: List[tuple]) -> List[str]:
    return ["%-8s %s" % (k, v) for k, v in pairs]
