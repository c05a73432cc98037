"""Which compute devices this machine offers, judged with upstream's rules (PIPELINE.md §1.3).

Nothing runs on import; call `device_info()` when the answer is needed (it imports torch).
A CUDA device is usable if it has at least 4 GB (total + 0.4 GB, upstream's rounding) and compute capability
5.3 or newer; it runs in fp16 if its capability is above 6.1 and it is not a GTX 16xx card (those are fp32).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

_GTX16 = re.compile(r"16\d\d")


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_gb: float  # total memory in GiB, +0.4 as upstream rounds
    capability: float  # major + minor / 10
    usable: bool
    fp16: bool


@dataclass(frozen=True)
class DeviceInfo:
    gpus: list[GpuInfo] = field(default_factory=list)  # every CUDA device seen, usable or not
    cpu_count: int = 1
    ram_gb: float | None = None
    torch_version: str | None = None
    cuda_version: str | None = None

    @property
    def usable_gpus(self) -> list[GpuInfo]:
        return [g for g in self.gpus if g.usable]

    @property
    def infer_device(self) -> str:
        """Upstream's pick for inference: the usable GPU with the best (capability, memory), else the CPU."""
        usable = self.usable_gpus
        if not usable:
            return "cpu"
        best = max(usable, key=lambda g: (g.capability, g.memory_gb))
        return f"cuda:{best.index}"

    @property
    def is_half(self) -> bool:
        """fp16 if any usable GPU supports it (upstream's rule)."""
        return any(g.fp16 for g in self.usable_gpus)

    @property
    def min_gpu_memory_gb(self) -> float | None:
        usable = self.usable_gpus
        return min(g.memory_gb for g in usable) if usable else None


def classify_gpu(name: str, total_memory_bytes: int, major: int, minor: int) -> tuple[float, float, bool, bool]:
    """(memory_gb, capability, usable, fp16) for one CUDA device, by upstream's thresholds."""
    mem_gb = total_memory_bytes / 2**30 + 0.4
    cap = major + minor / 10
    usable = mem_gb >= 4 and cap >= 5.3
    fp32_only = abs(cap - 6.1) < 1e-6 or (bool(_GTX16.search(name)) and abs(cap - 7.5) < 1e-6)
    fp16 = usable and cap > 6.1 and not fp32_only
    return mem_gb, cap, usable, fp16


def _ram_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return None


def device_info() -> DeviceInfo:
    """Probe torch for CUDA devices. Works (CPU only) when torch has no CUDA."""
    import torch

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            mem_gb, cap, usable, fp16 = classify_gpu(props.name, props.total_memory, props.major, props.minor)
            gpus.append(GpuInfo(i, props.name, mem_gb, cap, usable, fp16))
    return DeviceInfo(
        gpus=gpus,
        cpu_count=os.cpu_count() or 1,
        ram_gb=_ram_gb(),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
    )


def describe(info: DeviceInfo) -> list[str]:
    """Human lines: one per GPU, then the CPU."""
    lines = []
    for g in info.gpus:
        if not g.usable:
            mode = "not usable (needs ≥4 GB and compute capability ≥5.3)"
        else:
            mode = "fp16" if g.fp16 else "fp32"
        lines.append(f"GPU {g.index}: {g.name}, {g.memory_gb - 0.4:.1f} GB, compute {g.capability:.1f}, {mode}")
    ram = f", {info.ram_gb:.0f} GB RAM" if info.ram_gb else ""
    lines.append(f"CPU: {info.cpu_count} cores{ram}")
    if not info.usable_gpus:
        lines.append("No usable CUDA GPU: stages run on the CPU (training is slow).")
    else:
        lines.append(f"Inference device: {info.infer_device}, {'fp16' if info.is_half else 'fp32'}")
    return lines
