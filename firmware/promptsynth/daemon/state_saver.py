"""The current state on disk (what plays after a power cut): saved once an encoder spin has
settled, not at every detent, and tried again with a backoff while the disk refuses."""

from __future__ import annotations

from typing import Callable, Optional

from promptsynth.backoff import Backoff
from promptsynth.daemon.health import FAILED, OK, Health
from promptsynth.library.presets import Preset, PresetStore
from promptsynth.log import describe

SAVE_EVERY_S = 0.5  # an encoder spin saves the state once, not at every detent


class StateSaver:
    def __init__(self, store: PresetStore, health: Health, clock: Callable[[], float]):
        self.store, self.health, self.clock = store, health, clock
        self.due: Optional[float] = None  # when the next save is due, if one is
        self._backoff = Backoff(first=1.0, limit=60.0)

    def soon(self) -> None:
        """An edit: save within SAVE_EVERY_S (one save for a whole spin of edits)."""
        if self.due is None:
            self.due = self.clock() + SAVE_EVERY_S

    def save(self, preset: Preset) -> bool:
        """Save now; False when the disk refuses (full, read-only): reported as the library's
        health, nothing raised, and due again after a backoff until it works."""
        self.due = None
        try:
            self.store.save_state(preset)
        except OSError as e:
            self.due = self.clock() + self._backoff.failed(self.clock())
            self.health.sync("library", FAILED, "the state was not saved: %s" % describe(e))
            return False
        self._backoff.succeeded()
        self.health.sync("library", OK)
        return True

    def poll(self, now: float, preset: Preset) -> None:
        if self.due is not None and now >= self.due:
            self.save(preset)
