"""`python -m gpt_sovits format --list L --exp NAME [--steps text,hubert,sv,semantic] [--workers N] [--device cpu]`

Exit status: 0 when every requested step left usable lines (failed lines are listed as warnings), 1 when a step
produced nothing usable, 2 when the run could not start (bad list, name collisions, missing model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.dataset.format import FormatOptions, format_dataset, parse_steps
from gpt_sovits.dataset.items import FormatError
from gpt_sovits.paths import PathError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", dest="list_path", type=Path, required=True, help="the .list annotation file")
    parser.add_argument("--exp", required=True, help="experiment name: outputs go to logs/<exp>/")
    parser.add_argument("--steps", default="text,hubert,sv,semantic",
                        help="comma-separated steps to run: text (1Aa), hubert (1Ab), sv (1Ab speaker embeddings, "
                             "v2Pro/v2ProPlus only; skipped otherwise), semantic (1Ac); default all")
    parser.add_argument("--wav-dir", type=Path, default=None,
                        help="look every clip up in this folder by file name instead of the list's paths")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes; worker i runs every step on lines i, i+N, ... (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: all cores for one worker, cores/N for N); "
                             "outputs are byte-identical for any --workers at equal --threads")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:0, or a comma list (cuda:0,cuda:1): worker i uses device i mod count")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", dest="half", action="store_const", const=True, default=None,
                           help="store fp16 features (default on CUDA, as upstream)")
    precision.add_argument("--fp32", dest="half", action="store_const", const=False,
                           help="store fp32 features even on CUDA")
    parser.add_argument("--version", default="v2", choices=("v1", "v2", "v2Pro", "v2ProPlus"),
                        help="model version (symbol table; v2Pro/v2ProPlus add the speaker-embedding step)")
    parser.add_argument("--bert-dir", type=Path, default=None,
                        help="BERT folder (default pretrained_models/chinese-roberta-wwm-ext-large)")
    parser.add_argument("--hubert-dir", type=Path, default=None,
                        help="HuBERT folder (default pretrained_models/chinese-hubert-base)")
    parser.add_argument("--replace", action="store_true",
                        help="format into an experiment that was formatted from a different list, replacing its "
                             "features (the old ones are moved aside and deleted only when this run succeeds)")
    parser.add_argument("--pretrained-s2g", type=Path, default=None,
                        help="pretrained SoVITS G used for the semantic tokens (default by --version)")
    parser.add_argument("--sv-model", type=Path, default=None,
                        help="speaker-verification model for v2Pro/v2ProPlus "
                             "(default pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt)")


def _devices(text: str) -> tuple[str, ...]:
    devices = tuple(d.strip() for d in text.split(",") if d.strip())
    if not devices:
        raise FormatError("--device is empty; use cpu, cuda or cuda:0,cuda:1.")
    for d in devices:
        if not (d == "cpu" or d == "cuda" or (d.startswith("cuda:") and d[5:].isdigit())):
            raise FormatError(f"Unknown device {d!r}; use cpu, cuda or cuda:N.")
    return devices


def run(args: argparse.Namespace) -> int:
    try:
        if args.workers < 1:
            raise FormatError("--workers must be at least 1.")
        if args.threads is not None and args.threads < 1:
            raise FormatError("--threads must be at least 1.")
        options = FormatOptions(
            list_path=args.list_path, exp_name=args.exp, root=args.root, steps=parse_steps(args.steps),
            wav_dir=args.wav_dir, workers=args.workers, devices=_devices(args.device), threads=args.threads,
            half=args.half,
            version=args.version, bert_dir=args.bert_dir, hubert_dir=args.hubert_dir,
            pretrained_s2g=args.pretrained_s2g, sv_model=args.sv_model, replace=args.replace,
        )
        report = format_dataset(options)
    except (FormatError, PathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    warnings = report.warnings
    if warnings:
        print(f"\n{len(warnings)} warning(s):")
        for line in warnings:
            print(f"  {line}")
    if not report.succeeded:
        failed = [s for s in report.steps if not s.ok]
        print("\nerror: " + "; ".join(f"{s.summary()}" for s in failed), file=sys.stderr)
        return 1
    print(f"\nFormatted dataset in {report.exp_dir}")
    return 0
