"""Every part but the engine can fail, at start-up or mid-run, in each way its library can; the
real daemon marks it, keeps the sound going (measured in the ALSA tap: frames in real time, no
silent period under a held note), and takes the part back when the fault clears.

What cannot exist here is faked at its lowest level, behind the real libraries where they run:
the kernel's I2C device under luma's real i2c interface and SSD1306 driver (smbus2.SMBus), the
input devices under evdev's interface, the GPIO chip under Jetson.GPIO's interface, and the
operating system's answers to the library's writes (its mkstemp, os.makedirs).
"""

import errno
import os
import threading

import pytest
from evdev import InputEvent, ecodes

from conftest import AudioWatch, step_for, step_until
from promptsynth import config
from promptsynth.bench.rig import I2CBus
from promptsynth.daemon.run import Daemon
from promptsynth.engine import messages as m


@pytest.fixture
def playing(rig, tmp_path):
    """``playing(**panel)``: a daemon on the rig's paced tap holding a note, its audio watched."""
    made = []

    def start(evdev_module=None, gpio_module=None, **panel):
        cfg = config.replace(rig.config("tap_jack"), "paths", state=str(tmp_path / "state"))
        if panel:
            cfg = config.replace(cfg, "panel", **panel)
        path = rig.tap_path("tap_jack")
        if os.path.exists(path):
            os.unlink(path)
        d = Daemon(cfg, rig.env, evdev=evdev_module, gpio=gpio_module)
        made.append(d)
        d.start(generator=False)
        assert d.host.wait_ready(60.0), [n.text for n in d.host.notices]
        d.host.send(m.Midi(bytes([0x90, 60, 100])))  # held for the whole test
        assert step_until(d, lambda: d.host.stats["voices"] == 1, 30.0)
        step_for(d, 0.2)
        return d, AudioWatch(rig, d.host)

    yield start
    for d in made:
        d.stop()


def state_of(d, part):
    p = d.health.parts.get(part)
    return (p.state, p.detail) if p else ("missing", "")


# ---- the display: luma's i2c interface and SSD1306 driver over a faulty kernel bus ---------------

DISPLAY_FAULTS = [  # (where, what the kernel answers, the type the daemon reports)
    ("open", OSError(errno.ENOENT, "No such file or directory", "/dev/i2c-8"), "DeviceNotFoundError"),
    ("open", PermissionError(errno.EACCES, "Permission denied", "/dev/i2c-8"), "DevicePermissionError"),
    ("open", OSError(errno.EBUSY, "Device or resource busy", "/dev/i2c-8"), "OSError"),
    ("io", OSError(errno.EREMOTEIO, "Remote I/O error"), "DeviceNotFoundError"),
    ("io", OSError(errno.EIO, "Input/output error"), "DeviceNotFoundError"),
    ("io", OSError(errno.ETIMEDOUT, "Connection timed out"), "TimeoutError"),
    ("io", OSError(errno.ENXIO, "No such device or address"), "OSError"),
    ("io", RuntimeError("a driver bug"), "RuntimeError"),
]


def test_display_faults_at_open_and_mid_run_never_touch_the_sound(playing, monkeypatch):
    import smbus2

    bus = I2CBus()
    monkeypatch.setattr(smbus2, "SMBus", bus.SMBus)
    bus.open_fault = DISPLAY_FAULTS[0][1]  # absent at start-up
    d, audio = playing(display="ssd1306", gpio="none")
    for where, fault, reported in DISPLAY_FAULTS:
        setattr(bus, where + "_fault", fault)
        if where == "open":  # unplugged: the re-open meets the fault
            bus.io_fault = OSError(errno.EREMOTEIO, "Remote I/O error")
        d.front.panel.flash("redraw %s" % reported)  # something new to draw
        assert step_until(d, lambda: state_of(d, "display")[1].startswith(reported), 10.0), (
            where,
            reported,
            state_of(d, "display"),
        )
        assert state_of(d, "display")[0] in ("absent", "failed")
        step_for(d, 0.3)  # retried while broken: still no crash
        bus.open_fault = bus.io_fault = None
        frames = bus.frames
        d.front.panel.flash("back")
        assert step_until(d, lambda: state_of(d, "display")[0] == "ok" and bus.frames > frames, 10.0), state_of(
            d, "display"
        )
    assert d.health.parts["display"].failures >= len(DISPLAY_FAULTS)
    audio.check()


# ---- the keyboard: evdev's interface over input devices that come, go and refuse --------------


class FakeKeyboard:
    def __init__(self, name="USB Keyboard"):
        self.name = name
        self.fd, self._w = os.pipe()
        self.events = []
        self.grab_fault = self.read_fault = None
        self.lock = threading.Lock()

    def capabilities(self):
        return {ecodes.EV_KEY: [ecodes.KEY_A, ecodes.KEY_B, ecodes.KEY_ENTER]}

    def grab(self):
        if self.grab_fault is not None:
            raise self.grab_fault

    def type(self, text):
        with self.lock:
            for ch in text:
                code = getattr(ecodes, "KEY_" + ch.upper())
                self.events += [InputEvent(0, 0, ecodes.EV_KEY, code, 1), InputEvent(0, 0, ecodes.EV_KEY, code, 0)]
        os.write(self._w, b"x")

    def wake(self):
        os.write(self._w, b"x")

    def read(self):
        os.read(self.fd, 4096)
        if self.read_fault is not None:
            raise self.read_fault
        with self.lock:
            got, self.events = self.events, []
        if not got:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return iter(got)

    def close(self):
        pass


