"""Band-limited resampling with a Hann-windowed sinc kernel: the numbers of torchaudio's `Resample` transform.

Upstream resamples the *timbre* references (`get_spepc`, and the v2Pro speaker-verification input) with
`torchaudio.transforms.Resample(sr0, sr1)` (lowpass width 6, rolloff 0.99, kernel built in float64 and stored as
float32), while the HuBERT prompt goes through librosa/soxr. The two give different samples, so a reference that is
not at the model's rate needs this resampler to reproduce upstream's spectrogram. torchaudio itself is not a
dependency (its releases are tied to one torch version); the algorithm is small and written out here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


def sinc_kernel(orig_sr: int, new_sr: int, width_zero_crossings: int = LOWPASS_FILTER_WIDTH,
                rolloff: float = ROLLOFF) -> tuple[torch.Tensor, int]:
    """Polyphase kernel [new, 1, 2·width + orig] (rates reduced by their gcd) and its half width in input samples."""
    gcd = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // gcd, int(new_sr) // gcd
    base = min(orig, new) * rolloff  # cutoff, in units of the reduced rates
    width = math.ceil(width_zero_crossings * orig / base)
    taps = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    # The phase offsets are built in float32 (as torchaudio does) before meeting the float64 taps.
    phases = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new
    t = (phases + taps) * base
    t = t.clamp(-width_zero_crossings, width_zero_crossings)
    window = torch.cos(t * math.pi / width_zero_crossings / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    kernel = sinc * window * (base / orig)
    return kernel.to(torch.float32), width


def sinc_resample(audio: torch.Tensor | np.ndarray, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample float audio [..., T] from `orig_sr` to `new_sr` → [..., ceil(T·new/orig)] (float32)."""
    wave = torch.as_tensor(np.asarray(audio, dtype=np.float32) if isinstance(audio, np.ndarray) else audio)
    if int(orig_sr) == int(new_sr):
        return wave
    if not wave.is_floating_point():
        raise ValueError("sinc_resample expects floating-point audio")
    gcd = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // gcd, int(new_sr) // gcd
    kernel, width = sinc_kernel(orig_sr, new_sr)
    shape = wave.shape
    flat = wave.reshape(-1, shape[-1])
    length = flat.shape[-1]
    padded = torch.nn.functional.pad(flat, (width, width + orig))
    out = torch.nn.functional.conv1d(padded[:, None], kernel.to(flat.dtype), stride=orig)  # [B, new, frames]
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new * length / orig)
    return out[:, :target].reshape(*shape[:-1], -1)
