"""The per-voice filter, measured from what the sampler renders (engine/filter.py and its
compiled twin in engine/kernel/filter.h).

Responses are measured as the ratio of two renders of the same note of white noise, one through
the filter and one without, so the sound, the pitch and the interpolator cancel out and only the
filter remains. Times are in frames of the rendered output.
"""

import numpy as np
import pytest

from conftest import PERIOD, RATE, make_sampler
from promptsynth.engine.sound import prepare

NOISE = np.random.default_rng(0).uniform(-0.5, 0.5, RATE * 3).astype(np.float32)
SKIP = RATE // 10  # the filter's start-up transient, left out of every spectrum


def play(periods, note=60, sound=None, events=(), **params):
    """Render one note (velocity 127) of ``sound`` (white noise) on the kernel: left channel.
    ``events``: (period, method, args) applied before that period."""
    s = make_sampler(**params)
    s.load(prepare(NOISE if sound is None else sound))
    s.note_on(note, 127)
    out = []
    for i in range(periods):
        for at, name, args in events:
            if at == i:
                getattr(s, name)(*args)
        out.append(s.render()[:, 0].copy())
    return np.concatenate(out)


def response(note=60, seconds=1.5, **filt):
    """The filter's magnitude response in dB against frequency, smoothed over 50 Hz bands."""
    periods = int(seconds * RATE / PERIOD)
    dry = play(periods, note)[SKIP:]
    wet = play(periods, note, **filt)[SKIP:]
    f = np.fft.rfftfreq(len(dry), 1.0 / RATE)
    band = np.ones(int(50 / f[1])) / int(50 / f[1])
    smooth = lambda x: np.convolve(np.abs(np.fft.rfft(x)), band, "same")  # noqa: E731
    return f, 20 * np.log10(smooth(wet) / smooth(dry))


def crossing(f, h, level):
    """The first frequency where the response falls below ``level`` dB."""
    i = int(np.argmax(h < level))
    return float(np.interp(level, [h[i], h[i - 1]], [f[i], f[i - 1]]))


@pytest.mark.parametrize("cutoff", [250.0, 1000.0, 4000.0])
def test_the_12_db_low_pass_is_3_db_down_at_its_cutoff_and_falls_12_db_an_octave(cutoff):
    f, h = response(filter_type="lp12", cutoff=cutoff)
    assert abs(crossing(f, h, -3.0) / cutoff - 1) < 0.05
    assert abs(float(np.interp(cutoff / 4, f, h))) < 0.5  # flat well below
    if cutoff * 8 <= RATE / 6:  # nearer Nyquist the bilinear transform's zero falls faster
        two, four = (float(np.interp(cutoff * m, f, h)) for m in (4.0, 8.0))
        assert -13.5 < four - two < -10.5  # 12 dB an octave above the cutoff


def test_band_and_high_pass_and_24_db_low_pass_have_their_shapes():
    f, hp = response(filter_type="hp12", cutoff=1000.0)
    assert abs(crossing(f[::-1], hp[::-1], -3.0) / 1000.0 - 1) < 0.05  # from above: -3 dB at the cutoff
    assert float(np.interp(250, f, hp)) < -20
    f, bp = response(filter_type="bp12", cutoff=1000.0, resonance=50.0)
    assert abs(f[np.argmax(bp)] / 1000.0 - 1) < 0.05  # peaks at the cutoff
    assert float(np.interp(100, f, bp)) < -15 and float(np.interp(10000, f, bp)) < -15
    f, lp24 = response(filter_type="lp24", cutoff=1000.0)
    two, four = (float(np.interp(m, f, lp24)) for m in (2000.0, 4000.0))
    assert -26 < four - two < -21  # 24 dB an octave


def test_the_resonance_peak_grows_with_the_resonance_and_stays_at_the_cutoff():
    peaks = []
    for res in (0.0, 40.0, 70.0, 85.0):
        f, h = response(filter_type="lp12", cutoff=2000.0, resonance=res)
        peaks.append(float(h.max()))
        if res >= 70:  # Q over 4: the peak sits within 2 % of the cutoff (lower Qs peak lower)
            assert abs(f[np.argmax(h)] / 2000.0 - 1) < 0.05
    assert peaks[0] < 0.5 and all(b > a + 2.0 for a, b in zip(peaks, peaks[1:])), peaks


