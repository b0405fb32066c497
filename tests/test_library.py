"""The sound library, presets, state, export and import: files on disk, read back."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from promptsynth.config import SoundSettings
from promptsynth.library import export
from promptsynth.library.atomic import DiskFullError, write_bytes
from promptsynth.library.intake import import_folder, settings_for, shape_and_store
from promptsynth.library.presets import FACTORY, Preset, PresetStore
from promptsynth.library.sounds import LibraryError, SoundLibrary, safe_name

RATE = 48000


def tone(hz=220.0, seconds=1.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None]


def test_save_reload_rename_delete(tmp_path):
    lib = SoundLibrary(str(tmp_path))
    sid = lib.add(tone(), RATE, {"kind": "generated", "recipe": {"prompt": "a tone", "seed": 3}}, "A tone")
    a, rate, meta = lib.load(sid)
    assert rate == RATE and np.array_equal(a, tone()) and meta["recipe"]["seed"] == 3 and meta["name"] == "A tone"
    lib.rename(sid, "Better name")
    assert lib.find("Better name").id == sid
    lib.delete(sid)
    assert lib.entries()[0] == []
    with pytest.raises(LibraryError):
        lib.load(sid)


def test_corrupt_json_and_truncated_audio_are_skipped_and_reported(tmp_path):
    lib = SoundLibrary(str(tmp_path))
    good = lib.add(tone(), RATE, {"kind": "test"})
    bad_json = lib.add(tone(), RATE, {"kind": "test"})
    truncated = lib.add(tone(seconds=2.0), RATE, {"kind": "test"})
    with open(os.path.join(lib.dir, bad_json + ".json"), "w") as fh:
        fh.write('{"schema": 1, "frames": ')
    wav = os.path.join(lib.dir, truncated + ".wav")
    with open(wav, "r+b") as fh:
        fh.truncate(os.path.getsize(wav) // 2)
    entries, problems = lib.entries()
    assert [e.id for e in entries] == [good]
    assert len(problems) == 2 and any("sidecar" in p for p in problems) and any("truncated" in p for p in problems)
    with pytest.raises(LibraryError, match="truncated"):
        lib.load(truncated)


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "a/b",
        "a\\b",
        "..",
        ".hidden",
        "CON",
        "nul.txt",
        "lpt1",
        "x" * 65,
        "",
        "   ",
        "bell\x07ring",
        "nul\x00byte",
        "ends with dot.",
        "a:b",
        "what?",
        "<x>",
    ],
)
def test_hostile_names_are_refused(name):
    with pytest.raises(LibraryError):
        safe_name(name)


def test_good_names_pass():
    assert safe_name("  My  pad (v2), 80% wet ") == "My pad (v2), 80% wet"
    assert safe_name("Glöckchen \U0001f514") == "Glöckchen \U0001f514"
    assert safe_name("tab\there") == "tab here"


def test_a_full_disk_is_a_clear_error_and_the_old_file_survives(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    if not os.path.exists("/dev/full"):
        pytest.fail("/dev/full is needed to simulate a full disk")
    # /dev/full fails every write with ENOSPC: write through a folder whose temp file is it
    import promptsynth.library.atomic as atomic

    real = atomic.mkstemp

    def full_mkstemp(prefix="", suffix="", dir=None):
        return os.open("/dev/full", os.O_WRONLY), "/dev/full-not-a-real-file"

    atomic.mkstemp = full_mkstemp
    try:
        with pytest.raises(DiskFullError, match="disk full"):
            write_bytes(str(path), b"new" * 100000)
    finally:
        atomic.mkstemp = real
    assert path.read_text() == "old"


SAVER = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from promptsynth.library.sounds import SoundLibrary
from promptsynth.library.presets import Preset, PresetStore
from promptsynth.config import SoundSettings
lib = SoundLibrary(sys.argv[1]); store = PresetStore(sys.argv[1])
a = (np.random.default_rng(int(sys.argv[3])).standard_normal((96000, 2)) * 0.1).astype(np.float32)
print("ready", flush=True)
i = 0
while True:
    sid = lib.add(a, 48000, {"kind": "test", "n": i})
    store.save(Preset(name="p%d" % (i % 5), sound=sid, sampler=SoundSettings(root=60 + i % 12)), overwrite=True)
    store.save_state(Preset(name="p%d" % (i % 5), sound=sid))
    i += 1
"""


def test_sigkill_while_saving_never_leaves_a_broken_file(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    firmware = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware")
    rng = np.random.default_rng(0)
    for run in range(25):
        p = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "state"), firmware, str(run)], stdout=subprocess.PIPE
        )
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.02, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        lib = SoundLibrary(str(tmp_path / "state"))
        entries, problems = lib.entries()
        assert problems == [], problems  # every sidecar present has whole audio
        for e in entries[:3]:
            a, rate, meta = lib.load(e.id)
            assert a.shape == (96000, 2)
        store = PresetStore(str(tmp_path / "state"))
        presets, problems = store.list("user")
        assert problems == []
        state, problem = store.load_state()
        assert problem is None
    assert len(SoundLibrary(str(tmp_path / "state")).entries()[0]) > 10


