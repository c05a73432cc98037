"""Which GPT and SoVITS weight files a user can pick: finetuned ones under weights/ plus the pretrained bases."""

from __future__ import annotations

import re
from pathlib import Path

from gpt_sovits.paths import PRETRAINED_GPT, PRETRAINED_SOVITS_G, ProjectPaths


def natural_key(path: Path) -> list:
    """Sort 'exp_e10' after 'exp_e9' (digit runs compared as numbers), as upstream's dropdowns do."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def _weight_dirs(paths: ProjectPaths, prefix: str) -> list[Path]:
    return sorted(d for d in paths.weights.glob(f"{prefix}*") if d.is_dir()) if paths.weights.is_dir() else []


def list_gpt_weights(paths: ProjectPaths) -> list[Path]:
    """Finetuned `weights/GPT_weights*/*.ckpt` (natural order), then the pretrained GPT files that exist."""
    found = sorted((f for d in _weight_dirs(paths, "GPT_weights") for f in d.glob("*.ckpt")), key=natural_key)
    found += [paths.pretrained_models / rel for rel in dict.fromkeys(PRETRAINED_GPT.values())
              if (paths.pretrained_models / rel).is_file()]
    return found


def list_sovits_weights(paths: ProjectPaths) -> list[Path]:
    """Finetuned `weights/SoVITS_weights*/*.pth` (natural order), then the pretrained SoVITS G files that exist."""
    found = sorted((f for d in _weight_dirs(paths, "SoVITS_weights") for f in d.glob("*.pth")), key=natural_key)
    found += [paths.pretrained_models / rel for rel in PRETRAINED_SOVITS_G.values()
              if (paths.pretrained_models / rel).is_file()]
    return found
