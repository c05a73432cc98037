"""The API under load and abuse: abandoned requests are cancelled, a full queue is refused, concurrent answers equal
serial ones, uploads never outlive their request, and the real `serve` process stops on SIGTERM and starts clean
after SIGKILL. All on loopback with the tiny models."""

from __future__ import annotations

import io
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from api_helpers import ThreadServer, params, start_serve
from gpt_sovits.api.limits import Limits
from gpt_sovits.api.server import create_app

LONG_TEXT = "今天天气很好。" * (100_000 // 7 + 1)  # > 100 000 characters, hours of speech


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api_temp") / "uploads"


@pytest.fixture(scope="module")
def server(pipeline, root, ref_wav, temp_root):
    limits = Limits(max_text_chars=200_000, max_upload_bytes=256 * 1024, max_queue=1)
    srv = ThreadServer(create_app(pipeline, [root, ref_wav.parent], limits=limits, temp_root=temp_root))
    yield srv
    srv.stop()


def test_abandoned_huge_request_is_cancelled_and_the_next_one_is_served(server, ref_wav):
    with pytest.raises(httpx.TimeoutException):  # the client gives up after 2 s and closes its connection
        httpx.post(f"{server.url}/tts", json=params(ref_wav, text=LONG_TEXT), timeout=2)
    r = httpx.post(f"{server.url}/tts", json=params(ref_wav), timeout=30)
    assert r.status_code == 200, r.text
    assert sf.read(io.BytesIO(r.content))[0].size > 0


def test_a_full_queue_answers_503_and_a_stalled_stream_is_cancelled_when_closed(server, ref_wav):
    worker = server.app.state.worker
    client = httpx.Client(timeout=60)
    held = client.stream("POST", f"{server.url}/tts", json=params(ref_wav, text=LONG_TEXT, streaming_mode=True))
    response = held.__enter__()
    assert response.status_code == 200
    chunks = response.iter_raw()  # kept referenced: dropping the iterator would close the connection
    next(chunks)  # it is running now; we stop reading, so the worker soon waits on us
    queued: list[httpx.Response] = []
    waiter = threading.Thread(target=lambda: queued.append(
        httpx.post(f"{server.url}/tts", json=params(ref_wav, seed=5), timeout=120)))
    waiter.start()
    while worker.waiting() < 1:
        assert waiter.is_alive(), queued
        threading.Event().wait(0.05)
    refused = httpx.post(f"{server.url}/tts", json=params(ref_wav), timeout=30)
    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
    assert "busy" in refused.json()["message"]
    switched: list[httpx.Response] = []  # a weight switch is not refused by a full queue of syntheses
    switcher = threading.Thread(target=lambda: switched.append(httpx.get(
        f"{server.url}/set_sovits_weights", params={"weights_path": str(server.app.state.service.pipeline.sovits_path)},
        timeout=120)))
    switcher.start()
    while worker.waiting() < 2:
        assert switcher.is_alive(), switched
        threading.Event().wait(0.05)
    held.__exit__(None, None, None)  # the client goes away: its synthesis is cancelled, the queued one runs
    client.close()
    waiter.join(timeout=120)
    switcher.join(timeout=120)
    assert queued and queued[0].status_code == 200
    assert switched and switched[0].json() == {"message": "success"}


@pytest.mark.slow
def test_concurrent_answers_are_byte_identical_to_serial_ones(server, ref_wav):
    requests = [params(ref_wav, seed=s, text=t) for s, t in [(1, "你好。"), (2, "你好。"), (3, "天气很好。"), (4, "早上好。")]]
    serial = [httpx.post(f"{server.url}/tts", json=p, timeout=120).content for p in requests]
    assert len(set(serial)) == len(serial)  # different seeds/texts really differ
    limits_queue = server.app.state.limits.max_queue
    server.app.state.worker.max_queue = 16  # this test wants everything queued, not refused
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: httpx.post(f"{server.url}/tts", json=requests[i % 4], timeout=300),
                                    range(8)))
    finally:
        server.app.state.worker.max_queue = limits_queue
    assert [a.status_code for a in answers] == [200] * 8
    assert [a.content for a in answers] == [serial[i % 4] for i in range(8)]


