"""Pipelines built locally with random weights: the tiny model, and real-size models from configs.

Nothing here touches a model hub: tokenizers are built in code (a byte-level RoBERTa vocabulary
and an in-memory Unigram T5 model), because the configs ship without vocabularies. The
tokenizers must be the RoBERTa/T5 classes: the AudioLDM 2 pipeline feeds the prompt only to those.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict

import torch

from promptsynth.generator.models import CONFIGS, MODELS, make_portable

TINY_VERSION = "3"  # bump when the tiny model changes: cached copies are rebuilt


def _bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def roberta_tokenizer(tmpdir: str, max_len: int = 512):
    """Byte-level RobertaTokenizer: 4 specials + 256 byte symbols + <mask>, no merges."""
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in _bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    vocab["<mask>"] = len(vocab)
    with open(os.path.join(tmpdir, "vocab.json"), "w") as fh:
        json.dump(vocab, fh)
    with open(os.path.join(tmpdir, "merges.txt"), "w") as fh:
        fh.write("#version: 0.2\n")
    return RobertaTokenizer(
        os.path.join(tmpdir, "vocab.json"), os.path.join(tmpdir, "merges.txt"), model_max_length=max_len
    )


def t5_tokenizer(max_len: int = 128):
    """T5TokenizerFast around an in-memory Unigram model (no sentencepiece file)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)] + [
        (c, -3.0) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,'!?-"
    ]
    tk = Tokenizer(models.Unigram(pieces, unk_id=2))
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    return T5TokenizerFast(tokenizer_object=tk, model_max_length=max_len, extra_ids=0)


def _language_model_class():
    """GPT2LMHeadModel on diffusers >= 0.33 (needed on transformers >= 4.50), GPT2Model before."""
    import diffusers
    from packaging.version import Version
    from transformers import GPT2LMHeadModel, GPT2Model

    return GPT2LMHeadModel if Version(diffusers.__version__) >= Version("0.33.0") else GPT2Model


def tiny_audioldm2(tmpdir: str):
    """A random AudioLDM 2 with the real geometry (64 mel bins, 160 samples a frame, latents of 8
    channels at a quarter of the frame rate) and tiny channels: real lengths, fast on a CPU."""
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        GPT2Config,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )

    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        in_channels=8,
        out_channels=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        # the real model's slots: self-attention, then GPT-2's 8 generated tokens (16 wide here),
        # then T5's sequence (32) with its mask, so every conditioning tensor reaches the UNet
        cross_attention_dim=([None, 16, 32], [None, 16, 32]),
    )
    scheduler = DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16],
        in_channels=1,
        out_channels=1,
        norm_num_groups=8,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=8,
        sample_size=256,
    )
    torch.manual_seed(0)
    text_cfg = dict(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=8,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=1,
        num_hidden_layers=1,
        pad_token_id=1,
        vocab_size=1000,
        projection_dim=8,
        max_position_embeddings=514,
    )
    audio_cfg = dict(
        spec_size=8,
        window_size=2,
        num_mel_bins=8,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        depths=[1, 1],
        num_attention_heads=[1, 1],
        num_hidden_layers=1,
        hidden_size=192,
        projection_dim=8,
        patch_size=2,
        patch_stride=2,
        patch_embed_input_channels=1,
    )
    text_encoder = ClapModel(ClapConfig(text_config=text_cfg, audio_config=audio_cfg, projection_dim=16))
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=32100, d_model=32, d_ff=37, d_kv=8, num_heads=1, num_layers=1))
    torch.manual_seed(0)
    # 256 positions: CLAP (1) + T5 (up to 128 tokens) + 8 generated must fit, as in the real GPT-2
    language_model = _language_model_class()(
        GPT2Config(n_embd=16, n_head=1, n_layer=1, vocab_size=1000, n_ctx=256, n_positions=256)
    )
    language_model.config.max_new_tokens = 8
    torch.manual_seed(0)
    projection_model = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
    torch.manual_seed(0)
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=64,
            sampling_rate=16000,
            upsample_initial_channel=32,
            upsample_rates=[5, 4, 2, 2, 2],
            upsample_kernel_sizes=[16, 16, 8, 4, 4],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            normalize_before=False,
        )
    )
    # "fusion" truncation hard-codes 64 mel bins: the tiny CLAP (8 bins) crops at random instead
    feature_extractor = ClapFeatureExtractor(
        feature_size=8, hop_length=7900, max_length_s=1, truncation="rand_trunc", padding="repeatpad"
    )
    pipe = AudioLDM2Pipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        projection_model=projection_model,
        language_model=language_model,
        tokenizer=roberta_tokenizer(tmpdir),
        tokenizer_2=t5_tokenizer(),
        feature_extractor=feature_extractor,
        unet=unet,
        scheduler=scheduler,
        vocoder=vocoder,
    )
    for comp in pipe.components.values():
        if isinstance(comp, torch.nn.Module):
            comp.eval()
    pipe.set_progress_bar_config(disable=True)
    # random weights come out near -190 dBFS: scale the vocoder's last layer (before its tanh) so
    # the tiny model makes audible noise, about -20 dBFS RMS
    with torch.inference_mode():
        a = pipe(
            "calibration",
            num_inference_steps=2,
            audio_length_in_s=1.0,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).audios
    rms = float((a.astype("float64") ** 2).mean() ** 0.5)
    if rms > 0:
        with torch.no_grad():
            vocoder.conv_post.weight.mul_(0.1 / rms)
            if vocoder.conv_post.bias is not None:
                vocoder.conv_post.bias.mul_(0.1 / rms)
    return pipe


