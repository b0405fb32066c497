"""One resident pipeline turning validated parameters into audio, step by step.

* Prompt embeddings (CLAP, T5 and the GPT-2 "language model" outputs) are cached: a new seed or
  new sampling settings skip the text encoders entirely.
* Conditioning "padded" (the default) encodes the prompt and the negative prompt each on its own,
  at its own length, and pads both T5 sequences to the longer with a mask. Diffusers ("stock")
  encodes them together: it cuts the negative's T5 part to the prompt's length (a short prompt
  keeps a few tokens of the negative), and GPT-2 counts the padding as positions, so the same
  negative conditions differently beside different prompts. Encoded alone, each text's
  embeddings are cached on their own and are the same whatever they are used with.
* The timestep spacing is a choice of the recipe ("trailing" by default: the first step is the
  last training timestep, where the latents start as pure noise); "model" keeps what the
  checkpoint's scheduler config says.
* A morph blends the prompts' conditioning (morph.py) and runs the pipeline on the blend with the
  same seed; a series runs it once per position, every prompt encoded once for all of them.
* The CLAP tokenizer pads to 512 tokens in diffusers; RoBERTa masks padding out, so encoding at
  the prompt's own length gives the same embedding (checked in the tests) for a fraction of the
  cost. The tokenizer's length is set for the call and restored after it.
* Each candidate has its own generator seeded with seed + i, so every result's recipe names the
  seed that makes it again.
* Progress arrives through the pipeline's step callback, which is also where a cancel or a
  timeout takes effect: within one step.
* The pipeline stops at the latents; the runner decodes them (VAE, then vocoder) itself, so a
  decode that overflows can be tried again: fp16 overflowing is a known failure of latent
  diffusion VAEs on GPUs, and AudioLDM's VAE returns NaN for clips past about 20 s. The chain is
  the model's own dtype, then float32 (the VAE and vocoder upcast for the retry and cast back),
  then float32 in overlapping chunks of the latent, crossfaded on the mel spectrogram. The path
  that worked is in the output (``decode``) and so in each result's recipe.
* NaN or infinite samples after all that are an error (nothing is kept); near-silence is flagged.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from promptsynth.generator import morph
from promptsynth.generator.params import SPACINGS, GenerationParams, ParamError, batch_key, morph_weights

SILENCE_PEAK = 1e-4  # -80 dBFS: "near silence"
CACHE_SIZE = 16
# chunked decoding: windows of 10.24 s (256 latent frames, the length the models were trained on)
# overlapping by 1.28 s, crossfaded
CHUNK_FRAMES = 256
OVERLAP_FRAMES = 32


class Stopped(Exception):
    """The job was cancelled or ran out of time (``kind`` says which)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ModelOutputError(Exception):
    pass


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float16: "fp16", torch.float32: "fp32", torch.bfloat16: "bf16"}.get(dtype, str(dtype))


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


@contextlib.contextmanager
def _in_float32(*modules):
    """Run ``modules`` in float32 for the duration; they go back to their dtype after (fp16 to fp32
    and back is exact, so nothing drifts)."""
    before = [next(m.parameters()).dtype for m in modules]
    try:
        for m, dt in zip(modules, before):
            if dt != torch.float32:
                m.to(torch.float32)
        yield
    finally:
        for m, dt in zip(modules, before):
            if dt != torch.float32:
                m.to(dt)


