"""Time to first audio through the real pipeline, per streaming mode: prints figures, asserts nothing.

    python bench/bench_first_audio.py [--rounds 5] [--threads 2] [--json]

A ~10-character Chinese first sentence with a warm reference (its prompt tokens, spectrogram and the text
dictionaries cached by a warm-up request), v2-size random GPT and SoVITS weights, exact fp32 and `--fast-cpu`
(int8 GPT, bf16 decoder where the CPU has it), streaming_mode 1 (whole sentence), 2 and 3 (token chunks). The clock
runs from calling `TTSPipeline.stream` to the first audio piece it yields.

HuBERT and BERT are the tiny random test models by default (the reference's HuBERT is cached when warm anyway);
`--full-encoders` uses full-size random ones (bench/v2_root.py's, cached under /tmp/gsv_bench_root), so the Chinese
BERT over the first sentence is counted at its real cost.
Random weights never stop on cue, so the GPT's budget is fixed at 50 tokens (2 s of audio, `max_sec` = 1) and its
EOS row is zeroed. Rounds interleave the configurations (A, B, C, A, B, C, ...) and medians are reported, so foreign
load on a shared machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FIRST_SENTENCE = "今天天气真不错，我们出去走走吧。"  # ~10 characters before the comma
REF_TEXT = "你好，今天天气很好。"


def build_root(root: Path) -> None:
    """Tiny HuBERT/BERT plus v2-size random GPT and SoVITS under upstream's pretrained names."""
    from gpt_sovits.models.checkpoints import save_gpt_weights, save_sovits_weights
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
    from gpt_sovits.models.sovits import build_synthesizer
    from gpt_sovits.paths import ProjectPaths
    from gpt_sovits.tiny import make_tiny_pretrained

    make_tiny_pretrained(root / "pretrained_models", whisper=False)
    paths = ProjectPaths(root)
    torch.manual_seed(0)
    s1 = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    s1.setdefault("data", {})["max_sec"] = 1  # a 50-token budget: ~2 s of speech for the short sentence
    gpt = Text2SemanticDecoder(s1).eval()
    with torch.no_grad():
        gpt.ar_predict_layer.weight[s1["model"]["EOS"]].zero_()
    save_gpt_weights(gpt, s1, paths.pretrained_gpt("v2"), "GPT-bench-random")
    s2 = json.loads((CONFIGS / "s2.json").read_text())
    sovits = build_synthesizer(s2, "v2")
    state = sovits.state_dict()
    for key in [k for k in state if k.endswith("_codebook.embed")]:  # an initialised random codebook
        base = key[: -len("embed")]
        state[key] = torch.randn_like(state[key])
        state[base + "embed_avg"] = state[key].clone()
        state[base + "cluster_size"] = torch.ones_like(state[base + "cluster_size"])
        state[base + "inited"] = torch.ones_like(state[base + "inited"])
    save_sovits_weights(state, s2, paths.pretrained_sovits_g("v2"), "bench-random", "v2")


def use_full_encoders(root: Path) -> None:
    """Swap the tiny HuBERT/BERT folders for links to full-size random ones (written once, then reused)."""
    import shutil

    from bench.v2_root import build_root as build_v2_root
    from gpt_sovits.paths import BERT_DIR, HUBERT_DIR

    full = build_v2_root("/tmp/gsv_bench_root").root / "pretrained_models"
    for name in (HUBERT_DIR, BERT_DIR):
        shutil.rmtree(root / "pretrained_models" / name)
        (root / "pretrained_models" / name).symlink_to(full / name, target_is_directory=True)


def reference_clip(path: Path) -> Path:
    """A 4 s clip of noise-modulated tones (the tiny HuBERT only needs a plausible wave)."""
    from gpt_sovits.audio.io import save_wav

    t = np.arange(4 * 32000) / 32000
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return save_wav(path, wave.astype(np.float32), 32000)


def first_audio(pipeline, req) -> tuple[float, float, float]:
    """(seconds to the first piece, seconds to the end, seconds of audio)."""
    start = time.perf_counter()
    first = None
    samples = 0
    for piece in pipeline.stream(req):
        if first is None:
            first = time.perf_counter() - start
        samples += len(piece.audio)
    return first, time.perf_counter() - start, samples / 32000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", default="1,2,3")
    parser.add_argument("--no-fast", action="store_true", help="only the exact fp32 mode")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--full-encoders", action="store_true",
                        help="full-size random HuBERT and BERT (bench/v2_root.py) instead of the tiny test models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from gpt_sovits.infer.compute import shared
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.infer.request import TTSRequest
    from gpt_sovits.paths import ProjectPaths

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        compute = shared()  # model building on the pipelines' thread too: this one holds no OpenMP team (compute.py)
        compute.call(build_root, root)
        if args.full_encoders:
            compute.call(use_full_encoders, root)
        ref = reference_clip(root / "ref.wav")
        paths = ProjectPaths(root)
        pipes = {"exact": TTSPipeline(paths, device="cpu")}
        if not args.no_fast:
            pipes["fast"] = TTSPipeline(paths, device="cpu", fast_cpu=True)
        for pipe in pipes.values():
            pipe.load_gpt(paths.pretrained_gpt("v2"))
            pipe.load_sovits(paths.pretrained_sovits_g("v2"))
        modes = [int(m) for m in args.modes.split(",")]
        configs = [(name, mode) for name in pipes for mode in modes]

        def request(mode: int) -> TTSRequest:
            return TTSRequest(text=FIRST_SENTENCE, text_lang="zh", ref_audio_path=str(ref), prompt_text=REF_TEXT,
                              prompt_lang="zh", seed=1, streaming_mode=mode, text_split_method="cut5",
                              split_variant="tts_infer_pack")

        for name, mode in configs:  # warm-up: dictionaries, reference caches, kernels
            first_audio(pipes[name], request(mode))
            print(f"warm: {name} mode {mode}", file=sys.stderr, flush=True)
        results: dict[tuple[str, int], list[tuple[float, float, float]]] = {c: [] for c in configs}
        for _ in range(args.rounds):
            for name, mode in configs:
                results[(name, mode)].append(first_audio(pipes[name], request(mode)))
                print(f"{name} mode {mode}: {results[(name, mode)][-1]}", file=sys.stderr, flush=True)

    rows = []
    for (name, mode), runs in results.items():
        rows.append({"precision": name, "streaming_mode": mode,
                     "first_audio_s": statistics.median(r[0] for r in runs),
                     "total_s": statistics.median(r[1] for r in runs),
                     "audio_s": statistics.median(r[2] for r in runs)})
    base = {r["precision"]: r["first_audio_s"] for r in rows if r["streaming_mode"] == min(modes)}
    for r in rows:
        r["first_audio_vs_mode%d" % min(modes)] = r["first_audio_s"] / base[r["precision"]]
    if args.json:
        print(json.dumps({"threads": args.threads, "rounds": args.rounds, "sentence": FIRST_SENTENCE,
                          "results": rows}, indent=1))
        return
    print(f"threads {args.threads}, {args.rounds} interleaved rounds, medians; sentence {FIRST_SENTENCE!r}")
    print(f"{'precision':>9} {'mode':>4} {'first audio s':>13} {'ratio':>6} {'total s':>8} {'audio s':>8}")
    for r in rows:
        print(f"{r['precision']:>9} {r['streaming_mode']:>4} {r['first_audio_s']:>13.3f} "
              f"{r['first_audio_vs_mode%d' % min(modes)]:>6.2f} {r['total_s']:>8.3f} {r['audio_s']:>8.2f}")


if __name__ == "__main__":
    sys.exit(main())
