"""Write a complete tiny `pretrained_models/` with random weights (tests, dry runs without downloads).

    python tools/make_tiny_models.py OUT_DIR [--seed 1234] [--no-whisper] [--pro v2Pro,v2ProPlus]

OUT_DIR becomes a `pretrained_models/` folder: chinese-hubert-base/, chinese-roberta-wwm-ext-large/,
gsv-v2final-pretrained/{s2G2333k.pth, s2D2333k.pth, s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt},
faster-whisper-tiny/; with --pro also v2Pro/{s2Gv2Pro.pth, s2Dv2Pro.pth, ...}, s1v3.ckpt and
sv/pretrained_eres2netv2w24s4ep4.ckpt. The models run through every stage but produce noise.
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
    parser.add_argument("--pro", default="", help="also the v2Pro-family files of these versions (v2Pro,v2ProPlus)")
    args = parser.parse_args(argv)

    from gpt_sovits.tiny import make_tiny_pretrained

    pro = tuple(v.strip() for v in args.pro.split(",") if v.strip())
    unknown = [v for v in pro if v not in ("v2Pro", "v2ProPlus")]
    if unknown:
        parser.error(f"--pro takes v2Pro and/or v2ProPlus, not {', '.join(unknown)}")
    written = make_tiny_pretrained(args.out_dir, seed=args.seed, whisper=not args.no_whisper, pro_versions=pro)
    for name, path in written.items():
        print(f"{name:10s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
