"""The LFO and its sources (mod wheel, channel pressure), measured from what the sampler renders
(engine/lfo.py and its compiled twin engine/kernel/lfo.h). A steady sound (a constant level) turns
the LFO on the level into the output itself; on pitch it is read back as frequency; times are
frames of the output."""

import numpy as np
import pytest

from conftest import PERIOD, RATE, freq_of, make_sampler
from promptsynth.engine import midi
from promptsynth.engine.sound import prepare

LEVEL = 0.25
DC = np.full(RATE * 6, LEVEL, np.float32)  # a steady level: the output is the level's modulation


def play(seconds, sound=DC, events=(), note=60, **params):
    s = make_sampler(**params)
    s.load(prepare(sound, loop_mode="forward", loop_start=RATE, loop_end=len(sound) - RATE))
    s.note_on(note, 127)
    out = []
    for i in range(int(seconds * RATE / PERIOD)):
        for at, name, args in events:
            if at == i:
                getattr(s, name)(*args)
        out.append(s.render()[:, 0].copy())
    return np.concatenate(out), s


@pytest.mark.usefixtures("renderer")
def test_the_lfo_on_the_level_is_a_sine_at_its_rate_and_depth():
    x, _ = play(2.0, lfo_rate=5.0, lfo_level=60.0)
    # the level moves between 1 - depth and 1 of the note's level (a 5 Hz sine, exact rate)
    assert abs(x.max() - LEVEL) < 1e-4 and abs(x.min() - LEVEL * 0.4) < 2e-4
    m = x[RATE // 2 :] - x[RATE // 2 :].mean()
    assert abs(freq_of(m) / 5.0 - 1) < 0.01
    # starts at 0 going up: at 50 ms (a quarter cycle) at the top
    assert abs(x[RATE // 20] - LEVEL) < 2e-4 and abs(x[0] - LEVEL * 0.7) < 2e-3


def test_each_shape_has_its_form():
    rate = 4.0  # 12000 frames a cycle
    cyc = int(RATE / rate)
    tri, _ = play(1.0, lfo_wave="triangle", lfo_rate=rate, lfo_level=100.0)
    v = tri / LEVEL * 2 - 1  # back to the LFO's -1..1
    # triangle: straight lines (the second difference is zero but at its corners)
    d2 = np.abs(np.diff(v[: 2 * cyc], 2))
    # (its corners are cut by the 16-frame control steps: 4 x 8/12000 at most)
    assert (d2 > 1e-5).sum() < 40 and abs(v[cyc // 4] - 1) < 3e-3 and abs(v[3 * cyc // 4] + 1) < 3e-3
    sq, _ = play(1.0, lfo_wave="square", lfo_rate=rate, lfo_level=100.0)
    v = sq / LEVEL * 2 - 1
    # square: +1 then -1, each half a cycle; the edge ramps over one 16-frame control step
    assert np.abs(v[100 : cyc // 2 - 16] - 1).max() < 1e-4 and np.abs(v[cyc // 2 + 16 : cyc - 16] + 1).max() < 1e-4
    edge = v[cyc // 2 - 16 : cyc // 2 + 16]
    assert np.abs(np.diff(edge)).max() < 2.0 / 15  # no click: a ramp, not a step
    sh, _ = play(1.5, lfo_wave="sample_hold", lfo_rate=rate, lfo_level=100.0)
    v = sh / LEVEL * 2 - 1
    held = [v[i * cyc + 32 : (i + 1) * cyc - 32] for i in range(5)]
    assert all(np.ptp(h) < 1e-4 for h in held)  # one value a cycle
    levels = [float(h.mean()) for h in held]
    assert len(set(round(lv, 3) for lv in levels)) == 5 and min(levels) >= -1 and max(levels) <= 1
    again, _ = play(1.5, lfo_wave="sample_hold", lfo_rate=rate, lfo_level=100.0)
    assert np.array_equal(again, sh)  # the same note's draws: the same values


def test_delay_then_fade_in_in_frames():
    x, _ = play(1.0, lfo_rate=20.0, lfo_level=100.0, lfo_delay=100.0, lfo_fade=200.0)
    cyc = RATE // 20
    # for the delay (4800 frames) the level holds at the middle of where the LFO will move it
    assert np.ptp(x[:4800]) < 1e-6 and abs(x[100] - LEVEL / 2) < 1e-6
    swing = np.array([np.ptp(x[i : i + cyc]) for i in range(4800, 4800 + 12 * cyc, cyc)])
    # the depth grows linearly to the full swing (the level's whole 0.25) at 4800 + 9600 frames:
    # a cycle's swing is the depth at its middle (its top at 1/4, its bottom at 3/4)
    expect = np.clip((np.arange(12) + 0.5) * cyc / 9600.0, 0, 1) * LEVEL
    assert np.abs(swing - expect).max() < 0.003 and abs(swing[-1] - LEVEL) < 1e-3


@pytest.mark.usefixtures("renderer")
def test_the_lfo_on_pitch_swings_the_pitch_by_its_depth():
    t = np.arange(RATE * 6) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 500.0 * t)).astype(np.float32)
    x, _ = play(2.0, sound=sine, lfo_rate=2.0, lfo_pitch=100.0)
    win = RATE // 50
    f = np.array([freq_of(x[i : i + win]) for i in range(RATE // 2, 2 * RATE - win, win // 2)])
    cents = 1200 * np.log2(f / 500.0)
    assert 90 < cents.max() < 105 and -105 < cents.min() < -90


def test_the_mod_wheel_and_pressure_scale_the_depths():
    still, _ = play(1.0, lfo_rate=5.0, lfo_level=100.0, lfo_modwheel=100.0)
    assert np.ptp(still[RATE // 4 :]) < 1e-5  # waits for the wheel
    wheel, _ = play(1.5, events=[(1, "mod_wheel", (1.0,))], lfo_rate=5.0, lfo_level=100.0, lfo_modwheel=100.0)
    assert np.ptp(wheel[RATE:]) > 0.9 * LEVEL
    # channel pressure, through the MIDI decoder as a keyboard sends it, adds depth
    s = make_sampler(lfo_rate=5.0, lfo_level=50.0, lfo_modwheel=100.0, lfo_aftertouch=100.0)
    s.load(prepare(DC, loop_mode="forward", loop_start=RATE, loop_end=5 * RATE))
    dec = midi.MidiDecoder(midi.apply_to_sampler(s))
    dec.feed(bytes([0x90, 60, 127, 0xD0, 127]))
    assert s.pressure == 1.0
    x = np.concatenate([s.render()[:, 0].copy() for _ in range(600)])
    assert abs(np.ptp(x[RATE:]) - 0.5 * LEVEL) < 2e-3  # pressure at its full: the depth set


def test_pressure_opens_the_cutoff():
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, RATE * 6).astype(np.float32)

    def hf(pressure):
        x, _ = play(
            1.0,
            sound=noise,
            events=[(0, "set_pressure", (pressure,))],
            filter_type="lp24",
            cutoff=300.0,
            aftertouch_cutoff=3600.0,
        )
        spec = np.abs(np.fft.rfft(x[RATE // 2 :])) ** 2
        f = np.fft.rfftfreq(len(x) - RATE // 2, 1.0 / RATE)
        return spec[(f > 1500) & (f < 3000)].sum()

    assert hf(1.0) > 100 * hf(0.0)


def test_a_held_note_keeps_its_lfo_past_the_envelopes_clock():
    # the envelopes' clock stops at 10^7 frames; the LFO's never does
    s = make_sampler(lfo_rate=5.0, lfo_level=100.0)
    s.load(prepare(DC, loop_mode="forward", loop_start=RATE, loop_end=5 * RATE))
    s.note_on(60, 127)
    s.render()
    on = np.flatnonzero(s.active)
    s.voices.t[on] = 1.0e7
    s.voices.lt[on] = 1.0e7 + 1.0  # 208 s in
    x = np.concatenate([s.render()[:, 0].copy() for _ in range(200)])
    assert np.ptp(x) > 0.9 * LEVEL
