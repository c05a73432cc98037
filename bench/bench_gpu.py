"""GPU speed at v2 size with random weights: GPT tokens per second at batch 1 in fp16/bf16 (module path, a
static-shape K/V step, and that step replayed from a CUDA graph), time to the first streamed packet through the
pipeline, and a few mixed-precision training steps of both models. Prints figures, asserts nothing.

    python -m bench.bench_gpu [--device cuda] [--dtypes fp16,bf16] [--tokens 300] [--json out.json]
                              [--no-pipeline] [--no-train] [--tiny]

Prepared for a session that is lent a GPU (issue #18, item 6): one command, one JSON report. On a CPU it runs too
(`--device cpu --dtypes fp32 --tiny` is the tests' smoke run); the CUDA graph row then says it was not measured.

GPT decode, the same weights, prompt (100 phones + BERT, 125 prompt tokens) and greedy choice in all three:
  module  `Text2SemanticDecoder.infer` as the pipeline runs it on a GPU (eager modules, a K/V cache that grows);
          `--tokens` steps, ms per step from its step callback (top_k 1, no repetition penalty: greedy).
  static  one decode step whose every shape is the same at every position: keys and values in buffers of fixed
          capacity written at a position held in a device tensor, attention over all slots with the unwritten ones
          masked, the next token chosen on the device (argmax) and fed back into the step's input buffer.
  graph   the static step captured once in a CUDA graph and replayed per token (no Python or launch overhead).
The static step's first greedy tokens are compared with the module path's (agreement and the logits' max |Δ| while
they agree are reported), so its speed is not that of a different computation.

First packet: `TTSPipeline` on the device (half precision), full-size random HuBERT/BERT (bench/v2_root.py), a warm
reference, api_v2 streaming_mode 3 and 1: seconds from `stream()` to its first piece (bench/bench_first_audio.py).
Training: `python -m bench.bench_train sovits|gpt --device cuda` (fp16/bf16 autocast) in child processes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
REPO = Path(__file__).resolve().parent.parent
CHECKED_STEPS = 64  # greedy steps of the static step compared with the module path
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def build_gpt(tiny: bool, device: torch.device, dtype: torch.dtype):
    """A random v2-size (or tiny) GPT in eval mode whose EOS row is zero (fixed-length runs)."""
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

    config = yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())
    if tiny:
        config["model"].update(embedding_dim=64, hidden_dim=64, head=4, n_layer=2)
    torch.manual_seed(0)
    model = Text2SemanticDecoder(config).eval()
    with torch.no_grad():
        model.ar_predict_layer.weight[model.EOS].zero_()
    return model.to(device=device, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_inputs(model, device: torch.device, dtype: torch.dtype, phones: int = 100, prompt: int = 125):
    gen = torch.Generator().manual_seed(1)
    bert_dim = model.bert_proj.in_features if hasattr(model, "bert_proj") else 1024
    return (torch.randint(0, 700, (1, phones), generator=gen).to(device),
            (torch.randn(1, bert_dim, phones, generator=gen) * 0.1).to(device, dtype),
            torch.randint(0, 1024, (1, prompt), generator=gen).to(device))


def module_decode(model, inputs, tokens: int, device: torch.device) -> dict:
    """The pipeline's GPU path, greedy: ms per step (after the prefill) and the tokens and per-step logits."""
    phones, bert, prompt = inputs
    stamps: list[float] = []

    def on_step(step: int) -> None:
        _sync(device)
        stamps.append(time.perf_counter())

    with torch.no_grad():
        result = model.infer(phones, bert, prompt, top_k=1, top_p=1.0, temperature=1.0, repetition_penalty=1.0,
                             early_stop_num=tokens, on_step=on_step, collect_logits=True)
    steps = len(stamps) - 1
    return {"ms_per_token": 1000 * (stamps[-1] - stamps[0]) / max(1, steps), "steps": steps,
            "tokens": result.y[0, prompt.size(1):].tolist(), "logits": result.step_logits.float()}


