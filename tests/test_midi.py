"""MIDI decoding: every message kind, and garbage that must be counted, never raised."""

import random

import mido
import pytest

from promptsynth.engine import midi
from promptsynth.engine.midi import BEND, CONTROL, NOTE_OFF, NOTE_ON, PROGRAM, RESET, MidiDecoder


def decode(data, channel=0):
    got = []
    d = MidiDecoder(lambda k, a, b: got.append((k, a, b)), channel)
    d.feed(list(data))
    return got, d.counters


def test_messages_built_by_mido_decode_to_the_right_events():
    msgs = [
        mido.Message("note_on", note=60, velocity=100),
        mido.Message("note_off", note=60),
        mido.Message("note_on", note=61, velocity=0),
        mido.Message("control_change", control=64, value=127),
        mido.Message("pitchwheel", pitch=8191),
        mido.Message("pitchwheel", pitch=-8192),
        mido.Message("program_change", program=5),
    ]
    got = []
    d = MidiDecoder(lambda k, a, b: got.append((k, a, b)))
    for m in msgs:
        d.feed(m.bytes())
    assert got == [
        (NOTE_ON, 60, 100),
        (NOTE_OFF, 60, 0),
        (NOTE_OFF, 61, 0),
        (CONTROL, 64, 127),
        (BEND, 8191, 0),
        (BEND, -8192, 0),
        (PROGRAM, 5, 0),
    ]
    assert d.counters.malformed == 0 and d.counters.events == 7


def test_running_status_within_a_message():
    got, c = decode([0x90, 60, 100, 62, 100, 64, 0])
    assert got == [(NOTE_ON, 60, 100), (NOTE_ON, 62, 100), (NOTE_OFF, 64, 0)]


def test_stray_data_bytes_are_counted_and_dropped():
    got, c = decode([0x3C, 0x40])
    assert got == [] and c.malformed == 2


def test_truncated_message_is_dropped_and_the_next_one_still_plays():
    got, c = decode([0x90, 60, 0x80, 60, 0])
    assert got == [(NOTE_OFF, 60, 0)] and c.malformed == 1


def test_a_status_byte_where_data_was_due_truncates_the_message():
    got, c = decode([0x90, 200, 1])  # 200 = 0xC8: a program change on channel 9
    assert got == [(PROGRAM, 1, 8)] and c.malformed == 1  # program 1, channel index 8, no bank select


def test_sysex_is_counted_and_skipped_even_unterminated():
    got, c = decode([0xF0, 1, 2, 3, 0xF7, 0x90, 60, 1])
    assert got == [(NOTE_ON, 60, 1)] and c.sysex == 1
    got, c = decode([0xF0, 1, 2, 0x90, 62, 1])  # no F7: ends at the next status byte
    assert got == [(NOTE_ON, 62, 1)] and c.sysex == 1


def test_realtime_bytes_inside_a_message_are_ignored_and_system_reset_is_a_panic():
    got, c = decode([0x90, 0xF8, 60, 0xFE, 100])
    # the clock tick goes to the tempo (too few for one), active sensing is ignored
    assert got == [(NOTE_ON, 60, 100)] and c.ignored == 1
    got, c = decode([0xFF])
    assert got == [(RESET, 0, 0)]


def test_channel_filter():
    got, c = decode([0x91, 60, 100, 0x90, 61, 100], channel=2)
    assert got == [(NOTE_ON, 60, 100)] and c.filtered == 1


def test_random_garbage_never_raises_and_every_byte_is_accounted_for():
    rng = random.Random(7)
    d = MidiDecoder(lambda k, a, b: None)
    for _ in range(5000):
        d.feed([rng.randrange(256) for _ in range(rng.randrange(0, 12))])
    d.feed([-1, 300, 0x90])  # out-of-byte values from a broken sender
    c = d.counters
    assert c.messages == 5001 and c.malformed > 0 and c.events > 0


@pytest.mark.parametrize(
    "cc,call",
    [
        (64, "sustain_pedal"),
        (1, "mod_wheel"),
        (7, "set_volume"),
        (120, "all_sound_off"),
        (123, "all_notes_off"),
        (121, "reset_controllers"),
    ],
)
def test_controllers_reach_the_sampler(cc, call):
    calls = []

    class Rec:
        def __getattr__(self, name):
            return lambda *a: calls.append((name, a))

    midi.apply_to_sampler(Rec())(CONTROL, cc, 127)
    assert calls and calls[0][0] == call


def test_full_bend_maps_to_plus_and_minus_one():
    calls = []

    class Rec:
        def pitch_bend(self, v):
            calls.append(v)

    h = midi.apply_to_sampler(Rec())
    h(BEND, 8191, 0)
    h(BEND, -8192, 0)
    h(BEND, 0, 0)
    assert calls == [1.0, -1.0, 0.0]


# ---- notes belong to the input they came from --------------------------------------------------


def _tone_sampler(release=10.0, attack=0.0):
    import numpy as np

    from conftest import RATE, make_sampler
    from promptsynth.engine.sound import prepare

    s = make_sampler(release=release, attack=attack)
    s.load(prepare(np.full(RATE * 4, 0.25, np.float32)))  # a steady level: one voice = 0.25
    return s


def _level(s, periods=2):
    out = None
    for _ in range(periods):
        out = s.render()
    return float(abs(out[-1, 0]))


