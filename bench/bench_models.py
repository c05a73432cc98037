"""CPU speed of the two networks at full v2 size with random weights (fp32, batch 1). Prints figures; asserts nothing.

    python bench/bench_models.py [--threads 2] [--repeats 3] [--tokens 250] [--device cpu]

* GPT: prefill of 160 phones + 140 prompt tokens, then `--tokens` generated tokens with the KV cache
  (EOS is masked out so every run generates the same number of tokens) → ms per generated token.
* SoVITS: `decode` of `--tokens` semantic tokens (10 s of 32 kHz audio for 250) with one 5 s reference
  → seconds of compute per second of audio.

Upstream's own code on a 2-vCPU VM (ARCHITECTURE §8): ~27 ms/token, prefill 0.37 s, decode 3.67 s for 10 s of audio
(0.37 s per audio second). Medians over `--repeats` runs; a busy machine inflates the numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from gpt_sovits.audio.spectrogram import spectrogram
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.models.sovits import build_synthesizer

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SR, HOP, N_FFT = 32000, 640, 2048


def bench_gpt(n_tokens: int, repeats: int, device: torch.device) -> dict[str, float]:
    config = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    torch.manual_seed(0)
    model = Text2SemanticDecoder(config).eval().to(device)
    eos = model.EOS

    def no_eos(module, inputs, output):  # fixed-length runs: random weights could emit EOS at any step
        if output.size(-1) > eos:
            output = output.clone()
            output[..., eos] = float("-inf")
        return output

    model.ar_predict_layer.register_forward_hook(no_eos)
    gen = torch.Generator().manual_seed(0)
    phones = torch.randint(0, 732, (1, 160), generator=gen).to(device)
    bert = (torch.randn(1, 1024, 160, generator=gen) * 0.1).to(device)
    prompt = torch.randint(0, 1024, (1, 140), generator=gen).to(device)
    prefill, per_token = [], []
    for _ in range(repeats + 1):  # first run warms up
        stamps: list[float] = []
        t0 = time.perf_counter()
        res = model.infer(phones, bert, prompt, top_k=15, early_stop_num=n_tokens - 1,
                          generator=torch.Generator(device=device).manual_seed(1),
                          on_step=lambda i, stamps=stamps: stamps.append(time.perf_counter()))
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        assert res.generated.shape[1] == n_tokens
        prefill.append(stamps[0] - t0)
        per_token.append((t1 - stamps[0]) / (n_tokens - 1))
    return {"prefill_s": statistics.median(prefill[1:]), "ms_per_token": 1000 * statistics.median(per_token[1:])}


def bench_sovits(n_tokens: int, repeats: int, device: torch.device) -> dict[str, float]:
    hps = json.loads((CONFIGS / "s2.json").read_text())
    hps = copy.deepcopy(hps)
    hps["model"]["version"] = "v2"
    torch.manual_seed(0)
    model = build_synthesizer(hps, "v2").eval()
    model.enc_q = None  # inference never uses it (finetuned files drop it)
    # an initialised random codebook (a fresh one would want k-means)
    for name, buf in model.named_buffers():
        if name.endswith("_codebook.embed"):
            buf.copy_(torch.randn_like(buf))
        elif name.endswith("_codebook.inited"):
            buf.fill_(1)
    model.to(device)
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 1024, (1, 1, n_tokens), generator=gen).to(device)
    text = torch.randint(0, 732, (1, 100), generator=gen).to(device)
    ref_wave = (torch.randn(1, 5 * SR, generator=gen) * 0.1).to(device)
    refer = spectrogram(ref_wave, N_FFT, HOP, N_FFT)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            audio = model.decode(codes, text, [refer], noise_scale=0.5)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    seconds = audio.shape[-1] / SR
    decode = statistics.median(times[1:])
    return {"audio_s": seconds, "decode_s": decode, "s_per_audio_s": decode / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GPT ms/token and SoVITS decode cost at v2 size (random weights)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (upstream measured with 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=250, help="semantic tokens (250 = 10 s of audio)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=("gpt", "sovits"), default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, fp32, batch 1")
    if args.only in (None, "gpt"):
        g = bench_gpt(args.tokens, args.repeats, device)
        print(f"GPT   prefill (160 phones + 140 prompt): {g['prefill_s']:.3f} s   (upstream ~0.37 s)")
        print(f"GPT   per generated token ({args.tokens}):  {g['ms_per_token']:.1f} ms  (upstream ~27 ms)")
    if args.only in (None, "sovits"):
        s = bench_sovits(args.tokens, args.repeats, device)
        print(f"SoVITS decode {s['audio_s']:.1f} s of audio: {s['decode_s']:.2f} s → "
              f"{s['s_per_audio_s']:.3f} s per audio second  (upstream ~0.37)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
