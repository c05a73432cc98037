"""Download pretrained models into pretrained_models/ — only when a person runs this script.

    python tools/download_pretrained.py --gpt-sovits v2 [--whisper large-v3] [--root DIR]
    python tools/download_pretrained.py --gpt-sovits v2Pro      (or v2ProPlus: adds the speaker-verification model)

Nothing else in the project downloads anything; the WebUI and the CLI only tell you to run this.
Needs network access and the `huggingface_hub` package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.paths import (
    BERT_DIR, HUBERT_DIR, PRETRAINED_GPT, PRETRAINED_SOVITS_D, PRETRAINED_SOVITS_G, PRETRAINED_SV, PROJECT_DIR,
    WHISPER_SIZES, ProjectPaths,
)

# Upstream's release repository; its file layout is the one pretrained_models/ uses.
GPT_SOVITS_REPO = "lj1995/GPT-SoVITS"

# Hugging Face repositories holding faster-whisper (CTranslate2) conversions, by model size.
WHISPER_REPOS = {size: f"Systran/faster-whisper-{size}" for size in WHISPER_SIZES}
WHISPER_REPOS["large-v3-turbo"] = "mobiuslabsgmbh/faster-whisper-large-v3-turbo"


def download_whisper(size: str, paths: ProjectPaths) -> Path:
    from huggingface_hub import snapshot_download

    target = paths.whisper_dirs(size)[0]
    repo = WHISPER_REPOS[size]
    print(f"Downloading {repo} into {target} ...")
    snapshot_download(repo_id=repo, local_dir=str(target))
    return target


def gpt_sovits_files(version: str) -> list[str]:
    """What `--gpt-sovits VERSION` fetches (paths/patterns inside upstream's release repository)."""
    patterns = [f"{HUBERT_DIR}/*", f"{BERT_DIR}/*", PRETRAINED_SOVITS_G[version], PRETRAINED_SOVITS_D[version],
                PRETRAINED_GPT[version]]
    if version in ("v2Pro", "v2ProPlus"):
        patterns.append(PRETRAINED_SV)  # the speaker-verification model these versions need
    return patterns


def download_gpt_sovits(version: str, paths: ProjectPaths) -> list[Path]:
    """HuBERT, BERT and the SoVITS G/D + GPT pretrained files of `version` (+ the SV model for the Pro versions),
    under upstream's names."""
    from huggingface_hub import snapshot_download

    patterns = gpt_sovits_files(version)
    print(f"Downloading {', '.join(patterns)} from {GPT_SOVITS_REPO} into {paths.pretrained_models} ...")
    snapshot_download(repo_id=GPT_SOVITS_REPO, local_dir=str(paths.pretrained_models), allow_patterns=patterns)
    return [paths.pretrained_models / p.rstrip("/*") for p in patterns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PROJECT_DIR, help="data root holding pretrained_models/")
    parser.add_argument("--whisper", choices=WHISPER_SIZES, help="a faster-whisper model size")
    parser.add_argument("--gpt-sovits", choices=sorted(PRETRAINED_GPT),
                        help="upstream's pretrained models of a version")
    args = parser.parse_args(argv)
    if not args.whisper and not args.gpt_sovits:
        parser.print_help()
        return 2
    paths = ProjectPaths(args.root)
    try:
        if args.gpt_sovits:
            for path in download_gpt_sovits(args.gpt_sovits, paths):
                print(path)
        if args.whisper:
            print(download_whisper(args.whisper, paths))
    except ImportError:
        print("error: downloading needs the huggingface_hub package (pip install huggingface_hub)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
