"""Encoders and buttons on GPIO. Jetson.GPIO's edge callbacks run on its own thread: they only
append (pin, level, time) to a deque; the panel's loop decodes them (panel/encoder.py)."""
from __future__ import annotations

import time
from collections import deque
from typing import Deque, Dict, List, Sequence, Tuple

from promptsynth.panel.encoder import Acceleration, Button, QuadratureDecoder


class Controls:
    """Decoders for the encoders ((A pin, B pin) each) and buttons (pin each), fed by edges."""

    def __init__(self, encoders: Sequence[Tuple[int, int]], buttons: Sequence[int], accelerate: bool = True):
        self.encoders = [(a, b, QuadratureDecoder(), Acceleration() if accelerate else None) for a, b in encoders]
        self.buttons = [(pin, Button()) for pin in buttons]
        self.levels: Dict[int, int] = {pin: 1 for pair in encoders for pin in pair}
        self.levels.update({pin: 1 for pin in buttons})
        self.edges: Deque[Tuple[int, int, float]] = deque(maxlen=4096)

    def edge(self, pin: int, level: int, t: float) -> None:
        self.edges.append((pin, level, t))

    def events(self, now: float) -> List[tuple]:
        """("turn", encoder, delta) and ("press", button, kind) since the last call."""
        out = []
        while self.edges:
            pin, level, t = self.edges.popleft()
            self.levels[pin] = level
            for i, (a, b, dec, acc) in enumerate(self.encoders):
                if pin in (a, b):
                    n = dec.edge(self.levels[a], self.levels[b])
                    if n:
                        out.append(("turn", i, acc.scale(n, t) if acc else n))
            for i, (bp, btn) in enumerate(self.buttons):
                if pin == bp:
                    # settle what came before this edge at its own time, so a press that began
                    # and ended between two of our polls is still seen
                    out.extend(("press", i, kind) for kind in btn.poll(t))
                    btn.level(level, t)
        for i, (bp, btn) in enumerate(self.buttons):
            for kind in btn.poll(now):
                out.append(("press", i, kind))
        return out


def jetson(controls: Controls, gpio=None) -> object:
    """Wire ``controls`` to Jetson.GPIO (board pin numbers); ``gpio`` lets a test pass a fake module."""
    if gpio is None:
        import Jetson.GPIO as gpio          # raises on anything but a Jetson
    gpio.setmode(gpio.BOARD)
    for pin in controls.levels:
        gpio.setup(pin, gpio.IN)             # pull-ups are external: Jetson ignores pull_up_down
        gpio.add_event_detect(pin, gpio.BOTH,
                              callback=lambda ch: controls.edge(ch, gpio.input(ch), time.monotonic()))
    return gpio
