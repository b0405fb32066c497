"""The engine process end to end: JACK MIDI in, sampler, pyalsaaudio out, captured by the tap.

Pacing comes from a `jackd -d dummy` server; expectations are in frames of the captured
stream, never in wall-clock speed (waits only bound how long a test may take). The engine
process is driven directly (tests/engine_harness.py), the way its host drives it.
"""

import os

import numpy as np
import pytest

from conftest import PERIOD, RATE, freq_of
from engine_harness import EngineProc, fresh_tap, send_until, startup_sound
from promptsynth import config
from promptsynth.bench.rig import onset_after, wait_for
from promptsynth.engine import messages as m
from promptsynth.engine.sound import prepare


@pytest.fixture
def engine(rig):
    started = []

    def start(device="tap_jack", renderer="auto", **sampler):
        fresh_tap(rig, device)
        cfg = config.replace(rig.config(device, **sampler), "audio", renderer=renderer)
        sup = EngineProc(cfg, rig.env)
        started.append(sup)
        sup.load(startup_sound(sup.cfg, sup.new_id()))
        return sup

    yield start
    for sup in started:
        sup.stop()


@pytest.fixture
def keyboard(rig):
    kbd = rig.keyboard()
    yield kbd
    kbd.close_port()
    kbd.delete()


def _audio_for(rig, frames):
    """Wait until ``frames`` more frames have been written (audio time, not wall-clock time)."""
    start = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > start + frames, 30.0)


def periods(sup):
    """The engine's periods so far (its progress, for resending MIDI a busy JACK dropped)."""
    return lambda: sup.stats["periods"]


def _ready(sup, ports=1):
    assert sup.wait_ready(30.0), sup.texts()
    assert wait_for(lambda: sup.stats["midi_ports"] >= ports, 10.0), sup.texts()


