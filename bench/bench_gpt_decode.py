"""GPT decode speed at v2 size (random weights, batch 1, CPU): ms per token per path and thread count, and the floor.

    python bench/bench_gpt_decode.py [--tokens 60] [--rounds 3] [--modes old,exact,fast] [--json]

Paths: `old` = the module path (what infer ran before the packed path), `old-int8` = the previous fast mode
(`quantize.quantize_int8`: fbgemm dynamic int8 modules), `exact` = the fp32 flat step (with the fp32 linear kind its
trial at load finds faster here; `exact-rows` / `exact-plain` force row blocks / F.linear), `bf16` / `int8` = the
flat step with bf16 oneDNN or fbgemm int8 linears, `auto` = exact with the thread policy on (2 threads allowed).
Every path runs at 1 and 2 threads, interleaved in rounds (A1, A2, B1, B2, ... then again), and the median over the
rounds of each run's mean ms per token is printed; machine load shifts between rounds hit every path alike. The floor is the bytes of weights one
token reads divided by a streaming read rate measured in the same run (a sum over a buffer as large as the fp32
weights, best of 1 and 2 threads); the ratio says how far each path is from it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from gpt_sovits.models.gpt.quantize import quantize_int8
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BYTES = {"old": 4, "exact": 4, "exact-rows": 4, "exact-plain": 4, "auto": 4, "bf16": 2, "int8": 1, "old-int8": 1}


def build(seed: int = 0) -> Text2SemanticDecoder:
    torch.manual_seed(seed)
    s1 = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    gpt = Text2SemanticDecoder(s1).eval()
    with torch.no_grad():
        gpt.ar_predict_layer.weight[s1["model"]["EOS"]].zero_()  # random weights: fix the length, not EOS
    return gpt


def linear_weight_count(gpt: Text2SemanticDecoder) -> int:
    """Elements of the weights one decode step streams (the layer stack's linears and the logits projection)."""
    n = gpt.ar_predict_layer.weight.numel()
    for layer in gpt.h.layers:
        n += layer.self_attn.in_proj_weight.numel() + layer.self_attn.out_proj.weight.numel()
        n += layer.linear1.weight.numel() + layer.linear2.weight.numel()
    return n


def stream_rate(n_bytes: int, threads: int, repeats: int = 5) -> float:
    """Bytes per second of a plain sum over an fp32 buffer of n_bytes (best of `repeats`)."""
    torch.set_num_threads(threads)
    buf = torch.ones(n_bytes // 4)
    buf.sum()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        buf.sum()
        best = min(best, time.perf_counter() - start)
    return n_bytes / best


def ms_per_token(model: Text2SemanticDecoder, n_tokens: int) -> float:
    """Mean ms per decode step after the prefill (30+40 phones, 4 s prompt): the whole decode time, so the steps a
    thread policy spends trying the other count are counted."""
    phones = torch.randint(0, 700, (1, 70))
    bert = torch.randn(1, 1024, 70)
    prompt = torch.randint(0, 1024, (1, 100))
    stamps: list[float] = []
    with torch.no_grad():
        model.infer(phones, bert, prompt, top_k=15, early_stop_num=n_tokens,
                    generator=torch.Generator().manual_seed(0), on_step=lambda i: stamps.append(time.perf_counter()))
    return 1000 * (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="old,old-int8,exact,bf16,int8,auto")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    modes = args.modes.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]

    base = build()
    models: dict[str, Text2SemanticDecoder] = {}
    for mode in modes:
        if mode == "old":
            models[mode] = base
        elif mode == "old-int8":
            models[mode] = quantize_int8(base)
        elif mode.startswith("exact-"):
            m = build()
            m.prepare_inference("fp32", adaptive_threads=False, fp32_kind=mode.split("-", 1)[1])
            models[mode] = m
        else:
            m = build()
            m.prepare_inference("fp32" if mode in ("exact", "auto") else mode, adaptive_threads=(mode == "auto"))
            models[mode] = m
    n_weights = linear_weight_count(base)
    fp32_bytes = 4 * n_weights
    rate = max(stream_rate(fp32_bytes, t) for t in thread_counts)

    times: dict[tuple[str, int], list[float]] = {(m, t): [] for m in modes for t in thread_counts}
    for mode in modes:  # warm-up: packs are touched, thread pools started
        for t in thread_counts:
            torch.set_num_threads(t)
            ms_per_token(models[mode], 4)
    for _ in range(args.rounds):
        for mode in modes:
            for t in thread_counts:
                torch.set_num_threads(t)
                times[mode, t].append(ms_per_token(models[mode], args.tokens))

    rows = []
    for mode in modes:
        floor_ms = 1000 * BYTES[mode] * n_weights / rate
        for t in thread_counts:
            med = statistics.median(times[mode, t])
            rows.append({"path": mode, "threads": t, "ms_per_token": round(med, 2), "floor_ms": round(floor_ms, 2),
                         "ratio_to_floor": round(med / floor_ms, 2),
                         "rounds_ms": [round(x, 2) for x in times[mode, t]]})
    result = {"weights_millions": round(n_weights / 1e6, 1), "stream_gb_per_s": round(rate / 1e9, 1),
              "tokens": args.tokens, "rounds": args.rounds, "rows": rows}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"v2-size GPT, {result['weights_millions']} M weights per token, streaming read {result['stream_gb_per_s']} "
          f"GB/s; {args.tokens} tokens x {args.rounds} interleaved rounds, medians")
    print(f"{'path':12} {'threads':>7} {'ms/token':>9} {'floor ms':>9} {'ratio':>6}   rounds")
    for r in rows:
        print(f"{r['path']:12} {r['threads']:>7} {r['ms_per_token']:>9.2f} {r['floor_ms']:>9.2f} "
              f"{r['ratio_to_floor']:>6.2f}   {r['rounds_ms']}")


if __name__ == "__main__":
    main()
