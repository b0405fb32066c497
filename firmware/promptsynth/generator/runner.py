"""One resident pipeline turning validated parameters into audio, step by step.

* Prompt embeddings (CLAP, T5 and the GPT-2 "language model" outputs) are cached by
  (prompt, negative prompt, guidance on/off): a new seed or new sampling settings skip the text
  encoders entirely.
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
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from promptsynth.generator.params import GenerationParams

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


class Runner:
    def __init__(self, pipe, model: str, chunk_frames: int = CHUNK_FRAMES, overlap_frames: int = OVERLAP_FRAMES):
        from diffusers import AudioLDM2Pipeline, DDIMScheduler, DPMSolverMultistepScheduler

        self.pipe = pipe
        self.model = model
        self.v2 = isinstance(pipe, AudioLDM2Pipeline)
        self.device = pipe._execution_device
        base = pipe.scheduler.config
        self.schedulers = {
            "ddim": DDIMScheduler.from_config(base),
            "dpm": DPMSolverMultistepScheduler.from_config(base),
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

    def embeddings(self, prompt: str, negative: str, guidance: float) -> Dict[str, torch.Tensor]:
        cfg = guidance > 1.0
        key = (prompt, negative if cfg else None)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
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
        self._cache[key] = emb
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return emb

    # ---- generation --------------------------------------------------------------------------
    def generate(
        self,
        p: GenerationParams,
        on_step: Optional[Callable[[int, int], None]] = None,
        should_stop: Optional[Callable[[], Optional[str]]] = None,
    ) -> Output:
        """Run one validated job. ``should_stop()`` returns None, "cancelled" or "timeout"."""
        pipe = self.pipe
        timings: Dict[str, float] = {}
        calls_before = collections.Counter(self.calls)
        t0 = time.perf_counter()
        cached = (p.prompt, p.negative if p.guidance > 1.0 else None) in self._cache
        emb = self.embeddings(p.prompt, p.negative, p.guidance)
        t1 = time.perf_counter()
        timings["encode"] = t1 - t0
        pipe.scheduler = self.schedulers[p.scheduler]
        assert p.seed is not None, "generate() takes validated parameters (a seed drawn)"
        seeds = [(p.seed + i) % (2**64) for i in range(p.candidates)]
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        steps_done = [0]

        def callback(step, t, latents):
            steps_done[0] = step + 1
            if on_step is not None:
                on_step(step + 1, p.steps)
            if should_stop is not None:
                why = should_stop()
                if why:
                    raise Stopped(why, "job %s after step %d of %d" % (why, step + 1, p.steps))

        # the pipeline sizes the latent from int(seconds / 0.01 s), which float rounding can put a
        # frame short (2.01 s -> 200 frames, 32000 samples): ask for half a sample more, which never
        # adds a frame; the decode crops to round(seconds * rate)
        samples = int(round(p.seconds * self.rate))
        with torch.inference_mode(), self._stop_at_latents():
            out = pipe(
                num_inference_steps=p.steps,
                guidance_scale=p.guidance,
                audio_length_in_s=(samples + 0.5) / self.rate,
                num_waveforms_per_prompt=p.candidates,
                generator=gens if p.candidates > 1 else gens[0],
                callback=callback,
                callback_steps=1,
                output_type="latent" if self.v2 else "pt",
                **emb,
            )
        t2 = time.perf_counter()
        timings["denoise"] = t2 - t1
        audio, path = self.decode(out.audios, samples, timings)
        t2 = time.perf_counter()
        warnings = []
        scores = None
        if p.candidates > 1 and self.v2:
            order, scores = self.rank(p.prompt, audio)
            audio = audio[order]
            seeds = [seeds[i] for i in order]
            timings["rank"] = time.perf_counter() - t2
        for i, row in enumerate(audio):
            if float(np.abs(row).max()) < SILENCE_PEAK:
                warnings.append("candidate %d is near silence (peak below -80 dBFS)" % i)
        calls = {k: self.calls[k] - calls_before.get(k, 0) for k in self.components()}
        return Output(
            audio=audio,
            seeds=seeds,
            rate=self.rate,
            scores=scores,
            cached_embeddings=cached,
            seconds=timings,
            warnings=warnings,
            calls=calls,
            decode=path,
        )

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
        Each attempt's time goes into ``timings`` (decode_fp16, decode_fp32_retry, ...)."""
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
                timings["decode_" + path.replace("-", "_")] = time.perf_counter() - t
                if audio is not None and _finite(audio):
                    timings["decode"] = time.perf_counter() - t0
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
