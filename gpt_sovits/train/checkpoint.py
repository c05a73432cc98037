"""Training checkpoints that survive a kill at any instant: atomic writes, retention, RNG state.

A resume file is written to a temporary file in the target folder, flushed to disk and renamed over the old one,
so a SIGKILL or a full disk mid-write leaves the previous checkpoint loadable. Both trainers use these helpers;
what goes *into* a checkpoint is each trainer's business.
"""

from __future__ import annotations

import errno
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written; the previous file (if any) is untouched."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save(obj)` to `path` atomically: temp file beside it, fsync, rename; the old file survives failures.

    The file gets the permissions of the user's umask (mkstemp alone would leave 0600).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise CheckpointWriteError(f"Could not write {path}: {e.strerror or e}.") from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            hint = " The disk is full: free some space." if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise CheckpointWriteError(
                f"Could not write {path}: {e.strerror or e}.{hint} The previous checkpoint is unchanged."
            ) from e
        raise
    _fsync_dir(path.parent)
    return path


_NUMBER = re.compile(r"(\d+)")


def _sort_key(path: Path) -> tuple:
    """Order checkpoint names by the numbers in them (G_99 before G_100), then by modification time."""
    numbers = tuple(int(n) for n in _NUMBER.findall(path.name))
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        mtime = 0.0
    return numbers, mtime


def keep_latest(folder: str | Path, pattern: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` files in `folder` matching the glob `pattern`; returns what was deleted."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    files = sorted((p for p in Path(folder).glob(pattern) if p.is_file()), key=_sort_key)
    removed = []
    for old in files[:-keep]:
        try:
            old.unlink()
            removed.append(old)
        except FileNotFoundError:
            pass
    return removed


def rng_state() -> dict[str, Any]:
    """Every random generator a training step may use, in a form `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA states only when CUDA is present and they were saved)."""
    if "python" in state:
        random.setstate(_tuplify(state["python"]))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)
