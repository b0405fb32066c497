"""Library: browse presets, load, save as (asking before replacing one), rename, delete (with a
confirm). A preset whose sound is missing is marked "!" (loading it generates the sound again
from its recipe); factory presets are marked "*"."""

from promptsynth.panel.font import x_of
from promptsynth.panel.pages.base import COLS, Page, menu, text


class LibraryPage(Page):
    title = "LIBRARY"

    def __init__(self):
        self.sel = 0
        self.mode = ""  # "", "save", "rename", "confirm" (delete), "overwrite" (save over a preset)
        self.target = None  # (bank, name) of the preset a confirm or rename is about
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
        if self.mode in ("confirm", "overwrite") and self.target is not None:
            text(d, 0, 12, "delete" if self.mode == "confirm" else "replace the preset")
            text(d, 0, 22, self.target[1][:COLS])
            text(d, 0, 40, "press: yes  Esc: no")
            return
        rows = ["%s%s" % (_mark(p), p.name) for p in items] + (["+ save current as..."] if _can_save(ui) else [])
        self.sel = max(0, min(self.sel, len(rows) - 1))
        self.n = len(rows)
        menu(d, rows, self.sel)

    def modal(self):
        return bool(self.mode)

    def position(self):
        return "%d/%d" % (self.sel + 1, self.n) if self.n and not self.mode else None

    def turn(self, ui, encoder, delta):
        if encoder != 1 or self.mode:
            return False
        last = len(ui.presets()) - (0 if _can_save(ui) else 1)  # the save row is the last, if shown
        self.sel = max(0, min(self.sel + delta, last))
        return True

    # Key and press handling. Each action is asked for by name (ui.may via the panel's action
    # methods), so in kiosk mode no key stands in for a press that unlocks something: Delete asks
    # to delete, Tab to rename, Enter loads (or, on the last row, asks to save).

    def leave(self, ui):
        """Leaving the page disarms a delete confirm and drops a name being typed."""
        self.mode, self.target = "", None

    def _selected(self, ui):
        items = ui.presets()
        return items[self.sel] if self.sel < len(items) else None

    def _target(self, ui):
        """The preset an armed confirm or rename is about (by bank and name, not by row: the list
        may have changed under it), if it still exists."""
        for p in ui.presets():
            if (p.bank, p.name) == self.target:
                return p
        return None

    def _select(self, ui, bank, name):
        """Keep the selection on a preset after the list changed (a rename re-sorts it)."""
        for i, p in enumerate(ui.presets()):
            if (p.bank, p.name) == (bank, name):
                self.sel = i
                return

    def _ask_save(self, ui):
        if ui.may("save"):
            self.mode = "save"
            ui.name.clear()
            ui.name.insert(ui.suggest_name())
        return True

    def _ask_delete(self, ui, p):
        if p is None:  # the "save current as" row: nothing to delete
            return False
        if not ui.may("delete", p.name):
            return True
        if p.bank == "factory":
            ui.flash("factory: read-only", kind="hint")
            return True
        self.mode, self.target = "confirm", (p.bank, p.name)
        return True

    def _ask_rename(self, ui, p):
        if p is None or p.bank == "factory":  # nothing to rename: Tab is the select encoder
            return False
        if not ui.may("rename", p.name):
            return True
        self.mode, self.target = "rename", (p.bank, p.name)
        ui.name.clear()
        ui.name.insert(p.name)
        return True

    def _confirmed(self, ui):
        p = self._target(ui)
        self.mode, self.target = "", None
        if p is not None:
            ui.delete_preset(p)  # the row now shows the next preset: a new Delete asks again
        return True

    def _saved(self, ui, overwrite=False):
        name = ui.name.text if self.mode == "save" else self.target[1]
        done = ui.save_preset(name, overwrite=overwrite)
        if done is None:  # a preset of that name exists: ask before replacing it
            self.mode, self.target = "overwrite", ("user", name)
        elif done:
            self.mode, self.target = "", None
            self.sel = len(ui.presets())  # still the "save current as" row, not a preset
        elif overwrite:  # refused (said why): back to the name, to change it
            self.mode, self.target = "save", None

    def _enter_name(self, ui):
        if self.mode == "save":
            self._saved(ui)
            return
        p = self._target(ui)
        if p is None:  # renamed or deleted meanwhile
            self.mode, self.target = "", None
            return
        if ui.rename_preset(p, ui.name.text):
            self.mode, self.target = "", None
            self._select(ui, p.bank, ui.name.text)

    def press(self, ui, kind):
        if self.mode == "confirm":
            return self._confirmed(ui)
        if self.mode == "overwrite":
            self._saved(ui, overwrite=True)
            return True
        if self.mode:
            return False
        p = self._selected(ui)
        if p is None:  # the "save current as" row
            return self._ask_save(ui)
        if kind == "short":
            ui.load_preset(p)
            return True
        if kind == "long":  # the encoder's way to delete (a confirm follows)
            return self._ask_delete(ui, p)
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
                self.mode, self.target = "", None
            elif key.name == "enter":
                self._enter_name(ui)
            return True
        if self.mode == "overwrite":
            if key.name == "esc":  # no: back to the name, to change it
                self.mode, self.target = "save", None
                return True
            if key.name == "enter":
                return self.press(ui, "short")
            return key.name != ""
        if self.mode == "confirm":
            if key.name == "esc":
                self.mode, self.target = "", None
                return True
            if key.name == "enter":
                return self._confirmed(ui)
            return key.name != ""  # other keys do nothing while asking; typing leaves the page
        if key.name == "tab":
            return self._ask_rename(ui, self._selected(ui))
        if key.name in ("up", "down"):
            return self.turn(ui, 1, 1 if key.name == "down" else -1)
        if key.name == "enter":
            return self.press(ui, "short")
        if key.name == "delete":
            return self._ask_delete(ui, self._selected(ui))
        return False


def _mark(p) -> str:
    """A row's first column: "!" the preset's sound is missing, "*" factory, " " user."""
    return "!" if getattr(p, "missing_sound", False) else "*" if p.bank == "factory" else " "


def _can_save(ui) -> bool:
    """The "+ save current as..." row is shown only where saving is allowed (not to a visitor
    of a locked kiosk, who could only be refused)."""
    return ui.lock.allows("save")
