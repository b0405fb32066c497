"""The generator through its real paths: tiny pipelines saved in diffusers layout, loaded by the
instrument's loading code, run in the spawned worker process."""

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest
import soundfile as sf

from promptsynth.generator import protocol as msg
from promptsynth.generator.client import GeneratorClient, JobFailed, QueueFull
from promptsynth.generator.params import GenerationParams, ParamError, validate

# torch is imported inside the tests: the Python 3.8 lane (no torch) deselects them by this marker
pytestmark = pytest.mark.torch


def quick(prompt="a soft bell", **kw):
    d = dict(seconds=0.5, steps=3, seed=7)
    d.update(kw)
    return GenerationParams(prompt, **d)


@pytest.fixture(scope="module")
def runner(tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    return Runner(load(tiny_models["tiny"], "cpu"), "tiny")


@pytest.fixture(scope="module")
def client(tiny_models, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    os.makedirs(state / "models")
    shutil.copytree(tiny_models["tiny"], state / "models" / "tiny")
    # nice=0: these tests are about the worker's protocol; the product's nice 10 would leave it a
    # twentieth of a machine that other jobs keep busy (the daemon's priority: tests/test_faults.py)
    c = GeneratorClient(
        "tiny", str(state), "cpu", threads=1, queue_size=2, timeout=120.0, out_dir=str(state / "generated"), nice=0
    )  # as `promptsynth generate` asks
    c.start()
    yield c
    c.stop()


def events_until(client, job, timeout=120.0):
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ev in client.poll(0.1):
            got.append(ev)
            if isinstance(ev, (msg.Result, msg.Failed)) and ev.job_id == job:
                return got
    raise AssertionError("no end for job %d: %s" % (job, got))


def test_same_recipe_gives_bit_identical_audio_and_another_seed_differs(runner):
    import torch  # noqa: F401

    p = validate(quick())
    a, b = runner.generate(p).audio, runner.generate(p).audio
    assert np.array_equal(a, b) and np.abs(a).max() > 0
    c = runner.generate(validate(quick(seed=8))).audio
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seconds,samples", [(0.5, 8000), (0.77, 12320), (1.0, 16000), (2.03, 32480)])
def test_length_is_honoured_to_the_sample(runner, seconds, samples):
    out = runner.generate(validate(quick(seconds=seconds, steps=2)))
    assert out.audio.shape == (1, samples)


def test_new_seed_reuses_the_prompt_embeddings(runner):
    before = runner.encodes
    runner.generate(validate(quick("a new prompt", seed=1, negative="a new negative")))
    assert runner.encodes == before + 2  # each text on its own
    runner.generate(
        validate(quick("a new prompt", seed=2, steps=4, scheduler="ddim", guidance=5.0, negative="a new negative"))
    )
    assert runner.encodes == before + 2
    runner.generate(validate(quick("a new prompt", seed=2, negative="hiss")))
    assert runner.encodes == before + 3  # the prompt's encoding serves beside any negative
    runner.generate(validate(quick("a new prompt", seed=2, negative="hiss", conditioning="stock")))
    assert runner.encodes == before + 4  # stock: the two together, cached as a pair


def test_clap_at_prompt_length_gives_exactly_what_the_padded_pipeline_gives(runner):
    """Stock conditioning and the checkpoint's spacing: what diffusers' pipeline does, exactly."""
    import torch

    p = validate(quick("a distorted synth", seed=3, steps=3, scheduler="ddim", conditioning="stock", spacing="model"))
    ours = runner.generate(p).audio[0]
    pipe = runner.pipe
    pipe.scheduler = runner.schedulers[("ddim", "model")]
    with torch.inference_mode():
        ref = pipe(
            p.prompt,
            negative_prompt=p.negative,
            num_inference_steps=3,
            guidance_scale=p.guidance,
            audio_length_in_s=(8000 + 0.5) / 16000,
            generator=torch.Generator("cpu").manual_seed(3),
            output_type="np",
        ).audios[0]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_candidates_are_ranked_and_each_names_its_own_seed(runner):
    out = runner.generate(validate(quick(candidates=3, seed=100)))
    assert out.audio.shape[0] == 3 and sorted(out.seeds) == [100, 101, 102]
    assert out.scores == sorted(out.scores, reverse=True)
    alone = runner.generate(validate(quick(seed=out.seeds[0]))).audio[0]
    np.testing.assert_allclose(alone, out.audio[0], atol=1e-5)  # its seed makes it again


def test_nan_from_the_model_is_an_error_and_nothing_is_written(tiny_models, tmp_path):
    import torch

    bad = tmp_path / "state" / "models" / "tiny"
    shutil.copytree(tiny_models["tiny"], bad)
    from safetensors.torch import load_file, save_file

    f = bad / "vocoder" / "model.safetensors"
    w = load_file(str(f))
    key = [k for k in w if k.startswith("conv_post") and k.endswith("bias")][0]
    w[key] = torch.full_like(w[key], float("nan"))
    save_file(w, str(f), metadata={"format": "pt"})
    c = GeneratorClient("tiny", str(tmp_path / "state"), "cpu", threads=1, out_dir=str(tmp_path / "generated"), nice=0)
    try:
        with pytest.raises(JobFailed, match="NaN"):
            c.run(quick(), timeout=120)
    finally:
        c.stop()
    assert not os.path.exists(c.out_dir) or os.listdir(c.out_dir) == []


def test_progress_counts_the_steps_and_the_result_is_on_disk(client):
    job = client.submit(quick(steps=7, seconds=1.0, seed=5))
    evs = events_until(client, job)
    steps = [e.step for e in evs if isinstance(e, msg.Progress) and e.job_id == job]
    assert steps == list(range(1, 8))
    assert all(e.total == 7 for e in evs if isinstance(e, msg.Progress))
    res = evs[-1]
    assert isinstance(res, msg.Result)
    audio, rate = sf.read(res.paths[0], dtype="float32")
    assert rate == 16000 and audio.shape == (16000,) and np.all(np.isfinite(audio))
    assert res.rate == rate and np.array_equal(res.audio[0], audio)  # the same audio travels in the Result
    recipe = json.load(open(res.paths[0][:-4] + ".json"))
    for key in ("model", "prompt", "negative", "seed", "steps", "guidance", "scheduler", "seconds", "versions"):
        assert key in recipe
    import torch

    assert recipe["seed"] == 5 and recipe["steps"] == 7 and recipe["versions"]["torch"] == torch.__version__
    assert recipe["decode"] == "fp32"  # the CPU's own dtype, first time


def test_cancel_takes_effect_within_a_step_and_the_next_job_works(client):
    job = client.submit(quick(steps=400, seconds=2.0))
    end = time.monotonic() + 60
    seen = 0
    while seen < 2 and time.monotonic() < end:
        for ev in client.poll(0.05):
            if isinstance(ev, msg.Progress) and ev.job_id == job:
                seen = ev.step
    assert client.cancel(job)
    evs = events_until(client, job)
    failed = evs[-1]
    assert isinstance(failed, msg.Failed) and failed.kind == "cancelled"
    last = (
        max(e.step for e in evs if isinstance(e, msg.Progress) and e.job_id == job)
        if any(isinstance(e, msg.Progress) for e in evs)
        else seen
    )
    assert last <= seen + 3  # stopped within a step or two of the cancel
    assert isinstance(client.run(quick(seed=9)), msg.Result)


def test_killing_the_worker_mid_job_is_a_clear_error_and_the_next_job_works(client):
    job = client.submit(quick(steps=400, seconds=2.0))
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if any(isinstance(e, msg.Progress) and e.job_id == job for e in client.poll(0.05)):
            break
    os.kill(client.proc.pid, signal.SIGKILL)
    evs = events_until(client, job)
    assert isinstance(evs[-1], msg.Failed) and evs[-1].kind == "lost"
    assert "generator process died" in evs[-1].reason
    res = client.run(quick(seed=10))  # starts a new worker
    assert isinstance(res, msg.Result) and client.restarts == 1


def test_queue_full_is_reported_at_once(client):
    jobs = [client.submit(quick(steps=50, seconds=1.0, seed=i)) for i in range(3)]  # 1 running + 2 waiting
    with pytest.raises(QueueFull):
        client.submit(quick())
    for j in jobs:
        client.cancel(j)
    ended = set()
    end = time.monotonic() + 60
    while ended != set(jobs) and time.monotonic() < end:
        ended |= {e.job_id for e in client.poll(0.1) if isinstance(e, msg.Failed)}
    assert ended == set(jobs)


@pytest.mark.parametrize(
    "prompt", ["\U0001f941\U0001f525 drum", 'say "hi" \\ back\\slash', "ctl\x00\x1b chars", "x" * 1000]
)
def test_odd_prompts_make_a_sound(client, prompt):
    res = client.run(quick(prompt, steps=2))
    assert isinstance(res, msg.Result) and os.path.getsize(res.paths[0]) > 1000


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 10000])
def test_bad_prompts_are_refused_before_the_model(client, prompt):
    with pytest.raises(ParamError):
        client.submit(quick(prompt))