def save_tiny(dest: str) -> str:
    """Build the tiny model and save it in diffusers layout (safetensors) at ``dest``, atomically."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny-", dir=parent)
    pipe = tiny_audioldm2(tmp)
    pipe.save_pretrained(tmp, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):  # the builder's scratch files
        p = os.path.join(tmp, name)
        if os.path.exists(p):
            os.unlink(p)
    make_portable(tmp)  # loadable by every supported stack
    with open(os.path.join(tmp, "tiny_version.txt"), "w") as fh:
        fh.write(TINY_VERSION)
    if os.path.exists(dest):
        import shutil

        shutil.rmtree(dest)
    os.rename(tmp, dest)
    return dest


def tiny_is_current(path: str) -> bool:
    try:
        with open(os.path.join(path, "tiny_version.txt")) as fh:
            return fh.read().strip() == TINY_VERSION
    except OSError:
        return False


# narrow widths for real_size(shrink=True): every layer, block and class of the real model, at a
# cost of seconds (for a test of everything that runs per model)
NARROW: Dict[str, Any] = {
    "clap": 16,
    "clap_proj": 8,
    "t5": 32,
    "gpt2": 16,
    "unet_base": 8,
    "vae": [8, 16, 32],
    "vocoder": 32,
}


def _narrowed(sub: str, cfg: dict) -> dict:
    """``cfg`` of component ``sub`` with its widths narrowed (NARROW); depths and types unchanged."""
    cfg = json.loads(json.dumps(cfg))
    n = NARROW
    clap_text = dict(
        hidden_size=n["clap"],
        intermediate_size=2 * n["clap"],
        num_attention_heads=2,
        projection_dim=n["clap_proj"],
        projection_hidden_size=n["clap"],
        fusion_hidden_size=n["clap"],
    )
    if sub == "unet":
        base = cfg["block_out_channels"][0]
        narrow = [c * n["unet_base"] // base for c in cfg["block_out_channels"]]
        if cfg.get("cross_attention_dim") == cfg["block_out_channels"]:  # AudioLDM 1
            cfg["cross_attention_dim"] = narrow
        elif isinstance(cfg.get("cross_attention_dim"), list):  # AudioLDM 2: GPT-2 and T5 slots
            width = {768: n["gpt2"], 1024: n["t5"]}
            cfg["cross_attention_dim"] = [[width.get(d, d) for d in block] for block in cfg["cross_attention_dim"]]
        if cfg.get("projection_class_embeddings_input_dim"):  # CLAP's projection
            cfg["projection_class_embeddings_input_dim"] = n["clap_proj"]
        cfg.update(block_out_channels=narrow, norm_num_groups=n["unet_base"])
    elif sub == "vae":
        cfg.update(block_out_channels=n["vae"][: len(cfg["block_out_channels"])], norm_num_groups=n["vae"][0])
    elif sub == "vocoder":
        cfg.update(upsample_initial_channel=n["vocoder"])
    elif sub == "text_encoder" and "text_config" in cfg:  # ClapModel
        cfg["text_config"].update(clap_text)
        audio = cfg["audio_config"]
        embed = n["clap_proj"]
        audio.update(
            patch_embeds_hidden_size=embed,
            hidden_size=embed * 2 ** (len(audio["depths"]) - 1),
            num_attention_heads=[2**i for i in range(len(audio["depths"]))],
            projection_dim=n["clap_proj"],
            projection_hidden_size=n["clap"],
        )
        cfg.update(hidden_size=n["clap"], projection_dim=n["clap_proj"])
    elif sub == "text_encoder":  # ClapTextModelWithProjection
        cfg.update(clap_text)
    elif sub == "text_encoder_2":
        cfg.update(d_model=n["t5"], d_ff=2 * n["t5"], d_kv=8, num_heads=n["t5"] // 8)
    elif sub == "language_model":
        cfg.update(n_embd=n["gpt2"], n_head=2)
    elif sub == "projection_model":
        cfg.update(text_encoder_dim=n["clap_proj"], text_encoder_1_dim=n["t5"], langauge_model_dim=n["gpt2"])
    return cfg


def real_size(model: str, narrow: bool = False):
    """A pipeline of ``model``'s real architecture with random weights, from the shipped configs.

    The sound is noise; the cost of every component is the real one. Modules are in eval mode.
    ``narrow``: the same layers, blocks and classes with narrow widths (see NARROW): seconds to
    build and run, for testing what runs per model.
    """
    import diffusers
    import transformers

    cfg_dir = os.path.join(CONFIGS, model)
    info = MODELS[model]

    def cfg(sub):
        with open(os.path.join(cfg_dir, sub, "config.json")) as fh:
            found = json.load(fh)
        return _narrowed(sub, found) if narrow else found

    tmp = tempfile.mkdtemp(prefix="psynth-tok-")
    sched = diffusers.DDIMScheduler.from_config(
        json.load(open(os.path.join(cfg_dir, "scheduler", "scheduler_config.json")))
    )
    vae = diffusers.AutoencoderKL.from_config(cfg("vae"))
    vocoder = transformers.SpeechT5HifiGan(transformers.SpeechT5HifiGanConfig(**cfg("vocoder")))
    if info.pipeline == "AudioLDM2Pipeline":
        unet = diffusers.AudioLDM2UNet2DConditionModel.from_config(cfg("unet"))
        clap = transformers.ClapModel(transformers.ClapConfig(**cfg("text_encoder")))
        t5 = transformers.T5EncoderModel(transformers.T5Config(**cfg("text_encoder_2")))
        lm = _language_model_class()(transformers.GPT2Config(**cfg("language_model")))
        lm.config.max_new_tokens = 8
        proj = diffusers.AudioLDM2ProjectionModel.from_config(cfg("projection_model"))
        fe = transformers.ClapFeatureExtractor(
            **{
                k: v
                for k, v in json.load(
                    open(os.path.join(cfg_dir, "feature_extractor", "preprocessor_config.json"))
                ).items()
                if k
                in (
                    "feature_size",
                    "sampling_rate",
                    "hop_length",
                    "max_length_s",
                    "fft_window_size",
                    "padding_value",
                    "return_attention_mask",
                    "frequency_min",
                    "frequency_max",
                    "top_db",
                    "truncation",
                    "padding",
                )
            }
        )
        pipe = diffusers.AudioLDM2Pipeline(
            vae=vae,
            text_encoder=clap,
            text_encoder_2=t5,
            projection_model=proj,
            language_model=lm,
            tokenizer=roberta_tokenizer(tmp, 512),
            tokenizer_2=t5_tokenizer(128),
            feature_extractor=fe,
            unet=unet,
            scheduler=sched,
            vocoder=vocoder,
        )
    else:
        unet = diffusers.UNet2DConditionModel.from_config(cfg("unet"))
        text = transformers.ClapTextModelWithProjection(transformers.ClapTextConfig(**cfg("text_encoder")))
        pipe = diffusers.AudioLDMPipeline(
            vae=vae,
            text_encoder=text,
            tokenizer=roberta_tokenizer(tmp, 512),
            unet=unet,
            scheduler=sched,
            vocoder=vocoder,
        )
    for _name, comp in pipe.components.items():
        if isinstance(comp, torch.nn.Module):
            comp.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def parameter_count(pipe) -> int:
    seen = set()
    total = 0
    for comp in pipe.components.values():
        if isinstance(comp, torch.nn.Module):
            for p in comp.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
    return total
