"""Band-limited resampling with a Hann-windowed sinc kernel, numerically the same as torchaudio's ``Resample``.

Upstream's v2Pro code resamples with ``torchaudio.transforms.Resample`` (reference clips to 32 kHz, the SV model's
input to 16 kHz). We do not depend on torchaudio, so this module rebuilds that transform in plain torch: the kernel
is computed the way the transform computes it (float64 with a float32 phase term, cast to float32 once), and applied
as one strided ``conv1d``. Same kernel and same convolution give the same samples as upstream.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

__all__ = ["sinc_resample", "sinc_resample_kernel"]

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


@functools.lru_cache(maxsize=16)
def sinc_resample_kernel(orig_freq: int, new_freq: int, lowpass_filter_width: int = LOWPASS_FILTER_WIDTH,
                         rolloff: float = ROLLOFF) -> tuple[torch.Tensor, int]:
    """Polyphase kernel ``[new/g, 1, 2·width + orig/g]`` (float32, CPU) and ``width``, for rates reduced by their gcd.

    Cached per rate pair (upstream caches its transforms the same way); callers never modify the tensor.
    """
    g = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // g, int(new_freq) // g
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig  # [1, 1, K]
    # The output phases are an integer range divided in float32 (torch's default), then promoted: keep that order.
    phase = torch.arange(0, -new, -1)[:, None, None] / new  # [new, 1, 1] float32
    t = (phase + idx) * base_freq
    t = t.clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    scale = base_freq / orig
    kernel = torch.where(t == 0, torch.tensor(1.0, dtype=t.dtype), t.sin() / t)
    kernel = kernel * (window * scale)
    return kernel.to(torch.float32), width


def sinc_resample(wave: torch.Tensor, orig_freq: int, new_freq: int) -> torch.Tensor:
    """Resample ``[..., T]`` float audio from ``orig_freq`` to ``new_freq`` → ``[..., ceil(T·new/orig)]``."""
    if int(orig_freq) == int(new_freq):
        return wave
    if not wave.is_floating_point():
        raise TypeError(f"sinc_resample needs a floating-point wave, got {wave.dtype}")
    g = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // g, int(new_freq) // g
    kernel, width = sinc_resample_kernel(int(orig_freq), int(new_freq))
    kernel = kernel.to(device=wave.device, dtype=wave.dtype)
    shape = wave.shape
    flat = wave.reshape(-1, shape[-1])  # [N, T]
    length = flat.shape[-1]
    padded = F.pad(flat, (width, width + orig))
    out = F.conv1d(padded[:, None], kernel, stride=orig)  # [N, new, frames]
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    # torchaudio rounds the target length through a float32 tensor; a float64 ceil can differ by one sample
    target = int(torch.ceil(torch.tensor(new * length / orig, dtype=torch.float32)))
    return out[..., :target].reshape(*shape[:-1], -1)