@pytest.mark.parametrize("renderer", ["auto", "numpy"])
def test_note_from_a_midi_keyboard_plays_the_init_sound_at_its_pitch(engine, keyboard, rig, renderer):
    sup = engine(release=5.0, renderer=renderer)
    _ready(sup)
    assert sup.stats["kernel"] == (renderer == "auto")  # the compiled kernel, unless numpy is asked for
    send_until(keyboard, lambda: sup.stats["voices"] >= 1, periods(sup), [0x90, 72, 127])  # an octave up
    _audio_for(rig, RATE * 6 // 10)
    send_until(keyboard, lambda: sup.stats["voices"] == 0, periods(sup), [0x80, 72, 0])
    x = rig.read_tap()
    on = onset_after(x, 0)
    assert on >= 0 and (on - 1) % PERIOD == 0  # starts on a period boundary (first sample is 0)
    seg = x[on + RATE // 10 : on + RATE // 2, 0]
    assert abs(freq_of(seg) / (2 * 261.6256) - 1) < 2e-3
    assert sup.stats["audio_ok"] == 1  # (xruns are a speed figure: the benchmark reports them)


def test_garbage_midi_bytes_are_counted_and_change_nothing(engine, keyboard, rig):
    sup = engine()
    _ready(sup)
    before = rig.tap_frames()
    # (rtmidi's JACK input glues an unterminated SysEx to what follows, up to the next F7)
    junk = ([0x3C, 0x40], [0xF0, 1, 2, 3], [0x90, 60], [0xF7], [0xF4, 1], [0x80], [0xB0, 7])
    sentinel = [0xB0, 1, 0]  # a harmless sentinel after it (one JACK cycle): mod wheel to 0
    send_until(keyboard, lambda: sup.stats["midi_events"] >= 1, periods(sup), *junk, sentinel)
    _audio_for(rig, RATE // 4)
    assert sup.alive()
    assert sup.stats["midi_malformed"] >= 4 and sup.stats["midi_sysex"] == 1
    assert sup.stats["midi_events"] == 1  # the sentinel, once (a lost batch is lost whole: one cycle)
    x = rig.read_tap()
    assert np.all(x[before:] == 0)  # no note was started by any of it
    send_until(keyboard, lambda: sup.stats["voices"] == 1, periods(sup), [0x90, 60, 100])  # and it still plays


def test_keyboard_unplugged_and_plugged_back_plays_again(engine, rig):
    sup = engine()
    kbd = rig.keyboard()
    _ready(sup)
    # a note, the pedal down, then the cable is pulled
    send_until(kbd, lambda: sup.stats["voices"] == 1, periods(sup), [0x90, 60, 100], [0xB0, 64, 127])
    kbd.close_port()
    kbd.delete()
    assert wait_for(lambda: sup.stats["midi_ports"] == 0, 10.0)
    # on loss every note and the pedal are released: nothing hangs
    assert wait_for(lambda: sup.stats["voices"] == 0, 10.0)
    kbd = rig.keyboard()
    assert wait_for(lambda: sup.stats["midi_ports"] == 1, 10.0)
    count = sup.stats["note_on_count"]
    # the replugged port is heard again
    send_until(kbd, lambda: sup.stats["note_on_count"] == count + 1, periods(sup), [0x90, 64, 100])
    assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
    kbd.close_port()
    kbd.delete()


def test_new_sound_by_shared_memory_while_a_note_holds_the_old_one(engine, keyboard, rig):
    sup = engine(release=5.0)
    _ready(sup)
    sup.send(m.Midi(bytes([0x90, 60, 127])))  # holds the looping init sound (261.6 Hz)
    assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
    t = np.arange(RATE) / RATE
    new = prepare((0.4 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), sound_id=sup.new_id())
    sup.load(new)
    assert wait_for(lambda: sup.stats["sound_id"] == new.sound_id, 10.0)
    _audio_for(rig, RATE // 2)
    x = rig.read_tap()
    assert abs(freq_of(x[-RATE // 4 :, 0]) / 261.6256 - 1) < 2e-3  # the held note goes on unchanged
    sup.send(m.Midi(bytes([0x80, 60, 0])))
    assert wait_for(lambda: sup.stats["voices"] == 0, 10.0)
    # the old sound is released once silent, and its shared memory unlinked
    assert wait_for(lambda: (sup.poll(0.05) or True) and 1 not in sup.published(), 10.0)
    sup.send(m.Midi(bytes([0x90, 60, 127])))
    assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
    _audio_for(rig, RATE // 4)
    x = rig.read_tap()
    assert abs(freq_of(x[-RATE // 8 :, 0]) / 1000.0 - 1) < 2e-3


def test_missing_audio_device_at_start_does_not_crash(engine, keyboard):
    sup = engine(device="hw:7,0")
    assert wait_for(lambda: sup.noticed("unavailable"), 10.0), sup.texts()
    assert sup.alive() and sup.stats["audio_ok"] == 0
    assert wait_for(lambda: sup.stats["midi_ports"] >= 1, 10.0)
    # MIDI still works; voices run on, paced
    send_until(keyboard, lambda: sup.stats["note_on_count"] >= 1, periods(sup), [0x90, 60, 100])
    p0 = sup.stats["periods"]
    assert wait_for(lambda: sup.stats["periods"] - p0 > 100, 10.0)
    assert sup.alive()


def test_panic_and_stop_fade_out_cleanly(engine, keyboard, rig):
    sup = engine(release=2000.0)
    _ready(sup)
    for n in (48, 55, 60, 64):  # (the engine's own message: the fade is the point, not JACK's MIDI)
        sup.send(m.Midi(bytes([0x90, n, 127])))
    assert wait_for(lambda: sup.stats["voices"] == 4, 10.0)
    _audio_for(rig, RATE // 2)
    mark = rig.tap_frames()
    sup.send(m.Panic())
    assert wait_for(lambda: sup.stats["voices"] == 0, 10.0)
    _audio_for(rig, RATE // 10)
    x = rig.read_tap()
    cut = mark - 2 * 384  # well before the panic reached the stream
    music = np.abs(np.diff(x[cut - RATE // 4 : cut], axis=0)).max()
    fade = np.abs(np.diff(x[cut:], axis=0)).max()
    # a 6 ms fade adds at most 1/288 of full scale per frame to the music's own steps
    assert fade <= music + 0.01, (fade, music)
    assert np.all(x[-RATE // 20 :] == 0)
    sup.stop()
    assert not sup.alive()


def test_audio_device_that_vanishes_is_retried_and_comes_back(tmp_path):
    """The whole sound server dies under the engine (a yanked card); it comes back; so does sound."""
    from promptsynth.bench.rig import Rig

    own = Rig(RATE, PERIOD, name="psynth-vanish-%d" % os.getpid(), export=False)
    sup = EngineProc(own.config("tap_jack", release=5.0), own.env)
    try:
        sup.load(startup_sound(sup.cfg, sup.new_id()))
        assert sup.wait_ready(30.0), sup.texts()
        own.jack.stop()  # the device disappears mid-run
        assert wait_for(lambda: (sup.poll(0.05) or True) and sup.stats["audio_ok"] == 0, 10.0), sup.texts()
        assert sup.alive()
        assert wait_for(lambda: sup.noticed("audio: tap_jack lost"), 10.0), sup.texts()
        own.jack.start()  # and is plugged back in
        assert wait_for(lambda: (sup.poll(0.05) or True) and sup.stats["audio_opens"] >= 2, 15.0), sup.texts()
        sup.send(m.Midi(bytes([0x90, 60, 100])))
        assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
        assert sup.alive()
    finally:
        sup.stop()
        own.close()


def test_turning_the_cutoff_filters_a_held_note_in_the_engine_process(engine, rig):
    # the init sound held, the 12 dB low-pass open (20 kHz); then the cutoff turned to 150 Hz
    # as the panel does (SetParams): the note sounding takes it, and its upper harmonics go
    sup = engine(release=5.0, filter_type="lp12")
    _ready(sup, ports=0)
    sup.send(m.Midi(bytes([0x90, 48, 127])))  # C3: 130.8 Hz, harmonics up the spectrum
    assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
    _audio_for(rig, RATE // 2)
    open_ = rig.read_tap()[-RATE // 4 :, 0]
    sup.send(m.SetParams({"cutoff": 150.0, "resonance": 0.0}))
    start = rig.tap_frames()
    assert wait_for(lambda: rig.tap_frames() > start + RATE // 2, 30.0)
    closed = rig.read_tap()[-RATE // 4 :, 0]

    def above(x, hz):  # the share of the energy above ``hz``
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        f = np.fft.rfftfreq(len(x), 1.0 / RATE)
        return spec[f > hz].sum() / spec.sum()

    assert above(open_, 350.0) > 0.05  # the init sound's harmonics from the third up
    assert above(closed, 350.0) < 0.1 * above(open_, 350.0)
    assert abs(freq_of(closed) / 130.81 - 1) < 5e-3 and np.abs(closed).max() > 0.05  # the same note, playing
    assert sup.stats["voices"] == 1 and sup.stats["kernel"] == 1


def test_a_keymap_plays_each_zone_in_the_engine_process_and_a_bad_one_is_refused(engine, rig):
    from promptsynth.engine.zones import Zone

    sup = engine(release=5.0)
    _ready(sup, ports=0)
    t = np.arange(RATE) / RATE
    low, high = sup.new_id(), sup.new_id()
    for sid, hz in ((low, 220.0), (high, 440.0)):
        tone = (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        sup.play(prepare(tone, loop_mode="forward", loop_start=0, loop_end=RATE, sound_id=sid), current=False)
    sup.set_keymap([Zone((low,), hikey=59, root=57), Zone((high,), lokey=60, root=69, pan=1.0)])

    def hear(note):
        sup.send(m.Midi(bytes([0x90, note, 100])))
        assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
        _audio_for(rig, RATE // 2)
        x = rig.read_tap()[-RATE // 4 :]
        sup.send(m.Midi(bytes([0x80, note, 0])))
        assert wait_for(lambda: sup.stats["voices"] == 0, 10.0)
        return x

    x = hear(57)  # zone 1 at its root, both sides
    assert abs(freq_of(x[:, 0]) / 220.0 - 1) < 2e-3 and abs(np.abs(x[:, 1]).max() - np.abs(x[:, 0]).max()) < 0.01
    x = hear(72)  # zone 2, three semitones up, panned hard right
    assert abs(freq_of(x[:, 1]) / (440.0 * 2 ** (3 / 12)) - 1) < 2e-3 and np.abs(x[:, 0]).max() < 1e-4
    # a zone naming a sound the engine never got: refused whole, the keymap before plays on
    sup.set_keymap([Zone((9999,))])
    assert wait_for(lambda: sup.noticed("keymap refused: zone sound 9999 is not loaded"), 10.0), sup.texts()
    x = hear(57)
    assert abs(freq_of(x[:, 0]) / 220.0 - 1) < 2e-3


def test_program_change_over_jack_midi_switches_presets_and_held_notes_ring_on(engine, keyboard, rig):
    from promptsynth.engine.programs import Program
    from promptsynth.engine.zones import Zone

    sup = engine(release=5.0)
    _ready(sup)
    t = np.arange(RATE) / RATE
    low, high = sup.new_id(), sup.new_id()
    for sid, hz, root in ((low, 220.0, 57), (high, 440.0, 69)):
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        sup.play(prepare(tone, root=root, loop_mode="forward", loop_start=0, loop_end=RATE, sound_id=sid), False)
    programs = (
        Program(0, 0, "low", sound=low),
        Program(0, 1, "high kit", zones=(Zone((high,), lokey=60, root=69),), params={"gain_db": -6.0}),
    )
    sup.send(m.SetPrograms(programs, channel=1))
    changed = []

    def got(kind):
        changed.extend(x for x in sup.poll(0.05) if isinstance(x, (m.ProgramChanged, m.ProgramWanted)))
        return [c for c in changed if isinstance(c, kind)]

    # a note held on the startup sound (C4, 261.6 Hz) while program 2 (index 1) comes over JACK
    send_until(keyboard, lambda: sup.stats["voices"] >= 1, periods(sup), [0x90, 60, 100])
    send_until(keyboard, lambda: got(m.ProgramChanged), periods(sup), [0xC0, 1])
    assert got(m.ProgramChanged)[-1] == m.ProgramChanged(0, 1, "high kit")
    send_until(keyboard, lambda: sup.stats["voices"] >= 2, periods(sup), [0x90, 72, 100])
    _audio_for(rig, RATE // 2)
    x = rig.read_tap()[-RATE // 4 :, 0]
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / RATE)

    def level(hz):
        return spec[np.abs(f - hz) < 4].max()

    assert level(261.63) > 0.2 * spec.max()  # the held note rings on with the sound it started with
    assert level(440.0 * 2 ** (3 / 12)) > 0.2 * spec.max()  # the new note plays the kit's zone
    send_until(keyboard, lambda: sup.stats["voices"] == 0, periods(sup), [0xB0, 123, 0])
    # program 1 again: plain notes on the low sound; a program change on channel 2 is not heard
    send_until(keyboard, lambda: len(got(m.ProgramChanged)) >= 2, periods(sup), [0xC0, 0])
    assert got(m.ProgramChanged)[-1].name == "low" and sup.stats["sound_id"] == low
    keyboard.send_message([0xC1, 1])
    send_until(keyboard, lambda: got(m.ProgramWanted), periods(sup), [0xC0, 5])  # not resident: asked for
    assert got(m.ProgramWanted) == [m.ProgramWanted(0, 5)]
    assert [c.number for c in got(m.ProgramChanged)] == [1, 0]  # channel 2's never switched
    # program change and a note in the same message: the note already plays the new program
    sup.send(m.Midi(bytes([0xC0, 1, 0x90, 72, 100])))
    assert wait_for(lambda: sup.stats["voices"] >= 1, 10.0)
    _audio_for(rig, RATE // 4)
    x = rig.read_tap()
    on = onset_after(x, len(x) - RATE // 2)
    assert abs(freq_of(x[on : on + RATE // 10, 0]) / (440.0 * 2 ** (3 / 12)) - 1) < 3e-3


def test_velocity_layers_round_robin_and_a_choke_through_the_engine_process(engine, rig):
    from promptsynth.engine.zones import Zone

    sup = engine(release=5.0)
    _ready(sup, ports=0)
    t = np.arange(RATE) / RATE
    ids = {}
    for hz in (220.0, 330.0, 440.0, 550.0):
        ids[hz] = sup.new_id()
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        sup.play(prepare(tone, loop_mode="forward", loop_start=0, loop_end=RATE, sound_id=ids[hz]), current=False)
    sup.set_keymap(
        [
            Zone((ids[220.0],), lokey=60, hikey=60, hivel=63, root=60),  # soft
            Zone((ids[440.0],), lokey=60, hikey=60, lovel=64, root=60),  # loud
            Zone((ids[220.0], ids[330.0]), lokey=62, hikey=62, root=62),  # two alternates in turn
            Zone((ids[550.0],), lokey=46, hikey=46, root=46, group=1),  # open hat
            Zone((ids[330.0],), lokey=42, hikey=42, root=42, group=1),  # closed hat
        ]
    )

    def hear(*notes):
        for note, vel in notes:
            sup.send(m.Midi(bytes([0x90, note, vel])))
        _audio_for(rig, RATE // 3)
        x = rig.read_tap()[-RATE // 6 :, 0]
        sup.send(m.Midi(bytes([0xB0, 123, 0])))  # all notes off
        assert wait_for(lambda: sup.stats["voices"] == 0, 10.0)
        return x

    assert abs(freq_of(hear((60, 63))) / 220.0 - 1) < 2e-3  # the boundary: 63 is soft ...
    assert abs(freq_of(hear((60, 64))) / 440.0 - 1) < 2e-3  # ... 64 is loud
    turns = [freq_of(hear((62, 100))) for _ in range(3)]
    assert [round(f) for f in turns] == [220, 330, 220]  # in turn
    # the closed hat cuts the open one: its 550 Hz is gone, with no step beyond the tones' own
    start = rig.tap_frames()
    sup.send(m.Midi(bytes([0x90, 46, 100])))
    assert wait_for(lambda: sup.stats["voices"] == 1, 10.0)
    _audio_for(rig, RATE // 5)
    sup.send(m.Midi(bytes([0x90, 42, 100])))
    _audio_for(rig, RATE // 3)
    x = rig.read_tap()
    y = x[start:, 0]
    assert np.abs(np.diff(y)).max() <= 2 * np.pi * 550 / RATE * 0.3 * 1.1
    tail = x[-RATE // 6 :, 0]
    spec = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    f = np.fft.rfftfreq(len(tail), 1 / RATE)
    assert spec[np.abs(f - 550) < 5].max() < 0.01 * spec[np.abs(f - 330) < 5].max()
