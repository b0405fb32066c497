"""Kits from prompts (library/kits.py, `promptsynth kit`): templates and kit files checked, the
job that feeds a generator pad by pad (queue room, progress, cancel, re-roll), and a real kit
made by the command with the tiny model, played back through the sampler."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import RATE, make_sampler, render
from promptsynth.daemon import preset_sound
from promptsynth.library.kits import KitJob, kit_from, kit_preset, load_kit, pad_prompt, templates
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import LibraryError, SoundLibrary


def test_the_templates_are_valid_kits_on_their_keys():
    t = templates()
    assert {"drums", "percussion", "foley"} <= set(t)
    drums = load_kit("drums")
    keys = {p.name: p.key for p in drums.pads}
    assert keys["kick"] == 36 and keys["snare"] == 38 and keys["closed hat"] == 42 and keys["open hat"] == 46
    hats = [p.group for p in drums.pads if "hat" in p.name]
    assert hats == [1, 1]  # the open hat is cut by the closed one
    for name in t:
        assert len(load_kit(name).pads) >= 8


@pytest.mark.parametrize(
    "pads,says",
    [
        ([], "a kit is"),
        ([{"key": 128, "prompt": "x"}], "pad 1: key must be 0-127"),
        ([{"key": 36, "prompt": "a"}, {"key": 36, "prompt": "b"}], "pad 2: key 36 is taken"),
        ([{"key": 36, "prompt": "  "}], "pad 1: prompt must be text"),
        ([{"key": 36, "prompt": "x" * 201}], "pad 1: prompt must be text"),
        ([{"key": 36, "prompt": "x", "group": -1}], "pad 1: group must be 0-64"),
        ([{"key": 36, "prompt": "x", "name": "a/b"}], "pad name"),
        ([{"key": k, "prompt": "x"} for k in range(33)], "at most 32 pads"),
    ],
)
def test_a_bad_kit_file_is_refused_naming_the_pad(pads, says):
    with pytest.raises(LibraryError) as e:
        kit_from({"pads": pads}, "mine")
    assert says in str(e.value)


def test_a_kit_file_and_the_style(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"pads": [{"key": 40, "name": "thud", "prompt": "a  heavy   thud"}]}))
    kit = load_kit(str(f))
    assert kit.name == "mine" and kit.pads[0].prompt == "a heavy thud"
    assert pad_prompt(kit.pads[0], " 808,  punchy ") == "a heavy thud, 808, punchy"
    assert pad_prompt(kit.pads[0], "") == "a heavy thud"
    with pytest.raises(LibraryError, match="neither a template"):
        load_kit(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LibraryError, match="kit file"):
        load_kit(str(tmp_path / "bad.json"))


class FakeGenerator:
    def __init__(self, room=2):
        self.jobs, self.cancelled, self.room_left = [], [], room

    def submit(self, prompt, seed):
        self.jobs.append((prompt, seed))
        self.room_left -= 1
        return len(self.jobs)

    def cancel(self, job):
        self.cancelled.append(job)

    def room(self):
        return self.room_left


def test_the_kit_job_feeds_the_queue_follows_each_pad_and_can_cancel_and_reroll():
    kit = kit_from({"pads": [{"key": 36 + i, "name": "p%d" % i, "prompt": "hit %d" % i} for i in range(4)]}, "k")
    gen = FakeGenerator(room=2)
    job = KitJob(kit, "dusty", gen.submit, gen.cancel, gen.room, seed=1)
    job.pump()
    assert [p for p, _ in gen.jobs] == ["hit 0, dusty", "hit 1, dusty"]  # only what the queue takes
    job.progress(1, 3, 10)
    assert job.pads[0].step == 3 and job.pads[0].total == 10
    assert job.finished(1, ["s1a", "s1b"]) == 0 and job.pads[0].state == "done"
    gen.room_left = 1
    job.pump()
    assert len(gen.jobs) == 3
    assert job.failed(2, "out of memory") == 1 and job.pads[1].state == "failed"
    seeds = {s for _, s in gen.jobs}
    gen.room_left = 5
    job.reroll(1)  # a new seed, submitted again (and the last pad, now that there is room)
    prompt, seed = gen.jobs[job.pads[1].job - 1]
    assert prompt == "hit 1, dusty" and seed not in seeds and job.pads[1].state == "running"
    job.cancel()  # the running ones are cancelled at the generator, the rest never start
    assert sorted(gen.cancelled) == [3, 4, 5] and job.done
    assert [p.state for p in job.pads] == ["done", "cancelled", "cancelled", "cancelled"]
    preset = job.preset()
    assert [(z.name, z.sounds, z.mode, z.lokey) for z in preset.zones] == [("p0", ("s1a", "s1b"), "one_shot", 36)]
    # the same seed makes the same pad seeds: the same kit
    again = FakeGenerator(room=9)
    KitJob(kit, "dusty", again.submit, again.cancel, again.room, seed=1).pump()
    assert [s for _, s in again.jobs][:2] == [s for _, s in gen.jobs][:2]


def test_a_kit_preset_keeps_choke_groups_and_skips_pads_with_no_sound():
    kit = load_kit("drums")
    sounds = {i: ["x%d" % i] for i in range(len(kit.pads)) if i != 2}
    p = kit_preset(kit, sounds)
    assert len(p.zones) == len(kit.pads) - 1 and "snare" not in [z.name for z in p.zones]
    assert {z.name: z.group for z in p.zones}["open hat"] == 1
    assert Preset.from_json(json.loads(json.dumps(p.to_json()))) == p


@pytest.mark.torch
def test_kit_generate_makes_a_playable_kit_with_the_tiny_model(tmp_path):
    cfgp = tmp_path / "c.toml"
    cfgp.write_text('[paths]\nstate = "%s"\n[model]\ndevice = "cpu"\nthreads = 1\n' % (tmp_path / "state"))
    kit = tmp_path / "three.json"
    pads = [{"key": 36, "name": "kick", "prompt": "a kick"}, {"key": 38, "name": "snare", "prompt": "a snare"}]
    pads.append({"key": 42, "name": "hat", "prompt": "a hat", "group": 1})
    kit.write_text(json.dumps({"name": "Three", "pads": pads}))
    args = ["--model", "tiny", "--steps", "2", "--seed", "4", "--candidates", "2", "--style", "808"]
    r = subprocess.run(
        [sys.executable, "-m", "promptsynth", "kit", "generate", str(kit), *args, "--config", str(cfgp)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "kit kits/Three: 3 of 3 pads" in r.stdout and "pad 2/3 snare: step 2/2" in r.stderr
    preset = Preset.from_json(json.load(open(tmp_path / "state" / "presets" / "kits" / "Three.json")))
    assert [(z.lokey, len(z.sounds), z.mode, z.group) for z in preset.zones] == [
        (36, 2, "one_shot", 0),
        (38, 2, "one_shot", 0),
        (42, 2, "one_shot", 1),
    ]
    lib = SoundLibrary(str(tmp_path / "state"))
    meta = lib.meta(preset.zones[0].sounds[0])
    assert meta["recipe"]["prompt"] == "a kick, 808" and "single_hit" in [s["step"] for s in meta["shaping"]]
    assert not os.listdir(tmp_path / "state" / "generated")  # the raw files have gone
    # it plays: each pad on its key, the two kick candidates in turn
    ids = iter(range(1, 100))
    zones, sounds = preset_sound.zone_sounds(lib, preset, RATE, lambda: next(ids))
    s = make_sampler()
    for snd in sounds:
        s.load(snd, current=False)
    s.set_keymap(zones)
    heard = []
    for note in (36, 36, 38, 42):
        s.note_on(note, 100)
        heard.append(int(s.voices.slot[s.active & ~s.released & (s.note == note)][-1]))
        render(s, 2)
    assert heard[0] != heard[1] and np.abs(render(s, 4)).max() > 0


# ---- the Kit page and the daemon's kits ---------------------------------------------------------


def test_the_kit_page_follows_the_key_played_and_makes_a_kit_from_the_chosen_template(tmp_path, monkeypatch):
    from promptsynth import config
    from promptsynth.config import ZoneSettings
    from promptsynth.daemon.run import Daemon
    from promptsynth.engine.stats import INDEX
    from promptsynth.panel.display import Display, factory
    from promptsynth.panel.events import Key, Press, Turn
    from promptsynth.panel.panel import Panel

    t = [100.0]
    inst = Daemon(config.replace(config.Config(), "paths", state=str(tmp_path / "state")), clock=lambda: t[0]).inst
    inst.current = Preset(
        name="Kit",
        zones=[
            ZoneSettings(name="kick", sounds=("a",), lokey=36, hikey=36),
            ZoneSettings(name="bass", sounds=("b", "c"), lokey=40, hikey=59),
        ],
    )
    p = Panel(inst, Display(factory("dummy")), clock=lambda: t[0])
    p.set_page("kit")
    page = p.pages["kit"]
    v = inst.host.stats.values
    p.refresh(p.clock())
    p.render()
    assert page.rows == 2 and page.sel == 0
    v[INDEX["note_on_count"]], v[INDEX["last_note"]] = 1, 47  # a key in the bass zone's range
    p.refresh(p.clock())
    p.render()
    assert page.sel == 1
    calls = []
    monkeypatch.setattr(
        inst,
        "generate_kit",
        lambda name, style="": (
            calls.append((name, style)) or KitJob(load_kit(name), style, lambda a, b: 1, lambda j: None, lambda: 0)
        ),
    )
    monkeypatch.setattr(inst, "reroll_pad", lambda i: calls.append(("reroll", i)))
    for ch in "808, dusty":
        p.handle(Key(char=ch))
    p.set_page("kit")
    names = sorted(templates())
    p.handle(Turn(1, names.index("percussion") - page.template))
    p.handle(Press(1, "long"))
    assert calls == [("percussion", "808, dusty")]
    inst.kit = KitJob(load_kit("percussion"), "", lambda a, b: 1, lambda j: None, lambda: 0)
    page.sel = 2
    p.handle(Press(1, "short"))
    assert calls[-1] == ("reroll", 2)


@pytest.mark.torch
def test_the_daemon_makes_a_kit_saves_it_plays_it_and_rerolls_a_pad(rig, tmp_path, tiny_models):
    from conftest import step_until, tiny_config
    from promptsynth.daemon.run import Daemon
    from promptsynth.engine import messages as m

    cfg = tiny_config(rig, tmp_path, tiny_models, seconds=1.0, steps=2)
    kit_file = tmp_path / "two.json"
    kit_file.write_text(
        json.dumps({"name": "Two", "pads": [{"key": 36, "prompt": "a kick"}, {"key": 38, "prompt": "a snare"}]})
    )
    d = Daemon(cfg, rig.env)
    try:
        d.start()
        assert d.host.wait_ready(60.0)
        assert step_until(d, lambda: d.inst.model_state() == "ready", 400)
        job = d.inst.generate_kit(str(kit_file), style="808")
        assert step_until(d, lambda: job.done and d.inst.current.name == "Two", 400), job.summary()
        saved = d.inst.store.get("kits", "Two")
        assert [(z.lokey, z.mode) for z in saved.zones] == [(36, "one_shot"), (38, "one_shot")]
        d.host.send(m.Midi(bytes([0x90, 38, 100])))
        assert step_until(d, lambda: d.host.stats["voices"] >= 1, 10.0)  # the snare pad plays
        first = saved.zones[1].sounds
        d.inst.reroll_pad(1)
        assert step_until(d, lambda: job.done and d.inst.store.get("kits", "Two").zones[1].sounds != first, 400)
        assert d.inst.store.get("kits", "Two").zones[0].sounds == saved.zones[0].sounds  # the kick stays
        assert [p.name for p in d.inst.store.list("kits")[0]] == ["Two"]  # replaced, not a second kit
    finally:
        d.stop()


def test_round_robin_keeps_a_jobs_candidates_as_alternates_of_one_zone(tmp_path):
    from promptsynth import config
    from promptsynth.daemon.run import Daemon
    from promptsynth.generator import protocol as gm

    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    cfg = config.replace(cfg, "generate", round_robin=True)
    inst = Daemon(cfg, clock=lambda: 100.0).inst
    t = np.arange(8000) / 16000
    takes = [(0.3 * np.sin(2 * np.pi * f * t) * np.exp(-20 * t)).astype(np.float32) for f in (200, 210, 220)]
    recipe = {"model": "tiny", "prompt": "a snare", "seed": 5, "steps": 2, "created": "2026-01-01T00:00:00Z"}
    inst.take_result(gm.Result(7, [], recipe, audio=takes, rate=16000))
    zones = inst.current.zones
    assert len(zones) == 1 and len(zones[0].sounds) == 3 and zones[0].round_robin == "cycle"
    assert len(inst.library.entries()[0]) == 3  # every candidate kept
    assert inst.current.generation["prompt"] == "a snare"
    # without the setting, the best candidate alone, as before
    plain = Daemon(config.replace(cfg, "generate", round_robin=False), clock=lambda: 100.0).inst
    plain.take_result(gm.Result(8, [], recipe, audio=takes, rate=16000))
    assert plain.current.zones == [] and plain.current.sound is not None
