"""Encoders and buttons on GPIO. Jetson.GPIO's edge callbacks run on its own thread: they only
append (pin, level, time) to a deque; the panel's loop decodes them (panel/encoder.py)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple

from promptsynth.backoff import Backoff
from promptsynth.log import describe
from promptsynth.panel.encoder import Button, QuadratureDecoder
from promptsynth.panel.events import Event, Press, Turn


class Controls:
    """Decoders for the encoders ((A pin, B pin) each) and buttons (pin each), fed by edges."""

    def __init__(self, encoders: Sequence[Tuple[int, int]], buttons: Sequence[int], hold_s: Optional[float] = None):
        """``hold_s``: buttons also send 'hold' once held that long (the kiosk's unlock)."""
        # encoder i's push button is button i; acceleration is the panel's (from each turn's time)
        self.encoders = [(a, b, QuadratureDecoder()) for a, b in encoders]
        self.buttons = [(pin, Button(hold_s=hold_s)) for pin in buttons]
        self.levels: Dict[int, int] = {pin: 1 for pair in encoders for pin in pair}
        self.levels.update({pin: 1 for pin in buttons})
        self.edges: Deque[Tuple[int, int, float]] = deque(maxlen=4096)
        self.error = ""  # set when reading a pin failed on the GPIO thread

    def edge(self, pin: int, level: int, t: float) -> None:
        self.edges.append((pin, level, t))

    def events(self, now: float) -> List[tuple]:
        """("turn", encoder, delta, time, fine) and ("press", button, kind) since the last call.
        Turning an encoder while holding its own button is fine mode, and that press is then no
        press at all."""
        out: List[tuple] = []
        while self.edges:
            pin, level, t = self.edges.popleft()
            self.levels[pin] = level
            for i, (a, b, dec) in enumerate(self.encoders):
                if pin in (a, b):
                    n = dec.edge(self.levels[a], self.levels[b])
                    if n:
                        btn = self.buttons[i][1] if i < len(self.buttons) else None
                        fine = btn is not None and btn.down
                        if fine and btn is not None:
                            btn.consume()
                        out.append(("turn", i, n, t, fine))
            for i, (bp, btn) in enumerate(self.buttons):
                if pin == bp:
                    # settle what came before this edge at its own time, so a press that began
                    # and ended between two of our polls is still seen
                    out.extend(("press", i, kind) for kind in btn.poll(t))
                    btn.level(level, t)
        for i, (_pin, btn) in enumerate(self.buttons):
            for kind in btn.poll(now):
                out.append(("press", i, kind))
        return out


def jetson(controls: Controls, gpio=None) -> object:
    """Wire ``controls`` to Jetson.GPIO (board pin numbers); ``gpio`` lets a test pass a fake module."""
    if gpio is None:
        import Jetson.GPIO  # raises on anything but a Jetson

        gpio = Jetson.GPIO
    gpio.setmode(gpio.BOARD)
    for pin in controls.levels:
        gpio.setup(pin, gpio.IN)  # pull-ups are external: Jetson ignores pull_up_down
        gpio.add_event_detect(pin, gpio.BOTH, callback=lambda ch: _edge(controls, gpio, ch))
    return gpio


def _edge(controls: Controls, gpio, ch: int) -> None:
    """On Jetson.GPIO's thread: read the level and queue the edge; never raise there (it would
    end that thread, and with it every later edge)."""
    try:
        controls.edge(ch, gpio.input(ch), time.monotonic())
        controls.error = ""
    except Exception as e:
        controls.error = describe(e)


class GpioControls:
    """The encoders and buttons as a part that can be absent or fail: Jetson.GPIO is set up on a
    thread (each add_event_detect sleeps a second, the panel's loop must not), and a setup that
    fails (not a Jetson, no permission, a pin in use) is tried again with a backoff."""

    def __init__(self, controls: Controls, gpio=None):
        self.controls = controls
        self.gpio_module = gpio
        self.gpio: Optional[object] = None  # the Jetson.GPIO module once set up
        self.state, self.error = "absent", "not set up yet"
        self.backoff = Backoff(first=0.5, limit=30.0)  # a failed set-up is quick to try again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panel-gpio", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            gpio = self.gpio_module
            try:
                if gpio is None:
                    import Jetson.GPIO  # raises RuntimeError on anything but a Jetson

                    gpio = Jetson.GPIO
                self.gpio = jetson(self.controls, gpio)
                self.state, self.error = "ok", ""
                return
            except Exception as e:  # RuntimeError (not a Jetson, no access), ValueError (a pin), ...
                _cleanup(gpio)
                absent = (
                    isinstance(e, (ImportError, FileNotFoundError))
                    or "not a jetson" in str(e).lower()
                    or "could not determine" in str(e).lower()
                )
                self.state, self.error = ("absent" if absent else "failed"), describe(e)
            self._stop.wait(self.backoff.failed(0.0))

    def status(self) -> Tuple[str, str]:
        if self.state == "ok" and self.controls.error:
            return "failed", self.controls.error
        return self.state, self.error

    def events(self, now: float) -> List[Event]:
        events = self.controls.events(now)
        return [Turn(e[1], e[2], e[3], e[4]) if e[0] == "turn" else Press(e[1], e[2]) for e in events]

    def stop(self) -> None:
        self._stop.set()
        _cleanup(self.gpio)
        self.gpio = None


def _cleanup(gpio) -> None:
    try:
        if gpio is not None:
            gpio.cleanup()
    except Exception:  # a half-set-up chip: nothing more to release
        pass
