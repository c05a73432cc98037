"""Training speed and memory with v2-size random weights: prints figures, asserts nothing.

    python -m bench.bench_train sovits [--seconds 8] [--batch-size 1] [--steps 3] [--device cpu|cuda] [--precision ...]
    python -m bench.bench_train gpt [--batch 2] [--phones 96] [--tokens 200] [--repeats 3] [--threads N] [--device cpu]

One section per model family; each reports seconds per optimiser step (median after one warm-up step) and peak
memory (CUDA: `torch.cuda.max_memory_allocated`; CPU: the process's peak resident set size, which includes the
Python/torch baseline). On a shared machine also read `cpu_s_per_step` (process CPU seconds): wall time there
measures the neighbours as much as the step.

SoVITS: one full training step of `gpt_sovits.train.sovits_step.train_step` (generator forward, D step, G step
against the updated D, both AdamW steps) of upstream's v2 G (configs/s2.json) and D on `batch_size` clips of
`seconds` of audio, with the config's 32-frame (20480-sample) training segment. Prints one JSON line.

GPT: one s1 training batch at full v2 size (configs/s1longer-v2.yaml): forward + backward (upstream's training
forward: summed cross-entropy, dropout 0.1) on `--batch` items of `--phones` phones and `--tokens` semantic tokens,
then one ScaledAdam update over all 77 M parameters (the first step initialises the optimiser state and is not
timed). fp32 on the CPU; on CUDA also fp16 autocast + GradScaler (upstream's `16-mixed`). Medians over `--repeats`
runs after one warm-up; one JSON line per precision.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _peak_cpu_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


# ------------------------------------------------------------------------------------------------------ SoVITS
def bench_sovits(args: argparse.Namespace) -> dict:
    from gpt_sovits.audio.spectrogram import spectrogram
    from gpt_sovits.dataset.sovits_data import SoVITSBatch
    from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
    from gpt_sovits.train.control import choose_precision
    from gpt_sovits.train.sovits_step import make_optimizers, set_epoch_lr, train_step

    device = torch.device(args.device)
    precision = choose_precision(device, args.precision)
    torch.manual_seed(0)
    hps = json.loads((CONFIGS / "s2.json").read_text())
    net_g = build_synthesizer(hps, "v2")
    codebook = net_g.quantizer.vq.layers[0]._codebook
    codebook.embed.normal_()
    codebook.inited.fill_(1.0)
    net_d = build_discriminator(hps, "v2")
    net_g.to(device).train()
    net_d.to(device).train()
    optim_g, optim_d = make_optimizers(net_g, net_d, hps["train"])
    for opt in (optim_g, optim_d):
        set_epoch_lr(opt, hps["train"]["lr_decay"], 1)
    scaler = precision.make_scaler()

    data = hps["data"]
    hop, b = data["hop_length"], args.batch_size
    frames = int(args.seconds * data["sampling_rate"]) // hop
    wav = 0.1 * torch.randn(b, 1, frames * hop)
    spec = spectrogram(wav[:, 0], data["filter_length"], hop, data["win_length"])
    batch = SoVITSBatch(
        ssl=torch.randn(b, 768, spec.shape[-1]), ssl_lengths=torch.full((b,), frames), spec=spec,
        spec_lengths=torch.full((b,), frames), wav=wav, wav_lengths=torch.full((b,), frames * hop),
        text=torch.randint(1, 700, (b, int(args.seconds * 12))), text_lengths=torch.full((b,), int(args.seconds * 12)),
        names=[],
    ).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for i in range(args.steps + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = train_step(net_g, net_d, optim_g, optim_d, batch, hps, scaler, precision.autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_cpu_mib()
    return {
        "model": "sovits-v2", "device": str(device), "precision": precision.name, "threads": torch.get_num_threads(),
        "batch_size": b, "clip_seconds": args.seconds, "s_per_step": round(statistics.median(times), 3),
        "cpu_s_per_step": round(statistics.median(cpu_times), 3),
        "steps_timed": len(times), "peak_memory_mib": round(peak, 1),
        "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
        "loss_mel": round(float(result.losses["mel"]), 3),
    }


# ------------------------------------------------------------------------------------------------------ GPT
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _peak_cpu_mib()


def bench_gpt_batch(batch: int, phones: int, tokens: int, repeats: int, device: torch.device,
                    half: bool) -> dict[str, float]:
    """Forward+backward and ScaledAdam update seconds (medians), peak memory and tokens/s for one GPT batch."""
    import yaml

    from gpt_sovits.dataset.gpt_data import GPTBatch
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
    from gpt_sovits.train.gpt_recipe import make_optimizer

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


def bench_gpt(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    runs = {"fp32": False} if device.type == "cpu" else {"fp32": False, "fp16": True}
    return [{"device": str(device), "precision": name, "batch": args.batch, "phones": args.phones,
             "tokens": args.tokens, "threads": torch.get_num_threads(),
             **bench_gpt_batch(args.batch, args.phones, args.tokens, args.repeats, device, half)}
            for name, half in runs.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="model", required=True)
    sv = sub.add_parser("sovits", help="one SoVITS v2 G+D training step")
    sv.add_argument("--seconds", type=float, default=8.0)
    sv.add_argument("--batch-size", type=int, default=1)
    sv.add_argument("--steps", type=int, default=3)
    sv.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    sv.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    sv.add_argument("--threads", type=int, default=None)
    gp = sub.add_parser("gpt", help="one GPT (s1) v2 training batch: forward+backward and the ScaledAdam update")
    gp.add_argument("--batch", type=int, default=2)
    gp.add_argument("--phones", type=int, default=96)
    gp.add_argument("--tokens", type=int, default=200)
    gp.add_argument("--repeats", type=int, default=3)
    gp.add_argument("--threads", type=int, default=None)
    gp.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model == "sovits":
        print(json.dumps(bench_sovits(args)))
    else:
        for report in bench_gpt(args):
            print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
