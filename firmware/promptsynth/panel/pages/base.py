"""What every page shares: the status bar, text helpers, a scrolling list, messages.

Text is drawn in the panel's monospaced 6x10 font (panel/font.py): 21 characters a line, lines
10 pixels apart, so a text's width and a cursor's x are exact."""

from __future__ import annotations

from typing import List, Optional, Sequence

from promptsynth.panel.font import CELL_W, COLS, FONT, LINE, printable, width

__all__ = ["COLS", "LINE", "ascii_only", "text", "status_bar", "menu", "row", "wrap", "Page", "RowsPage"]

ascii_only = printable  # the name the pages used when the font had ASCII only
BAR_W = 3  # a list's scroll bar, at the right edge


def text(d, x: int, y: int, s: str, fill: int = 1) -> None:
    """``s`` with its cell's top at y (the font leaves the cell's top row blank)."""
    d.text((x, y), printable(s), font=FONT, fill=fill)


def status_bar(d, title: str, flags: str, where: str = "") -> None:
    """Inverted bar on top: page title left, with a list's place (SOUND 9/17) when it fits
    whole; what matters in a hurry right (GEN 40% +2, LOAD, ERR). The flags always show whole,
    the title gives way."""
    d.rectangle((0, 0, 127, 9), fill=1)
    room = (127 - width(flags) - (CELL_W if flags else 0)) // CELL_W
    if where and len(title) + 1 + len(where) <= room:
        title = "%s %s" % (title, where)
    text(d, 1, 0, title[: max(room, 0)], fill=0)
    if flags:
        text(d, 128 - width(flags), 0, flags, fill=0)


def row(label: str, value: str, cols: int = COLS - 1) -> str:
    """A settings row: the label left, the value right-aligned (a long value wins over the label)."""
    room = cols - len(value) - 1
    if room < 1:
        return value[-cols:]
    return "%-*s %s" % (room, label[:room], value)


def menu(d, rows: Sequence[str], selected: int, top: int = 12, lines: int = 5) -> int:
    """A list with the selected row inverted, scrolled so it is visible, and a scroll bar at the
    right edge whenever not every row fits (its thumb's size and place say how many rows and
    where the view is). Returns the first row shown."""
    n = len(rows)
    first = min(max(selected - lines + 1, 0), max(n - lines, 0))
    scrolls = n > lines
    right = 127 - BAR_W - 1 if scrolls else 127
    cols = (right - 1) // CELL_W
    for i, r in enumerate(rows[first : first + lines]):
        y = top + i * LINE
        if first + i == selected:
            d.rectangle((0, y, right, y + LINE - 1), fill=1)
            text(d, 1, y, r[:cols], fill=0)
        else:
            text(d, 1, y, r[:cols])
    if scrolls:
        height = lines * LINE
        x0 = 128 - BAR_W
        d.line((x0 + 1, top, x0 + 1, top + height - 1), fill=1)  # the track: a thin line
        thumb = max(height * lines // n, 4)
        y0 = top + (height - thumb) * first // max(n - lines, 1)
        d.rectangle((x0, y0, 127, y0 + thumb - 1), fill=1)
    return first


def wrap(message: str, cols: int = COLS) -> List[str]:
    """A message broken into lines of ``cols`` characters at spaces (a word longer than a line
    is cut where it must be)."""
    lines: List[str] = []
    for para in message.splitlines() or [""]:
        line = ""
        for word in para.split(" "):
            while len(word) > cols:
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cols])
                word = word[cols:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= cols:
                line += " " + word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def message_box(d, message: str, kind: str, elapsed: float, max_lines: int = 3, line_s: float = 1.5) -> None:
    """A message over the bottom of any page, wrapped; longer than ``max_lines`` it scrolls a
    line every ``line_s`` seconds (and starts over). An error is inverted (white, it must be
    read); a hint or info is light text under a rule, so the two never look alike."""
    lines = wrap(message)
    shown = min(len(lines), max_lines)
    if len(lines) > max_lines:
        extra = len(lines) - max_lines + 1  # one pause at the end before starting over
        first = int(elapsed / line_s) % (extra + 1)
        first = min(first, len(lines) - max_lines)
        lines = lines[first : first + max_lines]
    top = 64 - shown * LINE - 1
    if kind == "error":
        d.rectangle((0, top, 127, 63), fill=1)
        fg = 0
    else:
        d.rectangle((0, top, 127, 63), fill=0)
        d.line((0, top, 127, top), fill=1)
        fg = 1
    for i, line in enumerate(lines[:shown]):
        text(d, 1, top + 1 + i * LINE, line, fill=fg)


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

    def modal(self) -> bool:
        """True while the page has a dialog open that Esc closes (not a job to cancel)."""
        return False

    def position(self) -> Optional[str]:
        """Where the page's list is, for the title ('3/15'), if it has one."""
        return None


class RowsPage(Page):
    """A page of selectable rows: up/down move the selection, left/right change the value
    (as turning the value encoder does)."""

    rows = 0  # how many rows (set by the page)
    sel = 0

    def key(self, ui, key):
        if key.name in ("up", "down"):
            self.sel = (self.sel + (1 if key.name == "down" else -1)) % self.rows
            return True
        if key.name in ("left", "right"):
            return self.turn(ui, 1, 1 if key.name == "right" else -1)
        return False

    def position(self) -> Optional[str]:
        return "%d/%d" % (self.sel + 1, self.rows)


def clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def rows_from(pairs: List[tuple]) -> List[str]:
    return [row(k, v) for k, v in pairs]
