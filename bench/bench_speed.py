"""Inference speed of every stage against this machine's floors, exact and fast mode: prints figures, asserts nothing.

    python -m bench.bench_speed [--threads 2] [--rounds 3] [--quick | --tiny] [--json out.json] [--root DIR]

Runs in one process, in this order: the machine's floors (bench/floors.py: memory bandwidth over a buffer as large
as the GPT's per-token weights, fp32/bf16 matmul peaks, at 1 thread and at `--threads`); then, through the public
pipeline API (`TTSPipeline` with `fast_cpu` off = "exact", on = "fast", loading a project root of v2-size random
weights written by bench/v2_root.py), interleaved rounds (exact, fast, then fast, exact, ...) of:

* GPT ms per generated token (`generate_semantic` of `--tokens` tokens minus a 1-token run, so the prefill is not
  counted; 140 phones, a 5 s prompt), and its ratio to the bandwidth floor (weight bytes read per token /
  bandwidth: fp32 bytes for exact, int8 bytes for fast);
* SoVITS decode seconds per audio second (`decode_semantic` of `--tokens` tokens), and its ratio to the matmul floor
  (the decoder's FLOPs per audio second, counted by torch's FlopCounterMode, / the fp32 resp. bf16 peak);
* BERT ms per sentence (`pipeline.bert().char_features` on the 10 s sentence) and the text frontend with it;
* end to end: one ~10 s Chinese sentence through `TTSPipeline.synthesize` with a warm reference (the random GPT
  never emits EOS, so the pipeline's early-stop budget fixes 250 tokens = 10 s);
* time to first audio: five short sentences through `TTSPipeline.stream`, until the first chunk arrives (when the
  request type has a `streaming_mode` field it is set to `--streaming-mode`).
Then, not with --quick, GPT ms/token beside a busy core: idle at 1 thread, then with a spinning child process at
`--threads` and at 1 thread (issue #18: "under one busy foreign core ... no more than 1.2× slower than on an idle
machine at 1 thread"); and each mode once more in a fresh child process, for peak RSS (VmHWM) over loading
and two requests, and the first request's wall time after start-up (dictionaries, encoders, caches all cold).

Reported: medians with [min–max] over rounds. Upstream's figures from issue #18 are printed beside them as
reference rows (not measured here). `--quick` (< 1 min): 1 round, 100 tokens, a shorter sentence, no child runs.
`--tiny`: the tests' tiny models (a smoke run, meaningless numbers). `--memory-only`: just the peak-RSS child runs
(bench/baseline/ holds one). The README's speed table is made from `--json` by `python tools/speed_table.py`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from bench.floors import GPT_WEIGHT_MBYTES, machine_line, measure_floors, torch_threads
from bench.v2_root import CONFIGS, BenchRoot, build_root
from gpt_sovits.infer.compute import shared as compute_thread

REPO = Path(__file__).resolve().parent.parent
MODES = {"exact": False, "fast": True}
TOKENS_PER_SECOND = 25
# ~10 s of Chinese speech in one sentence (cut0: not split), and five ~10-character sentences for first audio.
SENTENCE_10S = "今天下午我们一起去公园散步，看见湖边的柳树已经发芽，孩子们在草地上放风筝，大家都觉得春天真的来了。"
SHORT_SENTENCES = "我们明天早上一起出发。路上记得带好雨伞吧。中午在车站旁边吃饭。下午去看看新的博物馆。晚上早点回家休息。"
SHORT_SENTENCE_TOKENS = 55  # ~2.2 s each
UPSTREAM = {  # issue #18's table: upstream's own code, full-size v2 weights, 2-core EPYC Zen 4, 2 threads
    "gpt_ms_per_token": 38.4,
    "sovits_s_per_audio_s": 0.290,
    "e2e_s": 14.4,
    "first_audio_s": 16.4,
}
UPSTREAM_NOTE = "upstream, from issue #18, not measured here"


# ---------------------------------------------------------------------------------------------------- set-up
def _request_fields() -> set[str]:
    from gpt_sovits.infer.request import TTSRequest

    return {f.name for f in dataclasses.fields(TTSRequest)}


def _request(**fields):
    """A TTSRequest with the fields this version of the request type has (newer fields are set when present)."""
    from gpt_sovits.infer.request import TTSRequest

    known = _request_fields()
    return TTSRequest(**{k: v for k, v in fields.items() if k in known})


def gpt_weights_per_token(tiny: bool) -> int:
    """Parameters a batch-1 decode step reads: the transformer stack and the output layer (embeddings are lookups)."""
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

    config = yaml.safe_load((CONFIGS / ("tiny_s1.yaml" if tiny else "s1longer-v2.yaml")).read_text())
    with torch.device("meta"):
        model = Text2SemanticDecoder(config)
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith(("h.", "ar_predict_layer.")))


def load_pipeline(root: BenchRoot, fast: bool):
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.paths import ProjectPaths

    pipe = TTSPipeline(ProjectPaths(root.root), device="cpu", fast_cpu=fast)
    pipe.load_gpt(root.gpt)
    pipe.load_sovits(root.sovits)
    return pipe


@dataclasses.dataclass
class Inputs:
    """Fixed random inputs for the stage timings (the same in every round and mode)."""

    phones: torch.Tensor  # [1, 140]
    bert: torch.Tensor  # [1, 1024, 140]
    prompt: torch.Tensor  # [1, 125] = 5 s of reference tokens
    codes: torch.Tensor  # [1, 1, tokens]
    target: torch.Tensor  # [1, 90]

    @classmethod
    def make(cls, tokens: int, bert_dim: int = 1024) -> "Inputs":
        gen = torch.Generator().manual_seed(0)
        return cls(torch.randint(0, 700, (1, 140), generator=gen), torch.randn(1, bert_dim, 140, generator=gen) * 0.1,
                   torch.randint(0, 1024, (1, 5 * TOKENS_PER_SECOND), generator=gen),
                   torch.randint(0, 1024, (1, 1, tokens), generator=gen), torch.randint(0, 700, (1, 90), generator=gen))


# ---------------------------------------------------------------------------------------------------- stages
def time_gpt(pipe, inputs: Inputs, tokens: int) -> dict[str, float]:
    """ms per generated token without the prefill: a `tokens` run minus a 1-token run (the faster of two each), same
    inputs and seed. Through `generate_semantic`, so whatever decode path the pipeline takes is what is timed."""
    req = _request(text="x", text_lang="all_zh")

    def run(budget: int) -> tuple[float, int]:
        gen = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        out = pipe.generate_semantic(inputs.phones, inputs.bert, inputs.prompt, req, gen, early_stop_num=budget)
        return time.perf_counter() - start, int(out.shape[-1])

    t1, n1 = min(run(1), run(1))
    t2, n2 = min(run(tokens), run(tokens))
    return {"gpt_ms_per_token": 1000 * (t2 - t1) / max(1, n2 - n1), "gpt_prefill_s": t1, "gpt_tokens": n2}


def time_sovits(pipe, inputs: Inputs, spec: torch.Tensor) -> dict[str, float]:
    start = time.perf_counter()
    audio = pipe.decode_semantic(inputs.codes, inputs.target, [spec], noise_scale=0.5, speed=1.0, seed=0)
    seconds = time.perf_counter() - start
    return {"sovits_s_per_audio_s": seconds / (len(audio) / 32000)}


def time_bert(pipe, text: str) -> dict[str, float]:
    from gpt_sovits.text.phones import get_phones_and_bert

    start = time.perf_counter()
    pipe.bert().char_features(text)
    bert = time.perf_counter() - start
    start = time.perf_counter()
    get_phones_and_bert(text, "all_zh", version="v2", bert=pipe.bert())
    return {"bert_ms_per_sentence": 1000 * bert, "frontend_ms_per_sentence": 1000 * (time.perf_counter() - start)}


def _hooks(tokens: int):
    from gpt_sovits.infer.hooks import RunHooks

    return RunHooks(early_stop_num=tokens)


def time_e2e(pipe, root: BenchRoot, text: str, tokens: int) -> dict[str, float]:
    req = _request(text=text, text_lang="all_zh", ref_audio_path=str(root.ref_wav), prompt_text=root.ref_text,
                   prompt_lang="all_zh", text_split_method="cut0", seed=1)
    start = time.perf_counter()
    result = pipe.synthesize(req, hooks=_hooks(tokens))
    return {"e2e_s": time.perf_counter() - start, "e2e_audio_s": len(result.audio) / result.sample_rate}


def time_first_audio(pipe, root: BenchRoot, streaming_mode: int,
                     tokens: int = SHORT_SENTENCE_TOKENS) -> dict[str, float]:
    req = _request(text=SHORT_SENTENCES, text_lang="all_zh", ref_audio_path=str(root.ref_wav),
                   prompt_text=root.ref_text, prompt_lang="all_zh", text_split_method="cut5", seed=1,
                   streaming_mode=streaming_mode)
    start = time.perf_counter()
    chunks = pipe.stream(req, hooks=_hooks(tokens))
    try:
        first = next(chunks)
        elapsed = time.perf_counter() - start
    finally:
        chunks.close()  # stops the rest of the request (and releases the pipeline's lock)
    return {"first_audio_s": elapsed, "first_chunk_audio_s": len(first.audio) / 32000}


def sovits_flops_per_audio_s(pipe, inputs: Inputs, spec: torch.Tensor) -> float | None:
    """Matmul/convolution FLOPs of one decode per second of audio (None if the counter cannot follow the decode)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            audio = pipe.decode_semantic(inputs.codes, inputs.target, [spec], noise_scale=0.5, speed=1.0, seed=0)
    except Exception as err:  # a compiled or scripted decoder may hide its ops from the counter
        print(f"(FLOP count unavailable: {err})")
        return None
    return counter.get_total_flops() / (len(audio) / 32000)