def test_job_timeout_ends_the_job(tiny_models, tmp_path):
    os.makedirs(tmp_path / "models")
    shutil.copytree(tiny_models["tiny"], tmp_path / "models" / "tiny")
    c = GeneratorClient("tiny", str(tmp_path), "cpu", threads=1, timeout=10.0, nice=0)
    try:
        c.start()
        while c.model_state != "ready":
            c.poll(0.1)
        with pytest.raises(JobFailed) as e:
            c.run(quick(steps=500, seconds=8.0), timeout=120)
        assert e.value.failed.kind == "timeout"
    finally:
        c.stop()


def test_audioldm1_pipeline_loads_and_generates(tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    r = Runner(load(tiny_models["audioldm1"], "cpu"), "audioldm1")
    assert not r.v2
    p = validate(quick(seconds=0.64))
    a = r.generate(p).audio
    assert a.shape == (1, 10240) and np.array_equal(a, r.generate(p).audio) and r.encodes == 2  # prompt, negative


def test_published_layout_with_gpt2model_loads_on_this_transformers(tiny_models):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    idx = json.load(open(os.path.join(tiny_models["published"], "model_index.json")))
    assert idx["language_model"][1] == "GPT2Model"
    r = Runner(load(tiny_models["published"], "cpu"), "published")
    assert r.generate(validate(quick())).audio.shape == (1, 8000)


def test_models_fetch_from_a_local_directory_installs_it(tiny_models, tmp_path):
    from promptsynth.generator import models

    seen = []
    path = models.fetch("audioldm2", str(tmp_path), source=tiny_models["tiny"], progress=lambda d, t: seen.append(d))
    assert models.is_installed(path) and seen[-1] == models.dir_size(path)
    row = [r for r in models.listing(str(tmp_path)) if r["id"] == "audioldm2"][0]
    assert row["installed"] and row["bytes"] > 0


def test_calls_per_sound_default_and_study_recipes(runner):
    # (a negative of its own: the module's other tests have encoded the default one already)
    out = runner.generate(validate(quick("calls", steps=25, scheduler="dpm", guidance=3.5, negative="calls neg")))
    assert out.calls["unet"] == 25 and out.calls["vocoder"] == 1 and out.calls["vae_decoder"] == 1
    assert out.calls["clap_text"] == 2 and out.calls["t5"] == 2 and out.calls["gpt2"] == 16  # 8 tokens x 2
    again = runner.generate(
        validate(quick("calls", steps=100, scheduler="ddim", guidance=3.0, seed=2, negative="calls neg"))
    )
    assert again.calls["unet"] == 100
    assert again.calls["clap_text"] == again.calls["t5"] == again.calls["gpt2"] == 0  # embeddings re-used


# ---- folders written by other stacks ------------------------------------------------------------
# The device runs transformers 4.46 with diffusers 0.31 or 0.35; CI and the simulator run
# transformers 5. A folder saved by any of them must load on all. What differs (seen by saving the
# tiny model on each stack): transformers 5 writes tokenizers as tokenizer.json only and records
# them as "RobertaTokenizer"/"T5Tokenizer" (on 4.46 those are the slow classes, needing vocab.json +
# merges.txt or a sentencepiece model); 4.46 writes the RoBERTa tokenizer as vocab.json + merges.txt
# only; diffusers < 0.33 records the language model as GPT2Model; files written by
# safetensors.save_file alone have no {"format": "pt"} metadata, which 4.46 refuses.


def _index(path):
    with open(os.path.join(path, "model_index.json")) as fh:
        return json.load(fh)


def _write_index(path, index):
    with open(os.path.join(path, "model_index.json"), "w") as fh:
        json.dump(index, fh, indent=2)


def _roberta_files(tok_dir):
    """Both forms of the byte-level RoBERTa tokenizer in ``tok_dir``: tokenizer.json and
    vocab.json + merges.txt, whichever this stack saved, the other made from it."""
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        from transformers import RobertaTokenizerFast

        RobertaTokenizerFast.from_pretrained(tok_dir).backend_tokenizer.save(os.path.join(tok_dir, "tokenizer.json"))
    if not os.path.exists(os.path.join(tok_dir, "vocab.json")):
        with open(os.path.join(tok_dir, "tokenizer.json")) as fh:
            bpe = json.load(fh)["model"]
        with open(os.path.join(tok_dir, "vocab.json"), "w") as fh:
            json.dump(bpe["vocab"], fh)
        with open(os.path.join(tok_dir, "merges.txt"), "w") as fh:
            fh.write(
                "#version: 0.2\n" + "".join((m if isinstance(m, str) else " ".join(m)) + "\n" for m in bpe["merges"])
            )


def saved_like(src, dst, stack):
    """A copy of the folder ``src`` laid out as ``stack`` saves it ("transformers4" or "transformers5")."""
    shutil.copytree(src, dst)
    tok = os.path.join(dst, "tokenizer")
    _roberta_files(tok)
    index = _index(dst)
    index["tokenizer"] = ["transformers", "RobertaTokenizer"]
    if stack == "transformers4":
        os.unlink(os.path.join(tok, "tokenizer.json"))
        index["tokenizer_2"] = ["transformers", "T5TokenizerFast"]
    else:
        for name in ("vocab.json", "merges.txt"):
            os.unlink(os.path.join(tok, name))
        index["tokenizer_2"] = ["transformers", "T5Tokenizer"]
    _write_index(dst, index)
    return dst


def sound_of(path):
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    return Runner(load(path, "cpu"), "x").generate(validate(quick("a folder test", seed=4))).audio


def test_the_tiny_folder_is_already_portable(tiny_models, tmp_path):
    from promptsynth.generator import models

    copy = shutil.copytree(tiny_models["tiny"], str(tmp_path / "tiny"))
    assert models.make_portable(copy) == []  # nothing left to fix
    index = _index(copy)
    assert index["tokenizer_2"][1] == "T5TokenizerFast"  # the name both transformers load from tokenizer.json
    assert models.missing_format(copy) == []


@pytest.mark.parametrize("base", ["tiny", "published"])
@pytest.mark.parametrize("stack", ["transformers4", "transformers5"])
def test_folders_in_every_stacks_layout_load_and_sound_the_same(tiny_models, tmp_path, base, stack):
    want = sound_of(tiny_models[base])
    other = saved_like(tiny_models[base], str(tmp_path / stack), stack)
    got = sound_of(other)
    assert got.shape == (1, 8000) and np.abs(got).max() > 0
    np.testing.assert_array_equal(got, want)


def test_weights_without_format_metadata_are_refused_and_fetch_repairs_them(tiny_models, tmp_path):
    from safetensors.torch import load_file, save_file

    from promptsynth.generator import models
    from promptsynth.generator.models import ModelError
    from promptsynth.generator.pipeline import load

    bare = shutil.copytree(tiny_models["tiny"], str(tmp_path / "bare"))
    for sub in ("vae", "vocoder"):
        f = os.path.join(bare, sub, [n for n in os.listdir(os.path.join(bare, sub)) if n.endswith(".safetensors")][0])
        save_file(load_file(f), f)  # as other tools write them: no metadata
    assert models.missing_format(bare) == [
        os.path.join("vae", "diffusion_pytorch_model.safetensors"),
        os.path.join("vocoder", "model.safetensors"),
    ]
    with pytest.raises(ModelError, match="format metadata"):
        load(bare, "cpu")  # refused on every stack, as 4.46 refuses it
    fixed = models.fetch("audioldm2", str(tmp_path / "state"), source=bare)
    assert models.missing_format(fixed) == [] and models.missing_format(bare) != []  # the source is untouched
    np.testing.assert_array_equal(sound_of(fixed), sound_of(tiny_models["tiny"]))


# scripts/test.sh runs each torch lane with PROMPTSYNTH_LANE_MODELS: every lane saves its tiny model
# and the sound it made there (conftest.py), and loads the folders the other lanes saved
LANE_MODELS = os.environ.get("PROMPTSYNTH_LANE_MODELS")
OTHER_LANES = []
try:
    import torch  # noqa: F401  (the lane without torch has nothing to load them with)
except ImportError:
    LANE_MODELS = None
if LANE_MODELS and os.path.isdir(LANE_MODELS):
    from conftest import stack_name

    OTHER_LANES = sorted(
        d
        for d in os.listdir(LANE_MODELS)
        if d != stack_name() and os.path.exists(os.path.join(LANE_MODELS, d, "reference.npy"))
    )

if OTHER_LANES:

    @pytest.mark.parametrize("lane", OTHER_LANES)
    def test_a_folder_saved_by_another_lane_loads_here_and_sounds_the_same(lane):
        folder = os.path.join(LANE_MODELS, lane)
        from conftest import lane_reference

        got = lane_reference(os.path.join(folder, "tiny"))
        want = np.load(os.path.join(folder, "reference.npy"))
        assert got.shape == want.shape and np.abs(got).max() > 0
        # the same weights and seed on another stack: equal but for float rounding, which three
        # denoising steps grow by how much depends on the random weights: the tiny model built on
        # Python 3.11 comes back within 1.4e-6 RMS on torch 2.1, the ones built on the 3.8 stacks
        # within 0.21 % RMS and 1.07e-3 peak on torch 2.13 (deterministic: the same figures every
        # run). A folder loaded wrongly (a tokenizer, a layer) is off by tens of percent.
        assert rms_error(got[0], want[0]) < 5e-3
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)


