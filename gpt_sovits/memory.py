"""Giving freed heap memory back to the operating system after a model load.

Why: loading a model frees its read-in state dict (and, for the packed GPT path, the module's own weights) while the
model stays. glibc keeps such freed blocks inside the process once its dynamic mmap threshold has grown past their
size, so the resident size stays ~100-250 MB above what the models need, and the next request's peak stacks on
top. `malloc_trim(0)` returns those free pages. Elsewhere (another libc, macOS, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return free heap pages to the OS; True when the C library did (glibc), False where it cannot."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
