"""Speaker verification (SV) of the v2Pro/v2ProPlus models: 16 kHz wave → fbank → ERes2NetV2 → [B, 20480].

``SpeakerEncoder.load(path)`` reads upstream's ``pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt`` (a bare
state dict) with ``weights_only=True`` and loads it strictly; ``embed(wav16k)`` is upstream's ``compute_embedding3``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gpt_sovits.models.safe_load import CheckpointError, load_checkpoint
from gpt_sovits.models.sv.eres2netv2 import SV_EMBEDDING_DIM, ERes2NetV2, build_eres2netv2
from gpt_sovits.models.sv.fbank import fbank

__all__ = ["SV_EMBEDDING_DIM", "SV_SAMPLE_RATE", "ERes2NetV2", "SpeakerEncoder", "build_eres2netv2", "fbank"]

SV_SAMPLE_RATE = 16000


@dataclass
class SpeakerEncoder:
    """The loaded SV network (eval mode) and the precision it runs in."""

    model: ERes2NetV2
    device: torch.device
    dtype: torch.dtype = torch.float32

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", half: bool = False) -> "SpeakerEncoder":
        """Strictly load upstream's SV checkpoint; a missing or mismatching file raises ``CheckpointError``."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"{path}: speaker-verification model not found. v2Pro/v2ProPlus need upstream's "
                "pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt (tools/download_pretrained.py --gpt-sovits "
                "v2Pro fetches it).")
        state = load_checkpoint(path).data
        if "weight" in state and isinstance(state["weight"], dict):
            state = state["weight"]
        model = build_eres2netv2()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"{path}: not an ERes2NetV2(w24, s4, e4) state dict: {err}") from err
        dtype = torch.float16 if half else torch.float32
        model.eval().to(device=device, dtype=dtype)
        return cls(model=model, device=torch.device(device), dtype=dtype)

    def features(self, wav16k: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` 16 kHz float wave → fbank ``[B, T, 80]`` (rows of equal length)."""
        wav = wav16k.to(self.device, self.dtype)
        return torch.stack([fbank(row) for row in wav])

    @torch.no_grad()
    def embed(self, wav16k: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` 16 kHz float wave in [-1, 1] → ``[B, 20480]`` (upstream's ``compute_embedding3``)."""
        if wav16k.dim() == 1:
            wav16k = wav16k[None]
        return self.model.embed(self.features(wav16k))
