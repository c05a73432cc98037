"""1Ab's audio arithmetic (upstream `2-get-hubert-wav32k.py`), kept apart from file and model handling.

A 32 kHz clip `x` with peak `p = max|x|` becomes `x/p * (0.95*0.5*S) + 0.5*S*x`: half peak-normalised to 0.95, half
left as recorded. With S = 32768 that is the int16 wav in `5-wav32k/`; with S = 1145.14 it is the HuBERT input
(resampled to 16 kHz, fed to the model without normalisation; the features depend on this scale, so it stays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpt_sovits.audio.io import resample

SAMPLE_RATE = 32000
HUBERT_RATE = 16000
MAX_PEAK = 2.2            # louder clips are skipped, as upstream does
PEAK_TARGET = 0.95
NORMALISED_SHARE = 0.5    # upstream's `alpha`
INT16_SCALE = 32768.0
HUBERT_SCALE = 1145.14


class PeakTooHighError(ValueError):
    """The clip's peak exceeds MAX_PEAK (upstream filters such clips out)."""


def peak_mix(audio: np.ndarray, peak: float, scale: float) -> np.ndarray:
    """`x/peak*(0.95*0.5*scale) + 0.5*scale*x` in float32, upstream's order of operations."""
    return (audio / peak * (PEAK_TARGET * NORMALISED_SHARE * scale)) + ((1 - NORMALISED_SHARE) * scale) * audio


@dataclass(frozen=True)
class PreparedAudio:
    wav32k_int16: np.ndarray   # [T32] int16, the 5-wav32k file's samples
    hubert_input: np.ndarray   # [T16] float32, the HuBERT model input at 16 kHz
    peak: float


def prepare_audio(audio32k: np.ndarray) -> PreparedAudio:
    """Peak-mix a mono float32 32 kHz clip into the stored wav and the HuBERT input."""
    audio32k = np.asarray(audio32k, dtype=np.float32)
    if audio32k.ndim != 1 or audio32k.size == 0:
        raise ValueError("expected a non-empty mono signal")
    peak = float(np.abs(audio32k).max())
    if peak > MAX_PEAK:
        raise PeakTooHighError(f"peak amplitude {peak:.3f} is above {MAX_PEAK} (clipped or corrupt audio); skipped")
    if peak == 0.0:
        raise ValueError("the clip is silent (all samples are zero)")
    mixed32 = peak_mix(audio32k, peak, INT16_SCALE)
    # Upstream casts with .astype(int16), which wraps around for the few peaks in (1.05, 2.2] that overflow int16.
    # We clip instead: identical for every sample in range, and no wrap-around clicks for the rest.
    wav_int16 = np.clip(mixed32, -32768, 32767).astype(np.int16)
    hubert32 = peak_mix(audio32k, peak, HUBERT_SCALE)
    hubert16 = resample(hubert32, SAMPLE_RATE, HUBERT_RATE)
    return PreparedAudio(wav_int16, np.ascontiguousarray(hubert16, dtype=np.float32), peak)
