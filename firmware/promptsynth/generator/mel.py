"""Audio to the log-mel spectrogram AudioLDM's VAE was trained on (AudioLDM and AudioLDM 2 alike).

16 kHz mono; the waveform's DC removed and its peak set to 0.5, as in training; STFT of 1024
points with a periodic Hann window, hop 160, centred with reflect padding; magnitude (not power);
64 Slaney mel bands from 0 to 8 kHz with Slaney normalisation; natural log of the magnitude
clamped at 1e-5 (silence is -11.5), no mean or variance normalisation. Laid out as the VAE
takes it: (1, 1, frames, 64), time on the height axis.
"""

from __future__ import annotations

import functools

import torch

RATE = 16000
N_FFT = 1024
HOP = 160
MELS = 64


@functools.lru_cache(maxsize=1)
def mel_basis() -> torch.Tensor:
    """(64, 513): librosa's ``filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=0, fmax=8000)``."""
    from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=MELS,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(fb.T).float()


def audio_to_mel(wav: torch.Tensor, frames: int) -> torch.Tensor:
    """``wav``: 1-D float tensor at 16 kHz. Returns (1, 1, frames, 64) float32: the sound padded
    with silence or cut to ``frames`` hops."""
    wav = wav.float()
    wav = wav - wav.mean()
    wav = 0.5 * wav / (wav.abs().max() + 1e-8)
    wav = torch.nn.functional.pad(wav, (0, max(0, frames * HOP - wav.numel())))[: frames * HOP]
    spec = torch.stft(
        wav,
        N_FFT,
        HOP,
        N_FFT,
        window=torch.hann_window(N_FFT),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    return torch.log(torch.clamp(mel_basis() @ spec, min=1e-5)).T[:frames][None, None]
