"""For the API tests: serve an app on a free loopback port in a thread, or run `python -m gpt_sovits serve` as a
real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from infer_helpers import REF_TEXT

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """An app served by uvicorn in a daemon thread; `stop()` asks it to exit as SIGTERM would."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.app.state.worker.stop()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def params(ref: Path, **extra) -> dict:
    return {"text": "你好。", "text_lang": "zh", "ref_audio_path": str(ref), "prompt_text": REF_TEXT,
            "prompt_lang": "zh", "seed": 1, **extra}


def start_serve(root: Path, temp_dir: Path, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`python -m gpt_sovits serve` on a free port; returns once it answers HTTP."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gpt_sovits", "serve", "--root", str(root), "--port", str(port),
                                 "--device", "cpu", "--temp-dir", str(temp_dir), *extra],
                                cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(f"{url}/control", timeout=2)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"serve did not answer:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.3)