class StaticStep:
    """One greedy decode step with fixed shapes (see the module docstring): `run()` reads the token in `self.token`
    at audio position `self.position`, writes its keys/values, and leaves the next token in `self.token` and its
    logits in `self.logits`; `self.position` advances by one. All state lives in device tensors."""

    def __init__(self, model, capacity: int, device: torch.device, dtype: torch.dtype):
        self.heads, self.dim = model.num_head, model.model_dim
        self.head_dim = self.dim // self.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.capacity = capacity
        self.layers = []
        for layer in model.h.layers:
            attn = layer.self_attn
            self.layers.append([t.detach() for t in (
                attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias,
                layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias,
                layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias)] + [layer.norm1.eps,
                                                                                                 layer.norm2.eps])
        n = len(self.layers)
        self.keys = torch.zeros(n, self.heads, capacity, self.head_dim, device=device, dtype=dtype)
        self.values = torch.zeros_like(self.keys)
        self.slots = torch.arange(capacity, device=device)
        self.table = model.ar_audio_embedding.word_embeddings.weight.detach()
        pe = model.ar_audio_position.table(capacity + 1)[: capacity + 1].to(device, dtype)
        self.pe = (model.ar_audio_position.alpha.detach() * pe).to(dtype)
        self.predict = model.ar_predict_layer.weight.detach()
        self.token = torch.zeros(1, dtype=torch.long, device=device)
        self.position = torch.zeros((), dtype=torch.long, device=device)  # audio position of self.token
        self.slot = torch.zeros((), dtype=torch.long, device=device)  # its K/V slot (text + prompt come first)
        self.logits = torch.zeros(1, self.predict.size(0), device=device, dtype=torch.float32)

    def _layer(self, i: int, h: torch.Tensor, mask: torch.Tensor | None, write: torch.Tensor) -> torch.Tensor:
        """h [T, C] at K/V slots `write` [T] → h [T, C]; `mask` [T, capacity] additive (None: the step's own)."""
        wqkv, bqkv, wo, bo, w1, b1, w2, b2, g1, n1, g2, n2, eps1, eps2 = self.layers[i]
        T = h.size(0)
        qkv = F.linear(h, wqkv, bqkv).view(T, 3, self.heads, self.head_dim).permute(1, 2, 0, 3)  # [3, H, T, D]
        self.keys[i].index_copy_(1, write, qkv[1])
        self.values[i].index_copy_(1, write, qkv[2])
        scores = torch.matmul(qkv[0] * self.scale, self.keys[i].transpose(1, 2)) + mask  # [H, T, capacity]
        attended = torch.matmul(torch.softmax(scores.float(), dim=-1).to(h.dtype), self.values[i])  # [H, T, D]
        h = F.layer_norm(h + F.linear(attended.transpose(0, 1).reshape(T, self.dim), wo, bo), (self.dim,), g1, n1,
                         eps1)
        return F.layer_norm(h + F.linear(F.relu(F.linear(h, w1, b1)), w2, b2), (self.dim,), g2, n2, eps2)

    def prefill(self, model, inputs) -> None:
        """Text + prompt positions through the same layers (prefix-LM mask); the first token to `self.token`."""
        from gpt_sovits.models.gpt.t2s import prefix_lm_mask

        phones, bert, prompt = inputs
        with torch.no_grad():
            x = model.embed_text(phones, bert)
            xy = torch.cat([x, model.ar_audio_position(model.ar_audio_embedding(prompt))], dim=1)[0]  # [T, C]
            tx, tp = x.size(1), prompt.size(1)
            T = tx + tp
            allowed = torch.zeros(T, self.capacity, dtype=torch.bool, device=xy.device)
            allowed[:, :T] = prefix_lm_mask(tx, tp, xy.device)
            mask = torch.zeros(allowed.shape, device=xy.device, dtype=xy.dtype).masked_fill_(~allowed, float("-inf"))
            h = xy
            for i in range(len(self.layers)):
                h = self._layer(i, h, mask, self.slots[:T])
            self.logits.copy_(F.linear(h[-1:], self.predict).float())
            self.token.copy_(self.logits.argmax(-1))
            self.position.fill_(tp)
            self.slot.fill_(T)

    def run(self) -> None:
        with torch.no_grad():
            h = self.table[self.token] + self.pe[self.position]  # [1, C]
            mask = torch.where(self.slots <= self.slot, 0.0, float("-inf")).to(h.dtype)[None]  # [1, capacity]
            write = self.slot.view(1)
            for i in range(len(self.layers)):
                h = self._layer(i, h, mask, write)
            self.logits.copy_(F.linear(h, self.predict).float())
            self.token.copy_(self.logits.argmax(-1))
            self.position.add_(1)
            self.slot.add_(1)