# ---- decoding that fails on the device ---------------------------------------------------------


@pytest.fixture
def own_runner(tiny_models):
    """A runner of its own: these tests change its VAE."""
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    return Runner(load(tiny_models["tiny"], "cpu"), "tiny", chunk_frames=24, overlap_frames=8)


def rms_error(got, want):
    return float(np.sqrt(np.mean((got - want) ** 2)) / np.sqrt(np.mean(want**2)))


def test_an_fp16_vae_that_overflows_is_decoded_again_in_fp32(own_runner):
    import torch

    from promptsynth.bench.faulty_vae import fp16_overflow

    vae = own_runner.pipe.vae
    vae.to(torch.float16).to(torch.float32)  # the weights as the GPU holds them (fp16), in fp32
    p = validate(quick(seconds=1.0))
    clean = own_runner.generate(p)
    assert clean.decode == "fp32"
    with fp16_overflow(vae) as overflowed:
        out = own_runner.generate(p)
        assert vae.dtype == torch.float16  # cast back after the retry
    assert overflowed == [(1, 8, 25, 16)] and out.decode == "fp32-retry"
    assert out.audio.shape == (1, 16000) and np.all(np.isfinite(out.audio))
    np.testing.assert_array_equal(out.audio, clean.audio)  # fp32 from fp16 weights: the same sound
    assert out.seconds["decode_fp16"] >= 0 and out.seconds["decode_fp32_retry"] > 0


