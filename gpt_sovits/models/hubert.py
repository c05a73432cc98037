"""chinese-hubert-base features (50 Hz, 768-d) from a local transformers folder, with upstream's two input conventions.

* Inference (reference prompt, ARCHITECTURE §4.1): the raw [-1, 1] 16 kHz wave, plus `int(32000·pause_second)` zeros
  appended (0.6 s at 16 kHz for the default 0.3 s pause — an upstream quirk kept for parity), straight into
  `HubertModel` (no feature-extractor normalisation): `reference_input` + `features`.
* Data prep (1A, `2-get-hubert-wav32k`): the 32 kHz wave is peak-mixed `a/peak·(0.95·0.5·S) + 0.5·S·a`, with
  S = 32768 for the stored int16 wav and S = 1145.14 for the HuBERT input, which is then resampled 32k→16k
  (soxr HQ, librosa's default): `prep_wav32_int16`, `prep_hubert_input` + `features`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gpt_sovits.audio.io import resample

HUBERT_SR = 16000
PREP_SR = 32000
PREP_MAXX = 0.95
PREP_ALPHA = 0.5
PREP_HUBERT_SCALE = 1145.14
PREP_INT16_SCALE = 32768.0
PREP_MAX_PEAK = 2.2  # upstream skips files louder than this


class ModelFolderError(FileNotFoundError):
    """A pretrained model folder (HuBERT, BERT) is missing or incomplete."""


WEIGHT_FILE_NAMES = ("model.safetensors", "pytorch_model.bin")


def check_model_folder(path: Path, what: str, required: tuple[str, ...], one_of: tuple[tuple[str, ...], ...]) -> None:
    """Raise ModelFolderError naming the folder and the files it should hold."""
    expected = list(required) + [" or ".join(group) for group in one_of]
    hint = f"{what} folder {path} must contain: {', '.join(expected)}."
    if not path.is_dir():
        raise ModelFolderError(f"{what} model folder not found: {path}. {hint} Put upstream's files there.")
    missing = [name for name in required if not (path / name).is_file()]
    missing += [" or ".join(group) for group in one_of if not any((path / n).is_file() for n in group)]
    if missing:
        raise ModelFolderError(f"{what} model folder {path} is incomplete: missing {', '.join(missing)}. {hint}")


def reference_input(wav16k: np.ndarray | torch.Tensor, pause_second: float = 0.3) -> torch.Tensor:
    """Inference convention: wave ++ int(32000·pause_second) zeros (sic: 32000 on a 16 kHz wave) → [1, T] float32."""
    wav = torch.as_tensor(np.asarray(wav16k, dtype=np.float32)).reshape(-1)
    zeros = torch.zeros(int(PREP_SR * pause_second), dtype=torch.float32)
    return torch.cat([wav, zeros])[None]


def _peak_mix(wav32: np.ndarray, scale: float) -> np.ndarray:
    wav32 = np.asarray(wav32, dtype=np.float32)
    peak = np.abs(wav32).max()
    if peak <= 0:
        raise ValueError("audio is silent (peak 0): cannot normalise it for HuBERT")
    return (wav32 / peak * (PREP_MAXX * PREP_ALPHA * scale)) + ((1 - PREP_ALPHA) * scale) * wav32


def prep_wav32_int16(wav32: np.ndarray) -> np.ndarray:
    """Data-prep mix stored in 5-wav32k (int16, truncated like upstream's astype).

    Deliberate fix: values are clipped to the int16 range before the cast (upstream wraps around for peaks > ~1.03,
    which only happens for clipped inputs; results for inputs upstream handles are unchanged).
    """
    mixed = _peak_mix(wav32, PREP_INT16_SCALE)
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def prep_hubert_input(wav32: np.ndarray, sr: int = PREP_SR) -> np.ndarray:
    """Data-prep HuBERT input: the peak mix with 1145.14, resampled to 16 kHz (float32 [T16])."""
    mixed = _peak_mix(wav32, PREP_HUBERT_SCALE).astype(np.float32)
    return resample(mixed, sr, HUBERT_SR)


class HubertFeatureExtractor:
    """`HubertModel` (last_hidden_state) over 16 kHz waves → [B, hidden, frames] (50 Hz)."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.model = model.eval().to(device)
        self.device = torch.device(device)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> HubertFeatureExtractor:
        path = Path(path)
        check_model_folder(path, "HuBERT (chinese-hubert-base)", ("config.json",), (WEIGHT_FILE_NAMES,))
        from transformers import HubertModel  # heavy import, only when a model is loaded

        model = HubertModel.from_pretrained(str(path), local_files_only=True)
        return cls(model.float(), device)

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor | np.ndarray) -> torch.Tensor:
        """wav16k [T] or [B, T] float (no normalisation applied) → [B, hidden, frames] in the model's dtype.

        The model is fp32 unless the caller halved it (upstream stores fp16 features when running in half).
        """
        wav = torch.as_tensor(np.asarray(wav16k, dtype=np.float32) if isinstance(wav16k, np.ndarray) else wav16k)
        if wav.dim() == 1:
            wav = wav[None]
        dtype = next(self.model.parameters()).dtype
        hidden = self.model(wav.to(self.device, dtype)).last_hidden_state  # [B, frames, hidden]
        return hidden.transpose(1, 2)

    def reference_features(self, wav16k: np.ndarray | torch.Tensor, pause_second: float = 0.3) -> torch.Tensor:
        """Inference path for a reference clip: append the silence pad, then `features` → [1, hidden, frames]."""
        return self.features(reference_input(wav16k, pause_second))

    def prep_features(self, wav32: np.ndarray, sr: int = PREP_SR) -> torch.Tensor:
        """Data-prep path for a 32 kHz training clip → [1, hidden, frames] (what 4-cnhubert/<name>.pt holds)."""
        return self.features(prep_hubert_input(wav32, sr))
