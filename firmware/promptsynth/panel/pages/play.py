"""Play: what is playing, and a level meter."""

from promptsynth.panel.pages.base import Page, text


def note_name(n) -> str:
    if n is None:
        return "--"
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return "%s%d" % (names[int(n) % 12], int(n) // 12 - 1)


class PlayPage(Page):
    title = "PLAY"

    def draw(self, d, m, ui):
        text(d, 0, 11, m.preset[:21])
        text(d, 0, 21, m.prompt[:21] if m.prompt else "(no prompt)")
        text(d, 0, 31, "%s %s" % (m.model[:14], m.model_state[:6]))
        text(d, 0, 41, "root %s %+.0fc  v%d" % (note_name(m.root), m.tune, m.voices))
        width = int(round(min(max(m.peak, 0.0), 1.0) * 124))
        d.rectangle((0, 55, 127, 63), outline=1, fill=0)
        if width > 0:
            d.rectangle((2, 57, 1 + width, 61), fill=1)
