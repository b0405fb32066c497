"""Conditioning and morphing through the real pipeline code: the tiny AudioLDM 2 (whose UNet has
the real model's cross-attention slots, so GPT-2's and T5's tensors both reach it) and the tiny
AudioLDM 1, loaded by the instrument's loading code."""

import json
import os
import shutil

import numpy as np
import pytest

from promptsynth.generator.params import (
    LEGACY,
    GenerationParams,
    ParamError,
    morph_weights,
    recipe_of,
    validate,
)

LONG_NEGATIVE = "low quality, average quality, noise, high pitch, artefacts"


def quick(prompt="a kickdrum", **kw):
    d = dict(seconds=0.5, steps=3, seed=7)
    d.update(kw)
    return validate(GenerationParams(prompt, **d))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def runner(tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    return Runner(load(tiny_models["tiny"], "cpu"), "tiny")


# ---- parameters (no torch) ------------------------------------------------------------------------


def test_morph_weights_put_each_prompt_at_its_end_or_corner():
    assert morph_weights(2, 0.0) == [1.0, 0.0] and morph_weights(2, 1.0) == [0.0, 1.0]
    assert morph_weights(2, 0.25) == [0.75, 0.25]
    assert morph_weights(3, 0.5) == [0.0, 1.0, 0.0] and morph_weights(3, 0.75) == [0.0, 0.5, 0.5]
    for (x, y), corner in {(0, 0): 0, (1, 0): 1, (0, 1): 2, (1, 1): 3}.items():
        w = morph_weights(4, x, y)
        assert w[corner] == 1.0 and sum(w) == 1.0
    assert morph_weights(4, 0.5, 0.5) == [0.25] * 4


@pytest.mark.parametrize(
    "kw,words",
    [
        (dict(morph=("b", "c", "d", "e")), "at most 4"),
        (dict(morph=("b",), position=1.5), "position must be between"),
        (dict(morph=("b",), position=float("nan")), "position must be between"),
        (dict(morph=("b",), position_y=0.5), "position y needs four prompts"),
        (dict(position=0.5), "need a morph"),
        (dict(morph=("b",), series=1), "at least 2"),
        (dict(morph=("b",), series=17), "series must be between"),
        (dict(morph=("b",), series=4, candidates=2), "candidates must be 1"),
        (dict(morph=("   ",)), "morph prompt 2 is empty"),
        (dict(morph="b"), "must be a list"),
        (dict(conditioning="clever"), "conditioning must be one of"),
        (dict(spacing="random"), "spacing must be one of"),
    ],
)
def test_bad_morphs_are_refused_with_a_message_that_names_the_setting(kw, words):
    with pytest.raises(ParamError, match=words):
        validate(GenerationParams("a", **kw))


def test_a_series_positions_run_along_the_line_and_recipes_round_trip():
    p = validate(GenerationParams("a", morph=["b", "c", "d"], series=3, position_y=0.25, seed=1))
    assert p.positions() == [(0.0, 0.25), (0.5, 0.25), (1.0, 0.25)]
    d = json.loads(json.dumps(p.to_dict()))
    assert validate(GenerationParams(**d)) == p


def test_a_stored_recipe_from_before_the_choice_means_what_it_meant():
    old = {"prompt": "a", "seed": 5, "steps": 25, "rank": 0}
    assert recipe_of(old) == dict(prompt="a", seed=5, steps=25, **LEGACY)
    assert recipe_of({"prompt": "a", "seed": None}) == {"prompt": "a", "seed": None}  # no seed: today's defaults
    assert recipe_of(dict(old, conditioning="padded"))["conditioning"] == "padded"
    from promptsynth.library.presets import SCHEMA, Preset

    p = Preset.from_json({"schema": SCHEMA, "name": "Old", "generation": old})
    assert p.generation["conditioning"] == "stock" and p.generation["spacing"] == "model"
    q = Preset.from_json({"schema": SCHEMA, "name": "New", "generation": {"prompt": "a"}})
    assert q.generation["conditioning"] == "padded" and q.generation["spacing"] == "trailing"


# ---- conditioning ---------------------------------------------------------------------------------


@pytest.mark.torch
def test_every_conditioning_tensor_reaches_the_tiny_unet(runner):
    """The tiny model's blind spot is gone: scaling the T5 sequence or GPT-2's tokens changes the
    sound (with the old one-slot UNet the T5 part left it bit-identical). How much depends on the
    random weights, which each stack draws differently: 2-5 % on torch 2.13, 0.005 % on 2.0.1."""
    p = quick("a dog barking", guidance=1.0)
    emb = runner.embeddings(p.prompt, p.negative, p.guidance)
    base = runner._run(p, emb, lambda i: None, {})[0]
    for key in ("prompt_embeds", "generated_prompt_embeds"):
        changed = dict(emb, **{key: emb[key] * 1.5})
        other = runner._run(p, changed, lambda i: None, {})[0]
        assert rms(other - base) > 1e-6 * rms(base), key
    # the T5 mask reaches it too: masking the last token changes the sound
    am = emb["attention_mask"].clone()
    am[0, -1] = 0
    masked = runner._run(p, dict(emb, attention_mask=am), lambda i: None, {})[0]
    assert rms(masked - base) > 1e-6 * rms(base)


@pytest.mark.torch
def test_the_last_word_of_a_long_negative_reaches_a_short_prompt(runner):
    other = LONG_NEGATIVE.replace("artefacts", "hiss")
    # stock: the negative's T5 part is cut to the prompt's length, so its last word is not there
    s1 = runner.embeddings("a kickdrum", LONG_NEGATIVE, 3.5, "stock")
    s2 = runner.embeddings("a kickdrum", other, 3.5, "stock")
    assert s1["negative_prompt_embeds"].shape[1] == s1["prompt_embeds"].shape[1]
    assert np.array_equal(s1["negative_prompt_embeds"].numpy(), s2["negative_prompt_embeds"].numpy())
    # padded: each at its own length; the sequence is the negative's, its mask covers the prompt's
    p1 = runner.embeddings("a kickdrum", LONG_NEGATIVE, 3.5, "padded")
    t5_neg = runner.embeddings(LONG_NEGATIVE, "", 1.0, "padded")["prompt_embeds"]
    assert p1["negative_prompt_embeds"].shape[1] == t5_neg.shape[1] > s1["negative_prompt_embeds"].shape[1]
    assert int(p1["attention_mask"].sum()) == s1["prompt_embeds"].shape[1]
    a = runner.generate(quick(negative=LONG_NEGATIVE)).audio[0]
    b = runner.generate(quick(negative=other)).audio[0]
    assert rms(a - b) > 1e-6 * rms(a)
    sa = runner.generate(quick(negative=LONG_NEGATIVE, conditioning="stock")).audio[0]
    sb = runner.generate(quick(negative=other, conditioning="stock")).audio[0]
    assert rms(sa - sb) < 0.1 * rms(a - b)  # stock hears it only through CLAP's summary


@pytest.mark.torch
def test_a_negative_conditions_the_same_beside_any_prompt(runner):
    """GPT-2 counts padding as positions: encoded beside prompts of different lengths, stock gives
    the same negative different conditioning; encoded alone it is one tensor."""
    short, long_ = "a kickdrum", "a soft warm synth pad with a slow attack and a long release"
    s_short = runner.embeddings(short, LONG_NEGATIVE, 3.5, "stock")["negative_generated_prompt_embeds"]
    s_long = runner.embeddings(long_, LONG_NEGATIVE, 3.5, "stock")["negative_generated_prompt_embeds"]
    assert not np.allclose(s_short.numpy(), s_long.numpy(), atol=1e-4)
    p_short = runner.embeddings(short, LONG_NEGATIVE, 3.5, "padded")["negative_generated_prompt_embeds"]
    p_long = runner.embeddings(long_, LONG_NEGATIVE, 3.5, "padded")["negative_generated_prompt_embeds"]
    assert np.array_equal(p_short.numpy(), p_long.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("scheduler", ["dpm", "ddim"])
def test_trailing_spacing_starts_at_the_last_training_timestep(runner, scheduler):
    trailing = runner.schedulers[(scheduler, "trailing")]
    trailing.set_timesteps(25)
    assert int(trailing.timesteps[0]) == 999
    model = runner.schedulers[(scheduler, "model")]
    model.set_timesteps(25)
    assert int(model.timesteps[0]) < 999  # the tiny model's config is "leading", as the checkpoints'
    a = runner.generate(quick(scheduler=scheduler)).audio[0]
    b = runner.generate(quick(scheduler=scheduler, spacing="model")).audio[0]
    assert rms(a - b) > 1e-6 * rms(a)  # (how much: see the test above)


# ---- morph ----------------------------------------------------------------------------------------


@pytest.mark.torch
def test_a_morphs_ends_are_its_prompts_sounds_bit_for_bit_and_between_is_new(runner):
    a = runner.generate(quick("a kickdrum")).audio[0]
    b = runner.generate(quick("a violin")).audio[0]
    m = dict(morph=("a violin",))
    assert np.array_equal(runner.generate(quick(position=0.0, **m)).audio[0], a)
    assert np.array_equal(runner.generate(quick(position=1.0, **m)).audio[0], b)
    mid = runner.generate(quick(position=0.5, **m)).audio[0]
    assert np.array_equal(mid, runner.generate(quick(position=0.5, **m)).audio[0])  # deterministic
    assert rms(mid - a) > 0.05 * rms(a - b) and rms(mid - b) > 0.05 * rms(a - b)


@pytest.mark.torch
def test_the_corners_of_a_square_of_four_are_its_prompts(runner):
    prompts = ("a kickdrum", "a violin", "a choir", "rain on a roof")
    plain = [runner.generate(quick(t)).audio[0] for t in prompts]
    for i, (x, y) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        got = runner.generate(quick(prompts[0], morph=prompts[1:], position=x, position_y=y)).audio[0]
        assert np.array_equal(got, plain[i])
    centre = runner.generate(quick(prompts[0], morph=prompts[1:], position=0.5, position_y=0.5)).audio[0]
    spread = min(rms(s - t) for i, s in enumerate(plain) for t in plain[i + 1 :])
    assert min(rms(centre - s) for s in plain) > 0.05 * spread


@pytest.mark.torch
def test_the_soft_mask_moves_continuously_off_an_end(runner):
    """A short and a long prompt: the long one's extra T5 tokens fade in with their weight, so a
    step of 1 % along the morph moves the sound a little, not half the way (the union mask's step)."""
    from promptsynth.generator import morph

    a_text, b_text = "a kickdrum", "a slow evolving choir pad with shimmering bells"
    a = runner.generate(quick(a_text)).audio[0]
    b = runner.generate(quick(b_text)).audio[0]
    near = runner.generate(quick(a_text, morph=(b_text,), position=0.01)).audio[0]
    soft = rms(near - a) / rms(b - a)
    # the same point with the union mask, for comparison
    p = quick(a_text, morph=(b_text,), position=0.01)
    embs = [runner.embeddings(t, p.negative, p.guidance) for t in p.prompts()]
    union = morph.blend(embs, [0.99, 0.01], soft_mask=False)
    stepped = runner._run(p, union, lambda i: None, {})[0]
    step = rms(stepped - a) / rms(b - a)
    assert soft < 0.15 and step > 2 * soft, (soft, step)


@pytest.mark.torch
def test_a_series_encodes_each_prompt_once_and_each_sound_is_its_single_morph(runner):
    p = quick("a hammered dulcimer", morph=("a foghorn",), series=5)
    before = runner.encodes
    out = runner.generate(p)
    assert out.audio.shape == (5, 8000)
    assert runner.encodes - before <= 3  # two prompts and the negative, at most (some cached)
    assert out.calls["t5"] == runner.encodes - before and out.calls["unet"] == 5 * 3 * 2 // 2  # CFG in one batch
    for row, audio in zip(out.rows, out.audio):
        single = quick("a hammered dulcimer", morph=("a foghorn",), position=row["position"], seed=row["seed"])
        assert np.array_equal(runner.generate(single).audio[0], audio)
    # monotone: the conditioning moves away from the first prompt's at every step
    ends = [runner.embeddings(t, p.negative, p.guidance) for t in p.prompts()]
    dist = []
    for x, _ in p.positions():
        c = runner.conditioning(p, x)
        dist.append(float((c["generated_prompt_embeds"] - ends[0]["generated_prompt_embeds"]).norm()))
    assert all(d1 < d2 for d1, d2 in zip(dist, dist[1:])) and dist[0] == 0.0


@pytest.mark.torch
def test_audioldm1_morphs_its_unit_clap_vectors(tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    r = Runner(load(tiny_models["audioldm1"], "cpu"), "audioldm1")
    q = dict(seconds=0.64, steps=3, seed=3)
    a = r.generate(validate(GenerationParams("a kickdrum", **q))).audio[0]
    b = r.generate(validate(GenerationParams("a violin", **q))).audio[0]
    m = dict(morph=("a violin",), **q)
    assert np.array_equal(r.generate(validate(GenerationParams("a kickdrum", position=0.0, **m))).audio[0], a)
    assert np.array_equal(r.generate(validate(GenerationParams("a kickdrum", position=1.0, **m))).audio[0], b)
    p = validate(GenerationParams("a kickdrum", position=0.5, **m))
    c = r.conditioning(p, 0.5)["prompt_embeds"]
    assert abs(float(c.norm()) - 1.0) < 1e-5  # still a unit vector
    mid = r.generate(p).audio[0]
    assert rms(mid - a) > 0 and rms(mid - b) > 0


@pytest.mark.torch
def test_a_series_through_the_worker_keeps_each_sound_with_the_recipe_that_makes_it(tiny_models, tmp_path):
    """The generator process: one job, a WAV and a JSON recipe per position; each recipe, run as
    a job of its own, gives the same samples."""
    import soundfile as sf

    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient

    os.makedirs(tmp_path / "models")
    shutil.copytree(tiny_models["tiny"], tmp_path / "models" / "tiny")
    c = GeneratorClient(
        "tiny", str(tmp_path), "cpu", threads=1, queue_size=2, timeout=300.0, out_dir=str(tmp_path / "gen"), nice=0
    )
    c.start()
    try:
        job = c.submit(GenerationParams("a kickdrum", morph=("a violin",), series=3, seconds=0.5, steps=2, seed=11))
        result, events = _wait(c, job)
        assert len(result.paths) == 3 and len(result.recipes) == 3
        steps = [(ev.step, ev.total) for ev in events if isinstance(ev, msg.Progress)]
        assert steps[-1] == (6, 6) and [s for s, _ in steps] == sorted(s for s, _ in steps)  # one bar for the job
        for i, wav in enumerate(result.paths):
            with open(os.path.splitext(wav)[0] + ".json") as fh:
                recipe = json.load(fh)
            assert recipe["position"] == i / 2 and recipe["series"] == 0 and recipe["morph"] == ["a violin"]
            assert recipe["series_index"] == i and recipe["seed"] == 11 and recipe == result.recipes[i]
            kw = recipe_of(recipe)
            kw.pop("model")
            again, _ = _wait(c, c.submit(GenerationParams(**kw)))
            audio, rate = sf.read(wav, dtype="float32")
            assert rate == 16000 and np.array_equal(again.audio[0], audio)
    finally:
        c.stop()


def _wait(client, job, timeout=300.0):
    import time

    from promptsynth.generator import protocol as msg

    events = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ev in client.poll(0.1):
            events.append(ev)
            if isinstance(ev, msg.Result) and ev.job_id == job:
                return ev, events
            if isinstance(ev, msg.Failed) and ev.job_id == job:
                raise AssertionError(ev.reason)
    raise AssertionError("no result for job %d" % job)
