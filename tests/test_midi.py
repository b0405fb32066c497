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
    msgs = [mido.Message("note_on", note=60, velocity=100), mido.Message("note_off", note=60),
            mido.Message("note_on", note=61, velocity=0), mido.Message("control_change", control=64, value=127),
            mido.Message("pitchwheel", pitch=8191), mido.Message("pitchwheel", pitch=-8192),
            mido.Message("program_change", program=5)]
    got = []
    d = MidiDecoder(lambda k, a, b: got.append((k, a, b)))
    for m in msgs:
        d.feed(m.bytes())
    assert got == [(NOTE_ON, 60, 100), (NOTE_OFF, 60, 0), (NOTE_OFF, 61, 0), (CONTROL, 64, 127),
                   (BEND, 8191, 0), (BEND, -8192, 0), (PROGRAM, 5, 0)]
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
    got, c = decode([0x90, 200, 1])                     # 200 = 0xC8: a program change on channel 9
    assert got == [(PROGRAM, 1, 0)] and c.malformed == 1


def test_sysex_is_counted_and_skipped_even_unterminated():
    got, c = decode([0xF0, 1, 2, 3, 0xF7, 0x90, 60, 1])
    assert got == [(NOTE_ON, 60, 1)] and c.sysex == 1
    got, c = decode([0xF0, 1, 2, 0x90, 62, 1])          # no F7: ends at the next status byte
    assert got == [(NOTE_ON, 62, 1)] and c.sysex == 1


def test_realtime_bytes_inside_a_message_are_ignored_and_system_reset_is_a_panic():
    got, c = decode([0x90, 0xF8, 60, 0xFE, 100])
    assert got == [(NOTE_ON, 60, 100)] and c.ignored == 2
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
    d.feed([-1, 300, 0x90])                             # out-of-byte values from a broken sender
    c = d.counters
    assert c.messages == 5001 and c.malformed > 0 and c.events > 0


@pytest.mark.parametrize("cc,call", [(64, "sustain_pedal"), (1, "mod_wheel"), (7, "set_volume"),
                                     (120, "all_sound_off"), (123, "all_notes_off"), (121, "reset_controllers")])
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
