"""`python -m gpt_sovits serve`: the api_v2-compatible HTTP server."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from gpt_sovits.paths import ProjectPaths


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9880, help="port (default 9880)")
    parser.add_argument("--gpt", type=Path, help="GPT weights (.ckpt); default: the pretrained v2 GPT")
    parser.add_argument("--sovits", type=Path, help="SoVITS weights (.pth); default: the pretrained v2 SoVITS G")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--fast-cpu", action="store_true",
                        help="on a CPU: int8 GPT and bf16 decoder, about 2x faster, not bit-exact with upstream")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer <key>' on every request")
    parser.add_argument("--allow", type=Path, action="append", default=[],
                        help="extra folder whose files requests may name (repeatable); the data root is always allowed")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gpt_sovits.api.server import create_app
    from gpt_sovits.infer.pipeline import TTSPipeline

    paths = ProjectPaths(args.root)
    if not _is_loopback(args.host) and not args.api_key:
        print(f"warning: serving on {args.host} without --api-key: anyone who can reach this port can use it.",
              file=sys.stderr)
    pipeline = TTSPipeline(paths, device=args.device, fast_cpu=args.fast_cpu)
    gpt = args.gpt or paths.pretrained_gpt("v2")
    sovits = args.sovits or paths.pretrained_sovits_g("v2")
    try:
        pipeline.load_gpt(gpt)
        pipeline.load_sovits(sovits)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app = create_app(pipeline, [paths.root, *args.allow], api_key=args.api_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
