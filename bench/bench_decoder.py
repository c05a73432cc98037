"""SoVITS decoder, BERT and text-frontend start-up: exact vs fast CPU mode, measured as interleaved medians.

    python bench/bench_decoder.py [--seconds 10] [--rounds 3] [--threads 1,2] [--skip-bert] [--skip-frontend]
                                  [--skip-memory] [--json]

v2-size random weights (configs/s2.json; a chinese-roberta-wwm-ext-large-shaped random BERT), batch 1. Rows:

* SoVITS decode, seconds per audio second, for ``--seconds`` of tokens: ``module`` = the network as loaded (what the
  pipeline ran before this change, and what upstream runs), ``exact`` = prepared for inference (weight norm folded:
  the exact mode), ``autocast`` = the previous fast mode (module under bf16 autocast), ``fast`` = bf16 weights (the
  fast mode: 128-frame windows, channels-last); ``exact_cl`` = exact with channels-last activations (not used by
  the pipeline: more peak memory in one piece), ``fast_contig`` = fast with contiguous activations. Every round
  decodes the same length, so oneDNN's per-length set-up is paid once (the pipeline's sentences vary: see
  gpt_sovits/models/sovits/inference.py's WINDOW_FRAMES). Each round runs every variant once, in turn; medians and ratios to ``module`` are printed.
* accuracy of fast vs exact: waveform SNR (dB) and error rms (dBFS); BERT bf16 vs fp32 relative L2 of the features.
* BERT ms for a 30-character sentence: upstream's masked-LM call vs the encoder-only call (fp32) vs bf16.
* first zh+en frontend call in a fresh process: cold vs after ``warm_text_frontend`` (the warm-up's own time too).
* peak RSS (VmHWM) of a child process that loads the SoVITS model and decodes, per variant (before this change:
  module / autocast; now: exact / fast).

Timings on a shared machine are noisy: read the ratios, not the absolute numbers. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
TOKENS_PER_SECOND = 25
FRONTEND_TEXT = {"zh": "你好，今天天气很好，我们一起去公园散步吧。", "en": "Hello there, how are you today?"}


def build_sovits(seed: int = 0):
    from gpt_sovits.models.sovits import build_synthesizer

    torch.manual_seed(seed)
    hps = json.loads((CONFIGS / "s2.json").read_text())
    model = build_synthesizer(hps, "v2").eval()
    model.enc_q = None
    with torch.no_grad():  # zero-initialised flow outputs would make the flow an identity
        for flow in model.flow.flows[::2]:
            flow.post.weight.normal_(0, 0.02)
    return model, hps


def decode_inputs(hps: dict, seconds: float, seed: int = 1):
    from gpt_sovits.audio.spectrogram import spectrogram

    data = hps["data"]
    g = torch.Generator().manual_seed(seed)
    tokens = int(seconds * TOKENS_PER_SECOND)
    codes = torch.randint(0, 1024, (1, 1, tokens), generator=g)
    phones = torch.randint(1, 700, (1, int(seconds * 12)), generator=g)
    ref = torch.randn(1, 4 * data["sampling_rate"], generator=g) * 0.1
    spec = spectrogram(ref, data["filter_length"], data["hop_length"], data["win_length"])
    noise = torch.randn(1, hps["model"]["inter_channels"], 2 * tokens, generator=g)
    return codes, phones, [spec], noise


def decoder_variants(model):
    """name → (model, autocast?) for every decode path in VARIANTS."""
    return {name: (make(model), autocast) for name, (make, autocast) in VARIANTS.items()}


# name → (how the model is prepared, autocast?)
VARIANTS = {
    "module": (lambda m: m, False),
    "exact": (lambda m: prepare(m, "fp32"), False),
    "exact_cl": (lambda m: prepare(m, "fp32", True), False),
    "autocast": (lambda m: m, True),
    "fast": (lambda m: prepare(m, "bf16"), False),
    "fast_contig": (lambda m: prepare(m, "bf16", False), False),
}


def prepare(model, precision: str, channels_last: bool | None = None):
    from gpt_sovits.models.sovits.inference import prepare_for_inference

    return prepare_for_inference(copy.deepcopy(model), precision, channels_last)


def run_decode(model, autocast: bool, inputs) -> torch.Tensor:
    codes, phones, refers, noise = inputs
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        return model.decode(codes, phones, refers, noise=noise).float()


def accuracy(reference: torch.Tensor, other: torch.Tensor) -> dict[str, float]:
    err = (other.double() - reference.double())
    rms_err = float(err.pow(2).mean().sqrt())
    return {"snr_db": 20 * math.log10(float(reference.double().norm()) / max(float(err.norm()), 1e-300)),
            "error_dbfs": 20 * math.log10(max(rms_err, 1e-300)),
            "signal_dbfs": 20 * math.log10(max(float(reference.double().pow(2).mean().sqrt()), 1e-300))}


def bench_decoder(seconds: float, rounds: int, threads: list[int]) -> dict:
    model, hps = build_sovits()
    variants = decoder_variants(model)
    inputs = decode_inputs(hps, seconds)
    outputs = {name: run_decode(m, ac, decode_inputs(hps, 1.0)) for name, (m, ac) in variants.items()}  # warm-up
    outputs = {name: run_decode(m, ac, inputs) for name, (m, ac) in variants.items()}
    audio_s = outputs["module"].shape[-1] / hps["data"]["sampling_rate"]
    result: dict = {"audio_seconds": audio_s, "accuracy": {
        "exact_vs_module": accuracy(outputs["module"], outputs["exact"]),
        "fast_vs_exact": accuracy(outputs["exact"], outputs["fast"]),
        "exact_cl_vs_module": accuracy(outputs["module"], outputs["exact_cl"]),
        "fast_contig_vs_exact": accuracy(outputs["exact"], outputs["fast_contig"]),
        "autocast_vs_exact": accuracy(outputs["exact"], outputs["autocast"])}, "threads": {}}
    for n in threads:
        torch.set_num_threads(n)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, (m, ac) in variants.items():
                start = time.perf_counter()
                run_decode(m, ac, inputs)
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) / audio_s for name, t in times.items()}
        result["threads"][n] = {"s_per_audio_s": med,
                                "speedup_vs_module": {name: med["module"] / v for name, v in med.items()}}
    return result


def bench_bert(rounds: int) -> dict:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=21128, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                        intermediate_size=4096)
    fp32 = BertForMaskedLM(config).eval()
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    ids = torch.randint(106, 21000, (1, 32), generator=torch.Generator().manual_seed(1))
    ids[0, 0], ids[0, -1] = 101, 102
    calls = {
        "masked_lm_fp32": lambda: fp32(input_ids=ids, output_hidden_states=True).hidden_states[-3],
        "encoder_fp32": lambda: fp32.base_model(input_ids=ids, output_hidden_states=True).hidden_states[-3],
        "encoder_bf16": lambda: bf16.base_model(input_ids=ids, output_hidden_states=True).hidden_states[-3],
    }
    with torch.no_grad():
        out = {name: call().float() for name, call in calls.items()}
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    ref = out["masked_lm_fp32"]
    return {"ms": {name: 1000 * statistics.median(t) for name, t in times.items()},
            "encoder_fp32_identical": bool(torch.equal(out["encoder_fp32"], ref)),
            "bf16_rel_l2": float((out["encoder_bf16"] - ref).norm() / ref.norm()),
            "bf16_min_cosine": float(torch.nn.functional.cosine_similarity(out["encoder_bf16"][0], ref[0],
                                                                           dim=-1).min())}


_FRONTEND_CHILD = """
import json, sys, time
warm = sys.argv[1] == "warm"
from gpt_sovits.text.phones import get_phones_and_bert
from gpt_sovits.text.warmup import warm_text_frontend
texts = json.loads(sys.argv[2])
warm_s = 0.0
if warm:
    start = time.perf_counter(); warm_text_frontend(["zh", "en"], auto=False); warm_s = time.perf_counter() - start