def test_a_latent_past_the_vaes_limit_is_decoded_in_crossfaded_chunks(own_runner):
    from promptsynth.bench.faulty_vae import nan_past

    p = validate(quick(seconds=2.56, seed=3))  # 64 latent frames
    clean = own_runner.generate(p)
    with nan_past(own_runner.pipe.vae, 32) as asked:
        out = own_runner.generate(p)
    assert out.decode == "chunked"
    assert asked == [64, 24, 24, 24, 16]  # whole, then windows of 24 overlapping by 8
    assert out.audio.shape == (1, 40960) and np.all(np.isfinite(out.audio))
    # each window sees less context than the whole (the VAE's middle attends over all of it), so
    # the sound is close to the whole decode, not equal
    assert rms_error(out.audio[0], clean.audio[0]) < 0.15


def test_chunks_at_the_real_sizes_cover_a_30_s_latent(runner):
    import torch

    from promptsynth.bench.faulty_vae import nan_past
    from promptsynth.generator.runner import CHUNK_FRAMES, OVERLAP_FRAMES

    assert (runner.chunk_frames, runner.overlap_frames) == (CHUNK_FRAMES, OVERLAP_FRAMES) == (256, 32)
    latents = torch.randn(1, 8, 750, 16, generator=torch.Generator().manual_seed(0))  # 30 s
    clean, path = runner.decode(latents, 480000)
    assert path == "fp32"
    with nan_past(runner.pipe.vae, 500) as asked:  # AudioLDM's VAE fails past about 20 s
        audio, path = runner.decode(latents, 480000)
    assert path == "chunked" and asked == [750, 256, 256, 256, 78]  # starts 0, 224, 448, 672
    assert audio.shape == (1, 480000) and np.all(np.isfinite(audio))
    assert rms_error(audio[0], clean[0]) < 0.15


