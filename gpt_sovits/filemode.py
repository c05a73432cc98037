"""Permissions for files written through a temporary file (mkstemp makes them 0600, private to the writer).

Files we write should look like any file the user makes: the mode their umask gives (usually 0644), or the mode the
file already had when we replace it, so a shared dataset folder stays readable by the group that shares it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (changing it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_for(path: str | Path) -> int:
    """The mode a file written at `path` should get: the existing file's, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()
