"""Where a SoVITS finetune starts: upstream's pretrained G/D, or any upstream-format finetuned SoVITS weights file.

Upstream loads the pretrained G non-strictly and says nothing about keys that did not fit; here the missing and
unexpected keys are counted and reported. "Continue from" (not in upstream) starts from a finetuned weights file:
those files carry no posterior encoder (enc_q), so it comes from the pretrained G first and the finetuned weights
go on top; a file of another version or symbol table is refused with a plain reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gpt_sovits.models.checkpoints import TEXT_EMBEDDING_KEY, read_sovits_state
from gpt_sovits.models.safe_load import CheckpointError, load_checkpoint


@dataclass
class InitReport:
    g_path: Path
    d_path: Path | None
    continue_from: Path | None = None
    missing: list[str] = field(default_factory=list)  # G keys the pretrained file did not provide
    unexpected: list[str] = field(default_factory=list)  # keys in the file the network does not have

    def lines(self) -> list[str]:
        out = [f"generator initialised from {self.g_path}"]
        if self.missing or self.unexpected:
            out.append(f"  {len(self.missing)} missing keys {self.missing[:5]}, "
                       f"{len(self.unexpected)} unexpected keys {self.unexpected[:5]} (loaded non-strictly)")
        else:
            out.append("  all generator keys matched")
        out.append(f"discriminator initialised from {self.d_path}" if self.d_path else
                   "discriminator: no pretrained file, starting from random weights")
        if self.continue_from:
            out.append(f"continuing from the finetuned weights {self.continue_from}")
        return out


def _check_shapes(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, version: str) -> None:
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            if key == TEXT_EMBEDDING_KEY:
                raise CheckpointError(
                    f"{path}: its phone table has {value.shape[0]} symbols, this {version} training uses "
                    f"{own[key].shape[0]}: it was trained for another model version. Pick a {version} SoVITS file.")
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, the network being trained has {tuple(own[key].shape)} "
                "(different model size or version). Pick a file trained with the same SoVITS config.")


def load_generator(net_g: nn.Module, path: Path, version: str) -> tuple[list[str], list[str]]:
    """Non-strict load of a SoVITS G file (fp16 values copied into the fp32 parameters) → (missing, unexpected)."""
    state, _config, file_version = read_sovits_state(path)
    if file_version != version:
        raise CheckpointError(f"{path}: this is a SoVITS {file_version} file; the experiment trains {version}. "
                              f"Pick a {version} file (or train {file_version}).")
    _check_shapes(net_g, state, path, version)
    result = net_g.load_state_dict(state, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)


def load_discriminator(net_d: nn.Module, path: Path) -> None:
    """Strict load of upstream's pretrained D file (``{"weight": state dict}``)."""
    contents = load_checkpoint(path)
    weight = contents.data.get("weight")
    if not isinstance(weight, Mapping):
        raise CheckpointError(f"{path}: no 'weight' state dict: not a SoVITS discriminator file (s2D*.pth)")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in weight.items()}
    try:
        net_d.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: does not fit the discriminator: {str(err).splitlines()[0]}") from None


def initialise(net_g: nn.Module, net_d: nn.Module, pretrained_g: Path, pretrained_d: Path | None, version: str,
               continue_from: Path | None = None) -> InitReport:
    """Pretrained G (non-strict) and D (strict), then the finetuned weights of ``continue_from`` on top."""
    if not pretrained_g.is_file():
        raise FileNotFoundError(f"pretrained SoVITS G not found: {pretrained_g}")
    missing, unexpected = load_generator(net_g, pretrained_g, version)
    report = InitReport(pretrained_g, pretrained_d, continue_from, missing, unexpected)
    if pretrained_d is not None:
        if not pretrained_d.is_file():
            raise FileNotFoundError(f"pretrained SoVITS D not found: {pretrained_d}")
        load_discriminator(net_d, pretrained_d)
    if continue_from is not None:
        missing, unexpected = load_generator(net_g, continue_from, version)
        not_enc_q = [k for k in missing if not k.startswith("enc_q.")]
        if not_enc_q or unexpected:
            raise CheckpointError(f"{continue_from}: does not fit the network: missing {not_enc_q[:5]}, "
                                  f"unexpected {unexpected[:5]}")
    return report