def test_a_decode_that_fails_every_way_is_an_error(own_runner):
    from promptsynth.bench.faulty_vae import fp16_overflow, nan_past
    from promptsynth.generator.runner import ModelOutputError

    vae = own_runner.pipe.vae
    with nan_past(vae, 0), fp16_overflow(vae):
        with pytest.raises(ModelOutputError, match="NaN or infinite.*fp16, then fp32-retry, then chunked"):
            own_runner.generate(validate(quick(seconds=1.28)))  # 32 frames: longer than a chunk


def test_the_decode_path_is_in_the_recipe(tmp_path):
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.jobs import write_result
    from promptsynth.generator.runner import Output

    out = Output(audio=np.zeros((1, 800), np.float32), seeds=[1], rate=16000, decode="fp32-retry")
    job = msg.Job(1, "tiny", "", validate(quick()), str(tmp_path))
    paths, recipes = write_result(job, out, "cuda", "float16", {})
    assert recipes[0]["decode"] == "fp32-retry"
    assert json.load(open(paths[0][:-4] + ".json"))["decode"] == "fp32-retry"
    paths, recipes = write_result(msg.Job(2, "tiny", "", validate(quick()), None), out, "cuda", "float16", {})
    assert paths == [] and recipes[0]["decode"] == "fp32-retry"  # no folder: nothing written