def test_presets_banks_factory_and_state(tmp_path):
    store = PresetStore(str(tmp_path))
    factory = store.list(FACTORY)[0]
    assert len(factory) >= 31 + 1
    bell = [p for p in factory if p.generation.get("prompt") == "FM synthesis bells"][0]
    assert bell.generation["model"] == "audioldm2-music"  # 3.83 beat audioldm2's 3.67
    distorted = [p for p in factory if p.generation.get("prompt") == "A distorted synth"][0]
    assert distorted.generation["model"] == "audioldm-m-full"
    with pytest.raises(LibraryError, match="read-only"):
        store.save(Preset(name="x", bank=FACTORY))
    p = Preset(
        name="Warm pad",
        bank="live set",
        sound="20261125-000000-abcdef",
        sampler=SoundSettings(root=57, tune=-12.5, attack=300.0, loop_mode="forward"),
        generation={"prompt": "a warm pad", "seed": 42},
    )
    store.save(p)
    back = store.get("live set", "Warm pad")
    assert back == p and back.bank == "live_set" and "live_set" in store.banks()
    store.save_state(back)
    cur, problem = PresetStore(str(tmp_path)).load_state()
    assert cur == p and problem is None
    with open(store.state_path, "w") as fh:
        fh.write("{broken")
    cur, problem = store.load_state()
    assert cur is None and "unreadable" in problem
    bad = os.path.join(store.dir, "live_set", "bad.json")
    with open(bad, "w") as fh:
        fh.write("[]")
    presets, problems = store.list("live set")
    assert [x.name for x in presets] == ["Warm pad"] and len(problems) == 1
    with pytest.raises(LibraryError):
        store.save(Preset(name="../../escape", bank="live set"))
    with pytest.raises(LibraryError):
        store.save(Preset(name="ok", bank="../escape"))


def test_export_wav_smpl_and_sfz_parse_back(tmp_path):
    a = np.concatenate([tone(220.0, 2.0), tone(220.0, 2.0)], axis=1)
    s = SoundSettings(
        root=57,
        tune=-30.0,
        loop_mode="forward",
        loop_start=0.5,
        loop_end=1.5,
        crossfade=20.0,
        start=0.01,
        end=0.0,
        attack=5.0,
        decay=100.0,
        sustain=0.8,
        release=250.0,
        gain=-6.0,
        velocity_track=100.0,
        polyphony=12,
        bend_range=2.0,
    )
    wav, sfz = export.export(str(tmp_path), "pad", a, RATE, s)
    data, rate = sf.read(wav)
    assert rate == RATE and data.shape == a.shape and np.abs(data - a).max() < 1e-6  # 24-bit PCM
    sm = export.read_smpl(wav)
    # the recording sits 30 cents above A3 (tune -30 corrects it): unity 57, fraction 0.30
    assert sm["unity"] == 57 and abs(sm["cents"] - 30.0) < 1e-3
    assert sm["loops"] == [{"mode": "forward", "start": 24000, "end": 72000}]
    op = export.parse_sfz(open(sfz).read())
    assert op["sample"] == "pad.wav" and op["pitch_keycenter"] == "57" and op["tune"] == "-30"
    assert op["offset"] == "480" and op["end"] == str(len(a) - 1)
    assert op["loop_mode"] == "loop_continuous" and op["loop_start"] == "24000" and op["loop_end"] == "71999"
    assert op["ampeg_sustain"] == "80.00" and op["ampeg_release"] == "0.2500" and op["volume"] == "-6.00"