class BusyCore:
    """A child process spinning on one core for the duration of a `with` block: a neighbour on a shared box."""

    def __enter__(self) -> "BusyCore":
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def time_gpt_busy(pipe, inputs: Inputs, tokens: int, threads: int) -> dict[str, float]:
    """GPT ms/token idle at 1 thread, then with one core busy at `threads` and at 1 thread (issue #18's last row)."""
    out = {}
    with torch_threads(1):
        out["idle_1t_ms"] = time_gpt(pipe, inputs, tokens)["gpt_ms_per_token"]
    with BusyCore():
        with torch_threads(threads):
            out[f"busy_{threads}t_ms"] = time_gpt(pipe, inputs, tokens)["gpt_ms_per_token"]
        with torch_threads(1):
            out["busy_1t_ms"] = time_gpt(pipe, inputs, tokens)["gpt_ms_per_token"]
    out["busy_vs_idle_1t"] = out[f"busy_{threads}t_ms"] / out["idle_1t_ms"]
    return {k: round(v, 3) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------- peak memory
def _peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM belongs to the process's own memory map, so a child started from this big
    bench process does not report its parent's size (ru_maxrss survives fork + exec on Linux and did)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_child(root_dir: str, mode: str, tiny: bool, threads: int, tokens: int, text: str) -> dict:
    """In a fresh process: load one mode, serve the 10 s request twice; peak RSS and the cold first request."""
    torch.set_num_threads(threads)
    root = compute_thread().call(build_root, root_dir, tiny=tiny)
    base = _peak_rss_mib()
    start = time.perf_counter()
    pipe = load_pipeline(root, MODES[mode])
    loaded = time.perf_counter()
    first = time_e2e(pipe, root, text, tokens)["e2e_s"]
    second = time_e2e(pipe, root, text, tokens)["e2e_s"]
    return {"mode": mode, "peak_rss_mib": round(_peak_rss_mib(), 1), "rss_before_load_mib": round(base, 1),
            "load_s": round(loaded - start, 3), "first_request_s": round(first, 3),
            "second_request_s": round(second, 3)}


def run_rss_child(root_dir: Path, mode: str, tiny: bool, threads: int, tokens: int, text: str) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_speed", "--rss-child", mode, "--root", str(root_dir), "--threads",
           str(threads), "--tokens", str(tokens), "--text", text] + (["--tiny"] if tiny else [])
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if run.returncode != 0:
        return {"mode": mode, "error": run.stderr[-2000:]}
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------- report
def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "values": [round(v, 4) for v in values]}


