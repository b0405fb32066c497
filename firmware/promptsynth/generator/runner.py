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
* NaN or infinite samples are an error (nothing is kept); near-silence is flagged.
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

SILENCE_PEAK = 1e-4          # -80 dBFS: "near silence"
CACHE_SIZE = 16


class Stopped(Exception):
    """The job was cancelled or ran out of time (``kind`` says which)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ModelOutputError(Exception):
    pass


@dataclass
class Output:
    audio: np.ndarray                          # (candidates, samples) float32, best first
    seeds: List[int]                           # the seed of each row
    rate: int
    scores: Optional[List[float]] = None       # CLAP text-audio similarity, when ranked
    cached_embeddings: bool = False
    seconds: Dict[str, float] = field(default_factory=dict)
    calls: Dict[str, int] = field(default_factory=dict)      # forward calls of each component
    warnings: List[str] = field(default_factory=list)


class Runner:
    def __init__(self, pipe, model: str):
        from diffusers import AudioLDM2Pipeline, DDIMScheduler, DPMSolverMultistepScheduler
        self.pipe = pipe
        self.model = model
        self.v2 = isinstance(pipe, AudioLDM2Pipeline)
        self.device = pipe._execution_device
        base = pipe.scheduler.config
        self.schedulers = {"ddim": DDIMScheduler.from_config(base),
                           "dpm": DPMSolverMultistepScheduler.from_config(base)}
        self.rate = int(pipe.vocoder.config.sampling_rate)
        self._cache: "collections.OrderedDict" = collections.OrderedDict()
        self.encodes = 0                       # how often the text encoders ran
        self.calls: "collections.Counter" = collections.Counter()
        for name, module in self.components().items():
            module.register_forward_hook(lambda mod, inp, out, name=name: self.calls.update((name,)))

    def components(self) -> Dict[str, torch.nn.Module]:
        """The modules whose calls are counted (and timed by the benchmark)."""
        pipe = self.pipe
        te = pipe.text_encoder
        found = {"unet": pipe.unet, "vae_decoder": pipe.vae.decoder, "vocoder": pipe.vocoder,
                 "clap_text": getattr(te, "text_model", te)}
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
                    emb = dict(prompt_embeds=pe, attention_mask=am, generated_prompt_embeds=gpe,
                               negative_prompt_embeds=npe, negative_attention_mask=nam,
                               negative_generated_prompt_embeds=ngpe)
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
    def generate(self, p: GenerationParams, on_step: Optional[Callable[[int, int], None]] = None,
                 should_stop: Optional[Callable[[], Optional[str]]] = None) -> Output:
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
        seeds = [(p.seed + i) % (2 ** 64) for i in range(p.candidates)]
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

        # the pipeline crops to int(seconds * rate), which float rounding can put one sample short
        # (2.03 s -> 32479): ask for half a sample more, which never changes the frame count
        samples = int(round(p.seconds * self.rate))
        with torch.inference_mode():
            out = pipe(num_inference_steps=p.steps, guidance_scale=p.guidance,
                       audio_length_in_s=(samples + 0.5) / self.rate,
                       num_waveforms_per_prompt=p.candidates, generator=gens if p.candidates > 1 else gens[0],
                       callback=callback, callback_steps=1, output_type="np", **emb)
        t2 = time.perf_counter()
        timings["denoise_and_decode"] = t2 - t1
        audio = np.asarray(out.audios, dtype=np.float32).reshape(p.candidates, -1)[:, :samples]
        if not np.all(np.isfinite(audio)):
            raise ModelOutputError("the model returned NaN or infinite samples; nothing was kept "
                                   "(try another seed, or fewer steps)")
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
        return Output(audio=audio, seeds=seeds, rate=self.rate, scores=scores, cached_embeddings=cached,
                      seconds=timings, warnings=warnings, calls=calls)

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
            logits = pipe.text_encoder(input_ids=inputs.input_ids.to(self.device),
                                       attention_mask=inputs.attention_mask.to(self.device),
                                       input_features=feats.to(self.device, dtype)).logits_per_text[0]
        scores = logits.float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        return order, [float(scores[i]) for i in order]
