"""The command line: `python -m gpt_sovits <stage> [options]`.

Each stage lives in its own module, which provides `configure(parser)` (add its arguments) and `run(args) -> int`.
Modules are imported only when their stage is chosen, so `--help` stays fast and a missing optional dependency of
one stage does not break the others. Every stage takes `--root` (the folder holding pretrained_models/, weights/,
datasets/ and logs/; default: the project folder).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from gpt_sovits.paths import PROJECT_DIR

# stage name -> (module, one-line help)
STAGES: dict[str, tuple[str, str]] = {
    "slice": ("gpt_sovits.audio.slice_cli", "cut long recordings into clips at silences"),
    "asr": ("gpt_sovits.asr.cli", "transcribe clips with faster-whisper into a .list"),
    "check-list": ("gpt_sovits.asr.check_cli", "check a .list file for problems"),
    "format": ("gpt_sovits.dataset.cli", "1A: format a .list into training features"),
    "train-sovits": ("gpt_sovits.train.sovits", "1Ba: finetune SoVITS"),
    "train-gpt": ("gpt_sovits.train.gpt", "1Bb: finetune GPT"),
    "train-chain": ("gpt_sovits.train.chain", "1B: finetune SoVITS then GPT as one resumable run"),
    "train-estimate": ("gpt_sovits.train.estimate", "1B: measure speed and memory, find the batch size that fits"),
    "train-preview": ("gpt_sovits.train.preview", "1B: synthesise a short preview with each new weights file"),
    "dry-run": ("gpt_sovits.dry_run", "check an installation: the whole path on tiny models in a few minutes"),
    "infer": ("gpt_sovits.infer.cli", "1C: synthesise text to a wav file"),
    "serve": ("gpt_sovits.api.cli", "start the api_v2-compatible HTTP server"),
    "webui": ("gpt_sovits.ui.cli", "start the WebUI"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gpt_sovits", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", metavar="STAGE")
    for name, (_, help_text) in STAGES.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES:
        parser = build_parser()
        parser.print_help()
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown stage {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    stage, rest = argv[0], argv[1:]
    module_name, help_text = STAGES[stage]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            print(f"The stage {stage!r} is not available yet in this version.", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"python -m gpt_sovits {stage}", description=help_text)
    parser.add_argument("--root", type=Path, default=PROJECT_DIR,
                        help="folder holding pretrained_models/, weights/, datasets/, logs/ (default: project folder)")
    module.configure(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)
