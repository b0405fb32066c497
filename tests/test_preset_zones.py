"""Presets with zones (a kit, layers, key ranges): the schema, and playing one through the
daemon into the real engine process (JACK pacing, the ALSA tap)."""

import json

import numpy as np
import pytest

from conftest import RATE, freq_of, step_until
from engine_harness import fresh_tap
from promptsynth import config
from promptsynth.bench.rig import wait_for
from promptsynth.config import ZoneSettings
from promptsynth.daemon.run import Daemon
from promptsynth.engine import messages as m
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import LibraryError


def kit_json(**zone):
    return {
        "schema": 1,
        "name": "Kit",
        "zones": [dict({"name": "kick", "sounds": ["a"], "lokey": 36, "hikey": 36, "mode": "one_shot"}, **zone)],
    }


def test_zones_round_trip_through_json_and_bad_ones_are_named():
    p = Preset.from_json(kit_json(group=1, pan=-50.0, round_robin="random", sounds=["a", "b"]))
    z = p.zones[0]
    assert z.sounds == ("a", "b") and z.mode == "one_shot" and z.group == 1 and z.pan == -50.0
    assert z.attack == -1.0 and z.root == -1  # the preset's envelope, the pad's own key
    again = Preset.from_json(json.loads(json.dumps(p.to_json())))
    assert again == p
    assert Preset.from_json({"schema": 1, "name": "Plain"}).zones == []  # an older preset: no zones
    for bad, says in (
        (dict(lokey=40, hikey=30), "zone 1: lokey 40 is above hikey 30"),
        (dict(sounds=["a", "b", "c", "d", "e"]), "zone 1: a zone has 1 to 4 sounds, not 5"),
        (dict(sounds=[]), "zone 1: a zone has 1 to 4 sounds, not 0"),
        (dict(mode="loop"), "zone 1: [zone] mode: must be one of normal, one_shot"),
        (dict(pan=150.0), "zone 1: [zone] pan: must be between -100.0 and 100.0"),
        (dict(sounds=[7]), "zone 1: [zone] sounds: must be a list of names"),
        (dict(hivel=0), "zone 1: [zone] hivel: must be between 1 and 127"),
    ):
        with pytest.raises(LibraryError) as e:
            Preset.from_json(kit_json(**bad))
        assert says in str(e.value), (bad, str(e.value))
    with pytest.raises(LibraryError, match="at most 32 zones"):
        Preset.from_json({"schema": 1, "name": "Big", "zones": [kit_json()["zones"][0]] * 33})


