"""Several GPUs through `torchrun`, one process otherwise: no process group for a single device.

Upstream always starts DDP, which crashes on some single-GPU Windows machines and buys nothing on one device. Here
a run is distributed only when torchrun started it (WORLD_SIZE > 1 in the environment torchrun gives each process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_info(environ: Mapping[str, str] | None = None) -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: a single process)."""
    env = os.environ if environ is None else environ
    return DistInfo(
        rank=int(env.get("RANK", 0)), world_size=int(env.get("WORLD_SIZE", 1)), local_rank=int(env.get("LOCAL_RANK", 0))
    )


def init_distributed(device_type: str = "cpu") -> DistInfo:
    """Join torchrun's process group (gloo on CPU, nccl on CUDA) when there is more than one process."""
    info = dist_info()
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
