"""Following generation jobs, whoever submitted them, and what Esc cancels.

The panel follows every job from the instrument's event log (``events_since``): the Prompt page's,
a preset load generating its sound, another input's. The generator runs one job at a time, oldest
first, so the oldest job not yet ended is the running one; the top bar shows it and how many wait.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from promptsynth.generator import protocol as gm
from promptsynth.panel.view import Model

ESC_AGAIN_S = 2.0  # a second Esc this soon after one that cancelled the running job clears the queue


class JobWatch:
    """The jobs queued or running, the one this panel submitted, and Esc's cancel.

    ``flash(message, kind=...)`` is the panel's: a failure is an error, a cancel is news (info).
    """

    def __init__(self, inst, clock: Callable[[], float], flash: Callable[..., None]):
        self.inst, self.clock, self.flash = inst, clock, flash
        self.ids: List[int] = []  # jobs queued or running, oldest (the running one) first
        self.mine: Optional[int] = None  # the last job this panel submitted, until it ends
        self.last_seed: object = None  # the last result's seed, as its recipe has it
        self.esc_at = -1e9  # the last Esc that cancelled the running job
        self._cancelled: List[int] = []  # jobs this panel cancelled (said once, not per job)
        self._seq = inst.events_since(0)[0]

    @property
    def running(self) -> Optional[int]:
        """The job being generated now, whoever submitted it."""
        return self.ids[0] if self.ids else None

    def busy(self) -> bool:
        """Is there a job Esc would cancel?"""
        return bool(self.ids or self.inst.queued())

    def submit(self, prompt: str) -> None:
        """Generate from ``prompt``; raises what the instrument raises (a refused prompt, a full queue)."""
        self.mine = self.inst.generate(prompt)

    def cancel(self) -> bool:
        """Esc: cancel the running job; a second Esc within ESC_AGAIN_S, or one with nothing
        running, cancels every job (the queue and whatever runs). True if anything was cancelled."""
        now = self.clock()
        running = self.running
        if running is not None and now - self.esc_at >= ESC_AGAIN_S:
            self._cancelled.append(running)
            n = self.inst.cancel(running)
            self.esc_at = now
            waiting = self.inst.queued()
            if n:
                self.flash("cancelled" + ("; Esc again: cancel %d waiting" % waiting if waiting else ""), kind="info")
            return n > 0
        self.esc_at = -1e9
        self._cancelled.extend(self.ids)
        n = self.inst.cancel()
        if n:
            self.flash("cancelled %d job%s" % (n, "" if n == 1 else "s"), kind="info")
        return n > 0

    def forget(self) -> None:
        """The idle return: the jobs it cancels are no news for the next visitor, nor is the seed."""
        self._cancelled.extend(self.ids)
        self.mine, self.last_seed = None, None

    def follow(self, m: Model) -> None:
        """Take the generator's events since the last call into ``m`` (progress, last result)."""
        self._seq, events = self.inst.events_since(self._seq)
        for ev in events:
            if isinstance(ev, gm.Queued):
                if ev.job_id not in self.ids:
                    self.ids.append(ev.job_id)
            elif isinstance(ev, gm.Progress):
                if ev.job_id not in self.ids:  # queued before this panel looked
                    self.ids.insert(0, ev.job_id)
                if ev.job_id == self.running:
                    m.progress = (ev.step, ev.total, ev.remaining)
            elif isinstance(ev, (gm.Result, gm.Failed)):
                if ev.job_id == self.running:
                    m.progress = None
                if ev.job_id in self.ids:
                    self.ids.remove(ev.job_id)
                if ev.job_id == self.mine:
                    self.mine = None
                if isinstance(ev, gm.Result):
                    self.last_seed = ev.recipe.get("seed")
                    m.last_result = "seed %s" % self.last_seed
                elif ev.kind == "cancelled":  # asked for: news, not an error
                    if ev.job_id in self._cancelled:
                        self._cancelled.remove(ev.job_id)  # cancel() said so already
                    else:
                        self.flash("job %d cancelled" % ev.job_id, kind="info")
                else:
                    self.flash("%s: %s" % (ev.kind, ev.reason))
        m.running = self.running