# ---- the benchmark's per-model path, for every registered model ------------------------------------
BENCH_MODELS = [
    "audioldm2",
    "audioldm2-large",
    "audioldm2-music",
    "audioldm-s-full-v2",
    "audioldm-m-full",
    "audioldm-l-full",
]


def test_the_benchmark_covers_every_registered_model():
    from promptsynth.generator.models import MODELS

    assert sorted(BENCH_MODELS) == sorted(m for m in MODELS if MODELS[m].repo)


@pytest.mark.parametrize("model", BENCH_MODELS)
def test_a_narrow_build_has_every_layer_of_the_real_model(model):
    import collections

    import torch
    from accelerate import init_empty_weights

    from promptsynth.generator.build import real_size

    def kinds(pipe):
        return {
            name: collections.Counter(type(m).__name__ for m in comp.modules())
            for name, comp in pipe.components.items()
            if isinstance(comp, torch.nn.Module)
        }

    with init_empty_weights():  # the real size, without its memory
        full = real_size(model)
    assert kinds(real_size(model, narrow=True)) == kinds(full)


@pytest.mark.parametrize("model", BENCH_MODELS)
def test_every_registered_model_goes_through_the_full_size_benchmark(model):
    from promptsynth.bench.generate import full_size

    r = full_size(model, seconds=0.64, steps_timed=1, narrow=True)
    c = r["components_s"]
    assert (
        min(c["unet_per_step_cfg"], c["vae_decode"], c["vocoder"], c["clap_text_ours"], c["clap_text_padded_512"]) > 0
    )
    if model.startswith("audioldm2"):
        assert c["t5"] > 0 and c["gpt2_8_tokens_x2"] > 0
    assert r["clap_unpadded_max_abs_diff"] < 1e-4
    fb = r["decode_fp32_fallback"]
    assert (fb["normal_path"], fb["fallback_path"]) == ("fp32", "fp32-retry") and fb["fallback_s"] > 0


def test_load_memory_is_measured_with_and_without_accelerate():
    from promptsynth.bench.load_memory import load_memory

    r = load_memory("audioldm2", narrow=True)
    for dtype in ("float32", "float16"):
        for way in ("with_accelerate", "without_accelerate"):
            got = r[dtype][way]
            assert "error" not in got, got
            assert got["after_reading_weights"]["peak_mib"] >= got["baseline_mib"] > 100  # torch alone: > 100 MiB
            assert got["load_mib"] >= 0
    assert r["bytes_on_disk"] > 4 * 4_000_000  # about 4.9 M parameters in fp32


def test_without_a_folder_the_audio_travels_in_the_result_and_nothing_is_written(tiny_models, tmp_path):
    """The daemon's way: no temporary WAV to write, read back and clean up."""
    state = tmp_path / "state"
    os.makedirs(state / "models")
    shutil.copytree(tiny_models["tiny"], state / "models" / "tiny")
    c = GeneratorClient("tiny", str(state), "cpu", threads=1, nice=0)
    try:
        res = c.run(quick(steps=3, seconds=1.0, candidates=2), timeout=120)
    finally:
        c.stop()
    assert res.paths == [] and res.rate == 16000 and len(res.audio) == 2
    assert all(a.dtype == np.float32 and a.shape == (16000,) and np.all(np.isfinite(a)) for a in res.audio)
    assert not np.array_equal(res.audio[0], res.audio[1])  # two candidates, two seeds
    written = [
        f for _, _, files in os.walk(str(state)) for f in files if f.endswith((".wav", ".json")) and "models" not in f
    ]
    assert not [w for w in written if w.startswith("gen-")], written
