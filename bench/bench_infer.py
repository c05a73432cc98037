"""End-to-end inference speed with v2-size random weights (fp32, batch 1): prints figures, asserts nothing.

    python bench/bench_infer.py [--seconds 10] [--threads 2] [--device cpu]

Reports GPT prefill time, ms per generated token, SoVITS seconds per second of audio, the real-time factor for
~10 s of speech, and the first-audio latency when sentences are streamed (a ~2.5 s first sentence). Upstream's own
code measured on a 2-core CPU machine: ~27 ms/token and ~0.37 s per audio second; ratios against those are printed.
Random weights never emit EOS on cue, so the EOS row of the output layer is zeroed and the length is fixed with
`early_stop_num`. Two modes are measured: exact fp32 (what the parity tests check) and `--fast-cpu` (int8 GPT, bf16
SoVITS decoder where the CPU has bf16 instructions; not bit-exact).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import contextlib

import torch
import yaml

from gpt_sovits.audio.spectrogram import spectrogram
from gpt_sovits.models.gpt.quantize import cpu_supports_bf16, quantize_int8
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.models.sovits import build_synthesizer

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
UPSTREAM_MS_PER_TOKEN = 27.0
UPSTREAM_S_PER_AUDIO_S = 0.37
TOKENS_PER_SECOND = 25


def build_models(device: torch.device) -> tuple[Text2SemanticDecoder, torch.nn.Module, dict]:
    torch.manual_seed(0)
    s1 = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    gpt = Text2SemanticDecoder(s1).eval().to(device)
    with torch.no_grad():
        gpt.ar_predict_layer.weight[s1["model"]["EOS"]].zero_()
    s2 = json.loads((CONFIGS / "s2.json").read_text())
    sovits = build_synthesizer(s2, "v2").eval().to(device)
    return gpt, sovits, s2


def time_gpt(gpt, n_tokens: int, device: torch.device) -> tuple[float, float, int]:
    """(prefill seconds, ms per later token, tokens) for 30 reference + 40 target phones and a 4 s prompt."""
    phones = torch.randint(0, 700, (1, 70), device=device)
    bert = torch.randn(1, 1024, 70, device=device)
    prompt = torch.randint(0, 1024, (1, 4 * TOKENS_PER_SECOND), device=device)
    stamps: list[float] = []
    start = time.perf_counter()
    with torch.no_grad():
        result = gpt.infer(phones, bert, prompt, top_k=15, top_p=1.0, temperature=1.0, repetition_penalty=1.35,
                           early_stop_num=n_tokens, generator=torch.Generator(device=device).manual_seed(0),
                           on_step=lambda i: stamps.append(time.perf_counter()))
    n = int(result.generated.shape[-1])
    prefill = stamps[0] - start
    per_token_ms = 1000 * (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    return prefill, per_token_ms, n


def time_sovits(sovits, s2: dict, n_tokens: int, device: torch.device, bf16: bool = False) -> float:
    data = s2["data"]
    codes = torch.randint(0, 1024, (1, 1, n_tokens), device=device)
    text = torch.randint(0, 700, (1, 40), device=device)
    ref = torch.randn(1, 4 * data["sampling_rate"], device=device) * 0.1
    spec = spectrogram(ref, data["filter_length"], data["hop_length"], data["win_length"])
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    start = time.perf_counter()
    with torch.no_grad(), autocast:
        sovits.decode(codes, text, [spec], noise_scale=0.5, speed=1.0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of speech to generate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpt, sovits, s2 = build_models(device)
    n_tokens = int(args.seconds * TOKENS_PER_SECOND)

    modes = [("fp32 (exact)", gpt, False)]
    if device.type == "cpu":
        modes.append(("--fast-cpu (int8 GPT" + (", bf16 decoder)" if cpu_supports_bf16() else ")"), quantize_int8(gpt),
                      cpu_supports_bf16()))
    print(f"device {device}, threads {args.threads}, batch 1")
    for name, model, bf16 in modes:
        time_gpt(model, 12, device)  # warm-up
        time_sovits(sovits, s2, 25, device, bf16)
        prefill, ms_per_token, generated = time_gpt(model, n_tokens, device)
        decode_s = time_sovits(sovits, s2, generated, device, bf16)
        audio_s = generated / TOKENS_PER_SECOND
        gpt_s = prefill + ms_per_token * (generated - 1) / 1000
        first_prefill, first_ms, first_n = time_gpt(model, int(2.5 * TOKENS_PER_SECOND), device)
        first_audio = first_prefill + first_ms * (first_n - 1) / 1000 + time_sovits(sovits, s2, first_n, device, bf16)
        print(f"\n== {name}")
        print(f"GPT prefill (70 phones + 100 prompt tokens): {prefill * 1000:.1f} ms")
        print(f"GPT per generated token: {ms_per_token:.2f} ms  (upstream ~{UPSTREAM_MS_PER_TOKEN} ms: "
              f"{UPSTREAM_MS_PER_TOKEN / ms_per_token:.2f}x)")
        print(f"SoVITS decode: {decode_s / audio_s:.3f} s per audio second  (upstream ~{UPSTREAM_S_PER_AUDIO_S}: "
              f"{UPSTREAM_S_PER_AUDIO_S / (decode_s / audio_s):.2f}x)")
        print(f"real-time factor for {audio_s:.1f} s of speech: {(gpt_s + decode_s) / audio_s:.3f}")
        print(f"first audio with sentence streaming (~2.5 s first sentence): {first_audio:.2f} s")


if __name__ == "__main__":
    main()
