"""SFZ both ways for presets with zones (library/sfz.py): a kit exported and imported back plays
the same, note for note, through the sampler; a foreign SFZ with opcodes we do not use, note
names, group inheritance and bad regions loads with a report, and never reaches outside its
folder."""

import os

import numpy as np

from conftest import PERIOD, RATE, make_sampler, render
from promptsynth.config import SoundSettings, ZoneSettings
from promptsynth.daemon import preset_sound
from promptsynth.engine.sound import init_sound
from promptsynth.library.presets import Preset
from promptsynth.library.sfz import export_kit, import_sfz, note_number, parse
from promptsynth.library.sounds import SoundLibrary


def hit(freq, seconds=0.3, decay=8.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)).astype(np.float32)[:, None]


def library_with_kit(path):
    lib = SoundLibrary(str(path))
    ids = {}
    for name, f in (("kick", 60.0), ("snare1", 200.0), ("snare2", 210.0), ("hat_c", 3000.0), ("hat_o", 3100.0)):
        ids[name] = lib.add(hit(f), RATE, {"kind": "imported", "analysis": {}}, name)
    pad, loop = init_sound(RATE)  # sustained, with its loop and root 60
    ids["pad"] = lib.add(
        pad,
        RATE,
        {
            "kind": "imported",
            "analysis": {
                "pitch": {"pitched": True, "note": 60, "cents": 0.0},
                "loop": {"start": loop[0], "end": loop[1], "crossfade": 0},
            },
        },
        "pad",
    )
    zones = [
        ZoneSettings(name="kick", sounds=(ids["kick"],), lokey=36, hikey=36, mode="one_shot", gain=-3.0),
        ZoneSettings(name="snare", sounds=(ids["snare1"], ids["snare2"]), lokey=38, hikey=38, pan=30.0),
        ZoneSettings(name="closed hat", sounds=(ids["hat_c"],), lokey=42, hikey=42, group=1, mode="one_shot"),
        ZoneSettings(name="open hat", sounds=(ids["hat_o"],), lokey=46, hikey=46, group=1, release=200.0),
        ZoneSettings(name="pad", sounds=(ids["pad"],), lokey=48, hikey=72, hivel=100, attack=50.0),
        ZoneSettings(
            name="rand", sounds=(ids["snare1"], ids["kick"]), lokey=50, hikey=50, lovel=101, round_robin="random"
        ),
    ]
    preset = Preset(name="Test kit", sampler=SoundSettings(release=80.0, gain=-4.0, polyphony=12), zones=zones)
    return lib, preset


def played(lib, preset, script):
    """What the sampler renders for ``script`` (notes at periods) with ``preset``'s zones."""
    ids = iter(range(1, 10_000))
    zones, sounds = preset_sound.zone_sounds(lib, preset, RATE, lambda: next(ids))
    s = make_sampler(
        polyphony=preset.sampler.polyphony,
        attack=preset.sampler.attack,
        decay=preset.sampler.decay,
        sustain=preset.sampler.sustain,
        release=preset.sampler.release,
        gain_db=preset.sampler.gain,
    )
    for snd in sounds:
        s.load(snd, current=False)
    s.set_keymap(zones)
    out = []
    for events in script:
        for note, vel in events:
            if vel:
                s.note_on(note, vel)
            else:
                s.note_off(note)
        out.append(s.render().copy())
    return np.concatenate(out)


SCRIPT = (
    [[(36, 100)], [], [(38, 90)], [(38, 0)], [(38, 90)], [(42, 80)], [(46, 80)], [], [(42, 70)]]
    + [[(60, 90)], [], [], [(60, 0)], [(50, 120)], [(50, 120)], [(50, 120)], [(67, 100)], [(67, 0)]]
    + [[]] * 40
)


def test_an_exported_kit_imports_back_and_plays_the_same(tmp_path):
    lib, preset = library_with_kit(tmp_path / "a")
    paths = export_kit(str(tmp_path / "out"), "test_kit", preset, lib)
    assert paths[0].endswith("test_kit.sfz") and len(paths) == 1 + 8  # the .sfz and each sound of each zone
    text = open(paths[0]).read()
    for opcode in ("seq_length=2", "group=1", "off_by=1", "loop_mode=one_shot", "lorand=0.5000", "pan=30.0"):
        assert opcode in text, opcode
    lib2 = SoundLibrary(str(tmp_path / "b"))
    back, report = import_sfz(lib2, paths[0], RATE, SoundSettings())
    assert len(back.zones) == len(preset.zones)
    for a, b in zip(preset.zones, back.zones):
        keys = ("name", "lokey", "hikey", "lovel", "hivel", "mode", "group", "round_robin", "pan", "attack", "release")
        for key in keys:
            assert getattr(a, key) == getattr(b, key), (a.name, key, getattr(a, key), getattr(b, key))
        assert abs(a.gain - b.gain) < 1e-6 and len(a.sounds) == len(b.sounds)
    for key in ("attack", "decay", "sustain", "release", "gain", "polyphony", "velocity_track"):
        assert getattr(back.sampler, key) == getattr(preset.sampler, key), key
    assert report == ["loop points: each sample's own loop (its smpl chunk, else the loop finder's) is used"]
    # note for note the same (the samples went through 24-bit WAV: within its rounding)
    a, b = played(lib, preset, SCRIPT), played(lib2, back, SCRIPT)
    assert np.abs(a).max() > 0.1 and np.abs(a - b).max() < 1e-5


