"""Tiny random-weight stand-ins for upstream's pretrained models (tests, dry runs); see `models.py`."""

from __future__ import annotations

from pathlib import Path


def make_tiny_pretrained(pretrained_dir: str | Path, seed: int = 1234, whisper: bool = True,
                         pro_versions: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write a complete tiny `pretrained_models/` under upstream's names; return name → path (see tiny.models).

    ``pro_versions`` ("v2Pro", "v2ProPlus") adds those versions' SoVITS G/D, their GPT name and the SV model.
    """
    from gpt_sovits.tiny.models import make_tiny_pretrained as _make  # heavy imports only when called

    return _make(pretrained_dir, seed=seed, whisper=whisper, pro_versions=tuple(pro_versions))


def write_tiny_pro(pretrained_dir: str | Path, version: str, seed: int = 1234) -> dict[str, Path]:
    """Only the files a v2Pro/v2ProPlus workflow adds to a tiny `pretrained_models/` (see tiny.models)."""
    from gpt_sovits.tiny.models import write_tiny_pro as _write

    return _write(pretrained_dir, version, seed)


__all__ = ["make_tiny_pretrained", "write_tiny_pro"]