def _wav_bytes(seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (np.sin(np.arange(int(32000 * seconds)) * 0.05) * 0.3).astype(np.float32), 32000, format="WAV")
    return buf.getvalue()


def test_uploads_are_checked_while_streaming_and_never_outlive_the_request(server, ref_wav, temp_root):
    form = {k: str(v) for k, v in params(ref_wav).items() if k != "ref_audio_path"}
    big = _wav_bytes(6.0)  # 384 KB > the 256 KiB limit of this server
    for _ in range(3):
        r = httpx.post(f"{server.url}/tts", data=form, files={"ref_audio": ("big.wav", big, "audio/wav")}, timeout=60)
        assert r.status_code == 413 and "larger than" in r.json()["message"]
    not_audio = httpx.post(f"{server.url}/tts", data=form, files={"ref_audio": ("x.wav", b"#!/bin/sh\n" * 50)},
                           timeout=60)
    assert not_audio.status_code == 415
    bad_lang = httpx.post(f"{server.url}/tts", data={**form, "text_lang": "klingon"},
                          files={"ref_audio": ("r.wav", ref_wav.read_bytes())}, timeout=60)
    assert bad_lang.status_code == 400 and "text_lang" in bad_lang.json()["message"]
    truncated = b'--XYZ\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi'  # no closing boundary
    malformed = httpx.post(f"{server.url}/tts", content=truncated,
                           headers={"Content-Type": "multipart/form-data; boundary=XYZ"}, timeout=60)
    assert malformed.status_code == 400 and "malformed" in malformed.json()["message"]
    ok = httpx.post(f"{server.url}/tts", data=form, files={"ref_audio": ("r.wav", ref_wav.read_bytes())}, timeout=120)
    assert ok.status_code == 200, ok.text
    # the request's folder goes when the response has been sent (a background task): give it a moment
    deadline = time.monotonic() + 10
    while list(temp_root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert temp_root.is_dir() and list(temp_root.iterdir()) == []


def test_api_v2_shaped_requests(server, ref_wav):
    body = params(ref_wav, batch_threshold=0.75, split_bucket=True, return_fragment=False, parallel_infer=True,
                  aux_ref_audio_paths=[], batch_size=1, sample_steps=32, some_future_option="x")
    r = httpx.post(f"{server.url}/tts", json=body, timeout=120)
    assert r.status_code == 200, r.text
    query = {k: str(v).lower() if isinstance(v, bool) else str(v)
             for k, v in body.items() if k != "aux_ref_audio_paths"}
    g = httpx.get(f"{server.url}/tts", params=query, timeout=120)
    assert g.status_code == 200 and g.content == r.content
    aac = httpx.get(f"{server.url}/tts", params={**query, "media_type": "aac"}, timeout=120)
    assert aac.status_code == 200 and aac.headers["content-type"] == "audio/aac"
    assert aac.content[0] == 0xFF and aac.content[1] & 0xF0 == 0xF0  # an ADTS frame header
    for field, value in [("top_k", [3]), ("text", 5), ("temperature", "hot"), ("split_bucket", "maybe"),
                         ("seed", 1.5), ("aux_ref_audio_paths", {"a": 1})]:
        bad = httpx.post(f"{server.url}/tts", json={**body, field: value}, timeout=60)
        assert bad.status_code == 400 and field in bad.json()["message"], (field, bad.text)


def test_aux_references_are_averaged_with_the_main_one_as_api_v2_does(server, ref_wav, tmp_path):
    other = ref_wav.parent / "other_aux.wav"
    sf.write(other, (np.sin(np.arange(32000 * 4) * 0.05) * 0.3).astype(np.float32), 32000)
    plain = httpx.post(f"{server.url}/tts", json=params(ref_wav), timeout=120)
    same = httpx.post(f"{server.url}/tts", json=params(ref_wav, aux_ref_audio_paths=[str(ref_wav)]), timeout=120)
    mixed = httpx.post(f"{server.url}/tts", json=params(ref_wav, aux_ref_audio_paths=[str(other)]), timeout=120)
    assert plain.status_code == same.status_code == mixed.status_code == 200
    assert len(plain.content) == len(mixed.content) and plain.content != mixed.content
    # the main reference counts: main + a copy of itself sounds like the main alone (mean of equal timbres)
    a = sf.read(io.BytesIO(plain.content), dtype="int16")[0].astype(int)
    b = sf.read(io.BytesIO(same.content), dtype="int16")[0].astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2


def test_deadline_and_control(pipeline, root, ref_wav, tmp_path):
    stopped = threading.Event()
    srv_box: list[ThreadServer] = []

    def on_exit() -> None:
        srv_box[0].server.should_exit = True
        stopped.set()

    srv = ThreadServer(create_app(pipeline, [root, ref_wav.parent], temp_root=tmp_path / "t", on_exit=on_exit,
                                  limits=Limits(request_timeout=0.01)))
    srv_box.append(srv)
    late = httpx.post(f"{srv.url}/tts", json=params(ref_wav), timeout=120)  # no request can meet a 10 ms deadline
    assert late.status_code == 504 and "time limit" in late.json()["message"]
    restart = httpx.get(f"{srv.url}/control", params={"command": "restart"}, timeout=30)
    assert restart.status_code == 400 and "supervisor" in restart.json()["message"]
    assert httpx.post(f"{srv.url}/control", json={"command": "nope"}, timeout=30).status_code == 400
    assert httpx.get(f"{srv.url}/control", params={"command": "exit"}, timeout=30).json() == {"message": "exiting"}
    assert stopped.wait(30)
    srv.thread.join(timeout=30)
    assert not srv.thread.is_alive()
    assert not (tmp_path / "t").exists()  # the temp root goes with the server


def test_serve_refuses_a_public_address_without_a_key(root, tmp_path):
    from gpt_sovits.cli import main as cli_main

    assert cli_main(["serve", "--root", str(root), "--host", "0.0.0.0", "--port", "1"]) == 2


@pytest.mark.slow
def test_serve_process_starts_clean_after_sigkill_and_stops_on_sigterm(root, ref_wav, tmp_path):
    temp_dir, log = tmp_path / "serve_temp", tmp_path / "serve.log"
    allow = ["--allow", str(ref_wav.parent), "--max-text-chars", "200000"]
    proc, url = start_serve(root, temp_dir, log, *allow)
    (temp_dir / "req_left_over").mkdir()
    (temp_dir / "req_left_over" / "1_ref_audio.wav").write_bytes(b"RIFF....")
    proc.kill()
    proc.wait(timeout=30)
    assert (temp_dir / "req_left_over").exists()

    proc, url = start_serve(root, temp_dir, log, *allow)
    try:
        assert temp_dir.is_dir() and list(temp_dir.iterdir()) == []  # cleaned at start-up
        got_audio = threading.Event()

        def long_request() -> None:
            try:
                with httpx.stream("POST", f"{url}/tts", json=params(ref_wav, text=LONG_TEXT, streaming_mode=True),
                                  timeout=120) as r:
                    for _ in r.iter_raw():
                        got_audio.set()
            except httpx.HTTPError:
                pass

        client = threading.Thread(target=long_request, daemon=True)
        client.start()
        assert got_audio.wait(120), log.read_text(errors="replace")[-3000:]  # synthesis is running
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after its orderly shutdown, so the exit reads as 'killed by SIGTERM'
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text(errors="replace")
        assert not temp_dir.exists()  # removed at shutdown
    finally:
        if proc.poll() is None:
            proc.kill()
