"""Nothing lost silently, nothing incomplete, a bounded disk: presets filled from the schema,
no overwrite without being asked, unique file names for non-ASCII names, sounds in use not
deleted behind the presets' backs, idempotent import, the kiosk's retention, raw leftovers."""

import dataclasses
import json
import os

import numpy as np
import pytest
import soundfile as sf

from promptsynth import config
from promptsynth.config import SoundSettings
from promptsynth.generator.params import RECIPE_KEYS
from promptsynth.library import export, manage
from promptsynth.library.intake import import_folder
from promptsynth.library.presets import FACTORY_FILE, Preset, PresetStore, generation_defaults
from promptsynth.library.sounds import Exists, InUse, SoundLibrary, file_stem, old_file_stem

RATE = 48000


def tone(hz=220.0, seconds=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None]


def write_preset(store, bank, filename, d):
    folder = os.path.join(store.dir, bank)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, filename), "w", encoding="utf-8") as fh:
        json.dump(dict({"schema": 1}, **d), fh, ensure_ascii=False)


# ---- presets are complete -------------------------------------------------------------------------
def test_a_preset_with_four_sampler_keys_loads_with_every_other_setting_at_its_default(tmp_path):
    store = PresetStore(str(tmp_path))
    four = {"loop_mode": "forward", "attack": 400.0, "release": 1200.0, "vibrato_depth": 20.0}
    write_preset(store, "user", "pad.json", {"name": "Pad", "sound": "init", "sampler": four})
    p = store.get("user", "Pad")
    assert p.sampler == dataclasses.replace(SoundSettings(), **four)
    assert p.sampler.gain == -6.0 and p.sampler.decay == 200.0 and p.sampler.sustain == 1.0
    assert p.generation == generation_defaults() and set(p.generation) == set(RECIPE_KEYS)
    assert p.generation["prompt"] == "" and not p.has_recipe
    assert [k for k, v in p.generation.items() if v is None] == ["seed"]  # None only where it means "random"


def test_every_factory_preset_states_or_explicitly_inherits_every_setting(tmp_path):
    with open(FACTORY_FILE, encoding="utf-8") as fh:
        bank = json.load(fh)
    d = bank["defaults"]
    assert set(d["sampler"]) == {f.name for f in dataclasses.fields(SoundSettings)}
    assert set(d["generation"]) == set(RECIPE_KEYS) - {"prompt"}
    for p in bank["presets"]:  # nothing left to the code's fallback
        assert set(dict(d["sampler"], **p["sampler"])) == set(d["sampler"]), p["name"]
        assert set(dict(d["generation"], **p["generation"])) | {"prompt"} == set(RECIPE_KEYS), p["name"]
    factory = {p.name: p for p in PresetStore(str(tmp_path)).factory()}
    pad = factory["Init pad"]
    assert pad.sampler == dataclasses.replace(SoundSettings(), attack=400.0, release=1200.0, vibrato_depth=20.0)
    assert pad.generation["steps"] == config.GenerateConfig().steps


# ---- nothing lost silently --------------------------------------------------------------------------
def test_saving_over_a_preset_needs_overwrite_and_the_old_file_is_untouched(tmp_path):
    store = PresetStore(str(tmp_path))
    path = store.save(Preset(name="Warm pad", sound="init", sampler=SoundSettings(gain=-3.0)))
    before = open(path, "rb").read()
    with pytest.raises(Exists) as e:
        store.save(Preset(name="Warm pad", sound="init", sampler=SoundSettings(gain=-30.0)))
    assert e.value.path == path and "already exists" in str(e.value)
    assert open(path, "rb").read() == before
    store.save(Preset(name="Warm pad", sound="init", sampler=SoundSettings(gain=-30.0)), overwrite=True)
    assert store.get("user", "Warm pad").sampler.gain == -30.0
    assert os.listdir(os.path.dirname(path)) == ["Warm_pad.json"]


