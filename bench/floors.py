"""This machine's floors, measured in the same run as the stages they bound: prints figures, asserts nothing.

    python -m bench.floors [--threads 1,2] [--mbytes 305] [--quick] [--json out.json]

* memory bandwidth (GB/s): `tensor.sum()` over an fp32 buffer as large as the GPT's per-token weights (~305 MB at
  v2 size), best of several passes. A batch-1 decode step reads every weight once, so weight bytes / bandwidth is
  the least a token can cost.
* matmul peak (GFLOP/s): square fp32 and bf16 matmuls (1024³ and 2048³), best of several. The SoVITS decoder is
  mostly convolutions, so its FLOPs / this peak is the least an audio second can cost.

Each figure is taken at every thread count of `--threads`; a neighbour on the CPU lowers them, which is why
`bench_speed.py` measures them in the same run as the stages and reports ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

GPT_WEIGHT_MBYTES = 305  # v2 GPT: 76.2 M parameters read per token (transformer + output layer), fp32


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: page faults, thread pool start, kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def memory_bandwidth_gbs(mbytes: float = GPT_WEIGHT_MBYTES, repeats: int = 5) -> float:
    """GB/s of a streaming read (sum) over an fp32 buffer of `mbytes` MB, best of `repeats`, at the current threads."""
    buf = torch.ones(int(mbytes * 1e6 / 4), dtype=torch.float32)
    seconds = _best_seconds(lambda: buf.sum(), repeats)
    return buf.numel() * 4 / seconds / 1e9


def matmul_gflops(n: int, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """GFLOP/s of an n×n by n×n matmul (2n³ FLOPs) in `dtype`, best of `repeats`, at the current threads."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    seconds = _best_seconds(lambda: torch.mm(a, b, out=out), repeats)
    return 2 * n**3 / seconds / 1e9


def cpu_flags() -> set[str]:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_line() -> str:
    """One line naming the CPU, its cores, the vector extensions that matter here, and torch."""
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    isa = [name for name, flag in (("AVX-512", "avx512f"), ("bf16", "avx512_bf16"), ("VNNI", "avx512_vnni"),
                                   ("AMX", "amx_tile")) if flag in flags]
    cores = len(__import__("os").sched_getaffinity(0))
    return f"{model}, {cores} cores, {' '.join(isa) or 'no AVX-512'}, torch {torch.__version__}"


def measure_floors(threads: Sequence[int] = (1, 2), mbytes: float = GPT_WEIGHT_MBYTES, sizes: Sequence[int] = (1024, 2048),
                   repeats: int = 5) -> dict:
    """{"<n>": {"bandwidth_gbs", "fp32_gflops", "bf16_gflops"}} per thread count; peaks are the best over `sizes`."""
    out: dict[str, dict[str, float]] = {}
    for n in threads:
        with torch_threads(n):
            row = {"bandwidth_gbs": memory_bandwidth_gbs(mbytes, repeats)}
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                row[f"{name}_gflops"] = max(matmul_gflops(size, dtype, repeats) for size in sizes)
        out[str(n)] = {k: round(v, 2) for k, v in row.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--mbytes", type=float, default=GPT_WEIGHT_MBYTES, help="size of the streamed buffer (MB)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1024³ matmuls only")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t]
    floors = measure_floors(threads, args.mbytes, (1024,) if args.quick else (1024, 2048), 2 if args.quick else 5)
    print(machine_line())
    for n, row in floors.items():
        print(f"{n} thread(s): bandwidth {row['bandwidth_gbs']:.1f} GB/s, fp32 {row['fp32_gflops']:.0f} GFLOP/s, "
              f"bf16 {row['bf16_gflops']:.0f} GFLOP/s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine_line(), "floors": floors}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
