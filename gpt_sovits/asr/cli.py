"""Stage `asr`: `python -m gpt_sovits asr INPUT_DIR --output LIST [options]` (faster-whisper, no downloads)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.asr.whisper import (
    ASR_LANGUAGES,
    COMPUTE_TYPES,
    DEVICES,
    AsrOptions,
    WhisperModelNotFound,
    list_audio_files,
    transcribe_folder,
)
from gpt_sovits.paths import WHISPER_SIZES, ProjectPaths
from gpt_sovits.progress import Progress


def configure(parser: argparse.ArgumentParser) -> None:
    d = AsrOptions()
    parser.add_argument("input_dir", help="folder of clips (e.g. the slicer's output)")
    parser.add_argument("--output", required=True, help="the .list file to write (a <list>.asr.json sidecar too)")
    parser.add_argument("--model-size", default=d.model_size, choices=WHISPER_SIZES)
    parser.add_argument("--model-dir", default=None,
                        help="a faster-whisper model folder (default: pretrained_models/faster-whisper-<size>)")
    parser.add_argument("--language", default=d.language, choices=ASR_LANGUAGES)
    parser.add_argument("--device", default=d.device, choices=DEVICES)
    parser.add_argument("--precision", default=d.compute_type, choices=COMPUTE_TYPES,
                        help="auto: int8 on CPU, float16 on CUDA")
    parser.add_argument("--beam-size", type=int, default=d.beam_size)
    parser.add_argument("--no-vad", action="store_true", help="turn off the built-in Silero VAD")
    parser.add_argument("--no-temperature-fallback", action="store_true",
                        help="decode once at temperature 0 (faster; no retries on doubtful output)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="cap on tokens per 30 s window")
    parser.add_argument("--speaker", default=None, help="speaker column (default: the input folder's name)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for CTranslate2 (0: its default)")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite OUTPUT even if it was corrected since ASR wrote it (its current content is "
                             "kept in OUTPUT.history/); without it such a list is kept and the result goes beside it "
                             "as <name>.asr-<n>.list")


def run(args: argparse.Namespace) -> int:
    options = AsrOptions(
        model_size=args.model_size, language=args.language, device=args.device, compute_type=args.precision,
        beam_size=args.beam_size, vad=not args.no_vad, temperature_fallback=not args.no_temperature_fallback,
        max_new_tokens=args.max_new_tokens, model_dir=args.model_dir, speaker=args.speaker,
        cpu_threads=args.threads,
    )
    try:
        options.validate()
        total = len(list_audio_files(args.input_dir))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with Progress(total, "asr") as bar:

        def on_progress(done: int, _total: int, message: str) -> None:
            if done:
                bar.update(1)
            bar.message(message, level="error" if message.startswith("failed") else "info")

        try:
            report = transcribe_folder(args.input_dir, Path(args.output), ProjectPaths(args.root), options,
                                       on_progress, replace=args.replace)
        except (WhisperModelNotFound, FileNotFoundError) as e:
            bar.message(f"error: {e}", level="error")
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(report.summary())
    # per-clip failures are listed above; the run fails only when it produced nothing usable
    return 0 if report.written else 1