def test_non_ascii_names_get_unique_stable_file_names_and_old_files_are_still_found(tmp_path):
    assert file_stem("My A") == "My_A"  # plain names keep the names their files always had
    a, b = file_stem("音 unicode preset"), file_stem("鐘 unicode preset")
    assert a != b and a.startswith("unicode_preset-") and b == file_stem("鐘 unicode preset")
    assert file_stem("My_A") != file_stem("My A") and file_stem("音") != file_stem("鐘")
    store = PresetStore(str(tmp_path))
    store.save(Preset(name="音 unicode preset", sound="init", sampler=SoundSettings(root=61)))
    store.save(Preset(name="鐘 unicode preset", sound="init", sampler=SoundSettings(root=62)))
    names = {p.name: p.sampler.root for p in store.list("user")[0]}
    assert names == {"音 unicode preset": 61, "鐘 unicode preset": 62}
    assert len(os.listdir(os.path.join(store.dir, "user"))) == 2
    # a file an older version wrote under the lossy stem is found by the name inside it
    write_preset(store, "old", old_file_stem("音 pad") + ".json", {"name": "音 pad", "sound": "init"})
    assert old_file_stem("音 pad") == "pad" and store.get("old", "音 pad").name == "音 pad"
    with pytest.raises(Exists):
        store.save(Preset(name="音 pad", bank="old", sound="init"))
    store.save(Preset(name="音 pad", bank="old", sound="init", sampler=SoundSettings(root=40)), overwrite=True)
    assert os.listdir(os.path.join(store.dir, "old")) == [file_stem("音 pad") + ".json"]  # moved, not doubled
    assert store.get("old", "音 pad").sampler.root == 40
    store.delete("old", "音 pad")
    assert os.listdir(os.path.join(store.dir, "old")) == []


def test_export_never_replaces_files_unless_asked_and_non_ascii_names_do_not_collide(tmp_path):
    out = tmp_path / "usb"
    s = SoundSettings(root=57)
    w1, _ = export.export(str(out), file_stem("音 pad"), tone(), RATE, s)
    w2, _ = export.export(str(out), file_stem("鐘 pad"), tone(330.0), RATE, s)
    assert w1 != w2 and len(os.listdir(out)) == 4
    before = open(w1, "rb").read()
    with pytest.raises(Exists):
        export.export(str(out), file_stem("音 pad"), tone(440.0), RATE, s)
    assert open(w1, "rb").read() == before
    export.export(str(out), file_stem("音 pad"), tone(440.0), RATE, s, overwrite=True)
    assert open(w1, "rb").read() != before


def test_a_sound_presets_use_is_not_deleted_without_force_and_they_then_say_it_is_missing(tmp_path):
    lib, store = SoundLibrary(str(tmp_path)), PresetStore(str(tmp_path))
    sid = lib.add(tone(), RATE, {"kind": "generated"}, "bell")
    store.save(Preset(name="Bell", bank="gig", sound=sid, generation={"prompt": "a bell", "seed": 3}))
    store.save(Preset(name="Bell 2", sound=sid))
    store.save_state(Preset(name="Bell", sound=sid))
    with pytest.raises(InUse) as e:
        manage.delete_sound(lib, store, sid)
    assert e.value.users == ["gig/Bell", "user/Bell 2", "the current state"]
    assert lib.meta(sid)["name"] == "bell"  # still there
    assert not any(p.missing_sound for p in manage.mark_missing(lib, store.list()[0]))
    assert manage.delete_sound(lib, store, sid, force=True) == e.value.users
    missing = {p.name: p.missing_sound for p in manage.mark_missing(lib, store.list()[0]) if p.bank != "factory"}
    assert missing == {"Bell": True, "Bell 2": True}
    assert not any(p.missing_sound for p in manage.mark_missing(lib, store.list("factory")[0]))


