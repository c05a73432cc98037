"""`python -m gpt_sovits webui` (and `python webui.py`): parse the launch flags, refuse unsafe exposure, launch.

Binding anything but loopback, or `--share`, needs `--auth user:pass` (or an explicit `--insecure-no-auth`).
Nothing is fetched from the network at start-up and Gradio's analytics are off.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9874


class LaunchError(ValueError):
    """The WebUI cannot start with these flags; the message says what to change."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default 127.0.0.1; anything else needs --auth)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 9874)")
    parser.add_argument("--share", action="store_true",
                        help="create a public gradio.live link (needs --auth; contacts Gradio's servers)")
    parser.add_argument("--auth", metavar="USER:PASS", default=None,
                        help="require this login (needed with --share or a non-loopback --host)")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="allow --share or a non-loopback --host without a login (anyone who can reach it "
                             "can run jobs and read files under the data folder)")
    parser.add_argument("--lang", default="en", choices=("en", "zh_CN"), help="UI language (default en)")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def gradio_host(host: str) -> str:
    """Gradio wants IPv6 literals in brackets (it builds its own URL from the name and strips them to bind)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return f"[{address}]" if address.version == 6 else str(address)


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise LaunchError("--auth must be USER:PASS with a non-empty user name and password.")
    return user, password


def check_exposure(host: str, share: bool, auth: tuple[str, str] | None, insecure_no_auth: bool) -> None:
    """Refuse to expose the UI beyond this machine without a login, unless explicitly told to."""
    if auth is not None or insecure_no_auth:
        return
    if share:
        raise LaunchError("Refusing to start: --share makes the WebUI public on the internet. Add "
                          "--auth USER:PASS (or --insecure-no-auth if you really want no login).")
    if not is_loopback(host):
        raise LaunchError(f"Refusing to start: --host {host} lets other machines reach the WebUI, which can run "
                          "jobs and read files in the data folder. Add --auth USER:PASS (or --insecure-no-auth "
                          "if you really want no login).")


def check_port_free(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise LaunchError(f"--port {port} is not a valid port (1-65535).")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise LaunchError(f"--host {host!r} cannot be resolved: {e}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":  # as uvicorn does: ignore TIME_WAIT
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError:
            raise LaunchError(f"Port {port} on {host} is already in use (another WebUI running?). Stop that "
                              f"program or choose another port with --port.") from None


def run(args: argparse.Namespace) -> int:
    try:
        auth = parse_auth(args.auth)
        check_exposure(args.host, args.share, auth, args.insecure_no_auth)
        check_port_free(args.host, args.port)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from gpt_sovits.text.warmup import warm_in_background
    from gpt_sovits.ui.app import build_app
    from gpt_sovits.ui.context import UiContext

    warm_in_background()  # text dictionaries load while the app builds, not in the first request
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    ctx = UiContext.create(str(root), lang=args.lang)
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(
            server_name=gradio_host(args.host), server_port=args.port, share=args.share, auth=auth,
            inbrowser=False, show_error=True, ssr_mode=False, mcp_server=False,
            allowed_paths=[str(ctx.paths.root)],  # clips under --root may live outside the working folder
            auth_message=ctx.t("Log in with the user name and password given to --auth."),
        )
    except OSError as e:
        print(f"error: could not listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0