def static_decode(model, inputs, tokens: int, device: torch.device, dtype: torch.dtype, graph: bool) -> dict:
    """ms per step of the static step (eager, or replayed from a CUDA graph) and its greedy tokens and logits."""
    phones, _, prompt = inputs
    step = StaticStep(model, phones.size(1) + prompt.size(1) + tokens + 1, device, dtype)
    step.prefill(model, inputs)
    out_tokens = [int(step.token)]
    out_logits = [step.logits.clone()]
    run = step.run
    if graph:
        start_state = (step.token.clone(), step.position.clone(), step.slot.clone())
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm-up outside the capture (allocator, kernels): it writes slots the run rewrites
                step.run()
        torch.cuda.current_stream(device).wait_stream(stream)
        captured = torch.cuda.CUDAGraph()
        with torch.cuda.graph(captured):
            step.run()
        for buf, value in zip((step.token, step.position, step.slot), start_state):
            buf.copy_(value)  # back to the state after the prefill
        run = captured.replay
    after_prefill = (step.token.clone(), step.position.clone(), step.slot.clone())
    for _ in range(min(tokens, CHECKED_STEPS)):  # the tokens and logits compared with the module path
        run()
        out_tokens.append(int(step.token))
        out_logits.append(step.logits.clone())
    for buf, value in zip((step.token, step.position, step.slot), after_prefill):
        buf.copy_(value)  # the timed run starts after the prefill again (later K/V slots are rewritten before use)
    run()  # the first step apart, as `module_decode` starts its clock at the first step's callback
    _sync(device)
    start = time.perf_counter()
    for _ in range(tokens - 1):
        run()
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"ms_per_token": 1000 * elapsed / max(1, tokens - 1), "tokens": out_tokens,
            "logits": torch.cat(out_logits)}


def agreement(reference: dict, other: dict) -> dict:
    """Greedy ids of the first steps: how many agree before the first difference, and the logits' max |Δ| there."""
    a, b = reference["tokens"], other["tokens"]
    n = min(len(a), len(b))
    same = next((i for i in range(n) if a[i] != b[i]), n)
    k = min(same + 1, reference["logits"].size(0), other["logits"].size(0))
    ref_logits = reference["logits"][:k].float()
    delta = (ref_logits[:, : other["logits"].size(1)] - other["logits"][:k].float()[:, : ref_logits.size(1)])
    return {"compared": n, "agree_before_first_difference": same,
            "logits_max_abs_diff": float(delta.abs().max()) if k else None}