def test_at_full_resonance_it_self_oscillates_at_the_cutoff_steadily_and_bounded():
    burst = np.zeros(RATE * 3, np.float32)
    burst[:480] = NOISE[:480]  # 10 ms of noise, then silence
    x = play(int(2.5 * RATE / PERIOD), sound=burst, filter_type="lp12", cutoff=800.0, resonance=100.0, gain_db=-20.0)
    assert np.isfinite(x).all()
    late = x[RATE : int(2.5 * RATE)]
    a, b = np.sqrt(np.mean(late[: RATE // 2] ** 2)), np.sqrt(np.mean(late[-RATE // 2 :] ** 2))
    assert a > 0.02 and abs(b / a - 1) < 0.1  # rings on, at a steady level, from silence
    assert np.abs(x).max() < 0.9  # at -20 dB: under the limiter's knee, so the filter bounded it
    spec = np.abs(np.fft.rfft(late * np.hanning(len(late))))
    assert abs(np.argmax(spec) * RATE / len(late) / 800.0 - 1) < 0.05


def test_key_tracking_at_100_percent_doubles_the_cutoff_an_octave_up():
    f, h60 = response(60, filter_type="lp12", cutoff=1000.0, filter_keytrack=100.0)
    f2, h72 = response(72, filter_type="lp12", cutoff=1000.0, filter_keytrack=100.0)
    assert abs(crossing(f, h60, -3.0) / 1000.0 - 1) < 0.05
    assert abs(crossing(f2, h72, -3.0) / 2000.0 - 1) < 0.05
    f3, h72_0 = response(72, filter_type="lp12", cutoff=1000.0)  # no tracking: stays
    assert abs(crossing(f3, h72_0, -3.0) / 1000.0 - 1) < 0.05


def test_the_filter_envelope_opens_the_cutoff_on_time_in_frames():
    # a 2 kHz sine through a 24 dB low-pass at 200 Hz, opened by its envelope to 3200 Hz over
    # 50 ms (2400 frames): the cutoff passes 2 kHz (where the 24 dB is 6 dB down) at
    # e = log2(10)/4 of the attack, frame 1993
    t = np.arange(RATE * 2) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 2000.0 * t)).astype(np.float32)
    x = play(60, sound=sine, filter_type="lp24", cutoff=200.0, filter_env_depth=4800.0, filter_attack=50.0)
    cycle = 24  # frames a cycle
    amp = np.abs(x[: len(x) // cycle * cycle]).reshape(-1, cycle).max(axis=1)
    steady = amp[200:300].mean()
    half = int(np.argmax(amp > 0.5 * steady)) * cycle + cycle // 2
    assert abs(half - 1993) <= 2 * cycle, half
    assert amp[: 1500 // cycle].max() < 0.1 * steady  # closed before


def test_cc74_moves_the_cutoff_of_a_sounding_note_smoothly():
    t = np.arange(RATE * 2) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    # lp24 at 250 Hz: the 1 kHz sine is 24 dB down; CC74 at 127 (+48 semitones) opens it
    x = play(200, sound=sine, events=[(100, "set_brightness", (1.0,))], filter_type="lp24", cutoff=250.0)
    cycle = 48
    amp = np.abs(x[: len(x) // cycle * cycle]).reshape(-1, cycle).max(axis=1)
    before, after = amp[200 : 100 * PERIOD // cycle].mean(), amp[-50:].mean()
    assert after > 8 * before  # it opened
    rise = amp[100 * PERIOD // cycle - 2 : 100 * PERIOD // cycle + 40]
    steps = np.diff(rise) / after
    # no step: the cutoff glides (smoothed a period, ramped a frame), so no cycle's level
    # jumps by more than a quarter of the whole change (a step would jump by ~all of it)
    assert steps.max() < 0.25, steps.max()
    assert (rise[-1] - rise[0]) / after > 0.8


@pytest.mark.parametrize("kind", ["lp12", "bp12", "hp12", "lp24"])
def test_no_setting_makes_nan_subnormals_or_an_unbounded_output(kind):
    rng = np.random.default_rng(5)
    for _ in range(6):
        params = dict(
            filter_type=kind,
            cutoff=float(rng.choice([20.0, 20000.0, rng.uniform(20, 20000)])),
            resonance=float(rng.choice([0.0, 100.0, rng.uniform(0, 100)])),
            filter_keytrack=float(rng.uniform(-100, 200)),
            filter_veltrack=float(rng.uniform(-9600, 9600)),
            filter_env_depth=float(rng.choice([-9600.0, 9600.0])),
            filter_attack=float(rng.uniform(0, 50)),
            filter_decay=float(rng.uniform(0, 50)),
            filter_sustain=float(rng.random()),
        )
        s = make_sampler(**params)
        s.load(prepare(NOISE[: RATE // 2] * 2))  # full scale, then silence after it ends
        for note in (0, 60, 127):
            s.note_on(note, 127)
        s.set_timbre(1.0)
        out = np.concatenate([s.render().copy() for _ in range(300)])
        assert np.isfinite(out).all() and np.abs(out).max() <= 1.0, params
        st = s.voices.fstate
        assert np.isfinite(st).all() and np.abs(st).max() <= 4.0
        tiny = st[(st != 0) & (np.abs(st) < 1e-30)]
        assert tiny.size == 0  # no subnormals left in the states
