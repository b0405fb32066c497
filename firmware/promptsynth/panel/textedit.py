"""Text entry for prompts and names: a cursor, editing keys, limits, and an encoder character wheel."""

from __future__ import annotations

import unicodedata

WHEEL = " abcdefghijklmnopqrstuvwxyz0123456789-.,'!?()"


class TextBuffer:
    def __init__(self, text: str = "", limit: int = 1000, refuse_control: bool = True):
        self.limit = limit
        self.refuse_control = refuse_control
        self.text = ""
        self.cursor = 0
        self.refused = 0
        self.insert(text)

    def insert(self, s: str) -> None:
        for ch in s:
            if self.refuse_control and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
                self.refused += 1
                continue
            if len(self.text) >= self.limit:
                self.refused += 1
                continue
            self.text = self.text[: self.cursor] + ch + self.text[self.cursor :]
            self.cursor += 1

    def backspace(self) -> None:
        if self.cursor > 0:
            self.text = self.text[: self.cursor - 1] + self.text[self.cursor :]
            self.cursor -= 1

    def delete(self) -> None:
        self.text = self.text[: self.cursor] + self.text[self.cursor + 1 :]

    def left(self) -> None:
        self.cursor = max(self.cursor - 1, 0)

    def right(self) -> None:
        self.cursor = min(self.cursor + 1, len(self.text))

    def home(self) -> None:
        self.cursor = 0

    def end(self) -> None:
        self.cursor = len(self.text)

    def clear(self) -> None:
        self.text, self.cursor = "", 0

    def window(self, width: int) -> tuple:
        """(visible text, cursor position in it) for a line of ``width`` characters: scrolls so the
        cursor is always visible."""
        start = max(0, min(self.cursor - width + 1, len(self.text) - width + 1)) if self.cursor >= width else 0
        return self.text[start : start + width], self.cursor - start


class CharWheel:
    """Spell with an encoder: turning picks a character, a press types it."""

    def __init__(self, chars: str = WHEEL):
        self.chars = chars
        self.index = 1

    def turn(self, delta: int) -> str:
        self.index = (self.index + delta) % len(self.chars)
        return self.chars[self.index]

    @property
    def char(self) -> str:
        return self.chars[self.index]
