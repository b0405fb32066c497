"""Which MIDI ports the engine opens, and that every note sounds exactly once.

Through the real paths: python-rtmidi and JACK-Client on a `jackd -d dummy` server, the engine
process writing through pyalsaaudio into the ALSA tap. Keyboards are JACK ports flagged
physical (as the JACK ALSA backend and a2jmidid flag hardware); software clients are plain JACK
ports connected to the instrument's virtual port. The engine runs with the DEFAULT [midi]
settings (every hardware port, a virtual port) on the JACK API, as there is no ALSA sequencer
here.

Each note is measured twice: in the engine's counters (note_on_count, midi_events) and in the
captured audio, where the test sound (a 300 Hz sine at 0.25, looped over whole cycles) gives one
voice a known level and pitch that no doubled voice can imitate. (A message that JACK itself
drops, which a late client on a busy machine makes it do, is sent again: see deliver().)
"""

import numpy as np
import pytest

from conftest import PERIOD, RATE, freq_of
from engine_harness import EngineProc, JackMidiPort, deliver, fresh_tap, tone_sound
from promptsynth import config
from promptsynth.bench.rig import onset_after, wait_for

VIRTUAL = "promptsynth:promptsynth"
LEVEL = 0.25
TONE = 300.0
CYCLE = int(RATE / TONE)  # 160 frames
pytestmark = pytest.mark.jack


def default_midi(rig, **sampler):
    cfg = rig.config("tap_jack", **sampler)
    d = config.MidiConfig()
    assert d.port == "" and d.virtual  # what a user gets without a [midi] section
    return config.replace(cfg, "midi", api="jack", port=d.port, virtual=d.virtual)


@pytest.fixture
def engine(rig):
    started = []

    def start(cfg=None, **sampler):
        fresh_tap(rig)
        sampler = dict(dict(attack=2.0, release=100.0, gain=0.0, velocity_track=0.0), **sampler)
        eng = EngineProc(cfg or default_midi(rig, **sampler), rig.env)
        started.append(eng)
        eng.load(tone_sound(RATE, TONE, LEVEL, eng.new_id()))
        assert eng.wait_ready(30.0), eng.texts()
        assert wait_for(lambda: eng.noticed("virtual port ready"), 10.0), eng.texts()
        assert wait_for(lambda: eng["sound_id"] >= 1, 5.0)
        return eng

    yield start
    for eng in started:
        eng.stop()


@pytest.fixture
def ports():
    made = []

    def make(name, physical=False):
        p = JackMidiPort(name, physical=physical)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.close()
        except Exception:
            pass


def cycle_peaks(x: np.ndarray) -> np.ndarray:
    """The largest magnitude in each cycle of the tone (left channel)."""
    n = x.shape[0] // CYCLE * CYCLE
    return np.abs(x[:n, 0]).reshape(-1, CYCLE).max(axis=1)


def one_voice(seg: np.ndarray, note: int = 60) -> None:
    """``seg`` is exactly one steady voice of ``note``: the tone's level in every cycle, its pitch."""
    peaks = cycle_peaks(seg)
    assert peaks.size > 20
    assert np.all(np.abs(peaks - LEVEL) < 0.01 * LEVEL), (peaks.min(), peaks.max())
    assert np.array_equal(seg[:, 0], seg[:, 1])  # a mono sound: both sides alike
    want = TONE * 2 ** ((note - 60) / 12)
    assert abs(freq_of(seg[:, 0]) / want - 1) < 2e-3


def send(eng, port, *messages):
    """Send until the engine has counted one event per message (resending only what JACK lost)."""
    e0 = eng["midi_events"]
    deliver(port, lambda: eng["midi_events"] >= e0 + len(messages), lambda: eng["periods"], *messages)


def play(eng, rig, port, note: int, hold: int = RATE // 4):
    """Hold ``note`` on ``port`` for ``hold`` frames of written audio, release it, and return its
    audio from onset to silence plus the counters' increments."""
    n0, e0 = eng["note_on_count"], eng["midi_events"]
    mark = rig.tap_frames()
    send(eng, port, [0x90, note, 100])
    start = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > start + hold, 20.0)
    send(eng, port, [0x80, note, 0])
    assert wait_for(lambda: eng["voices"] == 0, 10.0)
    end = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > end + 4 * PERIOD, 10.0)  # the tail is written
    x = rig.read_tap()
    on = onset_after(x, mark)
    assert on >= 0, "note %d made no sound" % note
    return x[on:], eng["note_on_count"] - n0, eng["midi_events"] - e0


