"""Giving freed heap memory back to the operating system after a model load.

Why: loading a model frees its read-in state dict (and, for the packed GPT path, the module's own weights) while the
model stays. glibc keeps such freed blocks inside the process once its dynamic mmap threshold has grown past their
size, so the resident size stays ~100-250 MB above what the models need, and the next request's peak stacks on
top. `malloc_trim(0)` returns those free pages. Elsewhere (another libc, macOS, Windows) this is a no-op.

`share_one_heap`: glibc gives each new thread that allocates a heap ("arena") of its own. The model work runs on one
compute thread (infer/compute.py); in its own arena the same load and requests peaked ~270 MB higher (3174 vs 2904
MiB, exact mode at v2 size: freed blocks held apart in a second set of heaps of at most 64 MB each), in the shared
one they did not (2917 MiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


@lru_cache(maxsize=1)
def _malloc_trim():
    trim = getattr(_libc(), "malloc_trim", None)  # not glibc (e.g. musl has no malloc_trim): None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def share_one_heap() -> bool:
    """Make threads that allocate from now on share the heap of those before them (glibc `mallopt(M_ARENA_MAX, 1)`,
    process-wide); True when the C library took it, False where it cannot (not glibc)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None or _malloc_trim() is None:  # malloc_trim marks glibc (musl has mallopt as a stub)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))


def release_freed_memory() -> bool:
    """Return free heap pages to the OS; True when the C library did (glibc), False where it cannot."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
