"""The front panel as parts of the instrument: the display and the inputs named in [panel],
each picked by name at start-up (norns picks its drivers the same way), each reporting its own
health, none able to stop the sound.

A display that is not there, a keyboard unplugged mid-word, a GPIO chip that refuses: each is
marked absent or failed, retried by its own backoff, and shown on the System page, in the top
bar, in systemd's STATUS= and in `doctor`.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, List, Sequence, Tuple

from promptsynth.config import Config, state_dir
from promptsynth.daemon.health import ABSENT, Health
from promptsynth.log import describe
from promptsynth.panel.display import Display, Screen, factory
from promptsynth.panel.events import Event
from promptsynth.panel.panel import Panel

log = logging.getLogger("panel")


class Source:
    """One input: where its events come from, and its health."""

    def __init__(
        self,
        name: str,
        events: Callable[[float], Sequence[Event]],
        status: Callable[[], Tuple[str, str]],
        stop: Callable[[], None],
    ):
        self.name, self.events, self.status, self.stop = name, events, status, stop


def make_display(cfg: Config, health: Health) -> Screen:
    """The display named in [panel]; one whose library cannot even load plays on without it."""
    p = cfg.panel
    if p.display == "window":
        from promptsynth.panel.window import Window

        return Window()  # the simulator's: a Screen like Display
    cap = p.capture_dir or os.path.join(state_dir(cfg), "panel")
    try:
        return Display(factory(p.display, p.i2c_bus, p.i2c_address, cap))
    except Exception as e:  # no luma, no pygame: the sound never depends on a screen
        health.add("display", state=ABSENT, detail=describe(e))
        log.error("display %s unavailable: %s", p.display, describe(e))
        return Display(None)


def make_sources(cfg: Config, display, evdev=None, gpio=None) -> List[Source]:
    """The inputs named in [panel] (``evdev``, ``gpio``: modules for tests to pass)."""
    p = cfg.panel
    sources: List[Source] = []
    if p.display == "window":
        sources.append(Source("window", lambda now: display.events(), display.status, display.close))
    try:
        from promptsynth.panel.keyboard import EvdevKeyboard

        kb = EvdevKeyboard(p.keyboard, p.keymap, evdev=evdev)
        kb.start()
        sources.append(Source("keyboard", lambda now: kb.events(), kb.status, kb.stop))
    except ImportError as e:
        why = "evdev not installed (%s)" % e
        sources.append(Source("keyboard", lambda now: [], lambda: (ABSENT, why), lambda: None))
    if p.gpio == "jetson":
        from promptsynth.panel.gpio import Controls, GpioControls

        controls = GpioControls(
            Controls(
                [(p.encoder1_a, p.encoder1_b), (p.encoder2_a, p.encoder2_b)],
                [p.button1, p.button2],
                hold_s=p.kiosk_unlock_hold if p.kiosk and p.kiosk_unlock_hold else None,
            ),
            gpio,
        )
        controls.start()
        sources.append(Source("encoders", controls.events, controls.status, controls.stop))
    return sources


class FrontPanel:
    def __init__(self, cfg: Config, inst, health: Health, clock, evdev=None, gpio=None):
        p = cfg.panel
        self.health = health
        self.display = make_display(cfg, health)
        self.panel = Panel(
            inst,
            self.display,
            fps=p.fps,
            kiosk=p.kiosk,
            prompt_limit=p.prompt_limit if p.kiosk else 1000,
            idle_timeout=p.idle_timeout if p.kiosk else 0.0,
            attract=p.attract,
            clock=clock,
            kiosk_pin=p.kiosk_pin,
            unlock_timeout=p.kiosk_unlock_timeout,
        )
        health.add("display", required=p.display != "none")
        self.sources = make_sources(cfg, self.display, evdev, gpio)
        for s in self.sources:
            health.add(s.name, required=not (s.name == "keyboard" and not p.keyboard))

    @property
    def closed(self) -> bool:
        """The simulator's window was closed (a request to stop)."""
        return bool(getattr(self.display, "closed", False))

    def step(self, now: float) -> None:
        """Inputs to the panel, then a redraw if due; each input's health kept up to date.
        (The daemon runs this as the `panel` part: whatever raises here is contained there.)"""
        for s in self.sources:
            self.health.sync(s.name, *s.status())
            for ev in s.events(now):
                self.panel.handle(ev)
        self.panel.tick(now)
        if self.display.status()[0] != "off":
            self.health.sync("display", *self.display.status())

    def stop(self) -> None:
        for s in self.sources:
            try:
                s.stop()
            except Exception as e:  # stopping a part that already failed: say so, go on
                log.warning("%s did not stop cleanly: %s", s.name, describe(e))
        if hasattr(self.display, "close"):
            self.display.close()
