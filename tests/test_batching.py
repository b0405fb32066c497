"""Jobs from different instruments in one pipeline call (generator/runner.py generate_batch), as
the generation server batches them: each job gets its own sound, the one it gets alone, and the
call is made once. Through the real pipeline code with the tiny AudioLDM 2 and AudioLDM 1."""

import numpy as np
import pytest

from promptsynth.generator.params import GenerationParams, ParamError, batch_key, from_dict, validate

pytestmark = pytest.mark.torch

# a batched call rounds differently from a single one (the matrix kernels block by batch size,
# and the T5 sequences are padded to the longest): measured on this CPU with the tiny AudioLDM 2,
# 1.0e-6 to 1.2e-6 of the RMS. A wrong row (another job's seed or prompt) is tens of percent off.
BATCH_RMS = 1e-4


def job(prompt, seed, **kw):
    d = dict(seconds=0.64, steps=3, seed=seed)
    d.update(kw)
    return validate(GenerationParams(prompt, **d))


def rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(b**2)), 1e-12))


@pytest.fixture(scope="module", params=["tiny", "audioldm1"])
def runner(request, tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    return Runner(load(tiny_models[request.param], "cpu"), request.param)


def test_each_job_in_a_batch_gets_the_sound_it_gets_alone(runner):
    jobs = [
        job("a kickdrum", 1),
        job("a long and winding description of a warm analog string pad", 2),  # a longer T5 sequence
        job("a kickdrum", 3, morph=("a violin",), position=0.4),  # a single morph batches too
        job("glass", 4, candidates=1),
    ]
    alone = [runner.generate(p) for p in jobs]
    before = runner.calls["unet"]
    together = runner.generate_batch(jobs)
    # one pipeline call: as many UNet calls as one job's steps (with guidance: one batched call a step)
    assert runner.calls["unet"] - before == 3
    errs = []
    for p, a, t in zip(jobs, alone, together):
        assert t.seeds == a.seeds == [p.seed]
        assert a.audio.shape == t.audio.shape
        errs.append(rel_rms(t.audio, a.audio))
    assert max(errs) < BATCH_RMS, errs
    # and the match means something: each batched row is far closer to its own job alone than
    # any two jobs are to each other (the tiny models' random weights make similar sounds: at
    # the closest 0.48 % apart for AudioLDM 2 and 0.009 % for AudioLDM 1, on torch 2.1)
    apart = min(rel_rms(a.audio, b.audio) for i, a in enumerate(together) for b in together[i + 1 :])
    assert apart > 10 * max(errs), (apart, errs)


def test_candidates_batch_with_their_own_seeds(runner):
    jobs = [job("a bell", 10, candidates=2), job("a drum", 20, candidates=2)]
    together = runner.generate_batch(jobs)
    for p, t in zip(jobs, together):
        alone = runner.generate(p)
        assert sorted(t.seeds) == sorted(alone.seeds) == [p.seed, p.seed + 1]
        for s in alone.seeds:
            assert rel_rms(t.audio[t.seeds.index(s)], alone.audio[alone.seeds.index(s)]) < BATCH_RMS


def test_what_cannot_share_a_call_is_refused(runner):
    a, b = job("a", 1), job("b", 2, steps=4)
    assert batch_key(a) != batch_key(b)
    with pytest.raises(ValueError, match="batch_key"):
        runner.generate_batch([a, b])
    series = job("a", 1, morph=("b",), series=3)
    assert batch_key(series) is None


def test_parameters_from_json_are_checked_by_type_and_name():
    p = validate(from_dict({"prompt": "a pad", "morph": ["a bell"], "position": 0.5, "seed": 3}))
    assert p.morph == ("a bell",) and p.position == 0.5
    for bad, says in (
        ({"prompt": "x", "bogus": 1}, "unknown parameter"),
        ({"seconds": 2}, "names no prompt"),
        ({"prompt": "x", "morph": "a bell"}, "morph must be a list"),
        ({"prompt": "x", "scheduler": 3}, "scheduler must be text"),
        ([1, 2], "must be a JSON object"),
    ):
        with pytest.raises(ParamError, match=says):
            from_dict(bad)
    with pytest.raises(ParamError, match="steps must be between"):
        validate(from_dict({"prompt": "x", "steps": 10**6}))
