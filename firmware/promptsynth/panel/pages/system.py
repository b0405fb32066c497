"""System: network, temperatures, memory, model, audio, MIDI, xruns, version."""

from promptsynth.panel.pages.base import Page, menu


class SystemPage(Page):
    title = "SYSTEM"

    def __init__(self):
        self.sel = 0

    def draw(self, d, m, ui):
        menu(d, m.system, self.sel)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        self.sel = max(0, min(self.sel + delta, len(ui.model.system) - 1))
        return True
