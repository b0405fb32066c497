import os
import shutil

import numpy as np
import pytest

from promptsynth.engine.sampler import Sampler, VoiceParams
from promptsynth.engine.sound import prepare

RATE = 48000
PERIOD = 128


@pytest.fixture(scope="session")
def rig():
    """A JACK dummy server plus ALSA taps, shared by the session (the real audio/MIDI paths)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: run scripts/test.sh, which installs jackd2")
    from promptsynth.bench.rig import Rig
    r = Rig(RATE, PERIOD)
    yield r
    r.close()


def make_sampler(polyphony=16, **params):
    p = dict(attack=0.0, decay=0.0, sustain=1.0, release=0.0, gain_db=0.0, velocity_track=0.0, polyphony=polyphony)
    p.update(params)
    return Sampler(RATE, PERIOD, VoiceParams(**p), max_polyphony=64)


def render(s, periods):
    return np.concatenate([s.render().copy() for _ in range(periods)])


def sine(freq, seconds, amp=0.5, rate=RATE, harmonics=1):
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / h * np.sin(2 * np.pi * freq * h * t) for h in range(1, harmonics + 1))
    return x.astype(np.float32)


def freq_of(x, rate=RATE):
    """Frequency of the strongest partial, refined by parabolic interpolation of the spectrum."""
    x = np.asarray(x, np.float64)
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w, n=len(x) * 4))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    k += 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / (len(x) * 4)


@pytest.fixture
def sampler_with():
    def make(audio, polyphony=16, sound_kw=None, **params):
        s = make_sampler(polyphony, **params)
        s.load(prepare(audio, **(sound_kw or {})))
        return s
    return make


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny AudioLDM 2 (the instrument's `tiny`) and AudioLDM 1 pipelines, saved once per session in
    diffusers layout (safetensors), plus a copy laid out like the published AudioLDM 2 checkpoints
    (language model stored as GPT2Model). Everything loads through the real loading code."""
    import torch  # a missing torch in the torch lane is an error, not a skip

    from promptsynth.generator.build import save_tiny, tiny_audioldm2
    root = tmp_path_factory.mktemp("models")
    paths = {"tiny": save_tiny(str(root / "tiny"))}
    # AudioLDM 1, from the configs of diffusers' former fast tests
    import tempfile

    from diffusers import AudioLDMPipeline, AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SpeechT5HifiGan, SpeechT5HifiGanConfig

    from promptsynth.generator.build import roberta_tokenizer
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8, sample_size=32,
                                in_channels=8, out_channels=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=(8, 16),
                                class_embed_type="simple_projection", projection_class_embeddings_input_dim=8,
                                class_embeddings_concat=True)
    vae = AutoencoderKL(block_out_channels=[8, 16, 16], in_channels=1, out_channels=1, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                        latent_channels=8)
    text = ClapTextModelWithProjection(ClapTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=8,
                                                      intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=1,
                                                      num_hidden_layers=1, pad_token_id=1, vocab_size=1000,
                                                      projection_dim=8, max_position_embeddings=514))
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=64, sampling_rate=16000, upsample_initial_channel=32,
                                                    upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[16, 16, 8, 4, 4],
                                                    resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                                                    normalize_before=False))
    tmp = tempfile.mkdtemp()
    p1 = AudioLDMPipeline(vae=vae, text_encoder=text, tokenizer=roberta_tokenizer(tmp), unet=unet,
                          scheduler=DDIMScheduler(beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
                                                  clip_sample=False, set_alpha_to_one=False),
                          vocoder=vocoder)
    paths["audioldm1"] = str(root / "audioldm1")
    p1.save_pretrained(paths["audioldm1"], safe_serialization=True)
    # published layout: the language model saved as GPT2Model
    from transformers import GPT2Model
    p2 = tiny_audioldm2(tmp)
    lm = p2.language_model
    if not isinstance(lm, GPT2Model):
        base = lm.transformer
        base.config.max_new_tokens = 8
        p2.register_modules(language_model=base)
    paths["published"] = str(root / "published")
    p2.save_pretrained(paths["published"], safe_serialization=True)
    return paths
