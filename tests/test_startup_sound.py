"""The sound the instrument starts with: a WAV/FLAC from the config, or the init sound."""

import numpy as np
import soundfile as sf

from conftest import RATE, freq_of
from promptsynth import config
from promptsynth.daemon.instrument import startup_sound


def _cfg(**sampler):
    return config.replace(config.Config(), "sampler", **sampler)


def test_init_sound_is_a_looping_c4():
    snd, problem = startup_sound(_cfg())
    assert problem is None and snd.name == "init" and snd.root == 60
    assert snd.loop_mode == "forward" and snd.loop_end > snd.loop_start
    a = snd.audio()
    assert a[0].tolist() == [0.0, 0.0]
    assert abs(freq_of(a[RATE // 2 : RATE, 0]) / 261.6256 - 1) < 1e-3


def test_a_flac_at_another_rate_is_resampled_and_plays_at_its_pitch(tmp_path):
    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    p = tmp_path / "tone.flac"
    sf.write(str(p), 0.5 * np.sin(2 * np.pi * 440 * t), sr)
    snd, problem = startup_sound(_cfg(sound=str(p), root=69))
    assert problem is None
    assert snd.frames == int(round(1.5 * RATE)) and snd.root == 69 and snd.loop_mode == "off"
    assert abs(freq_of(snd.audio()[RATE // 4 : RATE, 0]) / 440.0 - 1) < 1e-4


def test_multichannel_wav_keeps_two_channels_and_user_points_apply(tmp_path):
    p = tmp_path / "quad.wav"
    sf.write(str(p), np.full((RATE, 4), 0.25, np.float32), RATE)
    snd, problem = startup_sound(_cfg(sound=str(p), loop_mode="pingpong", loop_start=0.25, loop_end=0.75, start=0.1))
    assert problem is None and snd.channels == 2
    assert (snd.start, snd.loop_start, snd.loop_end, snd.loop_mode) == (4800, 12000, 36000, "pingpong")


def test_missing_or_corrupt_file_falls_back_to_the_init_sound_with_a_reason(tmp_path):
    snd, problem = startup_sound(_cfg(sound=str(tmp_path / "nope.wav")))
    assert snd.name == "init" and "no such file" in problem
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    snd, problem = startup_sound(_cfg(sound=str(bad)))
    assert snd.name == "init" and "not a readable sound file" in problem
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.float32), RATE)
    snd, problem = startup_sound(_cfg(sound=str(empty)))
    assert snd.name == "init" and "no audio" in problem
