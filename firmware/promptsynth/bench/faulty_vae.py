"""VAEs that fail as they do on the device, for the decode fallback's figures and its tests:
an fp16 decode that overflows (inf), and a decode that returns NaN past a length (AudioLDM's
authors saw that past about 20 s). Each wraps the real VAE of a real pipeline for a while."""

from __future__ import annotations

import contextlib
import types


def _mel_shape(vae, z):
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    return (z.shape[0], vae.config.out_channels, z.shape[2] * f, z.shape[3] * f)


@contextlib.contextmanager
def _decode_replaced(vae, decode):
    before = vae.__dict__.get("decode")
    vae.decode = decode
    try:
        yield
    finally:
        if before is None:
            del vae.decode
        else:
            vae.decode = before


@contextlib.contextmanager
def fp16_overflow(vae):
    """``vae`` as an fp16 VAE whose decode overflows: its weights in float16, and decoding a float16
    latent gives inf. Only the overflow is simulated (CPU torch has no usable fp16 to overflow in);
    a float32 decode is the real one. Yields the list of overflowed calls."""
    import torch

    dtype, real, overflowed = vae.dtype, vae.decode, []

    def decode(z, *args, **kwargs):
        if z.dtype == torch.float16:
            overflowed.append(tuple(z.shape))
            return types.SimpleNamespace(sample=torch.full(_mel_shape(vae, z), float("inf"), dtype=z.dtype))
        return real(z, *args, **kwargs)

    vae.to(torch.float16)
    try:
        with _decode_replaced(vae, decode):
            yield overflowed
    finally:
        vae.to(dtype)


@contextlib.contextmanager
def nan_past(vae, frames: int):
    """``vae`` returning NaN for latents longer than ``frames`` (AudioLDM's VAE does past about 20 s).
    Yields the lengths it was asked to decode."""
    real, asked = vae.decode, []

    def decode(z, *args, **kwargs):
        asked.append(int(z.shape[2]))
        out = real(z, *args, **kwargs)
        if z.shape[2] > frames:
            out.sample = out.sample * float("nan")
        return out

    with _decode_replaced(vae, decode):
        yield asked
