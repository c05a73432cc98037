"""Training speed and memory with v2-size random weights: prints figures, asserts nothing.

    python bench/bench_train.py sovits [--seconds 8] [--batch-size 1] [--steps 3] [--device cpu|cuda] [--precision ...]

One section per model family; each reports seconds per optimiser step (median after one warm-up step) and peak
memory (CUDA: `torch.cuda.max_memory_allocated`; CPU: the process's peak resident set size, which includes the
Python/torch baseline). On a shared machine also read `cpu_s_per_step` (process CPU seconds): wall time there
measures the neighbours as much as the step.

SoVITS: one full training step of `gpt_sovits.train.sovits_step.train_step` (generator forward, D step, G step
against the updated D, both AdamW steps) of upstream's v2 G (configs/s2.json) and D on `batch_size` clips of
`seconds` of audio, with the config's 32-frame (20480-sample) training segment.
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
# (the GPT trainer's section goes here)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="model", required=True)
    sv = sub.add_parser("sovits", help="one SoVITS v2 G+D training step")
    sv.add_argument("--seconds", type=float, default=8.0)
    sv.add_argument("--batch-size", type=int, default=1)
    sv.add_argument("--steps", type=int, default=3)
    sv.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    sv.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    sv.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = bench_sovits(args)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
