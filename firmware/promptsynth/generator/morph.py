"""Conditioning tensors put together: a prompt beside its negative, and several prompts blended.

The T5 part of AudioLDM 2's conditioning is a sequence as long as the text; two texts' sequences
are zero-padded to the longer and the padding masked. Everything else has a fixed shape.

A blend is spherical, token by token: the direction is the weighted mean of the unit vectors and
the length the weighted mean of the lengths (normalised linear interpolation). A plain weighted
mean shrinks vectors that point apart (to cos(θ/2) of their length halfway at an angle θ),
which the model never saw; AudioLDM's CLAP embeddings are unit vectors and stay so.

Where one prompt's T5 sequence is longer than another's, its extra tokens have no partner. With
``soft_mask`` they are weighed in through the attention bias: the mask becomes
1 + ln(weight) / 10000, which the UNet turns into a bias of ln(weight) on those keys, so they
fade in continuously from position 0. That needs a float32 UNet: float16 holds 1 + 1e-4 as 1.
Without it, they are attended whenever their prompt has any weight (a step just off the end).

A weight vector with one non-zero entry returns that prompt's own tensors, so a morph's ends are
exactly the end prompts' sounds.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch

PAIRS = (("prompt_embeds", "attention_mask"), ("negative_prompt_embeds", "negative_attention_mask"))
FIXED = ("generated_prompt_embeds", "negative_generated_prompt_embeds")
Conditioning = Dict[str, torch.Tensor]


def _pad(x: torch.Tensor, length: int) -> torch.Tensor:
    n = length - x.shape[1]
    return x if n <= 0 else torch.cat([x, x.new_zeros((x.shape[0], n) + tuple(x.shape[2:]))], 1)


def pair(pos: Conditioning, neg: Conditioning) -> Conditioning:
    """A prompt's and a negative's conditioning, each encoded alone, as one call's: for AudioLDM 2
    both T5 sequences padded to the longer (the pipeline wants them the same shape)."""
    if "attention_mask" not in pos:  # AudioLDM: one vector each
        return dict(prompt_embeds=pos["prompt_embeds"], negative_prompt_embeds=neg["prompt_embeds"])
    length = max(pos["prompt_embeds"].shape[1], neg["prompt_embeds"].shape[1])
    return dict(
        prompt_embeds=_pad(pos["prompt_embeds"], length),
        attention_mask=_pad(pos["attention_mask"], length),
        generated_prompt_embeds=pos["generated_prompt_embeds"],
        negative_prompt_embeds=_pad(neg["prompt_embeds"], length),
        negative_attention_mask=_pad(neg["attention_mask"], length),
        negative_generated_prompt_embeds=neg["generated_prompt_embeds"],
    )


def stack(conds: Sequence[Conditioning]) -> Conditioning:
    """Several jobs' conditioning (each as ``pair`` or the runner gives it) as one batched call's:
    every T5 sequence zero-padded to the longest and masked, rows in the jobs' order."""
    first = conds[0]
    length = max((c[k].shape[1] for c in conds for k, _ in PAIRS if k in c and "attention_mask" in c), default=0)
    out: Conditioning = {}
    for k in first:
        if "attention_mask" in first and any(k in pk for pk in PAIRS):  # a sequence or its mask
            out[k] = torch.cat([_pad(c[k], length) for c in conds])
        else:
            out[k] = torch.cat([c[k] for c in conds])
    return out


def nlerp(xs: Sequence[torch.Tensor], ws: Sequence[float]) -> torch.Tensor:
    """Weighted spherical blend along the last axis, in float32 (see the module's notes); where the
    directions cancel (or every vector is zero) the plain weighted mean."""
    f = [x.float() for x in xs]
    lin = sum(w * x for w, x in zip(ws, f))
    norms = [x.norm(dim=-1, keepdim=True) for x in f]
    direction = sum(
        w * torch.where(n > 0, x / n.clamp_min(1e-30), torch.zeros_like(x)) for w, x, n in zip(ws, f, norms)
    )
    length = sum(w * n for w, n in zip(ws, norms))
    dn = direction.norm(dim=-1, keepdim=True)
    out = torch.where(dn > 1e-6, direction / dn.clamp_min(1e-30) * length, lin)
    return out.to(xs[0].dtype)


def _mask(masks: List[torch.Tensor], ws: Sequence[float], soft: bool) -> torch.Tensor:
    if not soft:
        return torch.stack(masks).amax(0)
    s = sum(w * m.float() for w, m in zip(ws, masks))
    return torch.where(s > 0, 1 + torch.log(s.clamp_min(1e-30)) / 10000.0, torch.zeros_like(s))


def blend(embs: Sequence[Conditioning], weights: Sequence[float], soft_mask: bool) -> Conditioning:
    """The conditioning between several prompts' (each as ``pair`` or the runner gives it), at
    ``weights`` (non-negative, summing to 1)."""
    nz = [i for i, w in enumerate(weights) if w > 0]
    if len(nz) == 1:
        return embs[nz[0]]  # an end: exactly that prompt's
    embs = [embs[i] for i in nz]
    ws = [float(weights[i]) for i in nz]
    out: Conditioning = {}
    seqs = [k for k, _ in PAIRS if k in embs[0]]
    if "attention_mask" in embs[0]:
        # every sequence (the negatives' too: the pipeline wants them the same shape) to one length
        length = max(e[k].shape[1] for e in embs for k in seqs)
        for k, mk in PAIRS:
            if k in embs[0]:
                out[k] = nlerp([_pad(e[k], length) for e in embs], ws)
                out[mk] = _mask([_pad(e[mk], length) for e in embs], ws, soft_mask)
        for k in FIXED:
            if k in embs[0]:
                out[k] = nlerp([e[k] for e in embs], ws)
    else:
        for k in seqs:
            out[k] = nlerp([e[k] for e in embs], ws)
    return out