def test_import_is_idempotent_and_warns_about_very_long_and_very_short_files(tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    sf.write(str(usb / "note.wav"), tone(440.0, 0.5, 44100)[:, 0], 44100)
    sf.write(str(usb / "long.wav"), np.zeros(8000 * 61, np.int16), 8000, subtype="PCM_16")
    sf.write(str(usb / "click.wav"), tone(440.0, 0.01, 44100)[:, 0], 44100)
    lib = SoundLibrary(str(tmp_path / "state"))
    first, problems = import_folder(lib, str(usb), RATE)
    assert problems == [] and [d.new for d in first] == [True, True, True]
    warned = {d.name: d.warnings for d in first}
    assert warned["note"] == []
    assert len(warned["long"]) == 1 and "61 s long" in warned["long"][0] and "12 MB" in warned["long"][0]
    assert len(warned["click"]) == 1 and "10 ms" in warned["click"][0]
    (usb / "note copy.wav").write_bytes((usb / "note.wav").read_bytes())  # the same content again
    again, problems = import_folder(lib, str(usb), RATE)
    assert problems == [] and not any(d.new for d in again)
    assert {d.id for d in again} == {d.id for d in first}
    assert len(lib.entries()[0]) == 3 and len(os.listdir(lib.dir)) == 6


# ---- bounded disk -------------------------------------------------------------------------------------
def _visitor(lib, n):
    return lib.add(tone(200.0 + n, 0.05), RATE, {"kind": "generated", "recipe": {"prompt": "v%d" % n}}, "v%d" % n)


def test_retention_keeps_the_newest_visitor_sounds_and_everything_a_preset_or_the_state_uses(tmp_path):
    lib, store = SoundLibrary(str(tmp_path)), PresetStore(str(tmp_path))
    imported = lib.add(tone(), RATE, {"kind": "imported"}, "operator's")
    ids = [_visitor(lib, n) for n in range(10)]
    factory_prompt = next(p for p in store.list("factory")[0] if p.has_recipe)  # its sound is found by recipe
    cached = lib.add(tone(), RATE, {"kind": "generated", "recipe": {"recipe_key": factory_prompt.recipe_key()}})
    store.save(Preset(name="kept", sound=ids[0]))
    store.save_state(Preset(name="playing", sound=ids[1]))
    newer = [_visitor(lib, n) for n in range(10, 13)]
    gone = manage.prune(lib, store, keep=2)
    left = {e.id for e in lib.entries()[0]}
    assert left == {imported, cached, ids[0], ids[1], newer[1], newer[2]}
    assert set(gone) == set(ids[2:]) | {newer[0]}
    assert manage.prune(lib, store, keep=0) == []  # 0: keep everything


def test_three_hundred_visitors_leave_the_disk_bounded(tmp_path):
    lib, store = SoundLibrary(str(tmp_path)), PresetStore(str(tmp_path))
    saved = _visitor(lib, -1)
    store.save(Preset(name="a visitor's keeper", sound=saved))
    sizes = []
    for n in range(300):
        newest = _visitor(lib, n)
        manage.prune(lib, store, keep=5, also_keep={newest})
        if n % 30 == 29:
            sizes.append(sum(os.path.getsize(os.path.join(lib.dir, f)) for f in os.listdir(lib.dir)))
    names = sorted(e.name for e in lib.entries()[0])
    assert names == sorted(["v-1"] + ["v%d" % n for n in range(295, 300)])
    assert len(os.listdir(lib.dir)) == 12
    assert max(sizes) - min(sizes) < 100  # the same six sounds' worth all along (names and times vary)


def test_raw_generations_the_library_has_are_removed_and_others_kept(tmp_path):
    lib = SoundLibrary(str(tmp_path))
    gen = tmp_path / "generated"
    gen.mkdir()
    stored = {"model": "tiny", "prompt": "a bell", "seed": 7, "created": "2026-01-01T00:00:00Z"}
    lost = dict(stored, seed=8)
    lib.add(tone(), RATE, {"kind": "generated", "recipe": stored})
    for stem, recipe in (("gen-1-j1-0", stored), ("gen-1-j2-0", lost)):
        (gen / (stem + ".json")).write_text(json.dumps(recipe))
        sf.write(str(gen / (stem + ".wav")), tone()[:, 0], 16000)
    (gen / ".gen-1-j3-0.wav.abc.tmp").write_bytes(b"half")
    assert manage.clean_generated(str(tmp_path), lib) == (3, 1)
    assert sorted(os.listdir(gen)) == ["gen-1-j2-0.json", "gen-1-j2-0.wav"]  # not in the library: the only copy


# ---- the instrument's API (no engine started: the library side is what is tested) -----------------------
def _instrument(tmp_path, **panel):
    from promptsynth.daemon.run import Daemon

    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    if panel:
        cfg = config.replace(cfg, "panel", **panel)
    return Daemon(cfg, clock=lambda: 100.0).inst


def _result(job, seed=1, prompt="a bell"):
    from promptsynth.generator import protocol as gm

    t = np.arange(16000) / 16000
    audio = (0.2 * np.sin(2 * np.pi * (300 + seed) * t)).astype(np.float32)
    recipe = {"model": "tiny", "prompt": prompt, "seed": seed, "steps": 2, "created": "2026-01-01T00:00:0%dZ" % seed}
    return gm.Result(job, [], recipe, audio=[audio], rate=16000)


def test_instrument_save_preset_asks_before_replacing(tmp_path):
    from promptsynth.library.sounds import Exists

    inst = _instrument(tmp_path)
    path = inst.save_preset("Gig pad")
    before = open(path, "rb").read()
    inst.set_sound("gain", -20.0)
    with pytest.raises(Exists):
        inst.save_preset("Gig pad")
    assert open(path, "rb").read() == before
    inst.save_preset("Gig pad", overwrite=True)
    assert inst.preset("user", "Gig pad").sampler.gain == -20.0
    inst.save_preset("Other")
    with pytest.raises(Exists):  # a rename onto another preset's name is refused too
        inst.rename_preset(inst.preset("user", "Other"), "Gig pad")
    assert {p.name for p in inst.presets() if p.bank == "user"} == {"Gig pad", "Other"}


def test_a_full_disk_keeps_the_sound_playing_and_says_so(tmp_path, monkeypatch):
    from promptsynth.library import sounds
    from promptsynth.library.atomic import DiskFullError

    inst = _instrument(tmp_path)
    before = inst.current

    def full(*a, **k):
        raise DiskFullError(28, "disk full: x was not written")

    monkeypatch.setattr(sounds.atomic, "write_with", full)
    inst.take_result(_result(1))
    part = inst.health.parts["library"]
    assert part.state == "failed" and "disk full" in part.detail and "not kept" in part.detail
    assert inst.current is before and inst.library.entries()[0] == []


def test_a_preset_whose_sound_was_deleted_is_generated_again_from_its_recipe(tmp_path, monkeypatch):
    inst = _instrument(tmp_path)
    inst.take_result(_result(1, seed=5))  # a generated sound, played as a new preset
    inst.save_preset("Bell")
    old = inst.current.sound
    inst.delete_sound(old, force=True)
    bell = [p for p in inst.presets() if p.name == "Bell"][0]
    assert bell.missing_sound and bell.generation["seed"] == 5
    submitted = []
    inst.gen.client = object()  # a generator is running (submit is replaced below)
    monkeypatch.setattr(inst.gen, "submit", lambda prompt, **kw: submitted.append((prompt, kw)) or 9)
    assert inst.load_preset(bell)
    assert submitted[0][0] == "a bell" and submitted[0][1]["seed"] == 5 and submitted[0][1]["model"] == "tiny"
    inst.take_result(_result(9, seed=5))
    again = inst.preset("user", "Bell")
    assert again.sound != old and again.sound == inst.current.sound and again.sampler == bell.sampler
    assert not [p for p in inst.presets() if p.name == "Bell"][0].missing_sound


def test_kiosk_retention_runs_after_each_stored_generation(tmp_path):
    inst = _instrument(tmp_path, kiosk=True)
    assert inst.cfg.library.keep_sounds == 50
    inst.cfg = config.replace(inst.cfg, "library", keep_sounds=2)
    for n in range(5):
        inst.take_result(_result(n + 1, seed=n + 1))
        if n == 0:
            inst.save_preset("first")  # a visitor's sound in a preset stays
    kept = sorted(e.meta["recipe"]["seed"] for e in inst.library.entries()[0])
    assert kept == [1, 4, 5] and inst.current.sound == inst.library.entries()[0][0].id  # 5 plays
    plain = _instrument(tmp_path / "b")  # outside kiosk mode nothing is deleted
    for n in range(4):
        plain.take_result(_result(n + 1, seed=n + 1))
    assert len(plain.library.entries()[0]) == 4
