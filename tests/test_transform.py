"""The instrument's side of morphing, variations, sound to sound and recording: what it does with
the results, through its API (the daemon with the real engine and the tiny model where the
generator is involved)."""

import os
import time

import numpy as np
import pytest

from promptsynth import config

RATE = 48000


def tone(f, seconds=0.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_a_morph_series_plays_on_the_mod_wheel_or_across_velocity(tmp_path):
    from promptsynth.daemon.run import Daemon
    from promptsynth.generator import protocol as gm

    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    inst = Daemon(cfg, clock=lambda: 100.0).inst
    recipes = [
        dict(
            model="tiny",
            prompt="a kickdrum",
            morph=["a violin"],
            seed=3,
            position=x,
            series=0,
            series_index=i,
            series_of=3,
        )
        for i, x in enumerate((0.0, 0.5, 1.0))
    ]
    takes = [tone(f) for f in (220, 330, 440)]
    inst.take_result(gm.Result(4, [], recipes[0], audio=takes, rate=16000, recipes=recipes))
    zones = inst.current.zones  # a scan on the mod wheel, by default
    assert [(z.scan, z.lovel, z.hivel, z.lokey, z.hikey) for z in zones] == [(i, 1, 127, 0, 127) for i in (1, 2, 3)]
    assert [z.name for z in zones] == ["0.00", "0.50", "1.00"]
    metas = [inst.library.meta(z.sounds[0]) for z in zones]
    assert [m["recipe"]["position"] for m in metas] == [0.0, 0.5, 1.0]
    assert inst.current.name == "a kickdrum + a violin (series)"
    # or across velocity
    vel = Daemon(config.replace(cfg, "generate", series_play="velocity"), clock=lambda: 100.0).inst
    vel.take_result(gm.Result(5, [], recipes[0], audio=takes, rate=16000, recipes=recipes))
    assert [(z.scan, z.lovel, z.hivel) for z in vel.current.zones] == [(0, 1, 42), (0, 43, 84), (0, 85, 127)]


def test_a_recording_is_kept_and_played(tmp_path, capture):
    from promptsynth.daemon.run import Daemon

    t = np.arange(RATE) / RATE
    sig = np.concatenate([np.zeros(RATE // 2), 0.5 * np.sin(2 * np.pi * 220 * t), np.zeros(RATE)])
    dev = capture(np.round(np.stack([sig, sig], 1) * 32767).astype(np.int16))
    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    cfg = config.replace(cfg, "audio", capture_device=dev, record_max=2.0, record_count_in=0.2)
    inst = Daemon(cfg, clock=lambda: 100.0).inst
    inst.record_start()
    end = time.monotonic() + 30
    while inst.current.sound == "init" and time.monotonic() < end:
        inst.poll(100.0)
        time.sleep(0.01)
    entries, _ = inst.library.entries()
    assert len(entries) == 1 and entries[0].meta["kind"] == "recorded"
    assert inst.current.sound == entries[0].id and inst.current.sampler.root == 57  # A3, 220 Hz
    audio, rate, _ = inst.library.load(entries[0].id)
    assert rate == RATE and abs(len(audio) - (RATE + 240 + 960)) <= 2  # the tone, 5 ms before, 20 ms after
    assert inst.record_status().phase == "idle"


def test_recording_without_an_input_says_so(tmp_path):
    from promptsynth.daemon.run import Daemon
    from promptsynth.library.sounds import LibraryError

    inst = Daemon(config.replace(config.Config(), "paths", state=str(tmp_path / "state")), clock=lambda: 1.0).inst
    with pytest.raises(LibraryError, match="capture_device"):
        inst.record_start()
    with pytest.raises(LibraryError, match="no sound to start from"):
        inst.generate_from_current("a choir", 0.5)
    with pytest.raises(LibraryError, match="no recipe"):
        inst.vary(4)


@pytest.mark.torch
def test_variations_sound_to_sound_and_a_series_with_the_tiny_model(rig, tmp_path, tiny_models):
    from conftest import step_until, tiny_config
    from promptsynth.daemon.run import Daemon
    from promptsynth.engine import messages as m

    state = tmp_path / "state"
    d = Daemon(tiny_config(rig, tmp_path, tiny_models, seconds=1.0, steps=2), rig.env)
    inst = d.inst
    try:
        d.start()
        assert d.host.wait_ready(60.0)
        assert step_until(d, lambda: inst.model_state() == "ready", 400)
        inst.set_generation("seed", 40)
        inst.generate("a warm pad")
        assert step_until(d, lambda: inst.current.generation.get("prompt") == "a warm pad", 400)
        original = inst.current
        # two variations in the background: the original plays on meanwhile
        vs = inst.vary(2, jitter=1.0)
        assert [v.seed for v in vs.items] == [41, 42]
        assert step_until(d, lambda: len(vs.ready()) == 2, 400)
        assert inst.current.sound == original.sound
        recipes = [inst.library.meta(v.preset.sound)["recipe"] for v in vs.items]
        assert [r["seed"] for r in recipes] == [41, 42] and all(1.0 <= r["guidance"] <= 10.0 for r in recipes)
        # prompt jitter: a little way toward the prompt with a word added
        assert [r["morph"] for r in recipes] == [["a warm pad, brighter"], ["a warm pad, darker"]]
        assert all(r["position"] == 0.3 for r in recipes)
        assert inst.audition(1) and inst.current.sound == vs.items[1].preset.sound
        inst.keep_variation(0)
        inst.drop_variation(1)
        assert vs.items[1].state == "dropped" and inst.current.sound == original.sound  # the dropped one stopped
        assert not os.path.exists(state / "sounds" / (vs.items[1].preset.sound + ".wav"))
        inst.close_variations()
        assert inst.library.meta(vs.items[0].preset.sound)["recipe"]["seed"] == 41  # kept
        # sound to sound from the sound being played
        inst.generate_from_current("a choir", 0.5)
        assert step_until(d, lambda: inst.current.generation.get("source") == original.sound, 400)
        assert inst.current.generation["strength"] == 0.5 and inst.current.generation["prompt"] == "a choir"
        # a morph series, played across velocity
        inst.generate("a kickdrum", morph=("a violin",), series=3)
        assert step_until(d, lambda: len(inst.current.zones) == 3, 400)
        d.host.send(m.Midi(bytes([0x90, 60, 120])))
        assert step_until(d, lambda: d.host.stats["voices"] >= 1, 10.0)
    finally:
        d.stop()


def test_the_make_page_does_each_row_and_a_kiosk_visitor_cannot_record(tmp_path, monkeypatch):
    from promptsynth.daemon.run import Daemon
    from promptsynth.daemon.transform import Variation, Variations
    from promptsynth.library.presets import Preset
    from promptsynth.panel.display import Display, factory
    from promptsynth.panel.events import Key, Press, Turn
    from promptsynth.panel.panel import Panel

    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    inst = Daemon(cfg, clock=lambda: 1.0).inst
    inst.current = Preset(name="Pad", sound="s1", generation={"prompt": "a warm pad", "seed": 9})
    calls = []
    monkeypatch.setattr(inst, "generate", lambda prompt, **kw: calls.append(("generate", prompt, kw)) or 1)
    monkeypatch.setattr(inst, "generate_from_current", lambda prompt, s: calls.append(("from", prompt, s)) or 2)
    monkeypatch.setattr(inst, "vary", lambda n: calls.append(("vary", n)))
    monkeypatch.setattr(inst, "audition", lambda i: calls.append(("audition", i)) or True)
    monkeypatch.setattr(inst, "keep_variation", lambda i: calls.append(("keep", i)))
    monkeypatch.setattr(inst, "drop_variation", lambda i: calls.append(("drop", i)))
    sent = []
    monkeypatch.setattr(inst.host, "send", sent.append)
    p = Panel(inst, Display(factory("dummy")), clock=lambda: 1.0)
    for ch in "a choir":
        p.handle(Key(char=ch))
    p.handle(Key(name="f11"))
    assert p.page == "make"
    page = p.pages["make"]
    p.handle(Turn(1, -4))  # morph position 0.5 -> 0.3
    p.handle(Press(1, "long"))
    assert calls[-1] == ("generate", "a warm pad", {"morph": ("a choir",), "position": 0.3}) and p.page == "generate"
    p.set_page("make")
    page.sel = 1
    p.handle(Turn(1, 2))
    p.handle(Press(1, "long"))
    assert calls[-1] == ("generate", "a warm pad", {"morph": ("a choir",), "series": 7})
    p.set_page("make")
    page.sel = 2
    p.handle(Press(1, "long"))
    assert calls[-1] == ("from", "a choir", 0.5)
    p.set_page("make")
    page.sel = 3
    p.handle(Turn(1, -1))
    p.handle(Press(1, "long"))
    assert calls[-1] == ("vary", 3)
    inst.variations = Variations(
        of=inst.current, items=[Variation(5, 10, 3.5, "ready"), Variation(6, 11, 3.5, "ready")]
    )
    page.sel = 5  # the scan: the value encoder moves it as the mod wheel would, a long press resets it
    p.handle(Turn(1, 3))
    p.handle(Turn(1, -1))
    p.handle(Turn(1, 40))
    assert [msg.data for msg in sent] == [bytes([0xB0, 1, v]) for v in (12, 8, 127)] and page.scan_at == 1.0
    p.handle(Press(1, "long"))
    assert sent[-1].data == bytes([0xB0, 1, 0]) and page.scan_at == 0.0
    page.sel = 7  # the second variation: selecting it plays it
    p.refresh(p.clock())
    p.render()
    assert calls[-1] == ("audition", 1)
    p.handle(Turn(1, 1))
    p.handle(Turn(1, -1))
    assert calls[-2:] == [("keep", 1), ("drop", 1)]
    page.sel = 4
    p.handle(Press(1, "long"))  # no input configured: said so
    assert "capture_device" in p.model.message
    # an input that fails: the page says why, once
    from promptsynth.daemon.recorder import Recorder

    def broken():
        raise OSError("cannot open hw:7,0 for recording")

    inst.recorder = Recorder(broken, RATE, 2, 1.0, 0.0)
    p.handle(Press(1, "long"))
    inst.recorder.join(5)
    p.refresh(p.clock())
    p.render()
    assert "recording failed: cannot open hw:7,0" in p.model.message
    inst.recorder = None
    kiosk = Panel(inst, Display(factory("dummy")), clock=lambda: 1.0, kiosk=True)
    kiosk.set_page("make")
    kiosk.pages["make"].sel = 4
    kiosk.handle(Press(1, "long"))
    assert "no recording" in kiosk.model.message
