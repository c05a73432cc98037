"""Kaldi-compatible log-mel filterbank features, as upstream's SV front end computes them (torch only).

Upstream calls a trimmed copy of torchaudio's ``compliance.kaldi.fbank`` with ``num_mel_bins=80,
sample_frequency=16000, dither=0`` and every other option at its default. This module implements exactly that
configuration, step by step in the same order and dtypes, so the features match to the last bit: 25 ms / 10 ms
frames without edge padding, per-frame DC removal, pre-emphasis 0.97, Povey window, zero-padding to 512 points,
power spectrum, 80 triangular mel filters (20 Hz … Nyquist), natural log floored at float32 epsilon. The wave is
taken as float in [-1, 1] (upstream does not scale it to the int16 range).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

__all__ = ["fbank", "mel_banks", "povey_window"]

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
PADDED_LENGTH = 512  # next power of two
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
NUM_MEL_BINS = 80
EPSILON = torch.finfo(torch.float32).eps


def _mel(freq: float) -> float:
    return 1127.0 * math.log(1.0 + freq / 700.0)


@functools.lru_cache(maxsize=8)
def mel_banks(num_bins: int = NUM_MEL_BINS, padded_length: int = PADDED_LENGTH,
              sample_rate: int = SAMPLE_RATE, low_freq: float = LOW_FREQ) -> torch.Tensor:
    """Triangular filters ``[num_bins, padded_length // 2]`` on the 1127·ln(1 + f/700) scale (float32, cached)."""
    nyquist = 0.5 * sample_rate
    bin_width = sample_rate / padded_length
    mel_low, mel_high = _mel(low_freq), _mel(nyquist)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)  # integer bins; the products below are float32, as upstream
    left = mel_low + b * delta
    center = mel_low + (b + 1.0) * delta
    right = mel_low + (b + 2.0) * delta
    freqs = bin_width * torch.arange(float(padded_length // 2))
    mel = (1127.0 * (1.0 + freqs / 700.0).log()).unsqueeze(0)  # [1, F]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    return torch.max(torch.zeros(1), torch.min(up, down))


@functools.lru_cache(maxsize=8)
def povey_window(length: int = FRAME_LENGTH, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Symmetric Hann window to the power 0.85 (Kaldi's default "povey" window), built in the wave's dtype as
    upstream does (it matters for fp16), cached."""
    return torch.hann_window(length, periodic=False, dtype=dtype, device=device).pow(0.85)


def fbank(wave: torch.Tensor) -> torch.Tensor:
    """One 16 kHz wave ``[N]`` → log-mel energies ``[1 + (N - 400) // 160, 80]`` (empty if N < 400)."""
    if wave.dim() != 1:
        raise ValueError(f"fbank expects a 1-D wave, got shape {tuple(wave.shape)}")
    device, dtype = wave.device, wave.dtype
    n = wave.shape[0]
    if n < FRAME_LENGTH:
        raise ValueError(f"the wave has {n} samples; the SV front end needs at least {FRAME_LENGTH} (25 ms at 16 kHz)")
    n_frames = 1 + (n - FRAME_LENGTH) // FRAME_SHIFT
    frames = wave.as_strided((n_frames, FRAME_LENGTH), (FRAME_SHIFT * wave.stride(0), wave.stride(0)))
    frames = frames - torch.mean(frames, dim=1).unsqueeze(1)  # DC offset per frame
    previous = F.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)  # x[-1] := x[0]
    frames = frames - PREEMPHASIS * previous[:, :-1]
    frames = frames * povey_window(FRAME_LENGTH, dtype, device).unsqueeze(0)
    frames = F.pad(frames.unsqueeze(0), (0, PADDED_LENGTH - FRAME_LENGTH), mode="constant", value=0).squeeze(0)
    power = torch.fft.rfft(frames).abs().pow(2.0)  # [T, 257]
    banks = F.pad(mel_banks().to(device=device, dtype=dtype), (0, 1), mode="constant", value=0)  # Nyquist bin: 0
    energies = torch.mm(power, banks.T)  # [T, 80]
    return torch.max(energies, torch.tensor(EPSILON, device=device, dtype=dtype)).log()
