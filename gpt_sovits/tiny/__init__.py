"""Tiny random-weight stand-ins for upstream's pretrained models (tests, dry runs); see `models.py`."""

from __future__ import annotations

from pathlib import Path


def make_tiny_pretrained(pretrained_dir: str | Path, seed: int = 1234, whisper: bool = True) -> dict[str, Path]:
    """Write a complete tiny `pretrained_models/` under upstream's names; return name → path (see tiny.models)."""
    from gpt_sovits.tiny.models import make_tiny_pretrained as _make  # heavy imports only when called

    return _make(pretrained_dir, seed=seed, whisper=whisper)


__all__ = ["make_tiny_pretrained"]
