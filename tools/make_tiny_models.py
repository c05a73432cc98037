"""Write a complete tiny `pretrained_models/` with random weights (tests, dry runs without downloads).

    python tools/make_tiny_models.py OUT_DIR [--seed 1234] [--no-whisper]

OUT_DIR becomes a `pretrained_models/` folder: chinese-hubert-base/, chinese-roberta-wwm-ext-large/,
gsv-v2final-pretrained/{s2G2333k.pth, s2D2333k.pth, s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt},
faster-whisper-tiny/. The models run through every stage but produce noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to fill (e.g. ./pretrained_models)")
    parser.add_argument("--seed", type=int, default=1234, help="random seed (same seed, same weights)")
    parser.add_argument("--no-whisper", action="store_true", help="skip the faster-whisper model")
    args = parser.parse_args(argv)

    from gpt_sovits.tiny import make_tiny_pretrained

    written = make_tiny_pretrained(args.out_dir, seed=args.seed, whisper=not args.no_whisper)
    for name, path in written.items():
        print(f"{name:10s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
