"""Bring recordings into a dataset (`datasets/<name>/raw/`) without ever overwriting one that is there.

Uploads arrive as temporary files; each is copied under a name a `.list` line can hold. The same file uploaded twice
is stored once; a different file with a name already taken gets `<stem>-2<ext>`, `-3`...
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from gpt_sovits.paths import safe_file_name


def import_recordings(files: list[Path], raw_dir: Path) -> tuple[list[Path], list[Path]]:
    """Copy `files` into `raw_dir`; returns (copied, already there). Hidden files and folders are skipped."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    present: list[Path] = []
    for src in files:
        src = Path(src)
        if not src.is_file() or src.name.startswith("."):
            continue
        name = safe_file_name(src.name)
        target = raw_dir / name
        n = 1
        while target.exists():
            if filecmp.cmp(src, target, shallow=False):
                break
            n += 1
            target = raw_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
        if target.exists():
            present.append(target)
            continue
        shutil.copyfile(src, target)
        copied.append(target)
    return copied, present
