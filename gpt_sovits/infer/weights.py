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


def newest_finetuned(paths: ProjectPaths, kind: str, exp: str | None = None) -> Path | None:
    """The most recently written finetuned weights of `kind` ("gpt" or "sovits"), of experiment `exp` if given.

    Finetuned names are upstream's: `<exp>-e<E>.ckpt` (GPT) and `<exp>_e<E>_s<S>.pth` (SoVITS).
    """
    if kind not in ("gpt", "sovits"):
        raise ValueError(f"unknown weights kind {kind!r}")
    prefix, glob = ("GPT_weights", "*.ckpt") if kind == "gpt" else ("SoVITS_weights", "*.pth")
    files = [f for d in _weight_dirs(paths, prefix) for f in d.glob(glob)]
    if exp is not None:
        pattern = re.compile(re.escape(exp) + (r"-e\d+\.ckpt$" if kind == "gpt" else r"_e\d+_s\d+(_l\d+)?\.pth$"))
        files = [f for f in files if pattern.match(f.name)]
    return max(files, key=lambda f: f.stat().st_mtime_ns) if files else None
