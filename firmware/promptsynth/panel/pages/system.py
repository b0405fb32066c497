"""System: network, temperatures, memory, model, audio, MIDI, xruns, version."""

from promptsynth.panel.pages.base import Page, menu


class SystemPage(Page):
    title = "SYSTEM"

    def __init__(self):
        self.sel = 0
        self.n = 0

    def draw(self, d, m, ui):
        self.n = len(m.system)
        menu(d, m.system, self.sel)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        self.sel = max(0, min(self.sel + delta, len(ui.model.system) - 1))
        return True

    def position(self):
        return "%d/%d" % (self.sel + 1, self.n) if self.n else None
