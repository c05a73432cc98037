"""`python -m gpt_sovits infer`: synthesise text to a 32 kHz wav file from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.infer.request import LANGUAGE_OPTIONS_V2, SPLIT_METHODS, TTSRequest
from gpt_sovits.paths import ProjectPaths


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpt", type=Path, help="GPT weights (.ckpt); default: the pretrained v2 GPT")
    parser.add_argument("--sovits", type=Path, help="SoVITS weights (.pth); default: the pretrained v2 SoVITS G")
    parser.add_argument("--ref", type=Path, required=True, help="reference clip of the voice (3-10 s)")
    parser.add_argument("--ref-text", default="", help="what the reference says (empty: reference-free mode)")
    parser.add_argument("--ref-lang", default="all_zh", choices=LANGUAGE_OPTIONS_V2)
    parser.add_argument("--aux-ref", type=Path, action="append", default=[],
                        help="extra reference clips whose timbre is averaged (repeatable)")
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="text to speak")
    text.add_argument("--text-file", type=Path, help="UTF-8 file with the text to speak")
    parser.add_argument("--text-lang", default="all_zh", choices=LANGUAGE_OPTIONS_V2)
    parser.add_argument("--out", type=Path, required=True, help="output .wav (32 kHz mono 16-bit)")
    parser.add_argument("--cut", default="cut1", choices=SPLIT_METHODS, help="sentence splitting method")
    parser.add_argument("--top-k", type=int, default=15)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--repetition-penalty", type=float, default=1.35)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds of silence after each sentence")
    parser.add_argument("--noise-scale", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=-1, help="-1: random (the seed used is printed)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="user lexicon file (lang<TAB>word<TAB>phones), e.g. lexicon.tsv or logs/<exp>/lexicon.tsv")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--fast-cpu", action="store_true",
                        help="on a CPU: int8 GPT and bf16 decoder, about 2x faster, not bit-exact with upstream")


def _synthesize_with_progress(pipeline, req: TTSRequest):
    """`pipeline.synthesize`, with a progress bar over the sentences when there are several (long texts)."""
    import numpy as np
    from tqdm import tqdm

    from gpt_sovits.infer.pipeline import SAMPLE_RATE, TTSResult

    seed: list[int] = []
    total = len(pipeline.sentences(req))
    with tqdm(total=total, unit="sentence", disable=total < 2, file=sys.stderr) as bar:
        sentences = []
        for sentence in pipeline.stream(req, on_seed=seed.append):
            sentences.append(sentence)
            bar.update(sentence.index + 1 - bar.n)
    audio = np.concatenate([s.audio for s in sentences])
    return TTSResult(SAMPLE_RATE, audio, seed[0], sentences)


def run(args: argparse.Namespace) -> int:
    from gpt_sovits.audio.io import save_wav
    from gpt_sovits.infer.pipeline import ModelMissingError, TTSPipeline
    from gpt_sovits.infer.speakable import language_warning
    from gpt_sovits.text.errors import TextFrontendError

    paths = ProjectPaths(args.root)
    text = args.text if args.text is not None else args.text_file.read_text(encoding="utf-8")
    req = TTSRequest(
        text=text, text_lang=args.text_lang, ref_audio_path=args.ref, prompt_text=args.ref_text,
        prompt_lang=args.ref_lang, aux_ref_audio_paths=list(args.aux_ref), top_k=args.top_k, top_p=args.top_p,
        temperature=args.temperature, repetition_penalty=args.repetition_penalty, text_split_method=args.cut,
        speed_factor=args.speed, fragment_interval=args.pause, seed=args.seed, noise_scale=args.noise_scale,
        lexicon=args.lexicon,
    )
    warning = language_warning(req.text, req.text_lang)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    from gpt_sovits.text.warmup import languages_for_options, warm_in_background

    # the request's text frontends load while the models do
    warm_in_background(languages_for_options(req.text_lang, req.prompt_lang),
                       auto=bool({req.text_lang, req.prompt_lang} & {"auto", "auto_yue"}))
    pipeline = TTSPipeline(paths, device=args.device, fast_cpu=args.fast_cpu)
    try:
        pipeline.load_gpt(args.gpt or paths.pretrained_gpt("v2"))
        pipeline.load_sovits(args.sovits or paths.pretrained_sovits_g("v2"))
        result = _synthesize_with_progress(pipeline, req)
    except (ModelMissingError, TextFrontendError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_wav(args.out, result.audio, result.sample_rate)
    tokens = sum(s.tokens for s in result.sentences)
    print(f"wrote {args.out} ({len(result.audio) / result.sample_rate:.2f} s, {len(result.sentences)} sentence(s), "
          f"{tokens} tokens, seed {result.seed})")
    return 0