def test_import_reads_smpl_loops_and_analyses_the_rest(tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    export.export(
        str(usb),
        "looped",
        tone(440.0, 1.0, 44100),
        44100,
        SoundSettings(root=69, tune=0.0, loop_mode="pingpong", loop_start=0.25, loop_end=0.75),
    )
    sf.write(str(usb / "plain.flac"), tone(261.6256, 1.0, 22050)[:, 0], 22050)
    (usb / "broken.wav").write_bytes(b"RIFFxxxxWAVEjunk")
    (usb / "notes.txt").write_text("not audio")
    lib = SoundLibrary(str(tmp_path / "state"))
    done, problems = import_folder(lib, str(usb), RATE)
    ids = [d.id for d in done]
    assert len(ids) == 2 and len(problems) == 1 and "broken.wav" in problems[0]
    metas = {lib.meta(i)["source"]: lib.meta(i) for i in ids}
    looped = metas["looped.wav"]
    assert looped["analysis"]["loop"]["start"] == 12000 and looped["analysis"]["loop"]["end"] == 36000
    assert looped["analysis"]["loop"]["mode"] == "pingpong" and looped["analysis"]["pitch"]["note"] == 69
    plain = metas["plain.flac"]
    assert plain["analysis"]["pitch"]["note"] == 60 and plain["frames"] == RATE
    s = settings_for(looped, SoundSettings(loop_mode="auto", root=60, tune=0.0))
    assert s.loop_mode == "pingpong" and s.root == 69 and abs(s.loop_start - 0.25) < 1e-9


def test_generated_output_is_shaped_stored_and_tuned(tmp_path):
    lib = SoundLibrary(str(tmp_path))
    t = np.arange(16000 * 3) / 16000
    raw = 0.05 * np.sin(2 * np.pi * 440 * 2 ** (0.25 / 12) * t)  # 25 cents sharp, quiet, 16 kHz
    sid, meta = shape_and_store(lib, raw, 16000, {"prompt": "a sine organ", "seed": 1, "model": "tiny"}, RATE)
    assert meta["kind"] == "generated" and meta["rate"] == RATE and meta["name"] == "a sine organ"
    assert [s["step"] for s in meta["shaping"]][:2] == ["dc", "resample"]
    s = settings_for(meta, SoundSettings(loop_mode="auto"))
    assert s.root == 69 and abs(s.tune + 25.0) < 5.0 and s.loop_mode == "forward"


def test_a_preset_whose_sound_is_not_an_id_is_skipped_with_a_reason(tmp_path):
    store = PresetStore(str(tmp_path))
    folder = os.path.join(store.dir, "user")
    os.makedirs(folder)
    good = {"schema": 1, "name": "Good", "sound": "init", "sampler": {"gain": -3.0}}
    with open(os.path.join(folder, "good.json"), "w") as fh:
        json.dump(good, fh)
    with open(os.path.join(folder, "bad.json"), "w") as fh:
        json.dump(dict(good, name="Bad", sound=5), fh)  # a hand-edited file: a number for an id
    presets, problems = store.list("user")
    assert [p.name for p in presets] == ["Good"] and presets[0].sampler.gain == -3.0
    assert len(problems) == 1 and "bad.json" in problems[0]
    with open(store.state_path, "w") as fh:
        json.dump({"schema": 1, "current": dict(good, sound=["x"])}, fh)
    state, problem = store.load_state()
    assert state is None and "unreadable" in problem


def test_the_filter_is_exported_with_sfz_opcodes_and_left_out_when_off(tmp_path):
    a = tone(220.0, 0.5, RATE)
    filtered = SoundSettings(
        filter_type="lp24",
        cutoff=1200.0,
        resonance=70.0,
        filter_keytrack=50.0,
        filter_veltrack=-1200.0,
        filter_env_depth=3600.0,
        filter_attack=5.0,
        filter_decay=350.0,
        filter_sustain=0.25,
        filter_release=120.0,
    )
    _wav, sfz = export.export(str(tmp_path), "acid", a, RATE, filtered)
    op = export.parse_sfz(open(sfz).read())
    assert (op["fil_type"], op["cutoff"], op["fil_keytrack"], op["fil_veltrack"]) == ("lpf_4p", "1200.0", "50", "-1200")
    assert (op["fileg_depth"], op["fileg_attack"], op["fileg_decay"]) == ("3600", "0.0050", "0.3500")
    assert (op["fileg_sustain"], op["fileg_release"]) == ("25.00", "0.1200")
    # 70 %: damping 0.232, a 2-pole low-pass peaking at Q = 4.3: 12.7 dB
    assert abs(float(op["resonance"]) - 12.7) < 0.1
    _wav, sfz = export.export(str(tmp_path), "plain", a, RATE, SoundSettings())
    assert not [k for k in export.parse_sfz(open(sfz).read()) if k.startswith("fil")]


def test_the_lfo_is_exported_as_sfz_lfo01_when_it_moves_something(tmp_path):
    a = tone(220.0, 0.5, RATE)
    s = SoundSettings(
        lfo_wave="triangle", lfo_rate=4.5, lfo_delay=250.0, lfo_fade=500.0, lfo_pitch=30.0, lfo_level=40.0
    )
    _wav, sfz = export.export(str(tmp_path), "wobble", a, RATE, s)
    op = export.parse_sfz(open(sfz).read())
    assert (op["lfo01_wave"], op["lfo01_freq"], op["lfo01_delay"], op["lfo01_fade"]) == (
        "0",
        "4.500",
        "0.2500",
        "0.5000",
    )
    assert (op["lfo01_pitch"], op["lfo01_amplitude"]) == ("30", "40") and "lfo01_cutoff" not in op
    _wav, sfz = export.export(str(tmp_path), "still", a, RATE, SoundSettings(lfo_rate=9.0))
    assert not [k for k in export.parse_sfz(open(sfz).read()) if k.startswith("lfo")]


def test_the_reverb_and_chorus_levels_are_exported_as_sfz_effect_sends(tmp_path):
    a = tone(220.0, 0.5, RATE)
    _wav, sfz = export.export(str(tmp_path), "room", a, RATE, SoundSettings(reverb_mix=35.0, chorus_mix=20.0))
    op = export.parse_sfz(open(sfz).read())
    assert (op["effect1"], op["effect2"]) == ("35.0", "20.0")
    _wav, sfz = export.export(str(tmp_path), "dry", a, RATE, SoundSettings(delay_mix=50.0))
    assert not [k for k in export.parse_sfz(open(sfz).read()) if k.startswith("effect")]
