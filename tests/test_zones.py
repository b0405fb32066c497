"""Zones (engine/zones.py) through the sampler, on both renderers: a note plays the zones its
key and velocity fall in, at each zone's pitch, gain and envelope; layers sound together; a
choke group cuts with a fade and no click; round robin cycles; a one-shot ignores the note-off.
Frequencies, levels and timings are measured from what the sampler renders."""

import numpy as np
import pytest

from conftest import PERIOD, RATE, freq_of, make_sampler, render, sine
from promptsynth.engine.sampler import STEAL_MS
from promptsynth.engine.slots import MAX_SLOTS
from promptsynth.engine.sound import prepare
from promptsynth.engine.zones import MAX_ZONES, Keymap, Zone

pytestmark = pytest.mark.usefixtures("renderer")

A3, A4 = 220.0, 440.0  # MIDI 57, 69


def tone(freq, seconds=2.0, sound_id=1, **kw):
    # loop whole cycles of a pure tone, so any note plays it steadily
    n = int(round(RATE / freq)) * int(freq)  # about a second of whole periods
    x = sine(RATE / int(round(RATE / freq)), seconds)
    return prepare(x, loop_mode="forward", loop_start=0, loop_end=n, sound_id=sound_id, **kw)


def kit(*sounds, **params):
    s = make_sampler(**params)
    for snd in sounds:
        s.load(snd, current=False)
    return s


def rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def play(s, note, velocity=100, periods=40):
    s.note_on(note, velocity)
    return render(s, periods)[:, 0]


def test_each_zone_plays_its_own_sound_at_its_own_pitch():
    low, high = tone(A3, sound_id=1), tone(A4, sound_id=2)
    s = kit(low, high)
    s.set_keymap([Zone((1,), lokey=36, hikey=59, root=57), Zone((2,), lokey=60, hikey=96, root=69)])
    assert abs(freq_of(play(s, 57)[PERIOD * 4 :]) - 220.0) < 0.5  # zone 1 at its root
    s.all_sound_off()
    render(s, 4)
    f = freq_of(play(s, 72)[PERIOD * 4 :])  # zone 2, three semitones above its root
    assert abs(f - 440.0 * 2 ** (3 / 12)) < 0.8, f
    s.all_sound_off()
    render(s, 4)
    assert rms(play(s, 30)) == 0.0  # below every zone: silence


def test_velocity_layers_switch_exactly_at_their_boundary():
    soft, loud = tone(A3, sound_id=1), tone(A4, sound_id=2)
    s = kit(soft, loud)
    s.set_keymap([Zone((1,), lovel=1, hivel=63, root=69), Zone((2,), lovel=64, hivel=127, root=69)])
    for vel, want in ((63, 220.0), (64, 440.0), (1, 220.0), (127, 440.0)):
        s.all_sound_off()
        render(s, 4)
        got = freq_of(play(s, 69, vel)[PERIOD * 4 :])
        assert abs(got - want) < 0.5, (vel, got)


def test_overlapping_zones_layer():
    s = kit(tone(A3, sound_id=1), tone(A4, sound_id=2))
    s.set_keymap([Zone((1,), root=69), Zone((2,), root=69)])
    y = play(s, 69)
    assert int((s.active & ~s.released).sum()) == 2
    spec = np.abs(np.fft.rfft(y[PERIOD * 4 :] * np.hanning(len(y) - PERIOD * 4)))
    freqs = np.fft.rfftfreq(len(y) - PERIOD * 4, 1 / RATE)
    for f in (220.0, 440.0):  # both partials, each near the same level
        assert spec[np.abs(freqs - f) < 5].max() > 0.5 * spec.max()


