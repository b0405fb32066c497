"""Generate: progress with step, total and time left; a press cancels."""

from promptsynth.panel.pages.base import Page, text


class GeneratePage(Page):
    title = "GENERATE"

    def draw(self, d, m, ui):
        g = m.progress
        if g is None:
            text(d, 0, 12, "idle" if not m.queued else "%d waiting" % m.queued)
            text(d, 0, 24, (m.last_result or "")[:21])
            text(d, 0, 34, (m.last_result or "")[21:42])
            return
        step, total, left = g
        text(d, 0, 12, "step %d/%d" % (step, total))
        text(d, 0, 22, "%.1f s left" % left if step else "loading...")
        d.rectangle((0, 36, 127, 46), outline=1, fill=0)
        fill = int(round(124 * step / max(total, 1)))
        if fill:
            d.rectangle((2, 38, 1 + fill, 44), fill=1)
        text(d, 0, 52, "press: cancel")

    def press(self, ui, kind):
        return ui.cancel()

    def key(self, ui, key):
        if key.name == "esc":
            return ui.cancel()
        return False
