"""`promptsynth bench generate`: where a sound's time goes.

* The tiny model through the real path (spawned worker, pipe, WAV + JSON written): wall time of
  a job split into model time and everything else, UNet calls per sound for the default and the
  study's recipe, and a second generation of the same prompt with a new seed.
* A full-size random-weight model (default audioldm2) in this process: every component timed
  with forward hooks, a few denoising steps timed and scaled, so the benchmark stays within
  minutes. Weights are touched by a warm-up first (fresh memory on these machines costs about
  2.5 s per GiB on first use). The same model's decode, normal and as the fp32 retry after an fp16
  overflow, in one run.
* The peak memory of loading that model from disk with accelerate and without (bench/load_memory.py).
* A morph series as one job against its sounds as separate jobs, and sound to sound at strength
  0.3 and 0.6 against text to sound: component calls and wall time, with the tiny model.
"""

from __future__ import annotations

import collections
import statistics
import tempfile
import time
from typing import TYPE_CHECKING, Any, DefaultDict, Dict, List, Optional, Tuple

from promptsynth.bench.faulty_vae import fp16_overflow
from promptsynth.bench.load_memory import load_memory

if TYPE_CHECKING:  # (imported where a benchmark needs it)
    import torch

# GenerationParams fields of the two recipes
DEFAULT: Dict[str, Any] = dict(steps=25, scheduler="dpm", guidance=3.5)
STUDY: Dict[str, Any] = dict(steps=100, scheduler="ddim", guidance=3.0)


def tiny(runs: int = 3, seconds: float = 5.12) -> Dict[str, Any]:
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient, wait_loaded
    from promptsynth.generator.params import GenerationParams

    state = tempfile.mkdtemp(prefix="psynth-bench-")
    # at normal priority: this times the model, not how the scheduler treats a niced worker
    # beside other work (at nice 10 two busy loops leave it a twentieth of the machine)
    c = GeneratorClient("tiny", state, "cpu", timeout=600.0, nice=0)
    t0 = time.monotonic()
    c.start()
    loaded = wait_loaded(c, c.timeout)
    start_s = time.monotonic() - t0
    if not loaded:
        c.stop()
        raise RuntimeError("the tiny model did not load: %s %s" % (c.model_state, c.model_detail))
    try:

        def job(prompt, seed, **kw):
            t = time.monotonic()
            r = c.run(GenerationParams(prompt, seconds=seconds, seed=seed, **kw))
            return time.monotonic() - t, r

        walls, models, writes = [], [], []
        first: Optional[Tuple[float, msg.Result]] = None  # (wall time, result) of the first job
        for i in range(runs):
            wall, r = job("bench prompt %d" % i, i, **DEFAULT)
            walls.append(wall)
            models.append(r.seconds["model"])
            writes.append(r.seconds["write"])
            first = first or (wall, r)
        assert first is not None, "runs must be at least 1"
        wall_med, model_med = statistics.median(walls), statistics.median(models)
        _, study = job("bench prompt 0", 11, **STUDY)
        rep_wall, rep = job("bench prompt 0", 12, **DEFAULT)
        assert isinstance(rep, msg.Result)
        encoders = ("clap_text", "t5", "gpt2")
        morph = morph_series(c, 3 if runs == 1 else 8, seconds)
        s2s = sound_to_sound(c, seconds, runs)
        return {
            "worker_start_and_load_s": round(start_s, 2),
            "job_default": {
                "clip_s": seconds,
                "wall_s": round(wall_med, 3),
                "model_s": round(model_med, 3),
                "outside_model_s": round(wall_med - model_med, 3),
                "outside_model_pct": round(100 * (wall_med - model_med) / wall_med, 2),
                "of_which_write_s": round(statistics.median(writes), 3),
                "runs": runs,
            },
            "unet_calls_default_recipe": first[1].calls.get("unet"),
            "unet_calls_study_recipe": study.calls.get("unet"),
            "repeat_same_prompt_new_seed": {
                "first_wall_s": round(first[0], 3),
                "repeat_wall_s": round(rep_wall, 3),
                "first_encoder_calls": sum(first[1].calls.get(k, 0) for k in encoders),
                "repeat_encoder_calls": sum(rep.calls.get(k, 0) for k in encoders),
                "first_encode_s": round(first[1].seconds.get("encode", 0.0), 4),
                "repeat_encode_s": round(rep.seconds.get("encode", 0.0), 4),
            },
            "morph_series": morph,
            "sound_to_sound": s2s,
        }
    finally:
        c.stop()