def _fmt(stat: dict | None, digits: int) -> str:
    if not stat:
        return "—"
    return f"{stat['median']:.{digits}f} [{stat['min']:.{digits}f}–{stat['max']:.{digits}f}]"


def print_report(report: dict) -> None:
    threads = str(report["threads"])
    print(f"\n{report['machine']}; {report['date']}; threads {threads}, rounds {report['rounds']}"
          + (" (quick)" if report["quick"] else "") + (" (TINY MODELS: numbers mean nothing)" if report["tiny"] else ""))
    for n, row in report["floors"].items():
        print(f"floor, {n} thread(s): bandwidth {row['bandwidth_gbs']:.1f} GB/s, fp32 {row['fp32_gflops']:.0f} GFLOP/s,"
              f" bf16 {row['bf16_gflops']:.0f} GFLOP/s")
    rows = [("GPT ms/token", "gpt_ms_per_token", 2, "gpt_floor_ratio"),
            ("GPT prefill s", "gpt_prefill_s", 3, None),
            ("SoVITS s per audio s", "sovits_s_per_audio_s", 3, "sovits_floor_ratio"),
            ("BERT ms per sentence", "bert_ms_per_sentence", 1, None),
            ("frontend (G2P+BERT) ms", "frontend_ms_per_sentence", 1, None),
            (f"end to end s ({report['e2e_audio_s']:.1f} s audio)", "e2e_s", 2, None),
            ("first audio s (5 short)", "first_audio_s", 2, None)]
    modes = list(report["modes"])
    print(f"\n{'stage':<30}" + "".join(f"{m + ' median [min–max]':>34}" for m in modes) + f"   {UPSTREAM_NOTE}")
    for label, key, digits, ratio in rows:
        line = f"{label:<30}"
        for m in modes:
            cell = _fmt(report["modes"][m].get(key), digits)
            if ratio and report["modes"][m].get(ratio):
                cell += f" ({report['modes'][m][ratio]:.1f}× floor)"
            line += f"{cell:>34}"
        up = report["upstream_reference"].get(key)
        print(line + (f"   {up}" if up is not None else ""))
    for m in modes:
        mode = report["modes"][m]
        print(f"{m}: GPT floor {mode['gpt_floor_ms']:.2f} ms/token ({mode['gpt_floor_basis']}); SoVITS floor "
              + (f"{mode['sovits_floor_s_per_audio_s']:.3f} s per audio s ({mode['sovits_floor_basis']})"
                 if mode.get("sovits_floor_s_per_audio_s") else "n/a"))
    busy = report.get("busy")
    if busy:
        for m in modes:
            b = busy[m]
            print(f"{m}: GPT ms/token ({busy['tokens']} tokens) idle 1 thread {b['idle_1t_ms']:.1f}; one core busy: "
                  f"{threads} threads {b[f'busy_{threads}t_ms']:.1f}, 1 thread {b['busy_1t_ms']:.1f} "
                  f"({b['busy_vs_idle_1t']:.2f}× idle 1 thread)   upstream 56 / 41 (issue #18)")
    for m, mem in report.get("memory", {}).items():
        if "error" in mem:
            print(f"{m}: child run failed: {mem['error'][-500:]}")
        else:
            print(f"{m}: peak RSS {mem['peak_rss_mib']:.0f} MiB (load + two requests), load {mem['load_s']:.1f} s, "
                  f"first request {mem['first_request_s']:.2f} s, second {mem['second_request_s']:.2f} s")


