"""Freed heap memory goes back to the OS after a model load (gpt_sovits.memory), on glibc Linux."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gpt_sovits.memory import release_freed_memory


def test_release_is_safe_to_call_repeatedly():
    assert release_freed_memory() in (True, False)
    assert release_freed_memory() in (True, False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and needs glibc's malloc_trim")
def test_freed_heap_blocks_leave_the_resident_set():
    # In a fresh process: 300 MB in 100 kB blocks (below glibc's mmap threshold, so on the heap), a small block after
    # them so the heap's top cannot shrink by itself, then all big blocks freed: the pages stay resident until trimmed.
    script = textwrap.dedent("""
        from pathlib import Path
        from gpt_sovits.memory import release_freed_memory

        def rss_mib():
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        blocks = [bytearray(100_000) for _ in range(3000)]
        for b in blocks:
            b[::4096] = b"x" * len(b[::4096])  # touch every page
        pin = bytearray(1000)
        del blocks
        before = rss_mib()
        trimmed = release_freed_memory()
        print(trimmed, before, rss_mib())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    trimmed, before, after = out[0] == "True", float(out[1]), float(out[2])
    assert trimmed, "glibc's malloc_trim should be found on this Linux"
    assert before - after > 150, f"RSS {before:.0f} MiB before, {after:.0f} MiB after release_freed_memory()"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs glibc's mallopt and malloc_info")
@pytest.mark.parametrize("share", [True, False])
def test_after_share_one_heap_a_new_thread_allocates_from_the_existing_heap(share):
    # glibc's malloc_info lists one <heap> per arena; a thread that allocates gets an arena of its own unless the
    # process is limited to one (share_one_heap), which the compute thread relies on (memory.py says why).
    script = textwrap.dedent(f"""
        import ctypes, os, tempfile, threading
        from gpt_sovits.memory import share_one_heap

        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]

        def heaps():
            path = tempfile.mktemp()
            fp = libc.fopen(path.encode(), b"w")
            libc.malloc_info(0, fp)
            libc.fclose(fp)
            text = open(path).read()
            os.unlink(path)
            return text.count("<heap nr=")

        took = share_one_heap() if {share} else None
        def work():
            blocks = [libc.malloc(50_000) for _ in range(100)]
            for b in blocks:
                libc.free(b)
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        print(took, heaps())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    if share:
        assert out == ["True", "1"]
    else:
        assert int(out[1]) >= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs glibc's mallopt")
@pytest.mark.parametrize("spare", [True, False])
def test_spare_arenas_give_the_next_new_thread_a_heap_of_its_own_after_the_heap_is_shared(spare):
    # The compute thread's sequence (infer/compute.py): spare heaps, share, the compute thread binds to the shared
    # heap, the spares are released, then its OpenMP worker starts. Which heap a block came from shows in its
    # address: a thread's own heap is a separate 64 MiB-aligned mapping, the shared one is the main heap.
    script = textwrap.dedent(f"""
        import ctypes, threading
        from gpt_sovits.memory import claim_current_heap, share_one_heap, spare_arenas

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        blocks = {{}}

        def allocate(name):
            blocks[name] = libc.malloc(50_000)  # kept: below the mmap threshold, so from the thread's heap

        release = spare_arenas(1) if {spare} else (lambda: None)
        assert share_one_heap()
        def compute():
            claim_current_heap()
            allocate("compute")
            release()
            worker = threading.Thread(target=allocate, args=("worker",))
            worker.start()
            worker.join()
        thread = threading.Thread(target=compute)
        thread.start()
        thread.join()
        allocate("main")
        print(*(blocks[name] >> 26 == blocks["main"] >> 26 for name in ("compute", "worker")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    # the compute thread on the shared (main) heap; the first new thread on the spare when there is one (threads
    # after it take the existing heaps in turn: glibc's limit counts the spare too)
    assert out == ["True", str(not spare)]
