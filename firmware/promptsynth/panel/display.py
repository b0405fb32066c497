"""Displays, picked by name, behind one small wrapper that never lets a display error escape.

luma.core separates the device (ssd1306, sh1106) from the serial interface it talks through;
the same split lets the real drivers run here over :class:`RecordingSerial`, which keeps every
command and data byte (tests decode frames from it; the benchmark times the driver's encoding).
An I2C error (a loose cable) marks the display broken; it is re-created (init sequence
included) after a backoff that grows from 0.1 s to 5 s, and the sound never notices.
"""
from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

WIDTH, HEIGHT = 128, 64
KINDS = ("none", "dummy", "ssd1306", "sh1106", "pygame", "capture", "gif")


class RecordingSerial:
    """A luma serial interface that records; ``fail_every`` > 0 raises an I2C error now and then."""

    def __init__(self, fail_every: int = 0):
        self.log: List[Tuple[str, bytes]] = []
        self.fail_every = fail_every
        self.calls = 0

    def _maybe_fail(self):
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise OSError(121, "Remote I/O error")

    def command(self, *cmd):
        self._maybe_fail()
        self.log.append(("cmd", bytes(cmd)))

    def data(self, data):
        self._maybe_fail()
        self.log.append(("data", bytes(data)))

    def cleanup(self):
        pass

    def frame_bytes(self) -> bytes:
        return b"".join(d for kind, d in self.log if kind == "data")


def factory(kind: str, i2c_bus: int = 8, i2c_address: int = 0x3C, capture_dir: str = "", scale: int = 4,
            serial=None) -> Optional[Callable[[], object]]:
    """A function that makes the luma device (called again to re-initialise after an error)."""
    if kind == "none":
        return None
    if kind == "dummy":
        from luma.core.device import dummy
        return lambda: dummy(width=WIDTH, height=HEIGHT, mode="1")
    if kind in ("ssd1306", "sh1106"):
        import luma.oled.device as oled

        def make():
            if serial is not None:
                s = serial
            else:
                from luma.core.interface.serial import i2c
                s = i2c(port=i2c_bus, address=i2c_address)
            return getattr(oled, kind)(s, width=WIDTH, height=HEIGHT)
        return make
    if kind == "pygame":
        from luma.emulator.device import pygame as pg
        return lambda: pg(width=WIDTH, height=HEIGHT, mode="1", transform="scale2x", scale=max(scale // 2, 1))
    if kind in ("capture", "gif"):
        os.makedirs(capture_dir or ".", exist_ok=True)
        from luma.emulator import device as ed
        if kind == "capture":
            template = os.path.join(capture_dir or ".", "frame_{0:06}.png")
            return lambda: ed.capture(width=WIDTH, height=HEIGHT, mode="1", transform="none", scale=1,
                                      file_template=template)
        return lambda: ed.gifanim(width=WIDTH, height=HEIGHT, mode="1", transform="none", scale=1,
                                  filename=os.path.join(capture_dir or ".", "panel.gif"))
    raise ValueError("unknown display %r (known: %s)" % (kind, ", ".join(KINDS)))


class Display:
    def __init__(self, make: Optional[Callable[[], object]]):
        self.make = make
        self.device = None
        self.errors = 0
        self.failures_in_a_row = 0
        self.next_try = 0.0
        self.frames = 0
        self.last_error = ""

    def show(self, image, now: float) -> bool:
        """Send a frame; False (and a retry later) when the display is absent or failing."""
        if self.make is None or now < self.next_try:
            return False
        try:
            if self.device is None:
                self.device = self.make()
            self.device.display(image)
        except (OSError, IOError, RuntimeError) as e:
            self.errors += 1
            self.failures_in_a_row += 1
            self.last_error = str(e)
            self.device = None
            self.next_try = now + min(0.1 * 2 ** (self.failures_in_a_row - 1), 5.0)
            return False
        self.failures_in_a_row = 0
        self.frames += 1
        return True

    def close(self) -> None:
        if self.device is not None:
            try:
                self.device.cleanup()
            except Exception:
                pass
            self.device = None
