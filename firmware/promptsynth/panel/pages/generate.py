"""Generate: the running job (whoever asked for it: this page, a preset whose sound must be made
first, the web page), its step, total and time left, where it is made when a generation server
is in use ([generator] backend), and how many wait behind it.
Esc or a press cancels the running job; again within ESC_AGAIN_S (or with nothing running) it
clears the queue (``JobWatch.cancel``, panel/jobs.py)."""

from promptsynth.panel.pages.base import COLS, Page, text, wrap


class GeneratePage(Page):
    title = "GENERATE"

    def draw(self, d, m, ui):
        g = m.progress
        waiting = "%d waiting" % m.queued if m.queued else ""
        if m.running is None:
            text(d, 0, 12, "idle" if not m.queued else waiting)
            for i, line in enumerate(wrap(m.last_result or "")[:2]):
                text(d, 0, 24 + 10 * i, line)
            return
        step, total, left = g if g is not None else (0, 0, 0.0)
        text(d, 0, 12, ("step %d/%d" % (step, total)) if total else "starting...")
        if m.made_on:  # a generation server in use: where this one is being made
            text(d, 128 - 6 * len(m.made_on), 12, m.made_on)
        text(d, 0, 22, "%.1f s left" % left if step else "loading...")
        if waiting:
            text(d, 128 - 6 * len(waiting), 22, waiting)
        d.rectangle((0, 34, 127, 44), outline=1, fill=0)
        fill = int(round(124 * step / max(total, 1)))
        if fill:
            d.rectangle((2, 36, 1 + fill, 42), fill=1)
        hint = "Esc: cancel, 2x: all" if m.queued else "Esc/press: cancel"
        text(d, 0, 53, hint[:COLS])

    def press(self, ui, kind):
        return ui.jobs.cancel()
