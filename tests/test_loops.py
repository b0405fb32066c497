"""The loop finder (library/loops.py) on recordings of sustained instruments made here
(bench/loop_material.py): each held about 2.5 s and released, with vibrato, chorus, breath
and bow noise, slow attacks and partials drifting in level. Every loop is judged as the engine
plays it: its seam must be as smooth as the sound itself and not jump in timbre."""

import numpy as np
import pytest
import soundfile as sf

from promptsynth.bench import loop_material as lm
from promptsynth.config import SoundSettings
from promptsynth.library import loops
from promptsynth.library.intake import import_file, settings_for
from promptsynth.library.shaping import analyse_loop, detect_pitch
from promptsynth.library.sounds import SoundLibrary

R = lm.RATE


def find(x):
    return analyse_loop(x, R, detect_pitch(x.mean(axis=1), R))


@pytest.mark.parametrize("name", sorted(lm.SUSTAINED))
def test_each_sustained_instrument_gets_a_long_loop_inside_its_sustain_with_a_clean_seam(name):
    m = lm.SUSTAINED[name]()
    found = find(m.audio)
    loop = found.loop
    assert loop is not None, found.note
    assert loop["match"] >= loops.GOOD_MATCH and loop["match"] == round(found.best_match, 4)
    # inside the sustained part: after the attack, before the release or fade (10 / 50 ms)
    assert loop["start"] >= (m.sustain_start_s - 0.01) * R, (loop["start_s"], m.sustain_start_s)
    assert loop["end"] <= (m.sustain_end_s + 0.05) * R, (loop["end_s"], m.sustain_end_s)
    assert loop["end"] - loop["start"] >= 1.0 * R  # long: it repeats less audibly
    judged = lm.seam(m.audio, loop)
    assert judged["click"] <= 1.1, judged  # no step at the seam beyond the sound's own
    # the spectrum across the seam changes no more than it does between any two windows of the
    # sound, or by under 1.5 dB (a steady organ hardly changes at all)
    assert judged["timbre"] <= 1.5 or judged["timbre_db"] <= 1.5, judged


def test_decaying_and_gliding_sounds_get_no_loop_and_say_why():
    found = find(lm.pluck())
    assert found.loop is None and found.note.startswith("no sustained part")
    found = find(lm.sweep())  # a steady level, but nothing repeats
    assert found.loop is None and found.note.startswith("no good loop") and found.best_match < 0.5
    assert found.sustain is not None  # the level holds: it is the match that fails


def test_the_seam_judge_hears_a_bad_loop():
    # the judge itself must be able to fail: loops at arbitrary points, no crossfade
    for name in ("organ", "flute"):
        m = lm.SUSTAINED[name]()
        judged = lm.seam(m.audio, {"start": int(1.0 * R), "end": int(2.0 * R) + 37, "crossfade": 0})
        assert judged["click"] > 3.0, (name, judged)
    judged = lm.seam(lm.organ().audio, {"start": int(1.0 * R), "end": int(2.0 * R) + 37, "crossfade": 0})
    assert judged["timbre"] > 1.5 and judged["timbre_db"] > 1.5, judged


def test_sustained_part_ignores_a_release_tail_and_a_slow_attack():
    m = lm.pad()  # 0.8 s attack, held to 3.0 s, 1.2 s release
    a, b = loops.sustained_part(m.audio.mean(axis=1), R)
    assert 0.6 * R <= a <= 1.3 * R and 2.4 * R <= b <= 3.05 * R, (a / R, b / R)
    tone = np.sin(2 * np.pi * 220 * np.arange(R // 4) / R)  # a quarter second: too short
    assert loops.sustained_part(tone, R) is None


def test_an_imported_recording_gets_the_same_loop_analysis(tmp_path):
    m = lm.flute()
    path = str(tmp_path / "flute.wav")
    sf.write(path, m.audio, R, subtype="PCM_24")
    lib = SoundLibrary(str(tmp_path / "state"))
    got = import_file(lib, path, R)
    meta = lib.meta(got.id)
    loop = meta["analysis"]["loop"]
    assert loop is not None and loop["match"] >= loops.GOOD_MATCH, meta["analysis"].get("loop_note")
    s = settings_for(meta, SoundSettings(loop_mode="auto"))
    assert s.loop_mode == "forward" and abs(s.loop_start - loop["start"] / R) < 1e-9
    assert s.root == 72  # C5, from the pitch analysis


@pytest.mark.parametrize(
    "audio",
    [np.zeros((2 * R, 1)), np.zeros((100, 1)), np.zeros((0, 1)), np.full((R, 1), np.float32(1e-30))],
    ids=["silence", "100 frames", "empty", "subnormal-ish"],
)
def test_odd_input_gets_no_loop_and_no_error(audio):
    found = loops.search(audio, R)
    assert found.loop is None and found.note


def test_a_stereo_recording_is_judged_on_both_channels_together():
    m = lm.choir()
    left = m.audio[:, 0]
    stereo = np.stack([left, np.roll(left, 7)], axis=1)  # the right channel a few samples behind
    found = loops.search(stereo, R, R / 261.63)
    assert found.loop is not None and found.loop["match"] >= loops.GOOD_MATCH
