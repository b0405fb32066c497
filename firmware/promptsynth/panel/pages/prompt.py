"""Prompt: type a description (keyboard, or spell it with the encoder); Enter generates."""

from promptsynth.panel.font import x_of
from promptsynth.panel.pages.base import COLS, LINE, Page, text


class PromptPage(Page):
    title = "PROMPT"

    def draw(self, d, m, ui):
        buf = ui.prompt
        # three lines of scrolling text with the cursor kept visible
        width = COLS * 3
        visible, cur = buf.window(width)
        for r in range(3):
            text(d, 0, 11 + r * LINE, visible[r * COLS : (r + 1) * COLS])
        # the cursor: an underline under its cell (monospaced: the cell's x is exact)
        cx, cy = x_of(cur % COLS), 11 + (cur // COLS) * LINE
        d.line((cx, cy + LINE, cx + 5, cy + LINE), fill=1)
        hint = "wheel [%s]" % ui.wheel.char if ui.spelling else "%d/%d  Enter: make" % (len(buf.text), buf.limit)
        text(d, 0, 53, hint[:COLS])

    def turn(self, ui, encoder, delta):
        if encoder == 1:  # the value encoder spells from the character wheel
            ui.spelling = True
            ui.wheel.turn(delta)
            return True
        return False

    def press(self, ui, kind):
        if kind == "short" and ui.spelling:
            ui.prompt.insert(ui.wheel.char)
            return True
        if kind == "long":
            ui.generate()
            return True
        return False

    def key(self, ui, key):
        b = ui.prompt
        actions = {
            "backspace": b.backspace,
            "delete": b.delete,
            "left": b.left,
            "right": b.right,
            "home": b.home,
            "end": b.end,
        }
        if key.char:
            b.insert(key.char)
        elif key.name in actions:
            actions[key.name]()
        elif key.name == "enter":
            ui.generate()
        else:
            return False
        return True
