"""Play: what is playing, and a level meter."""

from promptsynth.panel import fmt
from promptsynth.panel.pages.base import COLS, Page, text


def note_name(n) -> str:  # kept for callers of the old name
    return fmt.note(n)


class PlayPage(Page):
    title = "PLAY"

    def draw(self, d, m, ui):
        text(d, 0, 11, (m.preset or fmt.MISSING)[:COLS])
        text(d, 0, 21, m.prompt[:COLS] if m.prompt else "(no prompt)")
        text(d, 0, 31, "%s %s" % ((m.model or fmt.MISSING)[:13], (m.model_state or "")[:7]))
        line = "root %s %s" % (fmt.note(m.root), fmt.cents(m.tune))
        voices = "v%d" % m.voices
        text(d, 0, 41, "%-*s%s" % (COLS - len(voices), line, voices))
        width = int(round(min(max(m.peak, 0.0), 1.0) * 124))
        d.rectangle((0, 55, 127, 63), outline=1, fill=0)
        if width > 0:
            d.rectangle((2, 57, 1 + width, 61), fill=1)