class FakeEvdev:
    """evdev's module interface (list_devices, InputDevice, ecodes) over devices a test plugs."""

    ecodes = ecodes

    def __init__(self):
        self.devices = {}
        self.list_fault = self.open_fault = None

    def list_devices(self):
        if self.list_fault is not None:
            raise self.list_fault
        return list(self.devices)

    def InputDevice(self, path):  # noqa: N802 (evdev's name)
        if self.open_fault is not None:
            raise self.open_fault
        if path not in self.devices:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return self.devices[path]


def test_keyboard_absent_refused_unplugged_mid_word_and_back(playing):
    ev = FakeEvdev()
    d, audio = playing(evdev_module=ev, display="dummy", gpio="none", keyboard="USB")
    prompt = d.front.panel.prompt
    assert step_until(d, lambda: state_of(d, "keyboard")[0] == "absent", 10.0)  # none at start-up
    kb = ev.devices["/dev/input/event3"] = FakeKeyboard()
    assert step_until(d, lambda: state_of(d, "keyboard") == ("ok", "USB Keyboard"), 10.0)
    kb.type("ab")
    assert step_until(d, lambda: prompt.text == "ab", 10.0)
    faults = [
        ("list_fault", PermissionError(errno.EACCES, "Permission denied", "/dev/input")),
        ("open_fault", PermissionError(errno.EACCES, "Permission denied", "/dev/input/event3")),
        ("open_fault", OSError(errno.ENODEV, "No such device")),
        ("grab_fault", OSError(errno.EBUSY, "Device or resource busy")),
        ("read_fault", OSError(errno.ENODEV, "No such device")),  # unplugged mid-word
        ("read_fault", OSError(errno.EIO, "Input/output error")),
    ]
    for i, (where, fault) in enumerate(faults):
        target = ev if where in ("list_fault", "open_fault") else kb
        if where != "read_fault":  # refusals show at the next open: unplug, replug
            kb.read_fault = OSError(errno.ENODEV, "No such device")
            kb.wake()
            assert step_until(d, lambda: state_of(d, "keyboard")[0] != "ok", 10.0)
            kb.read_fault = None
        setattr(target, where, fault)
        kb.wake()
        assert step_until(
            d,
            lambda: state_of(d, "keyboard")[0] == "failed" and type(fault).__name__ in state_of(d, "keyboard")[1],
            10.0,
        ), (where, state_of(d, "keyboard"))
        step_for(d, 0.3)
        setattr(target, where, None)
        assert step_until(d, lambda: state_of(d, "keyboard")[0] == "ok", 10.0), (where, state_of(d, "keyboard"))
        kb.type("c")
        assert step_until(d, lambda: prompt.text == "ab" + "c" * (i + 1), 10.0), (where, prompt.text)
    audio.check()


# ---- the encoders: Jetson.GPIO's interface over a chip that refuses -----------------------------


class FakeGPIO:
    """Jetson.GPIO's module interface; ``faults`` maps a call name to what it raises."""

    BOARD, IN, BOTH = "BOARD", "IN", "BOTH"

    def __init__(self):
        self.faults = {}
        self.callbacks, self.levels = {}, {}
        self.cleanups = 0

    def _call(self, name):
        if name in self.faults:
            raise self.faults[name]

    def setmode(self, mode):
        self._call("setmode")

    def setup(self, pin, direction):
        self._call("setup")
        self.levels[pin] = 1

    def add_event_detect(self, pin, edge, callback):
        self._call("add_event_detect")
        self.callbacks[pin] = callback

    def input(self, pin):
        self._call("input")
        return self.levels[pin]

    def cleanup(self):
        self.cleanups += 1
        self.callbacks.clear()

    def turn(self, a, b, steps):
        """Quadrature edges of ``steps`` detents on pins (a, b), as the chip's thread delivers them."""
        from promptsynth.panel.encoder import quadrature_edges

        for la, lb in quadrature_edges(steps):
            for pin, level in ((a, la), (b, lb)):
                if self.levels[pin] != level:
                    self.levels[pin] = level
                    self.callbacks[pin](pin)


