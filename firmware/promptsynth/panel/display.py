"""Displays, picked by name, behind one small wrapper that never lets a display error escape.

luma.core separates the device (ssd1306, sh1106) from the serial interface it talks through;
the same split lets the real drivers run here over :class:`RecordingSerial`, which keeps every
command and data byte (tests decode frames from it; the benchmark times the driver's encoding).
Any error at all (a display that is not there, a loose cable, a wrong bus or address, a driver
bug) marks the display broken; it is re-created (init sequence included) after a backoff that
grows from 0.1 s to 1 s, so a replugged display shows frames again within about a second, and
the sound never notices.
"""

from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Protocol, Tuple

from promptsynth.backoff import Backoff
from promptsynth.config import PanelConfig, choices
from promptsynth.log import describe

# luma.emulator imports pygame, whose greeting would land on stdout, where results go
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

WIDTH, HEIGHT = 128, 64
KINDS = tuple(k for k in choices(PanelConfig, "display") if k != "window")  # the window is the simulator's


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


def factory(
    kind: str, i2c_bus: int = 8, i2c_address: int = 0x3C, capture_dir: str = "", scale: int = 4, serial=None
) -> Optional[Callable[[], Any]]:
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
            return lambda: ed.capture(
                width=WIDTH, height=HEIGHT, mode="1", transform="none", scale=1, file_template=template
            )
        return lambda: ed.gifanim(
            width=WIDTH,
            height=HEIGHT,
            mode="1",
            transform="none",
            scale=1,
            filename=os.path.join(capture_dir or ".", "panel.gif"),
        )
    raise ValueError("unknown display %r (known: %s)" % (kind, ", ".join(KINDS)))


def _absent(e: BaseException) -> bool:
    """A display that is not there (no bus node, nothing at the address, no driver library),
    as opposed to one that is there and failing."""
    if isinstance(e, (FileNotFoundError, ImportError)):
        return True
    return type(e).__name__ in ("DeviceNotFoundError", "DeviceAddressError") or getattr(e, "errno", None) in (6, 19)


class Screen(Protocol):
    """What the panel draws on: a :class:`Display`, or the simulator's window."""

    @property
    def failures_in_a_row(self) -> int: ...

    def status(self) -> Tuple[str, str]: ...

    def show(self, image, now: float) -> bool: ...

    def close(self) -> None: ...


class Display:
    def __init__(self, make: Optional[Callable[[], Any]]):
        self.make = make
        self.device: Optional[Any] = None  # the luma device, made (again) by ``make`` when needed
        self.errors = 0
        self.frames = 0
        self.last_error = ""
        self.absent = False
        self.backoff = Backoff(first=0.1, limit=1.0)

    @property
    def failures_in_a_row(self) -> int:
        return self.backoff.failures

    def status(self) -> Tuple[str, str]:
        """("ok" | "absent" | "failed" | "off", detail) for the instrument's health."""
        if self.make is None:
            return "off", "no display configured"
        if self.backoff.failures:
            return ("absent" if self.absent else "failed"), self.last_error
        return "ok", ""

    def show(self, image, now: float) -> bool:
        """Send a frame; False (and a retry later) when the display is absent or failing."""
        if self.make is None or not self.backoff.due(now):
            return False
        try:
            if self.device is None:
                self.device = self.make()
            self.device.display(image)
        except Exception as e:  # whatever luma, smbus or a driver raises: never the sound's problem
            self.errors += 1
            self.last_error = describe(e)
            self.absent = _absent(e)
            self.device = None
            self.backoff.failed(now)
            return False
        self.backoff.succeeded()
        self.frames += 1
        return True

    def close(self) -> None:
        if self.device is not None:
            try:
                self.device.cleanup()
            except Exception:  # a display that is gone cannot be cleaned up: nothing to do
                pass
            self.device = None
