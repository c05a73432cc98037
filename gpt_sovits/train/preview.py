"""`python -m gpt_sovits train-preview`: one short sentence synthesised with each weights file a run wrote.

A user who hears the voice improve from checkpoint to checkpoint can pick the good one. Previews run as their own
small job after a save (never inside the trainer's loop), and land in `logs/<exp>/previews/<weights file>.wav`. A
SoVITS checkpoint is heard through the experiment's newest GPT weights (or the pretrained GPT), a GPT checkpoint
through the newest SoVITS weights (or the pretrained G) of the same model version (the weights folder's); the
reference is one of the experiment's own clips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.audio.io import save_wav
from gpt_sovits.infer.references import ReferenceCandidate, reference_candidates
from gpt_sovits.infer.request import REF_MAX_SECONDS, REF_MIN_SECONDS
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.train.plan import WeightsFile, experiment_weights

PREVIEW_DIR = "previews"
SENTENCES = {  # what each preview says, in the reference's language
    "all_zh": "这是训练中的声音预览，听听看吧。",
    "en": "This is a short preview of the voice in training.",
    "all_ja": "これは学習中の声のプレビューです。",
    "all_ko": "이것은 학습 중인 목소리의 미리 듣기입니다.",
}


def pick_reference(paths: ProjectPaths, exp: str) -> ReferenceCandidate | None:
    """The experiment's best reference clip (3-10 s, with a text), or None when it has none."""
    best = next(iter(reference_candidates(paths, exp)), None)
    return best if best is not None and best.score > 0 else None


def preview_path(paths: ProjectPaths, exp: str, weights: Path) -> Path:
    return paths.experiment(exp).dir / PREVIEW_DIR / f"{weights.name}.wav"


def pending_previews(paths: ProjectPaths, exp: str) -> list[WeightsFile]:
    """Weights files of `exp` that have no preview yet."""
    return [w for w in experiment_weights(paths, exp) if not preview_path(paths, exp, w.path).is_file()]


def _partner(paths: ProjectPaths, exp: str, kind: str, version: str) -> Path | None:
    """The newest weights of the other kind for this experiment and version, else the version's pretrained file."""
    mine = [w.path for w in experiment_weights(paths, exp) if w.kind == kind and w.version == version]
    if mine:
        return max(mine, key=lambda p: p.stat().st_mtime)
    pretrained = paths.pretrained_gpt(version) if kind == "gpt" else paths.pretrained_sovits_g(version)
    return pretrained if pretrained.is_file() else None


def make_previews(paths: ProjectPaths, exp: str, device: str = "cpu", version: str | None = None,
                  log=print) -> list[Path]:
    """Write a preview for every weights file of `exp` that has none; returns the files written.

    Each file is paired with weights of its own version (``version``, when given, overrides that)."""
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.infer.request import TTSRequest

    todo = pending_previews(paths, exp)
    if not todo:
        return []
    ref = pick_reference(paths, exp)
    if ref is None:
        log(f"No preview: the experiment {exp!r} has no clip of {REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s with a text "
            "to use as reference.")
        return []
    pipeline = TTSPipeline(paths, device=device)
    written = []
    for w in todo:
        partner_version = version or w.version
        gpt = w.path if w.kind == "gpt" else _partner(paths, exp, "gpt", partner_version)
        sovits = w.path if w.kind == "sovits" else _partner(paths, exp, "sovits", partner_version)
        if gpt is None or sovits is None:
            log(f"No preview for {w.path.name}: no {'GPT' if gpt is None else 'SoVITS'} weights to pair it with.")
            continue
        pipeline.load_gpt(gpt)
        pipeline.load_sovits(sovits)
        req = TTSRequest(text=SENTENCES.get(ref.lang, SENTENCES["en"]), text_lang=ref.lang, ref_audio_path=ref.path,
                         prompt_text=ref.text, prompt_lang=ref.lang, seed=1234)
        result = pipeline.synthesize(req)
        out = save_wav(preview_path(paths, exp, w.path), result.audio, result.sample_rate)
        log(f"Preview of {w.path.name} (with {gpt.name if w.kind == 'sovits' else sovits.name}): {out}")
        written.append(out)
    return written


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment name")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu: training keeps the GPU)")
    parser.add_argument("--version", default=None,
                        help="model version of the partner files (default: each weights file's own version)")


def run(args: argparse.Namespace) -> int:
    paths = ProjectPaths(args.root)
    try:
        written = make_previews(paths, args.exp, args.device, args.version)
    except (OSError, ValueError) as e:
        print(f"ERROR: preview failed: {e}", file=sys.stderr)
        return 1
    print(f"{len(written)} preview(s) written.")
    return 0
