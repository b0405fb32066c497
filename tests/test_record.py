"""Recording through pyalsaaudio from a real ALSA capture PCM: the `file` plugin's `infile` over
`null` delivers exactly the samples of a file we wrote, so the take can be checked sample for
sample. The library stores it like an import."""

import errno
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from promptsynth.daemon.recorder import CAPTURED, FAILED, IDLE, Recorder
from promptsynth.hw.alsa_in import AlsaInput, CaptureError
from promptsynth.library.intake import store_recording
from promptsynth.library.sounds import LibraryError, SoundLibrary

RATE = 48000


def take_signal(seed=1):
    """0.5 s of silence, 1 s of a tone with noise on it, 0.5 s of silence: stereo int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    tone = 0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(RATE)
    left = np.concatenate([np.zeros(RATE // 2), tone, np.zeros(RATE // 2)])
    right = np.concatenate([np.zeros(RATE // 2), -0.5 * tone, np.zeros(RATE // 2)])
    return np.round(np.stack([left, right], 1) * 32767).astype(np.int16)


def record(device, seconds=3.0, count_in=0.25, channels=2):
    def open_input():
        dev = AlsaInput(device, RATE, channels)
        dev.open()
        return dev

    rec = Recorder(open_input, RATE, channels, seconds, count_in)
    rec.start()
    rec.join(30)
    return rec


def test_a_take_is_exactly_what_the_input_delivered_trimmed_and_stored(capture, tmp_path):
    sig = take_signal()
    rec = record(capture(sig))
    s = rec.status()
    assert s.phase == CAPTURED and s.error == "" and s.seconds == 3.0
    take = rec.take()
    assert take.shape == (3 * RATE, 2) and rec.status().phase == IDLE
    # the count-in's 0.25 s went to the meter only; the rest is the file, then the device's silence
    want = sig[RATE // 4 :] / 32768.0
    np.testing.assert_array_equal(take[: len(want)], want.astype(np.float32))
    assert not take[len(want) :].any()
    lib = SoundLibrary(str(tmp_path / "state"))
    sid, meta = store_recording(lib, take, RATE, RATE, "my take")
    audio, rate, _ = lib.load(sid)
    assert meta["kind"] == "recorded" and meta["name"] == "my take" and rate == RATE
    # trimmed to the sound with 5 ms before it and 20 ms after, every sample as captured
    first = RATE // 2 - RATE // 4  # where the tone starts in the take
    assert meta["trim"]["start_s"] == pytest.approx((first - 240) / RATE, abs=1e-4)
    np.testing.assert_array_equal(audio, take[first - 240 : first + RATE + 960])
    assert meta["analysis"]["pitch"]["pitched"] and abs(meta["analysis"]["pitch"]["hz"] - 330) < 3


def test_the_meter_reads_the_input_level(capture):
    sig = take_signal()
    rec = record(capture(sig), seconds=0.9, count_in=0.0)  # ends inside the tone
    assert rec.status().level_db == pytest.approx(
        20 * np.log10(np.abs(sig[: int(0.9 * RATE)][-480:]).max() / 32768), abs=0.01
    )


def test_a_mono_input_and_a_stop_during_the_take(capture):
    sig = take_signal()
    dev = capture(sig[:, :1].copy())

    rec = Recorder(lambda: _opened(dev, 1), RATE, 1, 60.0, 0.0)
    rec.start()
    end = time.monotonic() + 30
    while rec.status().seconds < 0.5 and rec.busy and time.monotonic() < end:
        time.sleep(0.001)
    rec.stop()
    rec.join(10)
    take = rec.take()
    assert take.shape[1] == 1 and 0.5 * RATE <= len(take) < 60 * RATE


def _opened(device, channels):
    d = AlsaInput(device, RATE, channels)
    d.open()
    return d


def test_a_missing_input_fails_with_its_name_and_keeps_nothing(capture):
    capture(take_signal())
    rec = record("no_such_input")
    s = rec.status()
    assert s.phase == FAILED and "no_such_input" in s.error and rec.take() is None


class FakePcm:
    """Stands in for pyalsaaudio's PCM to make it return each error it can (behind AlsaInput)."""

    def __init__(self, results):
        self.results = list(results)

    def read(self):
        r = self.results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    def close(self):
        pass


def _input_with(results):
    import alsaaudio

    dev = AlsaInput("fake", RATE, 2)
    dev.pcm, dev.format = FakePcm(results), "S16_LE"

    class Poll:
        def poll(self, timeout):
            return []

    dev._poll = Poll()
    return dev, alsaaudio


def test_each_error_pyalsaaudio_gives_is_a_capture_error_or_an_overrun():
    import alsaaudio

    frames = np.ones((4, 2), "<i2").tobytes()
    dev, _ = _input_with([(-errno.EPIPE, b""), (4, frames)])
    assert dev.read().shape == (4, 2) and dev.overruns == 1  # an overrun: counted, reading goes on
    dev, _ = _input_with([(-errno.EIO, b"")])
    with pytest.raises(CaptureError, match="EIO"):
        dev.read()
    dev, _ = _input_with([alsaaudio.ALSAAudioError("No such device")])
    with pytest.raises(CaptureError, match="No such device"):
        dev.read()
    dev, _ = _input_with([(0, b"")] * 1000)  # nothing, ever: the device went away
    with pytest.raises(CaptureError, match="no audio"):
        dev.read()


def test_a_silent_take_is_refused_and_nothing_is_stored(tmp_path):
    lib = SoundLibrary(str(tmp_path / "state"))
    with pytest.raises(LibraryError, match="silent"):
        store_recording(lib, np.zeros((RATE, 2), np.float32), RATE, RATE)
    assert lib.entries()[0] == []


def test_record_on_the_command_line(capture, tmp_path):
    dev = capture(take_signal())
    cfgp = tmp_path / "c.toml"
    cfgp.write_text('[paths]\nstate = "%s"\n[audio]\ncapture_device = "%s"\n' % (tmp_path / "state", dev))
    r = subprocess.run(
        [sys.executable, "-m", "promptsynth", "record", "--seconds", "2.5", "--count-in", "0.1", "--name", "hum"]
        + ["--config", str(cfgp)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert r.returncode == 0, r.stderr
    entries, _ = SoundLibrary(str(tmp_path / "state")).entries()
    assert len(entries) == 1 and entries[0].meta["kind"] == "recorded" and entries[0].name == "hum"
    assert "recorded 1.0" in r.stdout and entries[0].id in r.stdout
    (tmp_path / "none.toml").write_text('[paths]\nstate = "%s"\n' % (tmp_path / "state"))
    r = subprocess.run(
        [sys.executable, "-m", "promptsynth", "record", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "capture_device" in r.stderr