def test_zone_gain_tune_and_envelope_are_its_own():
    s = kit(tone(A4, sound_id=1), release=300.0)
    s.set_keymap([Zone((1,), root=69, gain_db=-6.0206, tune=-100.0, attack=50.0, release=0.0)])
    y = play(s, 69, periods=80)
    assert abs(freq_of(y[RATE // 10 :]) - 440.0 * 2 ** (-1 / 12)) < 0.8  # a semitone down
    assert abs(rms(y[RATE // 10 :]) - 0.5 / np.sqrt(2) / 2) < 0.005  # -6 dB
    first = np.flatnonzero(np.abs(y) > 0.24)[0]  # the 50 ms attack, not the preset's 0
    assert 0.045 * RATE < first < 0.06 * RATE, first / RATE
    s.note_off(69)
    tail = render(s, 4)[:, 0]
    assert rms(tail[PERIOD:]) == 0.0  # the zone's release of 0 (2 ms), not the preset's 300 ms


def test_a_choke_group_cuts_with_a_short_fade_and_no_click():
    open_hat, closed = tone(A4, sound_id=1), tone(A3, sound_id=2)
    s = kit(open_hat, closed)
    s.set_keymap([Zone((1,), lokey=46, hikey=46, root=46, group=1), Zone((2,), lokey=42, hikey=42, root=42, group=1)])
    before = play(s, 46, periods=20)
    s.note_on(42, 100)
    after = render(s, 20)[:, 0]
    assert s.voices.chokes == 1
    # the open hat's 440 Hz is gone after the fade (STEAL_MS), the closed hat's 220 Hz plays
    fade = int(STEAL_MS * RATE / 1000)
    later = after[fade + PERIOD :]
    spec = np.abs(np.fft.rfft(later * np.hanning(len(later))))
    freqs = np.fft.rfftfreq(len(later), 1 / RATE)
    assert spec[np.abs(freqs - 440) < 10].max() < 0.01 * spec[np.abs(freqs - 220) < 10].max()
    # no click: no step larger than the two tones' own largest (a 440 Hz sine of 0.5 steps by
    # at most 2 pi 440 / 48000 x 0.5 = 0.029 a frame)
    y = np.concatenate([before, after])
    assert np.abs(np.diff(y)).max() <= 2 * np.pi * 440 / RATE * 0.5 * 1.1


def test_round_robin_cycles_through_the_alternates_and_random_never_repeats():
    freqs = (220.0, 330.0, 440.0)
    s = kit(*(tone(f, sound_id=i + 1) for i, f in enumerate(freqs)))
    s.set_keymap([Zone((1, 2, 3), root=69)])
    heard = []
    for _ in range(5):
        s.all_sound_off()
        render(s, 4)
        heard.append(freq_of(play(s, 69, periods=20)[PERIOD * 4 :]))
    assert [min(freqs, key=lambda f: abs(f - h)) for h in heard] == [220.0, 330.0, 440.0, 220.0, 330.0]
    km = Keymap([Zone((1, 2, 3), round_robin="random")], seed=5)
    picks = [km.alternate(0) for _ in range(60)]
    assert all(a != b for a, b in zip(picks, picks[1:])) and set(picks) == {0, 1, 2}


def test_a_one_shot_ignores_the_note_off_and_plays_to_its_end():
    hit = prepare(sine(440.0, 0.3), sound_id=1, loop_mode="forward", loop_start=0, loop_end=4800)
    s = kit(hit)
    s.set_keymap([Zone((1,), root=69, one_shot=True)])
    s.note_on(69, 100)
    s.note_off(69)  # at once: a drum's note-off means nothing
    y = render(s, int(0.4 * RATE / PERIOD))[:, 0]
    sounding = np.flatnonzero(np.abs(y) > 0.01)
    assert abs(sounding[-1] - 0.3 * RATE) < 0.01 * RATE  # to the end, through its loop
    assert not s.active.any()


def test_a_bad_keymap_is_refused_and_the_old_one_stays():
    s = kit(tone(A4, sound_id=1))
    good = [Zone((1,), root=69)]
    s.set_keymap(good)
    with pytest.raises(KeyError):
        s.set_keymap([Zone((9,))])  # not loaded
    with pytest.raises(ValueError):
        s.set_keymap([Zone((1,), lokey=70, hikey=60)])
    with pytest.raises(ValueError):
        s.set_keymap([Zone((1,))] * (MAX_ZONES + 1))
    with pytest.raises(ValueError):
        s.set_keymap([Zone((1, 1, 1, 1, 1))])  # 5 alternates
    assert s.keymap is not None and s.keymap.zones == tuple(good)
    assert abs(freq_of(play(s, 69)[PERIOD * 4 :]) - 440.0) < 0.5


def test_a_kits_sounds_stay_resident_while_new_sounds_come_and_go():
    pads = [prepare(sine(100.0 + 10 * i, 0.05), sound_id=i + 1) for i in range(128)]
    s = kit(*pads)
    s.set_keymap([Zone(tuple(range(4 * z + 1, 4 * z + 5)), lokey=z, hikey=z, root=z) for z in range(32)])
    for k in range(100):  # sounds loaded one after another fill the other slots, and go
        s.load(prepare(sine(500.0, 0.05), sound_id=1000 + k))
    held = {snd.sound_id for snd in s.slots.sounds if snd is not None}
    assert set(range(1, 129)) <= held and len(held) <= MAX_SLOTS
    y = play(s, 31, periods=4)  # the last pad still plays its first alternate (sound 125)
    assert rms(y) > 0.1 and s.slots.held(int(s.voices.slot[s.active][0])).sound_id == 125


def test_pan_moves_a_zone_between_the_sides_at_equal_power():
    s = kit(tone(A4, sound_id=1))
    levels = {}
    for pan in (-1.0, -0.5, 0.0, 0.5, 1.0):
        s.set_keymap([Zone((1,), root=69, pan=pan)])
        s.all_sound_off()
        render(s, 4)
        s.note_on(69, 100)
        y = render(s, 20)[PERIOD * 4 :]
        levels[pan] = (rms(y[:, 0]), rms(y[:, 1]))
    full = levels[0.0][0]  # the centre is as loud on each side as before pan existed
    assert abs(full - 0.5 / np.sqrt(2)) < 1e-3 and levels[0.0][0] == levels[0.0][1]
    assert levels[-1.0][1] < 1e-6 and levels[1.0][0] < 1e-6  # hard left, hard right
    for pan, (left, right) in levels.items():  # equal power: the sum of squares is constant
        assert abs(left**2 + right**2 - 2 * full**2) < 1e-4 * full**2 * 100, (pan, left, right)
    assert levels[-0.5][0] > levels[-0.5][1] and levels[0.5][1] > levels[0.5][0]


def test_a_scan_plays_where_the_mod_wheel_is_crossfading_neighbours_at_equal_power():
    """Three places of a scan (300, 600, 1200 Hz) over the same keys: the wheel at 0 plays the
    first alone, at 0.25 the first two at cos/sin of 45 degrees, at 1 the last alone; a note
    sounds at most two voices; notes already sounding keep their mix."""
    freqs = (300.0, 600.0, 1200.0)  # whole periods of 160, 80, 40 frames: exact FFT bins below
    s = kit(*(tone(f, sound_id=i + 1) for i, f in enumerate(freqs)), velocity_track=0.0, gain_db=-20.0)
    s.set_keymap([Zone((i + 1,), root=69, scan=i + 1) for i in range(3)])
    n = 4800  # 0.1 s: whole cycles of each tone

    def levels(y):
        spec = np.abs(np.fft.rfft(y[:n])) * 2 / n
        return [float(spec[int(round(f * n / RATE))]) for f in freqs]

    def at(mod):
        s.all_sound_off()
        render(s, 4)
        s.mod_wheel(mod)
        y = play(s, 69, periods=48)[PERIOD * 8 :]
        assert len(y) >= n
        return levels(y), int((s.active & ~s.released).sum())

    alone = [at(place / 2)[0][place] for place in range(3)]  # each place alone
    assert max(alone) / min(alone) < 1.001
    c = np.cos(np.pi / 4)
    for mod, want, voices in ((0.0, (1, 0, 0), 1), (0.25, (c, c, 0), 2), (0.75, (0, c, c), 2), (1.0, (0, 0, 1), 1)):
        got, sounding = at(mod)
        assert sounding == voices
        for g, a, w in zip(got, alone, want):
            assert abs(g / a - w) < 1e-3, (mod, got, alone)
    # the wheel moves after the note-on: the sounding note follows it (the glide settles in
    # ~60 periods; the last 4800 frames are measured)
    s.mod_wheel(0.0)
    got = levels(render(s, 100)[-n:, 0])
    assert abs(got[0] / alone[0] - 1) < 1e-3 and got[2] < 1e-3 * alone[2], (got, alone)
    assert int((s.active & ~s.released).sum()) == 1


def test_a_held_note_follows_the_wheel_through_a_scan_without_a_click():
    """Four places (100, 150, 200, 300 Hz; the third 6 dB down), a note held at the wheel's 0
    while the wheel moves one MIDI step a period to the middle, to the end and back: between
    moves the note sounds the places where the wheel is, each at its equal-power share of the
    level it has alone (the places the wheel reached joined the note at its point); the sweep
    never steps: the output's second difference stays within what the tones themselves give;
    a released note follows too, and falls silent."""
    freqs = (100.0, 150.0, 200.0, 300.0)  # whole cycles in n frames: exact FFT bins
    s = kit(*(tone(f, sound_id=i + 1) for i, f in enumerate(freqs)), velocity_track=0.0, gain_db=-20.0, release=200.0)
    s.set_keymap([Zone((i + 1,), root=69, scan=i + 1, gain_db=-6.0 if i == 2 else 0.0) for i in range(4)])
    n = 4800

    def levels(y):
        spec = np.abs(np.fft.rfft(y[-n:])) * 2 / n
        return np.array([float(spec[int(round(f * n / RATE))]) for f in freqs])

    alone = []
    for place in range(4):  # each place alone, from its note-on
        s.all_sound_off()
        render(s, 4)
        s.mod_wheel(place / 3)
        alone.append(levels(play(s, 69, periods=60))[place])
    alone = np.array(alone)
    assert abs(alone[2] / alone[0] - 10 ** (-6 / 20)) < 1e-3  # the third place's own gain
    s.all_sound_off()
    render(s, 4)
    s.mod_wheel(0.0)
    s.note_on(69, 100)
    out, most = [render(s, 60)[:, 0]], 0

    def sweep(to, settle=80):
        nonlocal most
        step = 1 / 127 if to > s.mod else -1 / 127
        while abs(s.mod - to) > 1e-9:
            s.mod_wheel(to if abs(to - s.mod) < 1 / 127 else s.mod + step)
            out.append(render(s, 1)[:, 0])
            most = max(most, int(s.active.sum()))
        out.append(render(s, settle)[:, 0])
        return levels(out[-1])

    c = np.cos(np.pi / 4)
    for to, want in ((0.5, (0, c, c, 0)), (1.0, (0, 0, 0, 1)), (0.0, (1, 0, 0, 0))):
        got = sweep(to)
        assert np.abs(got / alone - want).max() < 2e-3, (to, got / alone)
    assert most <= 3  # a note sounds its two places, and a third while it fades out
    # the output never steps: its second difference stays near the tones' own (each place at its
    # level alone, all at once, at the highest frequency: a bound no smooth mix exceeds)
    y = np.concatenate(out).astype(np.float64)
    smooth = alone.sum() * (2 * np.pi * freqs[-1] / RATE) ** 2
    assert np.abs(np.diff(y, 2)).max() < smooth, (np.abs(np.diff(y, 2)).max(), smooth)
    # released, the note still follows the wheel, and its places fall silent together
    s.mod_wheel(0.5)
    render(s, 10)
    s.note_off(69)
    render(s, 2)
    s.mod_wheel(1.0)
    render(s, 20)
    assert s.active.any() and s.released[s.active].all()
    render(s, int(0.3 * RATE / PERIOD))
    assert not s.active.any()
