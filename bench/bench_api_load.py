"""The API server under load, with the tiny models: prints figures, asserts nothing (the tests check the same
properties at a smaller scale).

    python bench/bench_api_load.py [--concurrent 50] [--sequential 200] [--threads 1]

1. `--concurrent` requests at once (fixed seeds, 10 distinct requests): how many answers are byte-identical to the
   same request served alone.
2. `--sequential` requests one after the other: the server process's resident memory (VmRSS) after a warm-up and
   then every 25 requests, to show whether it grows.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
import uvicorn

from gpt_sovits.api.limits import Limits
from gpt_sovits.api.server import create_app
from gpt_sovits.audio.io import load_audio, save_wav
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.tiny import make_tiny_pretrained

REF_TEXT = "你好，今天天气很好。"
TEXTS = ["你好。", "天气很好。", "早上好。", "我们走吧。", "谢谢你。"]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reference(folder: Path) -> Path:
    raw = folder / "ref.raw.wav"
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "120", "-w", str(raw),
                    "ni3 hao3, jin1 tian1 tian1 qi4 hen3 hao3."], check=True, capture_output=True)
    audio = load_audio(raw, 32000)
    return save_wav(folder / "ref.wav", np.pad(audio, (0, max(0, 4 * 32000 - len(audio))))[:4 * 32000], 32000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="gsv_bench_api_") as tmp:
        root = Path(tmp)
        make_tiny_pretrained(root / "pretrained_models", whisper=False)
        ref = _reference(root)
        paths = ProjectPaths(root)
        pipeline = TTSPipeline(paths, device="cpu")
        pipeline.load_gpt(paths.pretrained_gpt("v2"))
        pipeline.load_sovits(paths.pretrained_sovits_g("v2"))
        app = create_app(pipeline, [root], limits=Limits(max_queue=max(16, args.concurrent)),
                         temp_root=root / "TEMP" / "api")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/tts"

        def body(i: int) -> dict:
            return {"text": TEXTS[i % len(TEXTS)], "text_lang": "zh", "ref_audio_path": str(ref),
                    "prompt_text": REF_TEXT, "prompt_lang": "zh", "seed": i % 10}

        t0 = time.monotonic()
        alone = {i: httpx.post(url, json=body(i), timeout=600).content for i in range(10)}
        t1 = time.monotonic()
        with ThreadPoolExecutor(args.concurrent) as pool:
            answers = list(pool.map(lambda i: httpx.post(url, json=body(i), timeout=3600), range(args.concurrent)))
        t2 = time.monotonic()
        same = sum(a.status_code == 200 and a.content == alone[i % 10] for i, a in enumerate(answers))
        print(f"concurrent: {same}/{args.concurrent} answers byte-identical to the serial ones "
              f"(serial 10 in {t1 - t0:.0f} s, concurrent {args.concurrent} in {t2 - t1:.0f} s)", flush=True)

        rss = []
        with httpx.Client(timeout=600) as client:
            for i in range(args.sequential):
                r = client.post(url, json=body(i))
                assert r.status_code == 200, r.text
                if i == 9 or (i + 1) % 25 == 0:
                    rss.append((i + 1, _rss_mib()))
                    print(f"sequential: after {i + 1} requests RSS {rss[-1][1]:.0f} MiB", flush=True)
        print(f"memory: {rss[0][1]:.0f} MiB after {rss[0][0]} requests, {rss[-1][1]:.0f} MiB after {rss[-1][0]} "
              f"({rss[-1][1] - rss[0][1]:+.0f} MiB)")
        server.should_exit = True
        app.state.worker.stop()


if __name__ == "__main__":
    main()