def _ramp_weights(n: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """1 in the middle, linear ramps at the ends (never 0, so every frame has some weight)."""
    w = torch.ones(n)
    if fade_in:
        w[:fade_in] = (torch.arange(fade_in) + 0.5) / fade_in
    if fade_out:
        w[n - fade_out :] = torch.minimum(w[n - fade_out :], (torch.arange(fade_out, 0, -1) - 0.5) / fade_out)
    return w


@dataclass
class Output:
    audio: np.ndarray  # (candidates, samples) float32, best first
    seeds: List[int]  # the seed of each row
    rate: int
    scores: Optional[List[float]] = None  # CLAP text-audio similarity, when ranked
    cached_embeddings: bool = False
    seconds: Dict[str, float] = field(default_factory=dict)
    calls: Dict[str, int] = field(default_factory=dict)  # forward calls of each component
    warnings: List[str] = field(default_factory=list)
    decode: str = ""  # which decode worked: "fp16", "fp32", "fp32-retry", "chunked"
    # what each row's recipe says besides the job's: its seed, and for a series its position
    rows: List[Dict[str, object]] = field(default_factory=list)


class Runner:
    def __init__(self, pipe, model: str, chunk_frames: int = CHUNK_FRAMES, overlap_frames: int = OVERLAP_FRAMES):
        from diffusers import AudioLDM2Pipeline, DDIMScheduler, DPMSolverMultistepScheduler

        self.pipe = pipe
        self.model = model
        self.v2 = isinstance(pipe, AudioLDM2Pipeline)
        self.device = pipe._execution_device
        base = pipe.scheduler.config
        classes = {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}
        # (name, spacing) -> scheduler; "model": the spacing the checkpoint's config gives
        self.schedulers = {
            (name, spacing): cls.from_config(base, **({} if spacing == "model" else {"timestep_spacing": spacing}))
            for name, cls in classes.items()
            for spacing in SPACINGS
        }
        self.rate = int(pipe.vocoder.config.sampling_rate)
        self.chunk_frames = chunk_frames
        self.overlap_frames = overlap_frames
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self.encodes = 0  # how often the text encoders ran
        self.calls: collections.Counter = collections.Counter()
        for name, module in self.components().items():
            module.register_forward_hook(lambda mod, inp, out, name=name: self.calls.update((name,)))

    def components(self) -> Dict[str, torch.nn.Module]:
        """The modules whose calls are counted (and timed by the benchmark)."""
        pipe = self.pipe
        te = pipe.text_encoder
        found = {
            "unet": pipe.unet,
            "vae_decoder": pipe.vae.decoder,
            "vocoder": pipe.vocoder,
            "clap_text": getattr(te, "text_model", te),
        }
        if self.v2:
            found.update(t5=pipe.text_encoder_2, gpt2=pipe.language_model, projection=pipe.projection_model)
        return found

    # ---- prompt embeddings ----------------------------------------------------------------
    @contextlib.contextmanager
    def _clap_at_prompt_length(self, *texts: str):
        tok = self.pipe.tokenizer
        full = tok.model_max_length
        n = max(len(tok(t).input_ids) for t in texts)
        tok.model_max_length = min(max(n, 2), full)
        try:
            yield
        finally:
            tok.model_max_length = full

    def _cached(self, key, make):
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        value = make()
        self._cache[key] = value
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return value

    def is_cached(self, p: GenerationParams) -> bool:
        """Whether ``p``'s text encoding is all in the cache (nothing to encode)."""
        cfg = p.guidance > 1.0
        if p.conditioning == "stock":
            return all(("stock", t, p.negative if cfg else None) in self._cache for t in p.prompts())
        texts = p.prompts() + ((p.negative,) if cfg else ())
        return all(("text", t) in self._cache for t in texts)

    def embeddings(
        self, prompt: str, negative: str, guidance: float, conditioning: str = "padded"
    ) -> Dict[str, torch.Tensor]:
        """The keyword arguments that condition the pipeline for ``prompt`` (and, with guidance,
        ``negative``): prompt_embeds, attention_mask, generated_prompt_embeds and their negatives
        for AudioLDM 2; prompt_embeds (and negative_prompt_embeds) for AudioLDM."""
        cfg = guidance > 1.0
        if conditioning == "stock":
            return self._cached(
                ("stock", prompt, negative if cfg else None), lambda: self._encode_stock(prompt, negative, cfg)
            )
        pos = self._cached(("text", prompt), lambda: self._encode_alone(prompt))
        if not cfg:
            return pos
        neg = self._cached(("text", negative), lambda: self._encode_alone(negative))
        return morph.pair(pos, neg)

    def _encode_alone(self, text: str) -> Dict[str, torch.Tensor]:
        """One text through the text encoders on its own, at its own length."""
        self.encodes += 1
        pipe = self.pipe
        with torch.inference_mode(), self._clap_at_prompt_length(text):
            if self.v2:
                pe, am, gpe = pipe.encode_prompt(text, self.device, 1, False)
                return dict(prompt_embeds=pe, attention_mask=am, generated_prompt_embeds=gpe)
            return dict(prompt_embeds=pipe._encode_prompt(text, self.device, 1, False))

    def _encode_stock(self, prompt: str, negative: str, cfg: bool) -> Dict[str, torch.Tensor]:
        """Prompt and negative encoded together, exactly as the pipeline does it."""
        self.encodes += 1
        pipe = self.pipe
        with torch.inference_mode(), self._clap_at_prompt_length(prompt, negative):
            if self.v2:
                pe, am, gpe = pipe.encode_prompt(prompt, self.device, 1, cfg, negative_prompt=negative if cfg else None)
                if cfg:
                    (npe, pe), (nam, am), (ngpe, gpe) = pe.chunk(2), am.chunk(2), gpe.chunk(2)
                    emb = dict(
                        prompt_embeds=pe,
                        attention_mask=am,
                        generated_prompt_embeds=gpe,
                        negative_prompt_embeds=npe,
                        negative_attention_mask=nam,
                        negative_generated_prompt_embeds=ngpe,
                    )
                else:
                    emb = dict(prompt_embeds=pe, attention_mask=am, generated_prompt_embeds=gpe)
            else:
                pe = pipe._encode_prompt(prompt, self.device, 1, cfg, negative_prompt=negative if cfg else None)
                if cfg:
                    npe, pe = pe.chunk(2)
                    emb = dict(prompt_embeds=pe, negative_prompt_embeds=npe)
                else:
                    emb = dict(prompt_embeds=pe)
        return emb

    def conditioning(self, p: GenerationParams, x: float = 0.0, y: float = 0.0) -> Dict[str, torch.Tensor]:
        """The pipeline's conditioning for ``p`` at morph position (x, y)."""
        embs = [self.embeddings(t, p.negative, p.guidance, p.conditioning) for t in p.prompts()]
        if len(embs) == 1:
            return embs[0]
        return morph.blend(embs, morph_weights(len(embs), x, y), soft_mask=self.pipe.unet.dtype == torch.float32)

    # ---- generation --------------------------------------------------------------------------
    def generate(
        self,
        p: GenerationParams,
        on_step: Optional[Callable[[int, int], None]] = None,
        should_stop: Optional[Callable[[], Optional[str]]] = None,
        source: Optional[np.ndarray] = None,
    ) -> Output:
        """Run one validated job. ``should_stop()`` returns None, "cancelled" or "timeout".
        ``source``: for sound to sound, the source's samples (mono, at the model's rate)."""
        assert p.seed is not None, "generate() takes validated parameters (a seed drawn)"
        if p.source and source is None:
            raise ParamError("sound to sound from %s: the source's samples did not come with the job" % p.source)
        timings: Dict[str, float] = {}
        calls_before = collections.Counter(self.calls)
        cached = self.is_cached(p)
        self.pipe.scheduler = self.schedulers[(p.scheduler, p.spacing)]
        positions = p.positions()
        steps_each = p.steps_run() if p.source else p.steps
        total = steps_each * len(positions)
        audio_rows: List[np.ndarray] = []
        seeds: List[int] = []
        rows: List[Dict[str, object]] = []
        paths: List[str] = []
        for n, (x, y) in enumerate(positions):
            t0 = time.perf_counter()
            emb = self.conditioning(p, x, y)
            timings["encode"] = timings.get("encode", 0.0) + time.perf_counter() - t0
            done = n * steps_each

            def step(i, total=total, done=done):
                if on_step is not None:
                    on_step(done + i, total)
                if should_stop is not None:
                    why = should_stop()
                    if why:
                        raise Stopped(why, "job %s after step %d of %d" % (why, done + i, total))

            if p.source:
                audio, row_seeds, path = self._sound_to_sound(p, emb, source, step, timings)
            else:
                audio, row_seeds, path = self._run(p, emb, step, timings)
            audio_rows.append(audio)
            seeds += row_seeds
            paths.append(path)
            if p.series:  # each sound of a series is the single morph at its position
                rows.append(dict(seed=p.seed, position=x, position_y=y, series=0, series_index=n, series_of=p.series))
            else:
                rows += [dict(seed=s) for s in row_seeds]
        audio = np.concatenate(audio_rows)
        calls = {k: self.calls[k] - calls_before.get(k, 0) for k in self.components()}
        return self._finish(p, audio, seeds, rows, paths, timings, calls, cached)

    def _finish(self, p, audio, seeds, rows, paths, timings, calls, cached) -> Output:
        """A job's Output from its audio rows: ranked when it asked for candidates, near-silence
        flagged."""
        warnings = []
        scores = None
        if p.candidates > 1 and self.v2:
            t2 = time.perf_counter()
            # a morph's candidates are ranked against the prompt that weighs most where they stand
            w = morph_weights(len(p.prompts()), p.position, p.position_y)
            order, scores = self.rank(p.prompts()[int(np.argmax(w))], audio)
            audio = audio[order]
            seeds = [seeds[i] for i in order]
            rows = [rows[i] for i in order]
            timings["rank"] = timings.get("rank", 0.0) + time.perf_counter() - t2
        for i, row in enumerate(audio):
            if float(np.abs(row).max()) < SILENCE_PEAK:
                warnings.append("candidate %d is near silence (peak below -80 dBFS)" % i)
        return Output(
            audio=audio,
            seeds=seeds,
            rate=self.rate,
            scores=scores,
            cached_embeddings=cached,
            seconds=timings,
            warnings=warnings,
            calls=calls,
            decode=",".join(sorted(set(paths))),
            rows=rows,
        )

    def generate_batch(
        self,
        ps: List[GenerationParams],
        on_step: Optional[Callable[[int, int], None]] = None,
        should_stop: Optional[Callable[[], Optional[str]]] = None,
    ) -> List[Output]:
        """Jobs that can share one pipeline call (equal :func:`batch_key`: text to sound or a
        single morph, the same length, steps, guidance, scheduler, spacing, conditioning and
        candidates) run as one: their conditionings stacked (T5 sequences padded and masked),
        each row's noise from its own job's seed. Each job gets its own Output, its rows as it
        would have them alone; ``calls`` are the shared call's. One job is :meth:`generate`."""
        if len(ps) == 1:
            return [self.generate(ps[0], on_step, should_stop)]
        key = batch_key(ps[0])
        if key is None or any(batch_key(p) != key for p in ps):
            raise ValueError("generate_batch takes jobs of one batch_key")
        p0 = ps[0]
        timings: Dict[str, float] = {}
        calls_before = collections.Counter(self.calls)
        cached = [self.is_cached(p) for p in ps]
        self.pipe.scheduler = self.schedulers[(p0.scheduler, p0.spacing)]
        t0 = time.perf_counter()
        emb = morph.stack([self.conditioning(p, p.position, p.position_y) for p in ps])
        timings["encode"] = time.perf_counter() - t0

        def step(i):
            if on_step is not None:
                on_step(i, p0.steps)
            if should_stop is not None:
                why = should_stop()
                if why:
                    raise Stopped(why, "batch %s after step %d of %d" % (why, i, p0.steps))

        seeds = [[(p.seed + i) % (2**64) for i in range(p.candidates)] for p in ps]  # type: ignore[operator]
        gens = [torch.Generator("cpu").manual_seed(s) for row in seeds for s in row]
        latents, samples = self._denoise(p0, emb, gens, step, timings)
        c = p0.candidates
        decoded = [self.decode(latents[j * c : (j + 1) * c], samples, timings) for j in range(len(ps))]
        calls = {k: self.calls[k] - calls_before.get(k, 0) for k in self.components()}
        return [
            self._finish(p, audio, seeds[j], [dict(seed=s) for s in seeds[j]], [path], timings, calls, cached[j])
            for j, (p, (audio, path)) in enumerate(zip(ps, decoded))
        ]

    def _run(self, p: GenerationParams, emb: Dict[str, torch.Tensor], step, timings: Dict[str, float]):
        """One pipeline call on ``emb``: ``p.candidates`` rows of audio, their seeds, the decode path."""
        assert p.seed is not None
        seeds = [(p.seed + i) % (2**64) for i in range(p.candidates)]
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        latents, samples = self._denoise(p, emb, gens, step, timings)
        audio, path = self.decode(latents, samples, timings)
        return audio, seeds, path

    def _denoise(self, p: GenerationParams, emb: Dict[str, torch.Tensor], gens, step, timings: Dict[str, float]):
        """The pipeline's denoising on ``emb`` (one row of conditioning per job), one generator
        a row of noise; returns the latents and the samples each sound will have."""
        pipe = self.pipe

        def callback(i, t, latents):
            step(i + 1)

        # the pipeline sizes the latent from int(seconds / 0.01 s), which float rounding can put a
        # frame short (2.01 s -> 200 frames, 32000 samples): ask for half a sample more, which never
        # adds a frame; the decode crops to round(seconds * rate)
        samples = int(round(p.seconds * self.rate))
        t1 = time.perf_counter()
        with torch.inference_mode(), self._stop_at_latents():
            out = pipe(
                num_inference_steps=p.steps,
                guidance_scale=p.guidance,
                audio_length_in_s=(samples + 0.5) / self.rate,
                num_waveforms_per_prompt=p.candidates,
                generator=gens if len(gens) > 1 else gens[0],
                callback=callback,
                callback_steps=1,
                output_type="latent" if self.v2 else "pt",
                **emb,
            )
        timings["denoise"] = timings.get("denoise", 0.0) + time.perf_counter() - t1
        return out.audios, samples

    def _sound_to_sound(self, p: GenerationParams, emb, source, step, timings: Dict[str, float]):
        """SDEdit on the audio latent: the source's mel spectrogram through the VAE's encoder,
        noised to the timestep that ``p.strength`` of the schedule starts at, then denoised with
        the prompt. The loop is the pipeline's own (its noise, scaling, UNet call, guidance and
        scheduler step, in its order), so strength 1 gives exactly the text-to-sound result and
        strength 0 the source through the VAE and vocoder."""
        from diffusers.utils.torch_utils import randn_tensor

        from promptsynth.generator.mel import audio_to_mel

        pipe, dev = self.pipe, self.device
        sched = pipe.scheduler
        cfg = p.guidance > 1.0
        samples = int(round(p.seconds * self.rate))
        # the latent's height as the pipeline sizes it for this length (see _run)
        per_frame = float(np.prod(pipe.vocoder.config.upsample_rates)) / pipe.vocoder.config.sampling_rate
        height = int(((samples + 0.5) / self.rate) / per_frame)
        if height % pipe.vae_scale_factor:
            height = int(np.ceil(height / pipe.vae_scale_factor)) * pipe.vae_scale_factor
        t0 = time.perf_counter()
        with torch.inference_mode():
            if self.v2:
                pe, am, gpe = pipe.encode_prompt(None, dev, 1, cfg, **emb)
            else:
                pe = pipe._encode_prompt(
                    None,
                    dev,
                    1,
                    cfg,
                    prompt_embeds=emb["prompt_embeds"],
                    negative_prompt_embeds=emb.get("negative_prompt_embeds"),
                )
            mel = audio_to_mel(torch.from_numpy(np.asarray(source, np.float32)), height)
            vae = pipe.vae
            x0 = vae.encode(mel.to(dev, vae.dtype)).latent_dist.mode() * vae.config.scaling_factor
        timings["encode_source"] = timings.get("encode_source", 0.0) + time.perf_counter() - t0
        k = p.steps_run()
        t_start = p.steps - k
        rows, seeds = [], []
        t1 = time.perf_counter()
        for i in range(p.candidates):
            seed = (p.seed + i) % (2**64)  # type: ignore[operator]
            g = torch.Generator("cpu").manual_seed(seed)
            with torch.inference_mode():
                sched.set_timesteps(p.steps, device=dev)  # also resets DPM's step and begin index
                ts = sched.timesteps[t_start * sched.order :]
                if hasattr(sched, "set_begin_index"):
                    sched.set_begin_index(t_start * sched.order)
                noise = randn_tensor(x0.shape, generator=g, device=dev, dtype=pe.dtype)  # first draw, as the pipeline's
                if k == 0:
                    lat = x0.to(pe.dtype)
                elif t_start == 0:
                    lat = noise * sched.init_noise_sigma
                else:
                    lat = sched.add_noise(x0.to(pe.dtype), noise, ts[:1])
                extra = {
                    a: v for a, v in (("eta", 0.0), ("generator", g)) if a in inspect.signature(sched.step).parameters
                }
                for n, t in enumerate(ts):
                    x = sched.scale_model_input(torch.cat([lat] * 2) if cfg else lat, t)
                    if self.v2:
                        eps = pipe.unet(
                            x,
                            t,
                            encoder_hidden_states=gpe,
                            encoder_hidden_states_1=pe,
                            encoder_attention_mask_1=am,
                            return_dict=False,
                        )[0]
                    else:
                        eps = pipe.unet(x, t, encoder_hidden_states=None, class_labels=pe).sample
                    if cfg:
                        u, c = eps.chunk(2)
                        eps = u + p.guidance * (c - u)
                    lat = sched.step(eps, t, lat, **extra).prev_sample
                    step(n + 1)
            rows.append(lat)
            seeds.append(seed)
        timings["denoise"] = timings.get("denoise", 0.0) + time.perf_counter() - t1
        audio, path = self.decode(torch.cat(rows), samples, timings)
        return audio, seeds, path

    # ---- decoding ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _stop_at_latents(self):
        """AudioLDM 2 returns latents for ``output_type="latent"``; AudioLDM 1 has no such option,
        so its decode steps are made pass-throughs for the call (its crop to the waveform length
        then only slices the 8 latent channels, which it keeps)."""
        pipe = self.pipe
        if self.v2:
            yield
            return
        pipe.decode_latents = lambda latents: latents
        pipe.mel_spectrogram_to_waveform = lambda latents: latents
        try:
            yield
        finally:
            del pipe.decode_latents, pipe.mel_spectrogram_to_waveform

    def _vae_decode(self, z: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        return vae.decode(z.to(vae.dtype) / vae.config.scaling_factor).sample

    def _vocode(self, mel: torch.Tensor, samples: int) -> torch.Tensor:
        voc = self.pipe.vocoder
        return voc(mel.squeeze(1).to(voc.dtype)).float()[:, :samples]

    def _decode_chunked(self, z: torch.Tensor) -> Optional[torch.Tensor]:
        """The VAE over overlapping windows of the latent, crossfaded on the mel spectrogram;
        None if a window still gives NaN or inf."""
        frames, size, overlap = z.shape[2], self.chunk_frames, self.overlap_frames
        starts = list(range(0, frames - overlap, size - overlap))
        mel: Optional[torch.Tensor] = None
        weight: Optional[torch.Tensor] = None
        for s in starts:
            e = min(s + size, frames)
            part = self._vae_decode(z[:, :, s:e]).float()
            if not _finite(part):
                return None
            k = part.shape[2] // (e - s)  # mel frames per latent frame
            if mel is None or weight is None:  # (made together, at the first window)
                mel = torch.zeros(part.shape[:2] + (frames * k,) + part.shape[3:])
                weight = torch.zeros(frames * k)
            w = _ramp_weights(part.shape[2], overlap * k if s > 0 else 0, overlap * k if e < frames else 0)
            mel[:, :, s * k : e * k] += part.cpu() * w[:, None]
            weight[s * k : e * k] += w
        assert mel is not None and weight is not None  # frames > chunk_frames: there was a window
        return (mel / weight[:, None]).to(z.device)

    def decode(self, latents: torch.Tensor, samples: int, timings: Optional[Dict[str, float]] = None):
        """Latents to ``(candidates, samples)`` float32 audio, and the path that gave finite audio.
        Each attempt's time is added to ``timings`` (decode_fp16, decode_fp32_retry, ...), so a
        job that decodes several times (a series) sums them."""
        timings = {} if timings is None else timings
        pipe = self.pipe
        native = _dtype_name(pipe.vae.dtype)
        attempts = [(native, lambda: self._decode_once(latents, samples))]
        if pipe.vae.dtype != torch.float32 or pipe.vocoder.dtype != torch.float32:
            attempts.append(("fp32-retry", lambda: self._in_fp32(lambda: self._decode_once(latents, samples))))
        if latents.shape[2] > self.chunk_frames:
            attempts.append(("chunked", lambda: self._in_fp32(lambda: self._chunked_audio(latents, samples))))
        t0 = time.perf_counter()
        with torch.inference_mode():
            for path, attempt in attempts:
                t = time.perf_counter()
                audio = attempt()
                key = "decode_" + path.replace("-", "_")
                timings[key] = timings.get(key, 0.0) + time.perf_counter() - t
                if audio is not None and _finite(audio):
                    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0
                    return audio.cpu().numpy().astype(np.float32), path
        raise ModelOutputError(
            "the model returned NaN or infinite samples (decoded %s); nothing was kept "
            "(try another seed, or fewer steps)" % ", then ".join(a for a, _ in attempts)
        )

    def _decode_once(self, latents: torch.Tensor, samples: int) -> Optional[torch.Tensor]:
        mel = self._vae_decode(latents)
        return self._vocode(mel, samples) if _finite(mel) else None  # no vocoder on a broken mel

    def _in_fp32(self, fn):
        with _in_float32(self.pipe.vae, self.pipe.vocoder):
            return fn()

    def _chunked_audio(self, latents: torch.Tensor, samples: int) -> Optional[torch.Tensor]:
        mel = self._decode_chunked(latents)
        return None if mel is None else self._vocode(mel, samples)

    def rank(self, prompt: str, audio: np.ndarray):
        """Best first by CLAP text-audio similarity (what the pipeline does with librosa, here with
        soxr): the candidates resampled to the feature extractor's rate, scored against the prompt."""
        import soxr

        pipe = self.pipe
        fe = pipe.feature_extractor
        with torch.inference_mode():
            inputs = pipe.tokenizer(prompt, return_tensors="pt", padding=True)
            wav = [soxr.resample(a.astype(np.float64), self.rate, fe.sampling_rate) for a in audio]
            # the extractor picks chunks of long clips with numpy's global RNG: fix it, so the same
            # candidates always rank the same
            state = np.random.get_state()
            np.random.seed(0)
            try:
                feats = fe(wav, return_tensors="pt", sampling_rate=fe.sampling_rate).input_features
            finally:
                np.random.set_state(state)
            dtype = next(pipe.text_encoder.parameters()).dtype
            logits = pipe.text_encoder(
                input_ids=inputs.input_ids.to(self.device),
                attention_mask=inputs.attention_mask.to(self.device),
                input_features=feats.to(self.device, dtype),
            ).logits_per_text[0]
        scores = logits.float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        return order, [float(scores[i]) for i in order]
