import os
import shutil

import numpy as np
import pytest

from promptsynth.engine.sampler import Sampler, VoiceParams
from promptsynth.engine.sound import prepare

RATE = 48000
PERIOD = 128


@pytest.fixture(scope="session")
def rig():
    """A JACK dummy server plus ALSA taps, shared by the session (the real audio/MIDI paths)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: run scripts/test.sh, which installs jackd2")
    from promptsynth.bench.rig import Rig
    r = Rig(RATE, PERIOD)
    yield r
    r.close()


def make_sampler(polyphony=16, **params):
    p = dict(attack=0.0, decay=0.0, sustain=1.0, release=0.0, gain_db=0.0, velocity_track=0.0, polyphony=polyphony)
    p.update(params)
    return Sampler(RATE, PERIOD, VoiceParams(**p), max_polyphony=64)


def render(s, periods):
    return np.concatenate([s.render().copy() for _ in range(periods)])


def sine(freq, seconds, amp=0.5, rate=RATE, harmonics=1):
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / h * np.sin(2 * np.pi * freq * h * t) for h in range(1, harmonics + 1))
    return x.astype(np.float32)


def freq_of(x, rate=RATE):
    """Frequency of the strongest partial, refined by parabolic interpolation of the spectrum."""
    x = np.asarray(x, np.float64)
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w, n=len(x) * 4))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    k += 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / (len(x) * 4)


@pytest.fixture
def sampler_with():
    def make(audio, polyphony=16, sound_kw=None, **params):
        s = make_sampler(polyphony, **params)
        s.load(prepare(audio, **(sound_kw or {})))
        return s
    return make