start = time.perf_counter()
for lang, text in texts.items():
    get_phones_and_bert(text, "all_zh" if lang == "zh" else "en")
print(json.dumps({"first_call_s": time.perf_counter() - start, "warm_s": warm_s}))
"""


def bench_frontend(rounds: int) -> dict:
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(rounds):
        for mode in runs:
            out = subprocess.run([sys.executable, "-c", _FRONTEND_CHILD, mode, json.dumps(FRONTEND_TEXT)],
                                 cwd=REPO, capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {mode: {"first_call_ms": 1000 * statistics.median(r["first_call_s"] for r in rs),
                   "warmup_ms": 1000 * statistics.median(r["warm_s"] for r in rs)} for mode, rs in runs.items()}


_MEMORY_CHILD = """
import json, sys, torch
sys.path.insert(0, sys.argv[3])
from bench_decoder import build_sovits, decode_inputs, run_decode
from gpt_sovits.models.sovits.inference import prepare_for_inference
torch.set_num_threads(1)
model, hps = build_sovits()
mode = sys.argv[1]
if mode not in ("module", "autocast"):
    layout = {"_cl": True, "_contig": False}.get(mode[mode.rfind("_"):]) if "_" in mode else None
    prepare_for_inference(model, "bf16" if mode.startswith("fast") else "fp32", layout)
