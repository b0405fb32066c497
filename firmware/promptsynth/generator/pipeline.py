"""Loading a pipeline from local files: offline, safetensors only, fp16 on cuda, fp32 on cpu."""
from __future__ import annotations

import os
from typing import Tuple

import torch

from promptsynth.generator.models import ModelError, is_installed, pipeline_class


def pick_device(device: str = "auto") -> Tuple[str, torch.dtype]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device cuda asked for, but torch sees no CUDA GPU")
    return device, (torch.float16 if device == "cuda" else torch.float32)


def load(path: str, device: str = "auto"):
    """Load an AudioLDM 2 / AudioLDM pipeline from a diffusers-layout directory.

    Never touches a hub and never unpickles weights (``use_safetensors=True``). On transformers
    >= 4.50 the published GPT2Model language model fails inside the pipeline; diffusers >= 0.33
    works with GPT2LMHeadModel (same weights), so that is what is loaded there; diffusers <= 0.32
    reads ``last_hidden_state`` and needs GPT2Model.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not is_installed(path):
        raise ModelError("%s does not hold a complete model" % path)
    cls_name = pipeline_class(path)
    import diffusers
    from packaging.version import Version
    dev, dtype = pick_device(device)
    kwargs = dict(local_files_only=True, use_safetensors=True, torch_dtype=dtype)
    if cls_name == "AudioLDM2Pipeline":
        from transformers import GPT2LMHeadModel, GPT2Model
        lm_cls = GPT2LMHeadModel if Version(diffusers.__version__) >= Version("0.33.0") else GPT2Model
        kwargs["language_model"] = lm_cls.from_pretrained(path, subfolder="language_model", local_files_only=True,
                                                          use_safetensors=True, torch_dtype=dtype)
    cls = getattr(diffusers, cls_name)
    pipe = cls.from_pretrained(path, **kwargs)
    for comp in pipe.components.values():
        if isinstance(comp, torch.nn.Module):
            comp.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dev)