def sound_to_sound(c, seconds: float, runs: int) -> Dict[str, Any]:
    """Sound to sound at strength 0.3 and 0.6 against text to sound (the default recipe, the same
    prompt, embeddings cached): UNet calls and median wall time of each, measured in turns."""
    from promptsynth.generator.params import GenerationParams

    kw = dict(seconds=seconds, seed=9, **DEFAULT)
    src = c.run(GenerationParams("a bowed cymbal", **kw))
    source, rate = src.audio[0], src.rate
    walls: DefaultDict[str, List[float]] = collections.defaultdict(list)
    unet: Dict[str, int] = {}
    for _ in range(runs):
        for name, strength in (("text_to_sound", 1.0), ("strength_0.3", 0.3), ("strength_0.6", 0.6)):
            p = GenerationParams("a glass bell", source="" if strength == 1.0 else "bench", strength=strength, **kw)
            t = time.monotonic()
            r = c.run(p, source=None if strength == 1.0 else source, source_rate=rate)
            walls[name].append(time.monotonic() - t)
            unet[name] = r.calls.get("unet", 0)
    out: Dict[str, Any] = {
        name: {"unet_calls": unet[name], "wall_s": round(statistics.median(w), 3)} for name, w in walls.items()
    }
    base = out["text_to_sound"]["wall_s"]
    for name in ("strength_0.3", "strength_0.6"):
        out[name]["wall_ratio_to_text"] = round(out[name]["wall_s"] / base, 3)
    out["runs"] = runs
    return out


def variations_while_playing(
    voices: int = 16, n: int = 4, seconds: float = 5.12, quiet_s: float = 10.0, steps: int = DEFAULT["steps"]
) -> Dict[str, Any]:
    """The engine (paced by JACK, ``voices`` notes held) while the generator makes ``n``
    variations in the background, as the instrument runs it (the worker at nice 10), against the
    same engine with the generator idle just before: render time and xruns of each window.
    (At nice 10 the worker gets a tenth of a core that other work keeps busy: ``steps`` keeps
    a smoke run short on a loaded machine.)"""
    from promptsynth.bench.engine import _engine_rig
    from promptsynth.bench.stats import summary_us
    from promptsynth.generator import protocol as msg
    from promptsynth.generator.client import GeneratorClient, wait_loaded
    from promptsynth.generator.params import GenerationParams

    rig, sup, kbd = _engine_rig({"polyphony": voices})
    client = GeneratorClient("tiny", tempfile.mkdtemp(prefix="psynth-bench-"), "cpu", timeout=900.0)
    try:
        client.start()
        wait_loaded(client, 300.0)
        for i in range(voices):
            kbd.send_message([0x90, 40 + i * 2, 100])
        time.sleep(0.5)

        def window(until) -> Dict[str, Any]:
            """Render times and xruns until ``until()`` (read every 0.5 s: the ring holds 22 s)."""
            times: List[float] = []
            x0, j0 = sup.stats["xruns"], rig.jack.xruns()
            seen = sup.stats["periods"]
            t0 = time.monotonic()
            while not until():
                time.sleep(0.5)
                now = sup.stats["periods"]
                fresh = int(now - seen)
                if fresh > 0:
                    times.extend(sup.stats.render_times()[-fresh:].tolist())
                seen = now
            out: Dict[str, Any] = dict(summary_us([t / 1e6 for t in times], rig.period / rig.rate))
            out.update(
                seconds=round(time.monotonic() - t0, 2),
                engine_xruns=int(sup.stats["xruns"] - x0),
                jackd_xruns=rig.jack.xruns() - j0,
                voices_sounding=int(sup.stats["voices"]),
            )
            return out

        t_quiet = time.monotonic() + quiet_s
        quiet = window(lambda: time.monotonic() >= t_quiet)
        jobs = {
            client.submit(GenerationParams("a warm pad", seconds=seconds, seed=40 + i, **dict(DEFAULT, steps=steps)))
            for i in range(n)
        }
        done: List[int] = []

        def finished() -> bool:
            for ev in client.poll(0.0):
                if isinstance(ev, (msg.Result, msg.Failed)) and ev.job_id in jobs:
                    done.append(ev.job_id)
            return len(done) == n

        busy = window(finished)
        return {
            "voices": voices,
            "variations": n,
            "clip_s": seconds,
            "steps": steps,
            "generator_idle": quiet,
            "making_variations": busy,
            "p99_ratio_busy_to_idle": round(busy["p99_us"] / max(quiet["p99_us"], 1e-9), 3),
        }
    finally:
        client.stop()
        sup.stop()
        rig.close()


