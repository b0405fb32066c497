"""Loading a pipeline from local files: offline, safetensors only, fp16 on cuda, fp32 on cpu."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Optional, Tuple

import torch

from promptsynth.generator.models import ModelError, fast_tokenizer_index, is_installed, missing_format, pipeline_class


def pick_device(device: str = "auto") -> Tuple[str, torch.dtype]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device cuda asked for, but torch sees no CUDA GPU")
    return device, (torch.float16 if device == "cuda" else torch.float32)


@contextlib.contextmanager
def _fast_tokenizer_view(path: str):
    """``path`` itself, or, where it records a tokenizer as "RobertaTokenizer"/"T5Tokenizer" (as
    transformers 5 saves them) but holds a tokenizer.json, a temporary folder of links to its files
    with those recorded by their *Fast names: on transformers 4 the plain names are the slow
    classes, which need vocab.json/merges.txt or a sentencepiece model. The model stays untouched."""
    index, renamed = fast_tokenizer_index(path)
    if not renamed:
        yield path
        return
    view = tempfile.mkdtemp(prefix="psynth-model-")
    try:
        for name in os.listdir(path):
            if name != "model_index.json":
                os.symlink(os.path.join(os.path.abspath(path), name), os.path.join(view, name))
        with open(os.path.join(view, "model_index.json"), "w") as fh:
            json.dump(index, fh)
        yield view
    finally:
        shutil.rmtree(view)  # removes the links, never what they point to


def load(
    path: str, device: str = "auto", low_cpu_mem_usage: Optional[bool] = None, dtype: Optional[torch.dtype] = None
):
    """Load an AudioLDM 2 / AudioLDM pipeline from a diffusers-layout directory.

    Never touches a hub and never unpickles weights (``use_safetensors=True``). On transformers
    >= 4.50 the published GPT2Model language model fails inside the pipeline; diffusers >= 0.33
    works with GPT2LMHeadModel (same weights), so that is what is loaded there; diffusers <= 0.32
    reads ``last_hidden_state`` and needs GPT2Model. ``low_cpu_mem_usage`` None is diffusers'
    default: True when accelerate is installed (weights go straight into place), else False (the
    model is built first, then the weights loaded into it). ``dtype`` overrides the device's (for
    measuring the GPU's fp16 load on a CPU).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not is_installed(path):
        raise ModelError("%s does not hold a complete model" % path)
    bad = missing_format(path)
    if bad:
        # transformers 4.46 (the device's) refuses these; refuse them everywhere, so a folder that
        # loads here loads on the device too
        raise ModelError(
            "%s: %s lack the safetensors format metadata; `promptsynth models fetch <id> --from %s` "
            "installs a fixed copy" % (path, ", ".join(bad), path)
        )
    cls_name = pipeline_class(path)
    import diffusers
    from packaging.version import Version

    dev, dev_dtype = pick_device(device)
    dtype = dtype or dev_dtype
    kwargs = dict(local_files_only=True, use_safetensors=True, torch_dtype=dtype)
    if low_cpu_mem_usage is not None:
        kwargs["low_cpu_mem_usage"] = low_cpu_mem_usage
    if cls_name == "AudioLDM2Pipeline":
        from transformers import GPT2LMHeadModel, GPT2Model

        lm_cls = GPT2LMHeadModel if Version(diffusers.__version__) >= Version("0.33.0") else GPT2Model
        lm_kwargs = dict(local_files_only=True, use_safetensors=True, torch_dtype=dtype)
        if low_cpu_mem_usage is not None:
            lm_kwargs["low_cpu_mem_usage"] = low_cpu_mem_usage
        kwargs["language_model"] = lm_cls.from_pretrained(path, subfolder="language_model", **lm_kwargs)
    cls = getattr(diffusers, cls_name)
    with _fast_tokenizer_view(path) as where:
        pipe = cls.from_pretrained(where, **kwargs)
    for comp in pipe.components.values():
        if isinstance(comp, torch.nn.Module):
            comp.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dev)