# ---------------------------------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    tiny, quick = args.tiny, args.quick or args.tiny
    rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    tokens = args.tokens if args.tokens is not None else (20 if tiny else 100 if quick else 250)
    e2e_tokens = tokens
    text = SENTENCE_10S if not quick else SENTENCE_10S[: max(8, len(SENTENCE_10S) * tokens // 250)]
    floor_threads = sorted({1, args.threads})
    load_start = os.getloadavg()[0]
    print(machine_line(), flush=True)
    compute = compute_thread()  # all model work on the pipelines' thread (gpt_sovits/infer/compute.py), none here
    floors = compute.call(measure_floors, floor_threads, 16 if tiny else GPT_WEIGHT_MBYTES,
                          (256,) if tiny else (1024,) if quick else (1024, 2048), 2 if quick else 5)
    root_dir = _root_dir(args)
    start = time.perf_counter()
    root = compute.call(build_root, root_dir, encoders="full", tiny=tiny)
    print(f"root {root.root} ready in {time.perf_counter() - start:.1f} s", flush=True)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    pipes, load_s = {}, {}
    for m in modes:
        start = time.perf_counter()
        pipes[m] = load_pipeline(root, MODES[m])
        load_s[m] = time.perf_counter() - start
    inputs = compute.call(Inputs.make, tokens)  # randn this large runs in parallel: not on this thread
    specs = {m: pipes[m].reference_spec(root.ref_wav) for m in modes}
    for m in modes:  # warm-up: lazy encoders, dictionaries, reference caches, kernel selection
        time_e2e(pipes[m], root, text[:8], 5)
        time_gpt(pipes[m], inputs, 4)
    flops = compute.call(sovits_flops_per_audio_s, pipes[modes[0]], inputs, specs[modes[0]])

    stages = [("gpt", lambda m: time_gpt(pipes[m], inputs, tokens)),
              ("sovits", lambda m: time_sovits(pipes[m], inputs, specs[m])),
              ("bert", lambda m: compute.call(time_bert, pipes[m], text)),
              ("e2e", lambda m: time_e2e(pipes[m], root, text, e2e_tokens)),
              ("first_audio", lambda m: time_first_audio(pipes[m], root, args.streaming_mode,
                                                           min(tokens, SHORT_SENTENCE_TOKENS)))]
    samples: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    for r in range(rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        for name, stage in stages:
            for m in order:
                for key, value in stage(m).items():
                    samples[m].setdefault(key, []).append(value)
        print(f"round {r + 1}/{rounds} done", flush=True)

    weights = gpt_weights_per_token(tiny)
    t = str(args.threads)
    report_modes = {}
    for m in modes:
        out = {key: _summary(values) for key, values in samples[m].items()
               if key not in ("gpt_tokens", "e2e_audio_s", "first_chunk_audio_s")}
        fast = MODES[m]
        bytes_per_weight = 1 if fast else 4
        out["gpt_floor_basis"] = (f"{weights / 1e6:.1f} M weights × {bytes_per_weight} B "
                                  f"({'int8' if fast else 'fp32'}) / {floors[t]['bandwidth_gbs']} GB/s")
        out["gpt_floor_ms"] = round(1000 * weights * bytes_per_weight / (floors[t]["bandwidth_gbs"] * 1e9), 3)
        out["gpt_floor_ratio"] = round(out["gpt_ms_per_token"]["median"] / out["gpt_floor_ms"], 2)
        if flops:
            peak = floors[t]["bf16_gflops" if fast else "fp32_gflops"]
            out["sovits_floor_basis"] = (f"{flops / 1e9:.1f} GFLOP per audio s / {peak} GFLOP/s "
                                         f"({'bf16' if fast else 'fp32'} peak)")
            out["sovits_floor_s_per_audio_s"] = round(flops / (peak * 1e9), 4)
            out["sovits_floor_ratio"] = round(out["sovits_s_per_audio_s"]["median"] / out["sovits_floor_s_per_audio_s"],
                                              2)
        out["load_s"] = round(load_s[m], 3)
        report_modes[m] = out

    report = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_line(),
        "command": "python -m bench.bench_speed " + " ".join(args.argv), "commit": _commit(),
        "loadavg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "threads": args.threads, "rounds": rounds, "quick": quick, "tiny": tiny,
        "gpt_tokens": tokens, "e2e_audio_s": samples[modes[0]]["e2e_audio_s"][0],
        "e2e_text_chars": len(text), "first_audio_text": SHORT_SENTENCES,
        "streaming_mode_used": args.streaming_mode if "streaming_mode" in _request_fields() else None,
        "sovits_gflop_per_audio_s": None if flops is None else round(flops / 1e9, 2),
        "weights": "v2-size random (bench/v2_root.py): GPT s1longer-v2, SoVITS s2.json, HuBERT base, BERT large"
                   if not tiny else "tiny random (tests' models)",
        "floors": floors,
        "modes": report_modes,
        "upstream_reference": {"note": UPSTREAM_NOTE, **UPSTREAM},
    }
    if args.busy and not args.quick:
        busy_tokens = min(tokens, 100)
        report["busy"] = {"tokens": busy_tokens, "threads": args.threads,
                          **{m: time_gpt_busy(pipes[m], inputs, busy_tokens, args.threads) for m in modes}}
    if args.rss and not quick:
        report["memory"] = {m: run_rss_child(root_dir, m, tiny, args.threads, e2e_tokens, text) for m in modes}
    return report


def _commit() -> str | None:
    run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return run.stdout.strip() or None


def memory_report(args: argparse.Namespace) -> dict:
    """Peak RSS of each mode serving the 10 s request twice in a fresh process (what a later change is held to)."""
    tokens = args.tokens or (20 if args.tiny else 250)
    root_dir = _root_dir(args)
    compute_thread().call(build_root, root_dir, tiny=args.tiny)
    return {
        "schema": 1, "kind": "peak_rss",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_line(), "commit": _commit(), "threads": args.threads, "gpt_tokens": tokens,
        "command": "python -m bench.bench_speed " + " ".join(args.argv),
        "what": "a fresh process per mode loads the pipeline (v2-size random GPT/SoVITS, full-size HuBERT/BERT) and "
                "serves one ~10 s Chinese sentence twice; peak_rss_mib is VmHWM (else ru_maxrss) at the end",
        "memory": {m: run_rss_child(root_dir, m, args.tiny, args.threads, tokens, SENTENCE_10S)
                   for m in args.modes.split(",") if m},
    }


def _root_dir(args: argparse.Namespace) -> Path:
    return Path(args.root) if args.root else Path("/tmp") / ("gsv_bench_root_tiny" if args.tiny else "gsv_bench_root")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the stages (floors also at 1)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--tokens", type=int, default=None, help="GPT tokens per run (default 250 = 10 s)")
    parser.add_argument("--modes", default="exact,fast", help="comma-separated: exact, fast")
    parser.add_argument("--streaming-mode", type=int, default=2,
                        help="api_v2 streaming_mode for the first-audio run, when the request type has the field")
    parser.add_argument("--quick", action="store_true", help="1 round, 100 tokens, no peak-RSS child runs")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny models (smoke run)")
    parser.add_argument("--no-busy", dest="busy", action="store_false",
                        help="skip the GPT runs beside a busy core (1 thread idle, then busy at --threads and 1)")
    parser.add_argument("--no-rss", dest="rss", action="store_false", help="skip the peak-RSS child runs")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the peak-RSS child runs (e.g. for bench/baseline/); no floors, no stage timings")
    parser.add_argument("--root", default=None, help="bench root to write or reuse (default /tmp/gsv_bench_root)")
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--text", default=SENTENCE_10S, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.rss_child:
        print(json.dumps(rss_child(args.root, args.rss_child, args.tiny, args.threads, args.tokens or 250, args.text)))
        return 0
    report = memory_report(args) if args.memory_only else run(args)
    if args.memory_only:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
