"""Library: browse presets, load, save as, rename, delete (with a confirm)."""

from promptsynth.panel.font import x_of
from promptsynth.panel.pages.base import COLS, Page, menu, text


class LibraryPage(Page):
    title = "LIBRARY"

    def __init__(self):
        self.sel = 0
        self.mode = ""  # "", "save", "rename", "confirm"
        self.n = 0  # rows at the last draw (for the title's 3/15)

    def draw(self, d, m, ui):
        if self.mode in ("save", "rename"):
            text(d, 0, 12, "save as:" if self.mode == "save" else "rename to:")
            visible, cur = ui.name.window(COLS)
            text(d, 0, 24, visible)
            d.line((x_of(cur), 34, x_of(cur) + 5, 34), fill=1)
            text(d, 0, 52, "Enter: ok  Esc: back")
            return
        items = ui.presets()
        if self.mode == "confirm" and items:
            text(d, 0, 12, "delete")
            text(d, 0, 22, items[self.sel].name[:COLS])
            text(d, 0, 40, "press: yes  Esc: no")
            return
        rows = ["%s%s" % ("*" if p.bank == "factory" else " ", p.name) for p in items] + ["+ save current as..."]
        self.sel = min(self.sel, len(rows) - 1)
        self.n = len(rows)
        menu(d, rows, self.sel)

    def modal(self):
        return bool(self.mode)

    def position(self):
        return "%d/%d" % (self.sel + 1, self.n) if self.n and not self.mode else None

    def turn(self, ui, encoder, delta):
        if encoder != 1 or self.mode:
            return False
        self.sel = max(0, min(self.sel + delta, len(ui.presets())))
        return True

    def _selected(self, ui):
        items = ui.presets()
        return items[self.sel] if self.sel < len(items) else None

    def press(self, ui, kind):
        p = self._selected(ui)
        if self.mode == "confirm":
            if p is not None:
                ui.delete_preset(p)
            self.mode = ""
            return True
        if self.mode:
            return False
        if p is None:  # the "save current as" row
            if ui.kiosk and kind != "long":  # kiosk: editing sits behind a long press
                ui.flash("hold to save", kind="hint")
                return True
            self.mode = "save"
            ui.name.clear()
            ui.name.insert(ui.suggest_name())
            return True
        if kind == "short":
            ui.load_preset(p)
            return True
        if kind == "long" and p.bank != "factory":  # editing and deleting sit behind a long press
            self.mode = "confirm"
            return True
        return False

    def key(self, ui, key):
        if self.mode in ("save", "rename"):
            if key.char:
                ui.name.insert(key.char)
            elif key.name == "backspace":
                ui.name.backspace()
            elif key.name == "left":
                ui.name.left()
            elif key.name == "right":
                ui.name.right()
            elif key.name == "esc":
                self.mode = ""
            elif key.name == "enter":
                if self.mode == "save":
                    ok = ui.save_preset(ui.name.text)
                else:
                    ok = ui.rename_preset(self._selected(ui), ui.name.text)
                if ok:
                    self.mode = ""
            return True
        if key.name == "esc" and self.mode == "confirm":
            self.mode = ""
            return True
        if (
            key.name == "tab"
            and not ui.kiosk
            and self._selected(ui) is not None
            and self._selected(ui).bank != "factory"
        ):
            self.mode = "rename"
            ui.name.clear()
            ui.name.insert(self._selected(ui).name)
            return True
        if key.name in ("up", "down"):
            return self.turn(ui, 1, 1 if key.name == "down" else -1)
        if key.name == "enter":
            return self.press(ui, "short")
        if key.name == "delete":
            return self.press(ui, "long")
        return False
