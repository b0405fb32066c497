"""Configuration: defaults, documented example, and errors that name the key."""

import dataclasses
import os

import pytest

from promptsynth import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults():
    c = config.Config()
    assert (c.audio.rate, c.audio.period, c.audio.periods, c.audio.format) == (48000, 128, 3, "S16_LE")
    assert (c.midi.api, c.midi.port, c.midi.virtual, c.midi.channel) == ("alsa", "", True, 0)
    assert (c.sampler.sound, c.sampler.root, c.sampler.polyphony, c.sampler.bend_range) == ("", 60, 16, 2.0)


def test_shipped_example_is_the_generated_one_and_loads_to_the_defaults():
    path = os.path.join(ROOT, "config", "promptsynth.toml")
    with open(path) as fh:
        text = fh.read()
    assert text == config.example_toml(), "regenerate with: promptsynth config example > config/promptsynth.toml"
    assert config.loads(text) == config.Config()


def test_every_key_is_documented():
    text = config.example_toml()
    for _section, cls in config.SECTIONS.items():
        for f in cls.__dataclass_fields__.values():
            assert "\n%s = " % f.name in text
            assert f.metadata["doc"]


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[audio]\nrat = 48000\n", "[audio] rat: unknown key"),
        ("[audoi]\nrate = 48000\n", "[audoi]: unknown section"),
        ("[audio]\nrate = 1000\n", "[audio] rate: must be between"),
        ('[audio]\nrate = "fast"\n', "[audio] rate: must be a whole number"),
        ('[audio]\nformat = "S24_LE"\n', "[audio] format: must be one of"),
        ("[midi]\nchannel = 17\n", "[midi] channel"),
        ("[midi]\nvirtual = 1\n", "[midi] virtual: must be true or false"),
        ("[sampler]\npolyphony = 65\n", "[sampler] polyphony"),
        ("[sampler]\nsustain = nan\n", "[sampler] sustain"),
        ("[audio\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key(text, needle):
    with pytest.raises(config.ConfigError) as e:
        config.loads(text)
    assert needle in str(e.value)


def test_file_errors(tmp_path):
    with pytest.raises(config.ConfigError, match="no such config file"):
        config.load(str(tmp_path / "missing.toml"))
    p = tmp_path / "bad.toml"
    p.write_bytes(b"\xff\xfe[audio]")
    with pytest.raises(config.ConfigError, match="not UTF-8"):
        config.load(str(p))
    p.write_text("[sampler]\nroot = 61\ngain = -3\n")
    cfg, where = config.load(str(p))
    assert cfg.sampler.root == 61 and cfg.sampler.gain == -3.0 and where == str(p)


def test_default_path_absent_means_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "none.toml"))
    cfg, where = config.load(None)
    assert cfg == config.Config() and "defaults" in where


def test_every_error_of_a_file_is_listed_at_once(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[audio]\nrate = 1\nperiod = 7\n[midi]\napi = "oss"\n[bogus]\nx = 1\n[library]\nkeep_sounds = -1\n')
    errors = config.errors_in(str(p))
    assert len(errors) == 5 and all(e.startswith(str(p) + ": ") for e in errors)
    for needle in ("[audio] rate", "[audio] period", "[midi] api", "[bogus]: unknown section", "[library] keep_sounds"):
        assert any(needle in e for e in errors), needle
    with pytest.raises(config.ConfigError, match=r"\[audio\] rate"):  # loading still stops at the first
        config.load(str(p))
    ok = tmp_path / "ok.toml"
    ok.write_text("[library]\nkeep_sounds = 0\n")
    assert config.errors_in(str(ok)) == [] and config.load(str(ok))[0].library.keep_sounds == 0


def test_the_engines_voice_parameters_default_to_the_schemas_sound_settings():
    # engine/voices.py's VoiceParams repeats each default (the engine builds without a config);
    # the schema is the source: every field must map, and every default agree
    from promptsynth.engine.params import VOICE_KEYS, voice_params
    from promptsynth.engine.voices import VoiceParams

    assert set(VOICE_KEYS.values()) == {f.name for f in dataclasses.fields(VoiceParams)}
    assert VoiceParams() == voice_params(config.SoundSettings())