def gpt_report(args, device: torch.device) -> dict:
    rows = {}
    for name in args.dtypes.split(","):
        dtype = DTYPES[name]
        model = build_gpt(args.tiny, device, dtype)
        inputs = make_inputs(model, device, dtype)
        module_decode(model, inputs, 8, device)  # warm-up
        module = [module_decode(model, inputs, args.tokens, device) for _ in range(args.repeats)]
        static = [static_decode(model, inputs, args.tokens, device, dtype, graph=False)
                  for _ in range(args.repeats)]
        row = {"module_ms_per_token": statistics.median(r["ms_per_token"] for r in module),
               "static_ms_per_token": statistics.median(r["ms_per_token"] for r in static),
               "static_vs_module": agreement(module[0], static[0])}
        if device.type == "cuda":
            graphed = [static_decode(model, inputs, args.tokens, device, dtype, graph=True)
                       for _ in range(args.repeats)]
            row["graph_ms_per_token"] = statistics.median(r["ms_per_token"] for r in graphed)
            row["graph_vs_static"] = agreement(static[0], graphed[0])
        else:
            row["graph_ms_per_token"] = None
            row["graph_note"] = "CUDA graphs need a CUDA device: not measured"
        for key in [k for k in row if k.endswith("ms_per_token") and row[k]]:
            row[key.replace("ms_per_token", "tokens_per_s")] = 1000 / row[key]
        rows[name] = row
        print(f"GPT {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), flush=True)
        del model
    return rows


def first_packet_report(args, device: torch.device) -> dict:
    """Seconds to the first streamed piece through TTSPipeline on the device, modes 3 and 1, warm reference."""
    import tempfile

    from bench.bench_first_audio import build_root, first_audio, reference_clip, use_full_encoders, FIRST_SENTENCE
    from bench.bench_first_audio import REF_TEXT
    from gpt_sovits.infer.compute import shared
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.infer.request import TTSRequest
    from gpt_sovits.paths import ProjectPaths

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shared().call(build_root, root)
        if not args.tiny:
            shared().call(use_full_encoders, root)
        ref = reference_clip(root / "ref.wav")
        paths = ProjectPaths(root)
        pipe = TTSPipeline(paths, device=str(device))
        pipe.load_gpt(paths.pretrained_gpt("v2"))
        pipe.load_sovits(paths.pretrained_sovits_g("v2"))
        for mode in (3, 1):
            req = TTSRequest(text=FIRST_SENTENCE, text_lang="zh", ref_audio_path=str(ref), prompt_text=REF_TEXT,
                             prompt_lang="zh", seed=1, streaming_mode=mode, text_split_method="cut5",
                             split_variant="tts_infer_pack")
            first_audio(pipe, req)  # warm: reference caches, kernels
            runs = [first_audio(pipe, req) for _ in range(args.repeats)]
            out[f"mode{mode}"] = {"first_packet_s": statistics.median(r[0] for r in runs),
                                  "total_s": statistics.median(r[1] for r in runs),
                                  "audio_s": statistics.median(r[2] for r in runs), "half": pipe.half}
            print(f"first packet, streaming_mode {mode}: {out[f'mode{mode}']}", flush=True)
    return out


def train_report(args, device: torch.device) -> dict:
    """bench_train's SoVITS and GPT steps on the device, in child processes (each prints one JSON line per run)."""
    out = {}
    jobs = {"sovits": ["sovits", "--device", str(device), "--steps", "3", "--precision", "auto"],
            "gpt": ["gpt", "--device", str(device), "--repeats", "2"]}
    for name, cmd in jobs.items():
        run = subprocess.run([sys.executable, "-m", "bench.bench_train", *cmd], cwd=REPO, capture_output=True,
                             text=True)
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        out[name] = [json.loads(line) for line in lines] if run.returncode == 0 else {"error": run.stderr[-2000:]}
        print(f"train {name}: {out[name]}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", default="fp16,bf16", help="comma-separated: fp16, bf16, fp32")
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a 2-layer GPT and the tiny test encoders (smoke run)")
    parser.add_argument("--no-pipeline", dest="pipeline", action="store_false", help="skip the first-packet runs")
    parser.add_argument("--no-train", dest="train", action="store_false", help="skip the training steps")
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    from gpt_sovits.infer.compute import shared

    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "tokens": args.tokens, "repeats": args.repeats, "tiny": args.tiny,
              "gpt": shared().call(gpt_report, args, device)}
    if args.pipeline:
        report["first_packet"] = first_packet_report(args, device)
    if args.train:
        report["train"] = train_report(args, device)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