def morph_series(c, n: int, seconds: float) -> Dict[str, Any]:
    """A morph series of ``n`` sounds as one job, against the same ``n`` positions as jobs of their
    own (each a fresh pair of prompts, so neither finds the other's embeddings cached): component
    calls and wall time of each."""
    from promptsynth.generator.params import GenerationParams

    def calls(results):
        out: DefaultDict[str, int] = collections.defaultdict(int)
        for r in results:
            for k, v in r.calls.items():
                out[k] += v
        return dict(out)

    kw = dict(seconds=seconds, seed=5, negative="bench negative for the morph", **DEFAULT)
    c.run(GenerationParams("warm up the morph", morph=("path",), position=0.5, seconds=seconds, steps=1))
    t = time.monotonic()
    series = c.run(GenerationParams("a glass harmonica", morph=("a distorted bass",), series=n, **kw))
    series_s = time.monotonic() - t
    t = time.monotonic()
    single = [
        c.run(
            GenerationParams(
                "a wooden marimba %d" % i, morph=("a rusty gate %d" % i,), position=i / (n - 1), **kw
            )  # a pair of new prompts each time: as if each were the first
        )
        for i in range(n)
    ]
    single_s = time.monotonic() - t
    return {
        "sounds": n,
        "clip_s": seconds,
        "series_one_job": {"wall_s": round(series_s, 2), "calls": series.calls},
        "separate_jobs": {"wall_s": round(single_s, 2), "calls": calls(single)},
        "wall_ratio_series_to_separate": round(series_s / single_s, 3),
    }


class _Timer:
    """Accumulates the wall time of each named module's forward calls."""

    def __init__(self, modules: Dict[str, torch.nn.Module]):
        self.total: DefaultDict[str, float] = collections.defaultdict(float)
        self.each: DefaultDict[str, List[float]] = collections.defaultdict(list)
        self._t0: Dict[str, float] = {}
        for name, m in modules.items():
            m.register_forward_pre_hook(lambda mod, inp, name=name: self._start(name))
            m.register_forward_hook(lambda mod, inp, out, name=name: self._stop(name))

    def _start(self, name):
        self._t0[name] = time.perf_counter()

    def _stop(self, name):
        dt = time.perf_counter() - self._t0.pop(name)
        self.total[name] += dt
        self.each[name].append(dt)

    def reset(self):
        self.total.clear()
        self.each.clear()


def _clap_text_embeds(encoder, ids, mask):
    """The CLAP text embedding of either pipeline's text encoder: AudioLDM 2's ClapModel has
    get_text_features, AudioLDM 1's ClapTextModelWithProjection returns text_embeds."""
    if hasattr(encoder, "get_text_features"):
        out = encoder.get_text_features(ids, attention_mask=mask)
        return getattr(out, "pooler_output", out)  # an output object on transformers 5
    return encoder(ids, attention_mask=mask).text_embeds


