"""Speed and memory of one GPT (s1) training batch at full v2 size with random weights. Prints figures; asserts nothing.

    python bench/bench_train_gpt.py [--batch 2] [--phones 96] [--tokens 200] [--repeats 3] [--threads N] [--device cpu]

* forward + backward: upstream's training forward (summed cross-entropy, dropout as upstream: 0.1) on a batch of
  `--batch` items of `--phones` phones and `--tokens` semantic tokens;
* ScaledAdam update: one optimiser step over all 77 M parameters (the first step initialises the state and is
  not timed).
Both in fp32 on the CPU; on CUDA also with fp16 autocast + GradScaler (upstream's `16-mixed`). Medians over
`--repeats` runs after one warm-up; peak memory is CUDA's max_memory_allocated, or the process's peak RSS on the CPU.
A busy machine inflates the numbers.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
import yaml

from gpt_sovits.dataset.gpt_data import GPTBatch
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.train.gpt_recipe import make_optimizer

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench(batch: int, phones: int, tokens: int, repeats: int, device: torch.device, half: bool) -> dict[str, float]:
    config = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    torch.manual_seed(0)
    model = Text2SemanticDecoder(config).to(device).train()
    optimizer = make_optimizer(model, lr=0.002)
    gen = torch.Generator().manual_seed(0)
    data = GPTBatch(
        torch.randint(1, 732, (batch, phones), generator=gen), torch.full((batch,), phones),
        torch.randint(0, 1024, (batch, tokens), generator=gen), torch.full((batch,), tokens),
        torch.randn(batch, 1024, phones, generator=gen) * 0.1,
    ).to(device)
    scaler = torch.amp.GradScaler(device.type, enabled=half)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fwd_bwd, update = [], []
    for i in range(repeats + 1):  # the first run warms up (and creates the optimiser state)
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.float16, enabled=half):
            loss = model(*data.model_args()).loss
        scaler.scale(loss).backward()
        _sync(device)
        t1 = time.perf_counter()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        t2 = time.perf_counter()
        if i:
            fwd_bwd.append(t1 - t0)
            update.append(t2 - t1)
    return {
        "forward_backward_s": round(statistics.median(fwd_bwd), 4),
        "scaledadam_update_s": round(statistics.median(update), 4),
        "peak_memory_mb": round(_peak_mb(device), 1),
        "tokens_per_s": round(batch * (tokens + 1) / statistics.median(fwd_bwd), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--phones", type=int, default=96)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    runs = {"fp32": False} if device.type == "cpu" else {"fp32": False, "fp16": True}
    for name, half in runs.items():
        result = bench(args.batch, args.phones, args.tokens, args.repeats, device, half)
        print(json.dumps({"device": str(device), "precision": name, "batch": args.batch, "phones": args.phones,
                          "tokens": args.tokens, "threads": torch.get_num_threads(), **result}))


if __name__ == "__main__":
    main()
