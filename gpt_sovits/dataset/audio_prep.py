"""1Ab's audio rules (upstream `2-get-hubert-wav32k.py`): which clips are kept, and what is stored and fed to HuBERT.

The peak mix itself (`x/p * (0.95*0.5*S) + 0.5*S*x`, S = 32768 for the stored int16 wav and 1145.14 for the HuBERT
input, which is then resampled to 16 kHz) lives with the HuBERT model in `gpt_sovits.models.hubert`; here we add
upstream's filter: clips whose peak exceeds 2.2 are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpt_sovits.models.hubert import PREP_MAX_PEAK, PREP_SR, prep_hubert_input, prep_wav32_int16

SAMPLE_RATE = PREP_SR
MAX_PEAK = PREP_MAX_PEAK


class PeakTooHighError(ValueError):
    """The clip's peak exceeds MAX_PEAK (upstream filters such clips out)."""


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
        raise PeakTooHighError(f"peak amplitude {peak:.3f} is above {MAX_PEAK} (clipped or corrupt audio); "
                               "skipped, as upstream does")
    if peak == 0.0:
        raise ValueError("the clip is silent (all samples are zero)")
    hubert16 = prep_hubert_input(audio32k, SAMPLE_RATE)
    return PreparedAudio(prep_wav32_int16(audio32k), np.ascontiguousarray(hubert16, dtype=np.float32), peak)
