"""Generation parameters and prompts: every odd input gets a sound or a clear error (no torch)."""

import pytest

from promptsynth.generator import models
from promptsynth.generator.params import MAX_SEED, GenerationParams, ParamError, validate


@pytest.mark.parametrize(
    "prompt,want",
    [
        ("a warm pad", "a warm pad"),
        ("  tabs\tand\nnewlines\r\n ", "tabs and newlines"),
        ("bell\x00\x07\x1b[31m red", "bell [31m red"),  # control characters become spaces
        ("emoji \U0001f3b9\U0001f525 keys", "emoji \U0001f3b9\U0001f525 keys"),
        ("quotes \"double\" 'single' and \\backslash\\", "quotes \"double\" 'single' and \\backslash\\"),
        ("right\u202eto-left override", "right to-left override"),  # bidi override removed
        ("cafe\u0301", "caf\u00e9"),  # NFC
    ],
)
def test_prompts_are_cleaned_text(prompt, want):
    assert validate(GenerationParams(prompt)).prompt == want


@pytest.mark.parametrize(
    "prompt,needle",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01", "empty"),
        ("x" * 10000, "10000 characters long; the limit is 1000"),
    ],
)
def test_bad_prompts_get_a_clear_error(prompt, needle):
    with pytest.raises(ParamError, match=needle):
        validate(GenerationParams(prompt))


def test_non_text_prompt_is_refused():
    with pytest.raises(ParamError, match="must be text"):
        validate(GenerationParams(b"bytes"))


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("seconds", 0.1, "length"),
        ("seconds", 31.0, "length"),
        ("seconds", float("nan"), "length"),
        ("steps", 0, "steps"),
        ("steps", 2.5, "whole number"),
        ("guidance", 0.5, "guidance"),
        ("guidance", 11, "guidance"),
        ("candidates", 5, "candidates"),
        ("seed", -1, "seed"),
        ("seed", MAX_SEED + 1, "seed"),
        ("scheduler", "euler", "scheduler"),
        ("steps", True, "number"),
    ],
)
def test_out_of_range_values_name_themselves(field, value, needle):
    with pytest.raises(ParamError, match=needle):
        validate(GenerationParams("ok", **{field: value}))


def test_seed_is_drawn_when_absent_and_kept_when_given():
    a, b = validate(GenerationParams("x")), validate(GenerationParams("x"))
    assert 0 <= a.seed <= MAX_SEED and a.seed != b.seed
    assert validate(GenerationParams("x", seed=MAX_SEED)).seed == MAX_SEED


def test_negative_prompt_may_be_empty_and_defaults_to_the_study_one():
    assert validate(GenerationParams("x", negative="")).negative == ""
    assert GenerationParams("x").negative == "low quality, average quality, noise, high pitch, artefacts"


def test_registry_has_the_six_models_plus_tiny_with_their_licence():
    assert set(models.MODELS) == {
        "audioldm2",
        "audioldm2-large",
        "audioldm2-music",
        "audioldm-s-full-v2",
        "audioldm-m-full",
        "audioldm-l-full",
        "tiny",
    }
    for m in models.MODELS.values():
        assert m.rate == 16000 and m.max_seconds == 30.0
        if m.id != "tiny":
            assert m.repo == "cvssp/" + m.id and "CC-BY-NC-SA 4.0" in m.licence
            assert m.pipeline == ("AudioLDM2Pipeline" if m.id.startswith("audioldm2") else "AudioLDMPipeline")
            assert models.os.path.isfile(models.os.path.join(models.CONFIGS, m.id, "model_index.json"))


def test_missing_model_names_the_fetch_command(tmp_path):
    from promptsynth.generator.client import GeneratorClient

    c = GeneratorClient("audioldm-m-full", str(tmp_path))
    with pytest.raises(models.ModelError, match="promptsynth models fetch audioldm-m-full"):
        c.submit(GenerationParams("a snare"))
    with pytest.raises(models.ModelError, match="unknown model"):
        models.model_dir("nosuchmodel", str(tmp_path))


def test_fetch_refuses_a_folder_without_safetensors(tmp_path):
    src = tmp_path / "src"
    (src / "unet").mkdir(parents=True)
    (src / "model_index.json").write_text('{"_class_name": "AudioLDMPipeline", "unet": ["diffusers", "X"]}')
    (src / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(models.ModelError, match="does not hold a complete model"):
        models.fetch("audioldm-m-full", str(tmp_path / "state"), source=str(src))
    assert not (tmp_path / "state" / "models" / "audioldm-m-full").exists()