def test_a_foreign_sfz_loads_what_it_can_and_reports_the_rest(tmp_path):
    folder = tmp_path / "stick"
    os.makedirs(folder / "samples")
    import soundfile as sf

    sf.write(str(folder / "samples" / "kick one.wav"), hit(60.0), RATE)
    sf.write(str(folder / "samples" / "snare.wav"), hit(200.0), RATE)
    sf.write(str(tmp_path / "secret.wav"), hit(999.0), RATE)  # outside the stick's folder
    (folder / "kit.sfz").write_text(
        "/* a kit someone made */\n"
        "<control> default_path=samples/\n"
        "<global> ampeg_release=0.3 volume=-6 polyphony=20 sw_lokey=24 // unused by us\n"
        "<curve> curve_index=1 v000=0\n"
        "<group> loop_mode=one_shot amp_velcurve_1=0.2\n"
        "<region> sample=kick one.wav key=c2 volume=-3\n"
        "<region> sample=snare.wav lokey=d2 hikey=d2 pitch_keycenter=d2 pan=-40 tune=12\n"
        "<region> sample=../../secret.wav key=60\n"
        "<region> sample=missing.wav key=61\n"
        "<region> key=62\n"
        "<region> sample=snare.wav lokey=70 hikey=60\n"
    )
    lib = SoundLibrary(str(tmp_path / "lib"))
    preset, report = import_sfz(lib, str(folder / "kit.sfz"), RATE, SoundSettings())
    assert [(z.lokey, z.hikey, z.mode) for z in preset.zones] == [(36, 36, "one_shot"), (38, 38, "one_shot")]
    kick, snare = preset.zones
    assert kick.root == -1 and abs(kick.gain - 3.0) < 1e-9  # -3 dB against the global -6: +3 on it
    assert snare.pan == -40.0 and snare.tune == 12.0
    assert preset.sampler.release == 300.0 and preset.sampler.gain == -6.0 and preset.sampler.polyphony == 20
    text = "\n".join(report)
    assert "lies outside the SFZ's folder: refused" in text and "secret" not in str(lib.entries()[0])
    assert "region 4 (missing.wav)" in text and "region 5: no sample: skipped" in text
    assert "region 6 (snare.wav): lokey 70 is above hikey 60" in text
    assert "opcode amp_velcurve_1 ignored (6)" in text  # counted in each region that has it
    assert "opcode sw_lokey ignored" in text
    assert "<curve> section ignored (1)" in text
    assert len(lib.entries()[0]) == 2  # the two good samples, each once


def test_note_names_and_the_parser():
    assert [note_number(n) for n in ("c4", "C-1", "f#3", "db5", "60", "b8")] == [60, 0, 54, 73, 60, 119]
    control, regions, glob, ignored = parse("<global>a=1 <group>b=2 <region>sample=x y.wav c=3 <group>b=4<region>d=5")
    assert regions == [{"a": "1", "b": "2", "sample": "x y.wav", "c": "3"}, {"a": "1", "b": "4", "d": "5"}]
    assert glob == {"a": "1"} and not ignored and not control
    assert PERIOD and render  # the shared helpers this module uses


def test_a_scan_exports_as_sfz_mod_wheel_crossfades(tmp_path):
    lib, kit = library_with_kit(tmp_path / "state")
    sounds = [z.sounds[0] for z in kit.zones[:3]]
    zones = [ZoneSettings(name="p%d" % i, sounds=(sid,), scan=i + 1) for i, sid in enumerate(sounds)]
    preset = Preset(name="Scan", zones=zones)
    files = export_kit(str(tmp_path / "out"), "scan", preset, lib)
    sfz = [f for f in files if f.endswith(".sfz")][0]
    _, regions, _, _ = parse(open(sfz, encoding="utf-8").read())
    fades = [
        {k: r.get(k) for k in ("xfin_locc1", "xfin_hicc1", "xfout_locc1", "xfout_hicc1", "xf_cccurve")} for r in regions
    ]
    assert fades == [
        dict(xfin_locc1=None, xfin_hicc1=None, xfout_locc1="0", xfout_hicc1="64", xf_cccurve="power"),
        dict(xfin_locc1="0", xfin_hicc1="64", xfout_locc1="64", xfout_hicc1="127", xf_cccurve="power"),
        dict(xfin_locc1="64", xfin_hicc1="127", xfout_locc1=None, xfout_hicc1=None, xf_cccurve="power"),
    ]
