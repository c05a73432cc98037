"""For the browser tests: run `webui.py` as a real process over a temp data root, and drive it with Playwright.

Chromium comes from the system (`$GSV_CHROMIUM`, else /usr/bin/chromium, else `chromium` on PATH); Playwright's own
browser download is never used (no network here). Screenshots go to `$GSV_BROWSER_SHOTS` (default /tmp/gsv_shots).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import playwright.sync_api as playwright_sync  # a missing Playwright is a failure, not a skip

PROJECT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-proxy-server",
]
SHOTS_DIR = Path(os.environ.get("GSV_BROWSER_SHOTS", "/tmp/gsv_shots"))
# Gradio prints the traceback of a `gr.Error` it shows as a toast; those are messages for the user, not crashes.
EXPECTED_EXCEPTIONS = ("gradio.exceptions.Error",)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("GSV_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link (else copy) a read-only tree: real files inside the new root, so no path resolves outside it."""
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy)


@dataclass
class WebUI:
    """A running `webui.py` child; `log` holds its stdout+stderr."""

    proc: subprocess.Popen
    url: str
    root: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http_status(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def start_webui(root: Path, workdir: Path, timeout: float = 150.0) -> WebUI:
    """Start `webui.py --root ROOT --port <free>` and wait for HTTP 200 on `/`."""
    port = free_port()
    log = workdir / f"webui-{port}.log"
    tmp = workdir / "webui_tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(PROJECT), "GRADIO_TEMP_DIR": str(tmp / "gradio"), "TMPDIR": str(tmp),
           "no_proxy": "*", "NO_PROXY": "*", "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, str(PROJECT / "webui.py"), "--root", str(root), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT)
    ui = WebUI(proc, f"http://127.0.0.1:{port}", root, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"webui.py exited with code {proc.returncode}:\n{ui.log_text()[-4000:]}")
        try:
            status = http_status(ui.url + "/")
        except OSError:
            time.sleep(0.5)
            continue
        if status == 200:
            return ui
        ui.stop()
        raise AssertionError(f"GET / answered HTTP {status}, not 200:\n{ui.log_text()[-4000:]}")
    ui.stop()
    raise AssertionError(f"webui.py did not answer within {timeout:.0f} s:\n{ui.log_text()[-4000:]}")


def unexpected_tracebacks(log: str) -> list[str]:
    """Tracebacks in a log chunk whose final exception is not one of EXPECTED_EXCEPTIONS.

    A chain ("During handling of the above exception..." / "...was the direct cause...") is judged by its last link.
    """
    found = []
    chain: list[str] = []
    for chunk in re.split(r"(?m)^(?=Traceback \(most recent call last\):)", log):
        if not chunk.startswith("Traceback"):
            continue
        chain.append(chunk)
        if re.search(r"(During handling of the above exception|The above exception was the direct cause)", chunk):
            continue
        lines = chunk.splitlines()
        final = next((ln for ln in lines[1:] if ln and not ln.startswith((" ", "\t"))), "")
        if not final.startswith(EXPECTED_EXCEPTIONS):
            found.append("\n".join("".join(chain).splitlines()[-40:]))
        chain = []
    return found


@contextmanager
def tiny_webui(tiny_pretrained: Path, work: Path, prepare: Callable[[Path], None] | None = None) -> Iterator[WebUI]:
    """`webui.py` over `work/root` holding the tiny pretrained models; `prepare(root)` adds files before it starts."""
    root = work / "root"
    root.mkdir()
    link_tree(tiny_pretrained / "pretrained_models", root / "pretrained_models")
    if prepare is not None:
        prepare(root)
    ui = start_webui(root, work)
    try:
        yield ui
    finally:
        ui.stop()


@contextmanager
def chromium() -> Iterator[object]:
    """The system's Chromium driven by Playwright; no usable browser fails the test (it is not skipped)."""
    with playwright_sync.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        except playwright_sync.Error as e:
            pytest.fail(f"no usable Chromium (set GSV_CHROMIUM to its path): {e.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(browser, webui: WebUI, height: int = 1000, timeout_ms: int = 20_000) -> Iterator[object]:
    """A fresh browser session on the WebUI; afterwards: no script errors in the page, no crash in the server log."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    log_start = webui.log_size()
    page.goto(webui.url + "/")
    playwright_sync.expect(page.get_by_role("tab", name="1C Inference")).to_be_visible(timeout=timeout_ms)
    try:
        yield page
    finally:
        context.close()
    assert not page_errors, f"JavaScript errors in the page: {page_errors}"
    crashes = unexpected_tracebacks(webui.log_since(log_start))
    assert not crashes, "the WebUI logged tracebacks:\n\n" + "\n\n".join(crashes)