run_decode(model, mode == "autocast", decode_inputs(hps, float(sys.argv[2])))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its parent's peak
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"max_rss_mb": int(hwm.split()[1]) / 1024}))
"""


def bench_memory(seconds: float) -> dict:
    result = {}
    for mode in VARIANTS:
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, mode, str(seconds), str(Path(__file__).parent)],
                             cwd=REPO, capture_output=True, text=True, check=True)
        result[mode] = json.loads(out.stdout.strip().splitlines()[-1])["max_rss_mb"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length of the decoded tokens")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts for the decoder")
    parser.add_argument("--skip-bert", action="store_true")
    parser.add_argument("--skip-frontend", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    from gpt_sovits.models.gpt.quantize import cpu_supports_bf16

    report: dict = {"cpu_bf16": cpu_supports_bf16(), "torch": torch.__version__}
    report["decoder"] = bench_decoder(args.seconds, args.rounds, [int(t) for t in args.threads.split(",")])
    torch.set_num_threads(1)
    if not args.skip_bert:
        report["bert"] = bench_bert(args.rounds)
    if not args.skip_frontend:
        report["frontend"] = bench_frontend(args.rounds)
    if not args.skip_memory:
        report["peak_rss_mb"] = bench_memory(args.seconds)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    dec = report["decoder"]
    print(f"SoVITS decode, v2 size, {dec['audio_seconds']:.1f} s of audio, CPU bf16: {report['cpu_bf16']}")
    for n, row in dec["threads"].items():
        cells = "  ".join(f"{k} {v:.3f} (x{row['speedup_vs_module'][k]:.2f})" for k, v in row["s_per_audio_s"].items())
        print(f"  {n} thread(s), s per audio second: {cells}")
    for name, acc in dec["accuracy"].items():
        print(f"  {name}: SNR {acc['snr_db']:.1f} dB, error {acc['error_dbfs']:.1f} dBFS "
              f"(signal {acc['signal_dbfs']:.1f} dBFS)")
    if "bert" in report:
        b = report["bert"]
        print("BERT (v2 size, 32 tokens, 1 thread), ms: " + "  ".join(f"{k} {v:.0f}" for k, v in b["ms"].items()))
        print(f"  encoder-only identical to masked-LM call: {b['encoder_fp32_identical']}; bf16 rel L2 "
              f"{b['bf16_rel_l2']:.2e}, min cosine {b['bf16_min_cosine']:.5f}")
    if "frontend" in report:
        f = report["frontend"]
        print(f"first zh+en frontend call in a fresh process: cold {f['cold']['first_call_ms']:.0f} ms, after warm-up "
              f"{f['warm']['first_call_ms']:.0f} ms (the warm-up itself {f['warm']['warmup_ms']:.0f} ms)")
    if "peak_rss_mb" in report:
        print("peak RSS loading + decoding, MB: " + "  ".join(f"{k} {v:.0f}" for k, v in report["peak_rss_mb"].items()))


if __name__ == "__main__":
    main()
