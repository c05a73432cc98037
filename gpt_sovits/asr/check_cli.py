"""Stage `check-list`: `python -m gpt_sovits check-list LIST [--audio-dir DIR]` prints one row per problem.

It reads the list exactly as formatting does, so a list it finds no errors in is one `format` accepts.
"""

from __future__ import annotations

import argparse
import sys

from gpt_sovits.asr.check import check_list
from gpt_sovits.dataset.items import FormatError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("list", help="the .list file to check")
    parser.add_argument("--audio-dir", default=None,
                        help="audio folder as in the formatting step (audio = DIR/<file name>); default: the paths "
                             "in the list")
    parser.add_argument("--no-audio", action="store_true", help="check the text only, do not open audio files")


def run(args: argparse.Namespace) -> int:
    try:
        report = check_list(args.list, args.audio_dir, read_audio_files=not args.no_audio, root=args.root)
    except (OSError, UnicodeDecodeError, FormatError) as e:
        print(f"error: cannot read {args.list}: {e}", file=sys.stderr)
        return 2
    for p in report.problems:
        print(f"{args.list}:{p.line_no}: {p.level}: {p.kind}: {p.message}")
    print(report.totals_text())
    return 0 if report.ok else 1
