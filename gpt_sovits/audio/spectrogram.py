"""Linear and mel spectrograms exactly as upstream SoVITS computes them.

SoVITS works on *linear magnitude* spectrograms (no log): the wave is reflect-padded by (n_fft - hop) / 2 on both
sides, transformed with ``center=False`` and a periodic Hann window, and the magnitude is ``sqrt(re² + im² + 1e-8)``.
The log-mel spectrogram is used only by the mel L1 training loss: ``log(clamp(mel_basis @ |S|, min=1e-5))`` with
librosa's Slaney filterbank.

Windows and filterbanks are cached per (parameters, device, dtype) with ``functools.lru_cache``; the cached tensors
are never modified in place.
"""

from __future__ import annotations

import functools

import librosa
import torch
import torch.nn.functional as F

__all__ = ["hann_window", "mel_filterbank", "mel_spectrogram", "spec_to_mel", "spectrogram"]


@functools.lru_cache(maxsize=16)
def hann_window(win_length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Periodic Hann window (``torch.hann_window`` default), cached."""
    return torch.hann_window(win_length, device=device, dtype=dtype)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """librosa's Slaney-scale, Slaney-normalised mel filterbank ``[n_mels, n_fft // 2 + 1]``, cached."""
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(basis).to(device=device, dtype=dtype)


def spectrogram(y: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """Linear magnitude spectrogram: ``y [B, T]`` → ``[B, n_fft // 2 + 1, frames]``.

    frames = (T + 2·pad - n_fft) // hop + 1 with pad = (n_fft - hop) // 2, i.e. about T // hop.
    """
    if y.dim() != 2:
        raise ValueError(f"spectrogram expects a [batch, samples] wave, got shape {tuple(y.shape)}")
    pad = int((n_fft - hop) / 2)
    # reflect padding needs a channel dim: [B, 1, T] → [B, T + 2·pad]
    y = F.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = hann_window(win, y.device, y.dtype)
    stft = torch.stft(
        y,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    # same numbers as upstream's return_complex=False path: view the complex result as (re, im)
    return torch.sqrt(torch.view_as_real(stft).pow(2).sum(-1) + 1e-8)  # [B, F, frames]


def spec_to_mel(
    spec: torch.Tensor, n_fft: int, n_mels: int, sr: int, fmin: float, fmax: float | None
) -> torch.Tensor:
    """Log-mel from a linear magnitude spectrogram: ``[B, F, frames]`` → ``[B, n_mels, frames]``."""
    basis = mel_filterbank(sr, n_fft, n_mels, float(fmin), None if fmax is None else float(fmax), spec.device,
                           spec.dtype)
    mel = torch.matmul(basis, spec)
    return torch.log(torch.clamp(mel, min=1e-5))


def mel_spectrogram(
    y: torch.Tensor, n_fft: int, n_mels: int, sr: int, hop: int, win: int, fmin: float, fmax: float | None
) -> torch.Tensor:
    """Log-mel straight from a wave ``[B, T]`` (same numbers as ``spec_to_mel(spectrogram(y))``)."""
    return spec_to_mel(spectrogram(y, n_fft, hop, win), n_fft, n_mels, sr, fmin, fmax)