def test_a_kit_preset_plays_each_pad_on_its_key_through_the_engine(rig, tmp_path):
    cfg = config.replace(rig.config("tap_jack", release=5.0), "paths", state=str(tmp_path / "state"))
    fresh_tap(rig)
    d = Daemon(cfg, rig.env)
    try:
        d.start(generator=False)
        assert d.host.wait_ready(60.0)
        lib = d.inst.library
        t = np.arange(RATE) / RATE
        ids = {}
        for name, hz in (("low", 220.0), ("high", 440.0)):
            tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None]
            ids[name] = lib.add(tone, RATE, {"kind": "imported", "analysis": {}}, name)
        pads = [
            ZoneSettings(name="low", sounds=(ids["low"],), lokey=36, hikey=36, loop_mode="off"),
            ZoneSettings(name="high", sounds=(ids["high"],), lokey=38, hikey=38, loop_mode="off", pan=100.0),
        ]
        kit = Preset(name="Kit", zones=pads)
        assert d.inst.load_preset(kit)
        assert d.inst.current.zones == pads  # the state (saved) holds the kit

        def hear(note):
            d.host.send(m.Midi(bytes([0x90, note, 100])))
            assert step_until(d, lambda: d.host.stats["voices"] == 1, 10.0)
            start = rig.tap_frames()
            assert wait_for(lambda: (d.step() or True) and rig.tap_frames() > start + RATE // 2, 30.0)
            x = rig.read_tap()[-RATE // 4 :]
            d.host.send(m.Midi(bytes([0x80, note, 0])))
            assert step_until(d, lambda: d.host.stats["voices"] == 0, 10.0)
            return x

        x = hear(36)  # each pad at its natural pitch on its own key
        assert abs(freq_of(x[:, 0]) / 220.0 - 1) < 2e-3
        x = hear(38)
        assert abs(freq_of(x[:, 1]) / 440.0 - 1) < 2e-3 and np.abs(x[:, 0]).max() < 1e-4  # panned right
        # a kit naming a sound the library does not have: refused, the kit before plays on
        broken = Preset(name="Broken", zones=[ZoneSettings(sounds=("nope",), lokey=40, hikey=40)])
        assert not d.inst.load_preset(broken)
        assert d.inst.current.name == "Kit"
        x = hear(36)
        assert abs(freq_of(x[:, 0]) / 220.0 - 1) < 2e-3
        # back to a plain preset: the keymap goes, every key plays its one sound
        assert d.inst.load_preset(Preset(name="Init", sound="init"))
        x = hear(72)
        assert abs(freq_of(x[:, 0]) / (261.6256 * 2) - 1) < 3e-3
    finally:
        d.stop()


def test_program_change_plays_the_banks_presets_through_the_daemon(rig, tmp_path):
    cfg = config.replace(rig.config("tap_jack", release=5.0), "paths", state=str(tmp_path / "state"))
    cfg = config.replace(cfg, "midi", program_channel=1)
    fresh_tap(rig)
    d = Daemon(cfg, rig.env)
    try:
        d.start(generator=False)
        assert d.host.wait_ready(60.0)
        lib, store = d.inst.library, d.inst.store
        t = np.arange(RATE) / RATE
        low = lib.add(
            (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)[:, None], RATE, {"kind": "imported"}, "low"
        )
        high = lib.add(
            (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[:, None], RATE, {"kind": "imported"}, "hi"
        )
        from promptsynth.config import SoundSettings

        store.save(Preset(name="1 low", bank="gig", sound=low, sampler=SoundSettings(root=57, loop_mode="off")))
        store.save(Preset(name="2 kit", bank="gig", zones=[ZoneSettings(sounds=(high,), lokey=60, root=69)]))
        assert d.inst.load_preset(store.get("gig", "1 low"))  # the bank is now resident: 2 programs
        assert d.inst.sync_programs() == 2

        def note_freq(note):
            d.host.send(m.Midi(bytes([0x90, note, 100])))
            assert step_until(d, lambda: d.host.stats["voices"] >= 1, 10.0)
            start = rig.tap_frames()
            assert wait_for(lambda: (d.step() or True) and rig.tap_frames() > start + RATE // 2, 30.0)
            x = rig.read_tap()[-RATE // 4 :, 0]
            d.host.send(m.Midi(bytes([0x80, note, 0])))
            assert step_until(d, lambda: d.host.stats["voices"] == 0, 10.0)
            return freq_of(x)

        assert abs(note_freq(57) / 220.0 - 1) < 2e-3
        d.host.send(m.Midi(bytes([0xC0, 1])))  # program 2 of the bank: the kit, already resident
        assert step_until(d, lambda: d.inst.current.name == "2 kit", 10.0)
        assert abs(note_freq(72) / (440.0 * 2 ** (3 / 12)) - 1) < 2e-3
        assert store.load_state()[0].name == "2 kit"  # the state follows: a restart plays the kit
        d.host.send(m.Midi(bytes([0xC0, 9])))  # no tenth preset: said, and nothing changes
        step_until(d, lambda: False, 1.0)
        assert d.inst.current.name == "2 kit"
    finally:
        d.stop()


def test_a_held_note_on_a_scan_follows_the_panel_through_the_engine(rig, tmp_path):
    """A two-place scan (220 Hz, 440 Hz) through the daemon into the real engine: a note held at
    the scan's start plays the first place; the panel's scan (Instrument.set_scan, the mod
    wheel's message) moves the sounding note to the second, and halfway it sounds both."""
    cfg = config.replace(rig.config("tap_jack", release=5.0), "paths", state=str(tmp_path / "state"))
    fresh_tap(rig)
    d = Daemon(cfg, rig.env)
    try:
        d.start(generator=False)
        assert d.host.wait_ready(60.0)
        t = np.arange(6 * RATE) / RATE
        ids = [
            d.inst.library.add(
                (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None],
                RATE,
                {"kind": "imported", "analysis": {}},
                name,
            )
            for name, hz in (("low", 220.0), ("high", 440.0))
        ]
        zones = [
            ZoneSettings(name=str(i), sounds=(sid,), root=69, scan=i + 1, loop_mode="off") for i, sid in enumerate(ids)
        ]
        assert d.inst.load_preset(Preset(name="Scan", zones=zones))

        def listen(seconds=0.4):
            start = rig.tap_frames()
            assert wait_for(lambda: (d.step() or True) and rig.tap_frames() > start + int(seconds * RATE), 30.0)
            x = rig.read_tap()[-RATE // 4 :, 0].astype(np.float64)
            spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
            f = np.fft.rfftfreq(len(x), 1 / RATE)
            return [float(spec[np.abs(f - hz) < 6].max()) for hz in (220.0, 440.0)]

        assert d.inst.set_scan(0.0) == 0
        d.host.send(m.Midi(bytes([0x90, 69, 100])))
        assert step_until(d, lambda: d.host.stats["voices"] == 1, 10.0)
        low, high = listen()
        assert high < 0.01 * low  # the first place alone
        assert d.inst.set_scan(1.0) == 127
        low2, high2 = listen()
        assert low2 < 0.01 * high2 and abs(high2 / low - 1) < 0.05  # the same note, now the second place
        assert d.host.stats["voices"] == 1
        d.inst.set_scan(0.5)
        low3, high3 = listen()
        assert abs(low3 / high3 - 1) < 0.05 and d.host.stats["voices"] == 2  # halfway: both, equally
        d.host.send(m.Midi(bytes([0x80, 69, 0])))
        assert step_until(d, lambda: d.host.stats["voices"] == 0, 10.0)
    finally:
        d.stop()