def test_encoders_refused_at_set_up_and_mid_run_come_back(playing):
    g = FakeGPIO()
    g.faults["setmode"] = RuntimeError("Could not determine Jetson model")  # what a non-Jetson says
    d, audio = playing(gpio_module=g, display="dummy", keyboard="", gpio="jetson")
    panel = d.front.panel
    assert step_until(d, lambda: state_of(d, "encoders")[0] == "absent", 10.0), state_of(d, "encoders")
    for call, fault in (
        ("setup", ValueError("Channel 29 is invalid")),
        ("setup", PermissionError(errno.EACCES, "Permission denied", "/dev/gpiochip0")),
        ("add_event_detect", RuntimeError("Conflicting edge detection already enabled")),
    ):
        g.faults = {call: fault}  # the next try at setting up meets this
        assert step_until(
            d,
            lambda: state_of(d, "encoders")[0] == "failed" and str(fault.args[-1]) in state_of(d, "encoders")[1],
            20.0,
        ), state_of(d, "encoders")
        assert g.cleanups > 0  # a half-done set-up is released each time
    g.faults = {}
    assert step_until(d, lambda: state_of(d, "encoders")[0] == "ok", 30.0), state_of(d, "encoders")
    page = panel.page
    g.turn(29, 31, 1)  # encoder 1: the next page
    assert step_until(d, lambda: panel.page != page, 10.0)
    g.faults["input"] = RuntimeError("GPIO channel has not been set up")  # mid-run, on the chip's thread
    g.turn(29, 31, 1)
    assert step_until(d, lambda: state_of(d, "encoders")[0] == "failed", 10.0)
    del g.faults["input"]
    page = panel.page
    g.turn(29, 31, 1)
    assert step_until(d, lambda: state_of(d, "encoders")[0] == "ok" and panel.page != page, 10.0)
    audio.check()


# ---- the state disk: full, read-only, refusing, failing --------------------------------------

DISK_FAULTS = [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EROFS, "Read-only file system"),
    PermissionError(errno.EACCES, "Permission denied"),
    OSError(errno.EIO, "Input/output error"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
]


def test_a_full_or_read_only_state_disk_loses_no_edit_and_no_sound(playing, monkeypatch, tmp_path):
    from promptsynth.library import atomic

    real_mkstemp = atomic.mkstemp
    fault = [DISK_FAULTS[1]]  # read-only from the start

    def mkstemp(*a, **kw):
        if fault[0] is not None:
            raise fault[0]
        return real_mkstemp(*a, **kw)

    monkeypatch.setattr(atomic, "mkstemp", mkstemp)  # the library's writes only
    d, audio = playing(display="dummy", gpio="none")
    state = tmp_path / "state" / "state.json"
    for i, f in enumerate(DISK_FAULTS):
        fault[0] = f
        gain = -10.0 - i
        d.inst.set_sound("gain", gain)  # an edit while the disk refuses
        assert step_until(d, lambda: state_of(d, "library")[0] == "failed", 10.0)
        assert "not saved" in state_of(d, "library")[1] and f.strerror in state_of(d, "library")[1]
        assert d.inst.current.sampler.gain == gain  # the edit is live all the same
        step_for(d, 0.3)
        fault[0] = None
        assert step_until(d, lambda: state_of(d, "library")[0] == "ok", 90.0), state_of(d, "library")
        import json

        assert json.loads(state.read_text())["current"]["sampler"]["gain"] == gain  # saved once it could be
    audio.check()


def test_a_page_that_raises_marks_the_panel_failed_and_is_retried(playing, monkeypatch):
    from promptsynth.panel.pages.play import PlayPage

    d, audio = playing(display="dummy", gpio="none")
    real = PlayPage.draw
    monkeypatch.setattr(PlayPage, "draw", lambda self, dr, mo, ui: 1 / 0)
    d.front.panel.flash("draw me")
    assert step_until(d, lambda: state_of(d, "panel")[0] == "failed", 10.0)
    assert "ZeroDivisionError" in state_of(d, "panel")[1]
    monkeypatch.setattr(PlayPage, "draw", real)
    draws = d.front.panel.draws
    d.front.panel.flash("draw me again")
    assert step_until(d, lambda: state_of(d, "panel")[0] == "ok" and d.front.panel.draws > draws, 15.0)
    audio.check()


@pytest.mark.torch
def test_a_generator_client_that_raises_is_contained(playing, monkeypatch, tmp_path, tiny_models):
    import pickle
    import shutil

    d, audio = playing(display="dummy", gpio="none")
    os.makedirs(tmp_path / "state" / "models", exist_ok=True)
    shutil.copytree(tiny_models["tiny"], tmp_path / "state" / "models" / "tiny")
    d.gen.cfg = config.replace(d.gen.cfg, "model", id="tiny", device="cpu", threads=1)
    assert d.gen.start()
    client = d.gen.client
    real = client.poll
    for fault in (EOFError("pipe closed"), pickle.UnpicklingError("truncated"), RuntimeError("a bug")):
        monkeypatch.setattr(client, "poll", lambda timeout=0.0, f=fault: (_ for _ in ()).throw(f))
        assert step_until(d, lambda: state_of(d, "instrument")[0] == "failed", 10.0)
        assert type(fault).__name__ in state_of(d, "instrument")[1]
        monkeypatch.setattr(client, "poll", real)
        assert step_until(d, lambda: state_of(d, "instrument")[0] == "ok", 60.0)
    audio.check()
