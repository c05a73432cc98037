"""Stage `slice`: `python -m gpt_sovits slice INPUT OUTPUT_DIR [options]` (INPUT: a file or a folder)."""

from __future__ import annotations

import argparse
import sys

from gpt_sovits.audio.slicer import SliceConflict, SliceOptions, SliceOptionsError, list_inputs, slice_path
from gpt_sovits.progress import Progress


def configure(parser: argparse.ArgumentParser) -> None:
    d = SliceOptions()
    parser.add_argument("input", help="an audio file or a folder of audio files")
    parser.add_argument("output_dir", help="folder for the clips (<name>_<start>_<end>.wav, 32 kHz mono 16-bit)")
    parser.add_argument("--threshold", type=float, default=d.threshold_db, help="silence threshold in dB (-34)")
    parser.add_argument("--min-length", type=int, default=d.min_length_ms, help="minimum clip length, ms (4000)")
    parser.add_argument("--min-interval", type=int, default=d.min_interval_ms, help="minimum silence to cut, ms (300)")
    parser.add_argument("--hop-size", type=int, default=d.hop_ms, help="RMS hop, ms (10)")
    parser.add_argument("--max-sil-kept", type=int, default=d.max_sil_kept_ms,
                        help="silence kept around a clip, ms (500)")
    parser.add_argument("--max-length", type=int, default=d.max_length_ms,
                        help="longest clip, ms; longer chunks are cut at their quietest point (20000)")
    parser.add_argument("--max", dest="norm_max", type=float, default=d.norm_max, help="normalisation peak (0.9)")
    parser.add_argument("--alpha", type=float, default=d.alpha, help="share of the normalised signal (0.25)")
    parser.add_argument("--workers", type=int, default=d.workers, help="worker processes (4)")
    parser.add_argument("--replace", action="store_true",
                        help="OUTPUT_DIR holds clips of these recordings from an earlier run: move them into "
                             "OUTPUT_DIR/replaced-<time>/ and slice again (without it such a run is refused)")


def options_from_args(args: argparse.Namespace) -> SliceOptions:
    return SliceOptions(
        threshold_db=args.threshold, min_length_ms=args.min_length, min_interval_ms=args.min_interval,
        hop_ms=args.hop_size, max_sil_kept_ms=args.max_sil_kept, max_length_ms=args.max_length,
        norm_max=args.norm_max, alpha=args.alpha, workers=args.workers,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
        options.validate()
    except SliceOptionsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        total = len(list_inputs(args.input))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with Progress(total, "slice") as bar:

        def on_progress(done: int, _total: int, message: str) -> None:
            if done:
                bar.update(1)
            if "failed" in message:
                bar.message(message, level="error")

        try:
            report = slice_path(args.input, args.output_dir, options, on_progress, replace=args.replace)
        except SliceConflict as e:
            bar.message(f"error: {e}", level="error")
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(report.summary())
    return 0 if report.ok else 1
