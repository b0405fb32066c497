"""pyalsaaudio output through ALSA's file plugin: exact frames in every format, errors kept."""

import os

import numpy as np
import pytest

from conftest import PERIOD, RATE
from promptsynth.hw.alsa_out import LOST, OK, AlsaOutput


@pytest.fixture(scope="module")
def taps(rig):
    return rig


def _frames(n_periods):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (n_periods * PERIOD, 2)).astype(np.float32)
    x[:4] = [[1.0, -1.0], [0.0, 0.5], [-0.5, 1e-9], [0.999, -0.999]]  # full scale both ways
    return x


@pytest.mark.parametrize(
    "fmt,dtype,scale",
    [("S16_LE", np.int16, 32767.0), ("S32_LE", np.int32, 2147483647.0), ("FLOAT_LE", np.float32, None)],
)
def test_every_format_arrives_exactly(taps, fmt, dtype, scale):
    path = taps.tap_path("tap_raw")
    if os.path.exists(path):
        os.unlink(path)
    out = AlsaOutput("tap_raw", RATE, PERIOD, 3, fmt)
    assert out.try_open(), out.error
    assert out.format == fmt and out.buffer_frames == 3 * PERIOD
    x = _frames(20)
    for i in range(0, len(x), PERIOD):
        assert out.write(x[i : i + PERIOD]) == OK
    out.close()
    got = np.fromfile(path, dtype=dtype).reshape(-1, 2)
    assert got.shape == x.shape
    if scale is None:
        np.testing.assert_array_equal(got, x)
    else:
        want = np.rint(x.astype(np.float64) * scale).astype(dtype)
        if fmt == "S16_LE":  # scaled in float32, like the engine does
            want = np.rint(x * np.float32(scale)).astype(dtype)
        np.testing.assert_array_equal(got, want)
        assert got[0, 0] == int(scale) and got[0, 1] == -int(scale)  # full scale, no wrap


def test_format_is_negotiated_when_the_device_only_takes_float(taps):
    out = AlsaOutput("tap_jack", RATE, PERIOD, 3, "S16_LE")  # the jack plugin is float only
    assert out.try_open(), out.error
    assert out.format == "FLOAT_LE"
    out.close()


def test_missing_device_is_an_error_not_a_crash():
    out = AlsaOutput("hw:9,0", RATE, PERIOD, 3)
    assert not out.try_open()
    assert out.error
    assert out.write(np.zeros((PERIOD, 2), np.float32)) == LOST


def test_libasound_prints_nothing_of_its_own_once_quieted():
    """A missing card is retried every second: libasound's own stderr lines would fill a kiosk's
    journal. Our notice (from the exception) says why, once."""
    import subprocess
    import sys

    code = (
        "import alsaaudio\n"
        "from promptsynth.hw.alsa_out import AlsaOutput, quiet_alsa_lib\n"
        "import sys\n"
        "quiet = sys.argv[1] == 'quiet'\n"
        "if quiet: assert quiet_alsa_lib()\n"
        "for _ in range(3):\n"
        "    try: alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, device='hw:9,0')\n"
        "    except alsaaudio.ALSAAudioError as e: print('refused:', e)\n"
    )
    loud = subprocess.run([sys.executable, "-c", code, "loud"], capture_output=True, text=True, timeout=60)
    quiet = subprocess.run([sys.executable, "-c", code, "quiet"], capture_output=True, text=True, timeout=60)
    assert "ALSA lib" in loud.stderr  # what libasound prints by itself
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.count("refused:") == 3