@pytest.mark.usefixtures("renderer")
def test_each_input_has_its_own_notes_and_pedal():
    s = _tone_sampler()
    a = MidiDecoder(midi.apply_to_sampler(s, source=2), counters=midi.MidiCounters())
    b = MidiDecoder(midi.apply_to_sampler(s, source=3), counters=a.counters)
    a.feed([0x90, 60, 100])
    b.feed([0x90, 60, 100])  # the same key on two keyboards: two voices
    assert _level(s) == 0.5
    a.feed([0x80, 60, 0])  # ends A's, not B's
    assert _level(s, 10) == 0.25
    a.feed([0xB0, 64, 127])  # A's pedal holds nothing of B's
    b.feed([0x90, 62, 100])
    b.feed([0x80, 62, 0])
    b.feed([0x80, 60, 0])
    assert _level(s, 10) == 0.0
    b.feed([0xB0, 64, 127])  # B's own pedal does
    b.feed([0x90, 64, 100, 0x80, 64, 0])
    assert _level(s, 10) == 0.25
    a.feed([0xB0, 123, 0])  # all notes off from A: B's note sounds on
    assert _level(s, 10) == 0.25
    b.feed([0xB0, 123, 0])
    assert _level(s, 10) == 0.0 and not s.pedals.any()
    assert a.counters.events == b.counters.events and a.counters.events > 10  # one shared count


@pytest.mark.usefixtures("renderer")
def test_a_lost_input_releases_only_its_notes_and_pedal():
    s = _tone_sampler()
    s.sustain_pedal(True, 2)
    s.note_on(60, 100, 2)
    s.note_off(60, 2)  # held by input 2's pedal
    s.note_on(64, 100, 3)
    s.sustain_pedal(True, 3)
    assert _level(s) == 0.5
    s.all_notes_off(2)  # input 2 unplugged
    assert _level(s, 10) == 0.25 and s.pedals[3] and not s.pedals[2]


def test_a_note_released_in_the_period_it_started_still_sounds():
    # (a release begun before the first render started from the attack's level 0: no sound)
    s = _tone_sampler(release=10.0, attack=2.0)
    s.note_on(60, 100)
    s.note_off(60)  # both before the next render
    first = s.render()[:, 0].copy()
    assert abs(first[-1]) == 0.25  # a full period: the 2 ms attack, then the level
    assert s.released.any()  # then the release
    rel = [s.render()[:, 0].copy() for _ in range(5)]
    assert 0 < abs(rel[0][0]) <= 0.25 and abs(rel[-1][-1]) == 0.0


@pytest.mark.usefixtures("renderer")
def test_a_quick_note_under_the_pedal_is_held_not_released():
    s = _tone_sampler()
    s.sustain_pedal(True)
    s.note_on(60, 100)
    s.note_off(60)
    assert _level(s, 10) == 0.25
    s.sustain_pedal(False)
    assert _level(s, 10) == 0.0


def clock_events(intervals, start=0.0):
    """MIDI clock ticks fed one message each with rtmidi's delta times; the TEMPO events."""
    got = []
    d = MidiDecoder(lambda k, a, b: got.append((k, a, b)))
    d.feed([0xF8], start)
    for dt in intervals:
        d.feed([0xF8], dt)
    return [a for k, a, _ in got if k == midi.TEMPO], d


def test_midi_clock_ticks_give_the_tempo_from_their_delta_times():
    quarter = 0.5  # 120 BPM: a tick every 20.833 ms
    tempos, _ = clock_events([quarter / 24] * 48)
    assert len(tempos) == 7  # one every sixteenth note (6 ticks), from the eighth note on
    assert all(abs(t - 500000) <= 1 for t in tempos)
    # USB-like jitter (+-1 ms a tick, uniform) averages out over the beat: within 0.5 %
    rng = random.Random(3)
    times = [i * quarter / 24 + rng.uniform(-0.001, 0.001) for i in range(97)]
    tempos, _ = clock_events([b - a for a, b in zip(times, times[1:])])
    assert all(abs(t - 500000) / 500000 < 0.005 for t in tempos[3:])
    # a tempo change is followed within a beat (24 ticks)
    tempos, _ = clock_events([0.5 / 24] * 48 + [0.4 / 24] * 30)
    assert abs(tempos[-1] - 400000) <= 1


def test_a_clock_that_stops_or_goes_wild_is_measured_afresh():
    # a 2 s gap (the sequencer stopped): the first beat after it is not averaged with the old
    tempos, _ = clock_events([0.5 / 24] * 30 + [2.0] + [0.25 / 24] * 13)
    assert tempos[-1] == 250000
    # ticks far too fast (a flood) or too slow give no tempo at all
    assert clock_events([0.001] * 60)[0] == []
    assert clock_events([0.2] * 60)[0] == []
    # no deltas at all (messages from the supervisor, not a port): no tempo, no error
    assert clock_events([0.0] * 60)[0] == []


def test_a_tempo_event_reaches_the_sampler():
    class S:
        quarter = None

        def set_clock(self, q):
            self.quarter = q

    s = S()
    midi.apply_to_sampler(s)(midi.TEMPO, 468750, 0)
    assert s.quarter == 0.46875


def test_bank_select_is_kept_per_channel_and_goes_with_the_program_change():
    # CC0 (MSB) and CC32 (LSB) on channel 3, then a program change there; channel 1 stays bank 0
    got, _ = decode([0xB2, 0, 1, 0xB2, 32, 5, 0xC2, 7, 0xC0, 9, 0xB2, 74, 64])
    # channel 3: bank 1 x 128 + 5; channel 1 had no Bank Select (-1, the current bank)
    assert got == [(PROGRAM, 7, 2 + 16 * (1 * 128 + 5 + 1)), (PROGRAM, 9, 0), (CONTROL, 74, 64)]  # no CC0/32 passed