def decode_fallback(runner, seconds: float) -> Dict[str, object]:
    """The decode as it runs here, against the fp32 retry after an fp16 VAE overflowed (VAE and
    vocoder held in fp16 as on the GPU, cast to fp32 for the retry and back), in one run. The
    overflowing fp16 attempt itself is simulated at no cost: on the GPU it costs about one fp16
    VAE decode more."""
    import torch

    pipe = runner.pipe
    samples = int(round(seconds * runner.rate))
    frames = -(-samples // 640)  # 640 samples a latent frame (160 a mel frame, 4 a latent)
    latents = torch.randn(
        1, pipe.vae.config.latent_channels, frames, 16, generator=torch.Generator().manual_seed(0)
    ).to(runner.device)
    normal: Dict[str, float] = {}
    _, path = runner.decode(latents, samples, normal)
    retry: Dict[str, float] = {}
    vocoder_dtype = pipe.vocoder.dtype
    pipe.vocoder.to(torch.float16)
    try:
        with fp16_overflow(pipe.vae):
            _, retry_path = runner.decode(latents, samples, retry)
    finally:
        pipe.vocoder.to(vocoder_dtype)
    return {
        "normal_path": path,
        "normal_s": round(normal["decode"], 3),
        "fallback_path": retry_path,
        "fallback_s": round(retry["decode"], 3),
        "fallback_cast_and_fp32_decode_s": round(retry["decode_fp32_retry"], 3),
        "ratio": round(retry["decode"] / normal["decode"], 2),
    }


def full_size(
    model: str = "audioldm2", seconds: float = 5.12, steps_timed: int = 3, threads: int = 0, narrow: bool = False
) -> Dict[str, object]:
    """``narrow``: the model's layers at narrow widths (build.NARROW), for a quick test of this path."""
    import torch

    from promptsynth.generator.build import parameter_count, real_size
    from promptsynth.generator.params import GenerationParams, validate
    from promptsynth.generator.runner import Runner

    if threads:
        torch.set_num_threads(threads)
    t0 = time.monotonic()
    pipe = real_size(model, narrow=narrow)
    build_s = time.monotonic() - t0
    runner = Runner(pipe, model)
    timer = _Timer(runner.components())
    prompt, negative = "a fluttering harp with crystal echoes", validate(GenerationParams("x")).negative
    # warm up: touch every weight once (first use of fresh memory is slow on these machines)
    t0 = time.monotonic()
    runner.generate(validate(GenerationParams("warm up", seconds=seconds, steps=1, seed=0)))
    warm_s = time.monotonic() - t0
    timer.reset()
    t0 = time.monotonic()
    runner.generate(
        validate(
            GenerationParams(
                prompt,
                negative=negative,
                seconds=seconds,
                steps=steps_timed,
                seed=1,
                **{k: v for k, v in DEFAULT.items() if k != "steps"},
            )
        )
    )
    run_s = time.monotonic() - t0
    t = dict(timer.total)
    unet_step = statistics.median(timer.each["unet"])
    encoders_ours = t.get("clap_text", 0) + t.get("t5", 0) + t.get("gpt2", 0) + t.get("projection", 0)
    # CLAP as stock diffusers runs it: padded to 512 tokens
    tok = pipe.tokenizer
    clap = pipe.text_encoder
    texts = [negative, prompt]
    with torch.inference_mode():
        pad = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        short = tok(texts, padding="longest", return_tensors="pt")
        timer.reset()
        t1 = time.perf_counter()
        e_pad = _clap_text_embeds(clap, pad.input_ids, pad.attention_mask)
        clap_pad_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        e_short = _clap_text_embeds(clap, short.input_ids, short.attention_mask)
        clap_short_s = time.perf_counter() - t1
    clap_diff = float((e_pad - e_short).abs().max())
    fixed_ours = encoders_ours + t.get("vae_decoder", 0) + t.get("vocoder", 0)
    fixed_stock = fixed_ours - t.get("clap_text", 0) + clap_pad_s
    # the repeat: same prompt, new seed: no encoder runs at all
    timer.reset()
    runner.generate(validate(GenerationParams(prompt, negative=negative, seconds=seconds, steps=1, seed=2)))
    repeat_encoder_s = sum(timer.total.get(k, 0.0) for k in ("clap_text", "t5", "gpt2", "projection"))
    fallback = decode_fallback(runner, seconds)
    return {
        "model": model,
        "narrow": narrow,
        "parameters": parameter_count(pipe),
        "seconds_of_audio": seconds,
        "torch_threads": torch.get_num_threads(),
        "build_s": round(build_s, 1),
        "warm_up_s": round(warm_s, 1),
        "timed_run": {"steps": steps_timed, "wall_s": round(run_s, 2)},
        "components_s": {
            "clap_text_ours": round(t.get("clap_text", 0), 3),
            "clap_text_padded_512": round(clap_pad_s, 3),
            "clap_text_unpadded_same_batch": round(clap_short_s, 3),
            "t5": round(t.get("t5", 0), 3),
            "gpt2_8_tokens_x2": round(t.get("gpt2", 0), 3),
            "projection": round(t.get("projection", 0), 4),
            "unet_per_step_cfg": round(unet_step, 3),
            "vae_decode": round(t.get("vae_decoder", 0), 3),
            "vocoder": round(t.get("vocoder", 0), 3),
        },
        "clap_unpadded_max_abs_diff": clap_diff,
        "per_sound_s": {
            "default_recipe_dpm_25": round(fixed_ours + 25 * unet_step, 1),
            "study_recipe_ddim_100_stock_padding": round(fixed_stock + 100 * unet_step, 1),
            "ratio_study_to_default": round((fixed_stock + 100 * unet_step) / (fixed_ours + 25 * unet_step), 2),
            "fixed_ours": round(fixed_ours, 2),
            "fixed_stock": round(fixed_stock, 2),
        },
        "reused_embeddings": {"saving_s": round(encoders_ours, 3), "encoder_s_on_repeat": round(repeat_encoder_s, 4)},
        "decode_fp32_fallback": fallback,
        "device": "cpu (no GPU lent to this task)",
    }


def run(quick: bool = False, full_model: str = "audioldm2") -> Dict[str, object]:
    # --quick: a smoke run (short clips: the same calls and paths, a fraction of the work)
    result: Dict[str, Any] = {"tiny": tiny(1, 1.28) if quick else tiny(3)}
    result["variations_while_playing"] = (
        variations_while_playing(16, 2, 1.28, 3.0, steps=4) if quick else variations_while_playing(16, 4, 5.12, 10.0)
    )
    if not quick:
        result["load_memory"] = load_memory(full_model)  # first: this process holds no big model yet
        result["full_size"] = full_size(full_model)
    t = result["tiny"]
    result["aims"] = {
        "unet_calls_default<=26": t["unet_calls_default_recipe"] <= 26,
        "outside_model_pct<=10": t["job_default"]["outside_model_pct"] <= 10.0,
        "repeat_skips_text_encoders": t["repeat_same_prompt_new_seed"]["repeat_encoder_calls"] == 0,
        # two prompts and the negative: each through T5 once for the whole series
        "morph_series_encodes_each_text_once": t["morph_series"]["series_one_job"]["calls"].get("t5") == 3,
        "sound_to_sound_unet_calls_in_proportion": (
            t["sound_to_sound"]["strength_0.3"]["unet_calls"],
            t["sound_to_sound"]["strength_0.6"]["unet_calls"],
        )
        == (7, 15),  # int(25 * 0.3), int(25 * 0.6)
        "variations_while_playing_xruns==0": result["variations_while_playing"]["making_variations"]["engine_xruns"]
        == 0,
    }
    if "full_size" in result:
        result["aims"]["clap_unpadded_same_within_1e-4"] = result["full_size"]["clap_unpadded_max_abs_diff"] < 1e-4
    return result