def test_software_client_on_the_virtual_port_sounds_each_note_once_even_its_first(engine, ports, rig):
    eng = engine()
    seq = ports("psynth-seq")  # a sequencer, DAW bridge, aplaymidi...
    seq.connect(VIRTUAL)
    seq.settle()  # (JACK time for the connection to take)
    # its very first note, before any rescan could have looked at the client
    x, ons, events = play(eng, rig, seq, 60)
    assert (ons, events) == (1, 2)
    one_voice(x[10 * CYCLE : RATE // 5])
    # a keyboard plugged in after the client connected: once the engine has opened it, the
    # engine has certainly rescanned the ports with the client present
    kbd = ports("psynth-hwkbd", physical=True)
    assert wait_for(lambda: eng.noticed("MIDI port opened: psynth-hwkbd:out"), 10.0), eng.texts()
    kbd.settle()
    for note in (60, 64, 67):
        x, ons, events = play(eng, rig, seq, note)
        assert (ons, events) == (1, 2), note
        one_voice(x[10 * CYCLE : RATE // 5], note)
    assert eng["midi_ports"] == 1 and not eng.noticed("psynth-seq")  # heard through the virtual port only
    assert seq.connections() == [VIRTUAL]
    x, ons, events = play(eng, rig, kbd, 62)  # and the keyboard, through its own port, once
    assert (ons, events) == (1, 2)
    one_voice(x[10 * CYCLE : RATE // 5], 62)
    assert eng["midi_malformed"] == 0


def test_a_note_whose_on_and_off_arrive_together_still_sounds(engine, ports, rig):
    """A note-on and its note-off picked up in one period (a loop held up behind a port being
    opened, a zero-length note from a sequencer) made no sound at all: the release started from
    the attack's first value, 0."""
    eng = engine(release=50.0)
    seq = ports("psynth-seq")
    seq.connect(VIRTUAL)
    seq.settle()
    mark = rig.tap_frames()
    send(eng, seq, [0x90, 60, 100], [0x80, 60, 0])  # both in one JACK cycle
    assert wait_for(lambda: eng["voices"] == 0, 10.0)
    end = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > end + 4 * PERIOD, 10.0)
    x = rig.read_tap()
    on = onset_after(x, mark)
    assert on >= 0 and eng["note_on_count"] == 1
    # one period of attack and hold, then the 50 ms release from the tone's full level
    peaks = cycle_peaks(x[on : on + RATE // 10])
    assert abs(peaks[:3].max() - LEVEL) < 0.02, peaks[:5]
    assert np.all(x[on + PERIOD + RATE * 50 // 1000 + PERIOD :] == 0)


def test_a_matching_port_already_connected_to_the_virtual_port_is_not_opened_twice(engine, ports, rig):
    eng = engine(
        cfg=config.replace(
            default_midi(rig, attack=2.0, release=100.0, gain=0.0, velocity_track=0.0), "midi", port="psynth-sw"
        )
    )
    peer = ports("psynth-sw1")
    peer.connect(VIRTUAL)
    other = ports("psynth-sw2")  # matches too, and is not connected: opened
    assert wait_for(lambda: eng["midi_ports"] == 1, 10.0), eng.texts()
    assert eng.noticed("MIDI port opened: psynth-sw2:out") and not eng.noticed("psynth-sw1")
    other.settle()
    x, ons, events = play(eng, rig, peer, 64)
    assert (ons, events) == (1, 2)
    one_voice(x[10 * CYCLE : RATE // 5], 64)
    x, ons, events = play(eng, rig, other, 65)
    assert (ons, events) == (1, 2)
    one_voice(x[10 * CYCLE : RATE // 5], 65)
    # disconnected from the virtual port, the client becomes an ordinary matching port: opened,
    # and still heard once
    peer.disconnect(VIRTUAL)
    assert wait_for(lambda: eng["midi_ports"] == 2, 10.0), eng.texts()
    peer.settle()
    x, ons, events = play(eng, rig, peer, 67)
    assert (ons, events) == (1, 2)
    one_voice(x[10 * CYCLE : RATE // 5], 67)


def test_notes_held_on_one_keyboard_sound_on_when_another_is_unplugged_or_plugged_in(engine, ports, rig):
    eng = engine()
    a = ports("psynth-kbdA", physical=True)
    b = ports("psynth-kbdB", physical=True)
    assert wait_for(lambda: eng["midi_ports"] == 2, 10.0), eng.texts()
    b.settle()
    send(eng, b, [0x90, 60, 100])  # B holds middle C
    a.settle()
    send(eng, a, [0x90, 67, 100], [0xB0, 64, 127])  # A holds G with its pedal down
    assert wait_for(lambda: eng["voices"] == 2, 10.0)
    # A's pedal is A's: a note played and released on B ends
    send(eng, b, [0x90, 64, 100])
    assert wait_for(lambda: eng["voices"] == 3, 10.0)
    send(eng, b, [0x80, 64, 0])
    assert wait_for(lambda: eng["voices"] == 2, 10.0)
    a.close()  # unplugged, G and A's pedal still down
    assert wait_for(lambda: eng["midi_ports"] == 1, 10.0), eng.texts()
    assert wait_for(lambda: eng["voices"] == 1, 10.0)  # only A's note is released
    lost = rig.tap_frames()
    c = ports("psynth-kbdC", physical=True)  # a new keyboard appears
    assert wait_for(lambda: eng["midi_ports"] == 2, 10.0), eng.texts()
    opened = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > opened + RATE // 2, 20.0)
    x = rig.read_tap()
    # from A's loss (plus its note's 100 ms release) until half a second after C was opened:
    # B's note alone, unbroken, at one voice's level and pitch
    one_voice(x[lost + RATE // 5 : opened + RATE // 2], 60)
    # the new keyboard plays, once, beside B's held note
    c.settle()
    n0 = eng["note_on_count"]
    send(eng, c, [0x90, 72, 100])
    assert wait_for(lambda: eng["voices"] == 2, 10.0)
    assert eng["note_on_count"] == n0 + 1
    send(eng, c, [0x80, 72, 0])
    send(eng, b, [0x80, 60, 0])
    assert wait_for(lambda: eng["voices"] == 0, 10.0)
