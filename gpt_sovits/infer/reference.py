"""Reference clip → what the SoVITS decoder conditions on, as upstream's inference path computes it.

Upstream (``get_spepc``) reads the file at its own rate, averages two channels, resamples to the model's rate with
torchaudio's sinc resampler, divides by min(2, peak) when the peak exceeds 1, and takes the linear spectrogram. For
v2Pro/v2ProPlus it also resamples that same wave to 16 kHz for the speaker-verification model, whose embedding goes
into the timbre vector next to the spectrogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from gpt_sovits.audio.io import read_audio
from gpt_sovits.audio.sinc_resample import sinc_resample
from gpt_sovits.audio.spectrogram import spectrogram

SV_RATE = 16000

__all__ = ["ReferenceAudio", "read_reference", "reference_audio"]


@dataclass(frozen=True)
class ReferenceAudio:
    wave: torch.Tensor  # [1, N] at the model's rate, peak-limited
    spec: torch.Tensor  # [1, n_fft // 2 + 1, frames]
    wav16k: torch.Tensor | None  # [1, N16] SV input (v2Pro family only)


def read_reference(path: str | Path) -> tuple[torch.Tensor, int]:
    """The file as float32 ``[channels, samples]`` and its rate (PCM scaled by 1/32768, float as stored)."""
    data, sr = read_audio(path)  # [T, C]
    return torch.from_numpy(data.T.copy()), int(sr)


def reference_audio(samples: torch.Tensor, sr: int, data: Mapping[str, Any], with_sv: bool) -> ReferenceAudio:
    """``samples [C, N]`` at ``sr`` → the decoder's reference inputs; ``data`` is the model config's data section."""
    audio = samples.float()
    if audio.shape[0] > 1:
        audio = audio.mean(0).unsqueeze(0)  # upstream averages two channels; more are averaged the same way
    target = int(data["sampling_rate"])
    if sr != target:
        audio = sinc_resample(audio, sr, target)
    peak = audio.abs().max()
    if peak > 1:
        audio = audio / min(2, peak)
    spec = spectrogram(audio, int(data["filter_length"]), int(data["hop_length"]), int(data["win_length"]))
    wav16k = sinc_resample(audio, target, SV_RATE) if with_sv else None
    return ReferenceAudio(wave=audio, spec=spec, wav16k=wav16k)
