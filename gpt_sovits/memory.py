"""Giving freed heap memory back to the operating system after a model load.

Why: loading a model frees its read-in state dict (and, for the packed GPT path, the module's own weights) while the
model stays. glibc keeps such freed blocks inside the process once its dynamic mmap threshold has grown past their
size, so the resident size stays ~100-250 MB above what the models need, and the next request's peak stacks on
top. `malloc_trim(0)` returns those free pages. Elsewhere (another libc, macOS, Windows) this is a no-op.

`share_one_heap`: glibc gives each new thread that allocates a heap ("arena") of its own. The model work runs on one
compute thread (infer/compute.py); in its own arena the same load and requests peaked ~270 MB higher (3174 vs 2904
MiB, exact mode at v2 size: freed blocks held apart in a second set of heaps of at most 64 MB each), in the shared
one they did not (2917 MiB).

`spare_arenas`: but one heap has one lock. The compute thread's OpenMP workers allocate too (fbgemm's int8 linear
packs its input into a fresh buffer on every thread on every call), and on one shared heap the two threads of a
2-core team queue on that lock (futex sleeps and wake-ups) in each of the fast mode's ~100 linears per token:
measured on a 2-core Xeon, v2-size int8 decode step 6.0-6.5 ms with a heap per thread, 8.6-11 ms on one heap. So
before the heap is shared, a few threads take heaps of their own and wait; when they exit glibc keeps those heaps
on its free list and gives them to the next new threads whatever the limit says: the workers the compute thread
starts right after (later threads take the existing heaps in turn). Model memory stays on the shared heap (the
workers only hold their per-call buffers: peak RSS of the v2-size load and two requests 2922-2970 MiB exact,
2896-2900 fast, against 2908-2968 and 2905-2914 with the workers on the shared heap). Where glibc behaves
otherwise the workers share the heap, as before: slower, not wrong.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Callable
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


def _allocate_once() -> None:
    """One malloc and free from the calling thread: glibc binds a thread to its heap at its first allocation."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc"):
        return
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(64))


def claim_current_heap() -> None:
    """Bind the calling thread to its heap now (after `share_one_heap`: the shared one), before `spare_arenas`
    releases the spare heaps that it would otherwise take."""
    _allocate_once()


def spare_arenas(count: int) -> Callable[[], None]:
    """Call before `share_one_heap`: `count` threads take a heap each and wait. The returned function lets them exit,
    which leaves their heaps on glibc's free list for the next `count` new threads (see the module docstring).
    Without glibc, or with count < 1, both do nothing."""
    if count < 1 or _malloc_trim() is None:
        return lambda: None
    leave = threading.Event()
    holders = []
    for i in range(count):
        bound = threading.Event()

        def hold(bound: threading.Event = bound) -> None:
            _allocate_once()
            bound.set()
            leave.wait()

        holder = threading.Thread(target=hold, name=f"gsv-spare-heap-{i}", daemon=True)
        holder.start()
        bound.wait()
        holders.append(holder)

    def release() -> None:
        leave.set()
        for holder in holders:
            holder.join()

    return release


def release_freed_memory() -> bool:
    """Return free heap pages to the OS; True when the C library did (glibc), False where it cannot."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
