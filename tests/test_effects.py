"""The master effects (engine/effects.py and engine/kernel/effects.h), measured from what the
sampler renders: echo times in frames, a reverb tail that decays and stops, a chorus's sweep,
and a bypass that is bit for bit."""

import numpy as np
import pytest

from conftest import PERIOD, RATE, make_sampler
from promptsynth.engine.sound import prepare

CLICK = np.zeros(RATE, np.float32)
CLICK[:8] = 0.5  # 8 frames: a click, then silence


def play(periods, sound=CLICK, events=(), **params):
    s = make_sampler(**params)
    s.load(prepare(sound))
    s.note_on(60, 127)
    out = []
    for i in range(periods):
        for at, changes in events:
            if at == i:
                s.set_params(**changes)
        out.append(s.render()[:, 0].copy())
    return np.concatenate(out), s


@pytest.mark.usefixtures("renderer")
def test_effects_at_zero_are_bypassed_bit_for_bit_and_so_after_being_turned_off():
    t = np.arange(RATE * 2) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)
    dry, _ = play(300, sound=tone)
    # every effect set up, at level 0: bypassed
    idle, _ = play(300, sound=tone, delay_time=50.0, reverb_size=90.0, chorus_depth=100.0)
    assert np.array_equal(idle, dry)
    # on, then off: once faded out (and cleared), the output is the dry one again, exactly
    on = {"chorus_mix": 50.0, "delay_mix": 50.0, "reverb_mix": 50.0, "delay_time": 20.0}
    off = {"chorus_mix": 0.0, "delay_mix": 0.0, "reverb_mix": 0.0}
    x, s = play(300, sound=tone, events=[(10, on), (60, off)])
    assert np.abs(x[20 * PERIOD : 60 * PERIOD] - dry[20 * PERIOD : 60 * PERIOD]).max() > 0.05  # it was on
    assert np.array_equal(x[120 * PERIOD :], dry[120 * PERIOD :])
    assert not s.effects.delay.any() and not s.effects.comb.any()  # cleared


def test_the_delay_echoes_at_its_time_in_frames_and_decays_by_its_feedback():
    x, _ = play(200, delay_mix=100.0, delay_time=100.0, delay_feedback=50.0)
    d = 4800  # 100 ms
    for k, level in ((1, 1.0), (2, 0.5), (3, 0.25)):
        seg = x[k * d - 4 : k * d + 12]
        assert int(np.flatnonzero(seg > 1e-3)[0]) - 4 == 0  # the echo starts k x 4800 frames after the click
        assert abs(seg.max() - 0.5 * level) < 1e-3
    assert np.abs(x[100 : d - 4]).max() < 1e-6  # nothing between


def test_the_reverb_tail_decays_and_then_stops():
    x, s = play(int(15 * RATE / PERIOD), reverb_mix=100.0, reverb_size=50.0, reverb_damping=50.0)
    win = RATE // 4
    energy = np.array([np.sum(x[i : i + win] ** 2) for i in range(RATE // 10, len(x) - win, win)])
    assert energy[0] > 1e-4  # a tail...
    assert (np.diff(np.log10(energy[energy > 0])) < 0).all()  # ...that only decays...
    assert np.count_nonzero(x[-RATE:]) == 0  # ...and stops: exactly silent in the end
    assert not s.effects.comb.any() and not s.effects.ap.any()


def test_the_reverb_rings_on_after_every_voice_has_gone():
    x, s = play(450, reverb_mix=60.0, release=1.0)  # the click's sound ends after 1 s (375 periods)
    assert s.voices_sounding == 0 and np.abs(x[-10 * PERIOD :]).max() > 1e-4


def test_the_chorus_sweeps_its_delay_at_its_rate():
    t = np.arange(RATE * 4) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    x, _ = play(int(3 * RATE / PERIOD), sound=tone, chorus_mix=100.0, chorus_rate=2.0, chorus_depth=100.0)
    # dry + a copy delayed by 7 +- 5 ms: the level beats as the delay sweeps (1 kHz: a cycle a ms)
    cyc = 48
    amp = np.abs(x[RATE // 2 : RATE // 2 + 2 * RATE][: 2 * RATE // cyc * cyc]).reshape(-1, cyc).max(axis=1)
    assert amp.max() > 0.5 and amp.min() < 0.1  # in and out of phase as the delay sweeps

    def corr(lag):  # the beating against itself ``lag`` cycles (ms) later
        return float(np.corrcoef(amp[:-lag], amp[lag:])[0, 1])

    assert corr(500) > 0.9 and corr(370) < 0.5  # it repeats with the sweep (2 Hz: every 500 ms)


def echo_frame(x, after):
    """The first frame after ``after`` where the echo of the click arrives."""
    return after + int(np.flatnonzero(np.abs(x[after:]) > 1e-3)[0])


@pytest.mark.usefixtures("renderer")
def test_the_delay_synced_to_midi_clock_echoes_at_the_note_length_and_falls_back_without_it():
    # 100 BPM from MIDI clock: a dotted eighth is 0.45 s = 21600 frames
    s = make_sampler(delay_mix=100.0, delay_time=100.0, delay_feedback=0.0, delay_sync="1/8.")
    s.load(prepare(CLICK))
    s.set_clock(0.6)
    s.note_on(60, 127)
    x = np.concatenate([s.render()[:, 0].copy() for _ in range(200)])
    assert echo_frame(x, 100) == 21600
    # the same sound with no clock: its delay time in ms (4800 frames)
    x, _ = play(200, delay_mix=100.0, delay_time=100.0, delay_feedback=0.0, delay_sync="1/8.")
    assert echo_frame(x, 100) == 4800
    # synced, then the clock falls silent: after CLOCK_TIMEOUT_S the ms time is back
    from promptsynth.engine.sampler import CLOCK_TIMEOUT_S

    s = make_sampler(delay_sync="1/4")
    s.set_clock(0.5)
    assert s.clock_bpm == 120.0
    for _ in range(int(CLOCK_TIMEOUT_S * RATE / PERIOD) + 2):
        s.render()
    assert s.clock_bpm == 0.0
    assert s.effects.fx[4] == 375.0 / 1000.0 * RATE  # FX_DEL_FRAMES: delay_time's default
