"""A bench rig with no hardware: a JACK dummy server, ALSA taps, and a MIDI keyboard on JACK.

Used by the benchmarks and the tests alike, so both go through the real paths: pyalsaaudio
into ALSA's `file` plugin (an exact copy of every frame written) over either `null` (no
pacing) or `jack` (paced in real time by the dummy server), and python-rtmidi on JACK ports.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import List, Optional

import numpy as np

from promptsynth import config as config_mod
from promptsynth.sim import JackServer, alsa_env

ASOUNDRC = """\
pcm.rig_jack {{ type jack; playback_ports {{ 0 system:playback_1 1 system:playback_2 }} }}
pcm.tap_jack {{ type file; slave.pcm "rig_jack"; file "{d}/tap_jack.raw"; format "raw" }}
pcm.tap_raw {{ type file; slave.pcm "null"; file "{d}/tap_raw.raw"; format "raw" }}
"""


class Rig:
    def __init__(
        self, rate: int = 48000, period: int = 128, jack: bool = True, name: Optional[str] = None, export: bool = True
    ):
        """``export``: also set this process's environment (so its own pyalsaaudio sees the taps)."""
        self.dir = tempfile.mkdtemp(prefix="psynth-rig-")
        self.rate, self.period = rate, period
        self.asoundrc = os.path.join(self.dir, "asoundrc")
        with open(self.asoundrc, "w") as fh:
            fh.write(ASOUNDRC.format(d=self.dir))
        self.env = alsa_env(self.asoundrc)
        if export:
            os.environ.update(self.env)
        self.jack = None
        if jack:
            self.jack = JackServer(rate, period, name=name or "psynth%d" % os.getpid())
            self.jack.start()
            self.env.update(self.jack.env())
            if export:
                os.environ.update(self.jack.env())

    def tap_path(self, device: str) -> str:
        return os.path.join(self.dir, device + ".raw")

    def config(self, device: str = "tap_jack", **sampler) -> config_mod.Config:
        cfg = config_mod.Config()
        cfg = config_mod.replace(
            cfg,
            "audio",
            device=device,
            rate=self.rate,
            period=self.period,
            periods=3,
            format="FLOAT_LE",
            rt_priority=0,
            lock_memory=False,
        )
        cfg = config_mod.replace(cfg, "midi", api="jack", port="psynthkbd", virtual=True)
        cfg = config_mod.replace(cfg, "paths", state=os.path.join(self.dir, "state"))
        cfg = config_mod.replace(cfg, "panel", display="dummy", gpio="none")  # no panel hardware here
        if sampler:
            cfg = config_mod.replace(cfg, "sampler", **sampler)
        return cfg

    def keyboard(self, port: str = "psynthkbd"):
        """A MIDI keyboard: a JACK client with an output port the engine finds by name."""
        import rtmidi

        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=port)
        out.open_virtual_port("out")
        return out

    def read_tap(self, device: str = "tap_jack", dtype=np.float32) -> np.ndarray:
        """Everything written so far, as (frames, 2)."""
        raw = np.fromfile(self.tap_path(device), dtype=dtype)
        return raw[: raw.size // 2 * 2].reshape(-1, 2)

    def tap_frames(self, device: str = "tap_jack", bytes_per_frame: int = 8) -> int:
        try:
            return os.path.getsize(self.tap_path(device)) // bytes_per_frame
        except OSError:
            return 0

    def close(self) -> None:
        if self.jack is not None:
            self.jack.stop()


class I2CBus:
    """Stands for the kernel's /dev/i2c-N under smbus2 (``smbus2.SMBus = bus.SMBus``), so luma's
    real i2c interface and OLED drivers run on top: counts whole frames, and raises what it is
    told at open (``open_fault``) or on every transfer (``io_fault``), as an unplugged, refused or
    failing display makes the kernel answer."""

    def __init__(self) -> None:
        self.open_fault: Optional[BaseException] = None
        self.io_fault: Optional[BaseException] = None
        self.frames = 0

    def SMBus(self, port: int = 1):  # noqa: N802 (smbus2's name)
        if self.open_fault is not None:
            raise self.open_fault
        return self

    def write_i2c_block_data(self, addr: int, register: int, data, force=None) -> None:
        if self.io_fault is not None:
            raise self.io_fault

    def i2c_rdwr(self, *msgs) -> None:
        if self.io_fault is not None:
            raise self.io_fault
        if sum(len(list(msg)) for msg in msgs) >= 1024:  # a whole frame of page data
            self.frames += 1

    def close(self) -> None:
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a bench starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def onset_after(x: np.ndarray, frame: int, threshold: float = 1e-6) -> int:
    """First frame at or after ``frame`` whose magnitude exceeds ``threshold`` (-1 if none)."""
    seg = np.abs(x[frame:]).max(axis=1)
    hit = np.flatnonzero(seg > threshold)
    return int(frame + hit[0]) if hit.size else -1


def summary(values: List[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": int(a.size),
        "median": round(float(np.median(a)), 3),
        "max": round(float(a.max()), 3),
        "min": round(float(a.min()), 3),
    }
