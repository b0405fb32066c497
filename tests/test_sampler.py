"""The sampler through its real render path, with exact expectations in samples."""

import numpy as np
import pytest

from conftest import PERIOD, RATE, freq_of, make_sampler, render, sine
from promptsynth.engine.sampler import STEAL_MS
from promptsynth.engine.sound import init_sound, prepare

pytestmark = pytest.mark.usefixtures("renderer")  # every test on the kernel and on the numpy reference


def test_note_at_root_reproduces_the_sound_sample_for_sample(sampler_with):
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((RATE // 2, 2)) * 0.2).astype(np.float32)
    s = sampler_with(audio, gain_db=-6.0)
    s.note_on(60, 127)
    out = render(s, len(audio) // PERIOD + 2)
    g = 10 ** (-6 / 20)
    np.testing.assert_array_equal(out[: len(audio)], (audio * np.float32(g)).astype(np.float32))
    assert np.all(out[len(audio) :] == 0)  # and nothing after its end
    assert not s.active.any()  # the voice ended with the sound


def test_octave_up_doubles_the_frequency(sampler_with):
    s = sampler_with(sine(440.0, 1.0))
    s.note_on(72, 127)
    out = render(s, 300)[:, 0]
    assert abs(freq_of(out[:15000]) / 880.0 - 1) < 1e-4


def test_fifth_down_and_tune_cents(sampler_with):
    s = sampler_with(sine(440.0, 2.0), sound_kw={"tune": 50.0})
    s.note_on(53, 127)  # 7 semitones down, +50 cents
    out = render(s, 200)[:, 0]
    want = 440.0 * 2 ** ((-7 + 0.5) / 12)
    assert abs(freq_of(out[2000:20000]) / want - 1) < 1e-4


def test_full_pitch_bend_gives_the_bend_range(sampler_with):
    for bend, semis in ((1.0, 2.0), (-1.0, -2.0)):
        s = sampler_with(sine(440.0, 2.0), bend_range=2.0)
        s.note_on(60, 127)
        s.pitch_bend(bend)
        out = render(s, 200)[:, 0]
        assert abs(freq_of(out[5000:25000]) / (440.0 * 2 ** (semis / 12)) - 1) < 1e-4


def test_bend_applies_to_a_sounding_note_without_a_step(sampler_with):
    s = sampler_with(sine(440.0, 2.0))
    s.note_on(60, 127)
    before = render(s, 50)
    s.pitch_bend(1.0)
    after = render(s, 50)
    x = np.concatenate([before, after])[:, 0]
    step = np.abs(np.diff(x)).max()
    natural = 2 * np.pi * 440 * 2 ** (2 / 12) / RATE * 0.5  # max slope of the bent sine
    assert step < natural * 1.02
    assert abs(freq_of(after[1000:, 0]) / (440 * 2 ** (2 / 12)) - 1) < 1e-3


def test_attack_and_release_times_are_in_output_frames():
    dc = np.full(RATE * 2, 0.5, np.float32)
    s = make_sampler(attack=100.0, release=200.0)
    s.load(prepare(dc))
    s.note_on(60, 127)
    out = render(s, 75)[:, 0]  # 9600 frames
    env = out / 0.5
    assert env[0] == 0.0
    np.testing.assert_allclose(env[2400], 0.5, atol=1e-6)
    np.testing.assert_allclose(env[4799], 4799 / 4800, atol=1e-6)
    assert np.all(env[4800:] == 1.0)  # 100 ms = 4800 frames at 48 kHz, then full
    s.note_off(60)
    rel = render(s, 80)[:, 0] / 0.5  # 200 ms = 9600 frames = 75 periods
    assert rel[0] == 1.0 and np.all(np.diff(rel[:9600]) <= 0)
    # audible until the last 1% (values under -180 dB are flushed to 0), silent from frame 9600
    assert rel[9504] > 0 and np.all(rel[9600:] == 0)
    assert not s.active.any()


def test_decay_reaches_sustain_level():
    dc = np.full(RATE, 0.5, np.float32)
    s = make_sampler(attack=0.0, decay=50.0, sustain=0.25)
    s.load(prepare(dc))
    s.note_on(60, 127)
    env = render(s, 40)[:, 0] / 0.5
    assert env[0] == 1.0
    np.testing.assert_allclose(env[2400:], 0.25, atol=1e-6)  # 50 ms = 2400 frames
    assert env[1200] > 0.25


def test_sustain_pedal_holds_then_releases():
    dc = np.full(RATE * 3, 0.5, np.float32)
    s = make_sampler(release=10.0)
    s.load(prepare(dc))
    s.sustain_pedal(True)
    s.note_on(60, 127)
    render(s, 4)
    s.note_off(60)
    held = render(s, 100)[:, 0]
    assert np.all(held == 0.5)  # the pedal holds it at full level
    s.sustain_pedal(False)
    rel = render(s, 10)[:, 0]
    assert rel[0] == 0.5 and np.all(rel[480:] == 0)  # 10 ms release


def test_velocity_curve_follows_amp_veltrack():
    dc = np.full(RATE, 0.5, np.float32)
    s = make_sampler(velocity_track=100.0)
    s.load(prepare(dc))
    s.note_on(60, 64)
    out = render(s, 2)[:, 0]
    np.testing.assert_allclose(out[10] / 0.5, (64 / 127) ** 2, rtol=1e-6)  # -11.9 dB


def test_polyphony_limit_and_stealing_fade_without_clicks():
    audio, loop = init_sound(RATE)
    s = make_sampler(polyphony=4, release=300.0, attack=5.0)
    s.load(prepare(audio, loop_mode="forward", loop_start=loop[0], loop_end=loop[1], crossfade=480))
    outs = []
    for i in range(8):
        s.note_on(48 + i, 100)
        outs.append(render(s, 20))
        held = int((s.active & ~s.stealing).sum())
        assert held <= 4
    out = np.concatenate(outs)
    assert s.steals == 4
    # a steal fades over 6 ms: no sample-to-sample jump larger than the music's own
    jumps = np.abs(np.diff(out, axis=0)).max()
    assert jumps < 0.08, jumps
    assert np.abs(out).max() <= 1.0


def test_stealing_takes_a_released_voice_first():
    dc = np.full(RATE * 4, 0.1, np.float32)
    s = make_sampler(polyphony=2, release=500.0)
    s.load(prepare(dc))
    s.note_on(60, 100)
    s.note_on(62, 100)
    s.note_off(60)  # 60 is now releasing; 62 is older than the next
    render(s, 2)
    s.note_on(64, 100)
    stolen = np.flatnonzero(s.stealing)
    assert [int(s.note[i]) for i in stolen] == [60]
    s.note_on(65, 100)  # no released voice left: the oldest (62) goes
    assert sorted(int(s.note[i]) for i in np.flatnonzero(s.stealing)) == [60, 62]


def test_forward_loop_seam_has_no_jump():
    # 440 Hz does not fit the loop length: without the crossfade the seam would jump
    tone = sine(440.0, 1.0, amp=0.5)
    ls, le = 10000, 30017
    s = make_sampler()
    s.load(prepare(tone, loop_mode="forward", loop_start=ls, loop_end=le, crossfade=480))
    s.note_on(60, 127)
    out = render(s, 1500)[:, 0]  # 4 s: about nine passes over the seam
    natural = 2 * np.pi * 440 / RATE * 0.5  # the sine's own largest step
    bound = 1.05 * natural
    assert np.abs(np.diff(out)).max() < bound
    assert np.abs(out[-RATE:]).max() > 0.45  # still sounding at full level


def test_forward_loop_without_crossfade_jumps_which_the_crossfade_removes():
    tone = sine(440.0, 1.0, amp=0.5)
    s = make_sampler()
    s.load(prepare(tone, loop_mode="forward", loop_start=10000, loop_end=30017, crossfade=0))
    s.note_on(60, 127)
    out = render(s, 600)[:, 0]
    assert np.abs(np.diff(out)).max() > 2 * (2 * np.pi * 440 / RATE * 0.5)


def test_pingpong_loop_turns_smoothly_and_keeps_sounding():
    tone = sine(200.0, 1.0, amp=0.5)
    s = make_sampler()
    s.load(prepare(tone, loop_mode="pingpong", loop_start=12000, loop_end=36000))
    s.note_on(60, 127)
    out = render(s, 1500)[:, 0]
    assert np.abs(out[-RATE:]).max() > 0.45
    assert np.abs(np.diff(out)).max() < 1.05 * 2 * np.pi * 200 / RATE * 0.5


def test_all_notes_off_silences_within_the_release_time():
    audio, loop = init_sound(RATE)
    s = make_sampler(release=100.0)
    s.load(prepare(audio, loop_mode="forward", loop_start=loop[0], loop_end=loop[1]))
    for n in (48, 52, 55, 60):
        s.note_on(n, 120)
    render(s, 30)
    s.all_notes_off()
    out = render(s, 40)
    assert np.all(out[4800:] == 0) and not s.active.any()


def test_all_sound_off_fades_in_milliseconds_not_a_click():
    audio, loop = init_sound(RATE)
    s = make_sampler(release=2000.0)
    s.load(prepare(audio, loop_mode="forward", loop_start=loop[0], loop_end=loop[1]))
    s.note_on(60, 127)
    render(s, 30)
    s.all_sound_off()
    out = render(s, 5)
    steal = int(STEAL_MS * RATE / 1000)
    assert np.all(out[steal:] == 0)
    assert np.abs(np.diff(out[: steal + 1], axis=0)).max() < 0.05


def test_new_sound_never_cuts_a_note_still_sounding_the_old_one():
    low, high = sine(220.0, 2.0), sine(660.0, 2.0)
    s = make_sampler()
    s.load(prepare(low, sound_id=1))
    s.note_on(60, 127)
    render(s, 10)
    freed = s.load(prepare(high, sound_id=2))
    assert freed == []  # sound 1 still sounds
    out = render(s, 100)[:, 0]
    assert abs(freq_of(out) / 220.0 - 1) < 1e-3
    s.note_on(60, 127)  # a new note plays the new sound
    s.note_off(60)
    out = render(s, 100)[:, 0]
    spec = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    hz = np.fft.rfftfreq(len(out), 1 / RATE)
    assert spec[np.argmin(abs(hz - 660))] > 0.1 * spec.max()
    render(s, 200)  # sound 1 ends (2 s), its slot is released
    assert s.collect_unused() == [1]


def test_sixteen_loud_voices_never_clip_or_wrap():
    s = make_sampler(polyphony=16, gain_db=12.0)
    square = np.sign(sine(110.0, 2.0)).astype(np.float32)
    s.load(prepare(square))
    for i in range(16):
        s.note_on(40 + i, 127)
    out = render(s, 300)
    assert np.abs(out).max() <= 1.0
    from promptsynth.hw.alsa_out import AlsaOutput

    o = AlsaOutput.__new__(AlsaOutput)
    o.format = "S16_LE"
    o._f32 = np.empty((PERIOD, 2), np.float32)
    o._i16 = np.empty((PERIOD, 2), np.int16)
    pcm = np.concatenate([o._encode(out[i : i + PERIOD]).copy() for i in range(0, len(out), PERIOD)])
    assert pcm.min() >= -32767 and pcm.max() <= 32767
    # no wrap-around: the sign of every loud sample survives the conversion
    loud = np.abs(out) > 0.5
    assert np.all(np.sign(pcm[loud]) == np.sign(out[loud]))


def test_volume_change_is_smoothed_not_zippered():
    dc = np.full(RATE * 2, 0.5, np.float32)
    s = make_sampler()
    s.load(prepare(dc))
    s.note_on(60, 127)
    render(s, 5)
    s.set_volume(0.2)
    out = render(s, 100)[:, 0]
    assert np.abs(np.diff(out)).max() < 0.003  # 0.5 -> 0.02 spread over ~20 ms
    np.testing.assert_allclose(out[-1], 0.5 * 0.2**2, rtol=1e-3)


def test_mod_wheel_vibrato_depth():
    s = make_sampler(vibrato_depth=50.0, vibrato_rate=5.0)
    s.load(prepare(sine(440.0, 3.0)))
    s.note_on(69 - 9, 127)
    s.mod_wheel(1.0)
    out = render(s, 700)[:, 0]
    seg = out[RATE // 2 :]
    # instantaneous frequency from zero crossings: swings about +-50 cents
    z = np.flatnonzero((seg[:-1] < 0) & (seg[1:] >= 0))
    z = z + seg[z] / (seg[z] - seg[z + 1])  # sub-sample crossing times
    f = RATE / np.diff(z)
    cents = 1200 * np.log2(f / 440.0)
    assert 35 < cents.max() < 60 and -60 < cents.min() < -35


def test_trimmed_end_fades_instead_of_clicking():
    tone = sine(300.0, 1.0)
    s = make_sampler()
    s.load(prepare(tone, end=10000))
    s.note_on(60, 127)
    out = render(s, 100)[:, 0]
    assert np.all(out[10000:] == 0)
    assert np.abs(out[9990:10000]).max() < 0.05  # faded over 2 ms before the end point


def test_no_subnormal_values_in_a_long_quiet_release():
    tiny = sine(100.0, 4.0, amp=1e-12)
    s = make_sampler(release=3000.0)
    s.load(prepare(tiny))
    s.note_on(60, 1)
    render(s, 10)
    s.note_off(60)
    out = render(s, 1200)
    nz = np.abs(out[out != 0])
    assert nz.size == 0 or nz.min() >= np.finfo(np.float32).tiny
