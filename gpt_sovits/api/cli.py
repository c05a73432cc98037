"""`python -m gpt_sovits serve`: the api_v2-compatible HTTP server.

Binding anything but loopback needs `--api-key` (or an explicit `--insecure-no-auth`), as the WebUI needs `--auth`.
SIGTERM/SIGINT cancel the running synthesis and every queued one, so the process exits within seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_sovits.api.limits import Limits
from gpt_sovits.paths import ProjectPaths

DEFAULTS = Limits()
GRACEFUL_SHUTDOWN_SECONDS = 5  # uvicorn's wait for open connections once the work has been cancelled


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9880, help="port (default 9880)")
    parser.add_argument("--gpt", type=Path, help="GPT weights (.ckpt); default: the pretrained v2 GPT")
    parser.add_argument("--sovits", type=Path, help="SoVITS weights (.pth); default: the pretrained v2 SoVITS G")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--fast-cpu", action="store_true",
                        help="on a CPU: int8 GPT and bf16 decoder, about 2x faster, not bit-exact with upstream")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer <key>' on every request")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="allow a non-loopback --host without --api-key (anyone who can reach the port can use "
                             "it and read audio files under the allowed folders)")
    parser.add_argument("--allow", type=Path, action="append", default=[],
                        help="extra folder whose files requests may name (repeatable); the data root is always allowed")
    parser.add_argument("--temp-dir", type=Path, default=None,
                        help="folder for uploads (emptied at start, removed at exit; default <root>/TEMP/api)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-text-chars", type=int, default=DEFAULTS.max_text_chars)
    limits.add_argument("--max-ref-seconds", type=float, default=DEFAULTS.max_ref_seconds,
                        help="longest reference accepted, read from the file header before decoding")
    limits.add_argument("--max-ref-mb", type=float, default=DEFAULTS.max_ref_bytes / 2**20,
                        help="largest server-side reference file")
    limits.add_argument("--max-upload-mb", type=float, default=DEFAULTS.max_upload_bytes / 2**20,
                        help="largest uploaded file")
    limits.add_argument("--max-queue", type=int, default=DEFAULTS.max_queue,
                        help="requests that may wait for the model; more get 503 with Retry-After")
    limits.add_argument("--request-timeout", type=float, default=DEFAULTS.request_timeout,
                        help="seconds a request may take, queue wait included, before it is cancelled")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def limits_from(args: argparse.Namespace) -> Limits:
    values = {"max_text_chars": args.max_text_chars, "max_ref_seconds": args.max_ref_seconds,
              "max_ref_bytes": int(args.max_ref_mb * 2**20), "max_upload_bytes": int(args.max_upload_mb * 2**20),
              "max_queue": args.max_queue, "request_timeout": args.request_timeout}
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive.")
    return Limits(**values)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gpt_sovits.api.server import create_app
    from gpt_sovits.infer.pipeline import TTSPipeline

    if not is_loopback(args.host) and not args.api_key and not args.insecure_no_auth:
        print(f"error: refusing to serve on {args.host} without --api-key: other machines could use the server and "
              f"read audio under the data folder. Add --api-key KEY (or --insecure-no-auth if you really want that).",
              file=sys.stderr)
        return 2
    try:
        limits = limits_from(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from gpt_sovits.text.warmup import warm_in_background

    warm_in_background()  # text dictionaries load while the models do, not in the first request
    paths = ProjectPaths(args.root)
    pipeline = TTSPipeline(paths, device=args.device, fast_cpu=args.fast_cpu)
    gpt = args.gpt or paths.pretrained_gpt("v2")
    sovits = args.sovits or paths.pretrained_sovits_g("v2")
    try:
        pipeline.load_gpt(gpt)
        pipeline.load_sovits(sovits)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    pipeline.preload_encoders()  # HuBERT and BERT load while the server starts, not in the first request

    server: uvicorn.Server | None = None

    def request_exit() -> None:
        if server is not None:
            server.handle_exit(0, None)

    temp_dir = args.temp_dir or paths.root / "TEMP" / "api"
    app = create_app(pipeline, [paths.root, *args.allow], api_key=args.api_key, limits=limits, temp_root=temp_dir,
                     on_exit=request_exit)
    config = uvicorn.Config(app, host=args.host.strip("[]"), port=args.port, log_level="info",
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    server = _cancelling_server(config, app.state.worker)
    print(f"serving on {args.host}:{args.port} ({limits.describe()})", file=sys.stderr, flush=True)
    server.run()
    return 0


def _cancelling_server(config, worker):
    """uvicorn's Server, but a stop signal first cancels the model work (running and queued), so open requests end
    within seconds instead of uvicorn waiting for a long synthesis to finish."""
    import uvicorn

    class CancellingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            worker.stop()
            super().handle_exit(sig, frame)

    return CancellingServer(config)
