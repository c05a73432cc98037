"""The api_v2-compatible server, started for real on loopback, with the tiny models."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf
import uvicorn

from gpt_sovits.api.server import create_app
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.paths import ProjectPaths
from infer_helpers import REF_TEXT, espeak_reference


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def root(tiny_pretrained, tmp_path_factory) -> Path:
    return Path(tiny_pretrained)


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    return espeak_reference(tmp_path_factory.mktemp("api_refs") / "ref.wav")


def _serve(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def server(root, ref_wav):
    paths = ProjectPaths(root)
    pipeline = TTSPipeline(paths, device="cpu")
    pipeline.load_gpt(paths.pretrained_gpt("v2"))
    pipeline.load_sovits(paths.pretrained_sovits_g("v2"))
    url, srv, thread = _serve(create_app(pipeline, [paths.root, ref_wav.parent]))
    yield url
    srv.should_exit = True
    thread.join(timeout=10)


def _params(ref: Path, **extra) -> dict:
    return {"text": "你好。", "text_lang": "zh", "ref_audio_path": str(ref), "prompt_text": REF_TEXT,
            "prompt_lang": "zh", "seed": 1, **extra}


def _wav(content: bytes):
    audio, sr = sf.read(io.BytesIO(content), dtype="int16")
    return audio, sr


def test_get_and_post_return_wav(server, ref_wav):
    r = httpx.get(f"{server}/tts", params=_params(ref_wav), timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    audio, sr = _wav(r.content)
    assert sr == 32000 and len(audio) > 0
    r2 = httpx.post(f"{server}/tts", json=_params(ref_wav), timeout=120)
    assert r2.status_code == 200, r2.text
    assert r2.content == r.content  # same seed, same request, GET or POST


def test_raw_and_ogg_media_types(server, ref_wav):
    raw = httpx.get(f"{server}/tts", params=_params(ref_wav, media_type="raw"), timeout=120)
    wav = httpx.get(f"{server}/tts", params=_params(ref_wav), timeout=120)
    assert raw.status_code == 200 and len(raw.content) == 2 * len(_wav(wav.content)[0])
    ogg = httpx.get(f"{server}/tts", params=_params(ref_wav, media_type="ogg"), timeout=120)
    assert ogg.status_code == 200 and ogg.content[:4] == b"OggS"


def test_streaming_returns_chunks_that_make_a_wav(server, ref_wav):
    params = _params(ref_wav, text="第一句。第二句。第三句。", text_split_method="cut5", streaming_mode="true")
    chunks = []
    with httpx.stream("GET", f"{server}/tts", params=params, timeout=120) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            chunks.append(chunk)
    assert len(chunks) >= 2
    audio, sr = _wav(b"".join(chunks))
    whole = httpx.get(f"{server}/tts", params={**params, "streaming_mode": "false"}, timeout=120)
    assert sr == 32000 and (audio == _wav(whole.content)[0]).all()


@pytest.mark.parametrize("mode", ["2", "3"])
def test_token_streaming_modes_send_early_chunks_of_the_same_audio(server, ref_wav, mode):
    """streaming_mode 2/3 decode token chunks while the GPT runs; without prior noise the result matches the
    sentence-level stream (mode 1) within the join bound of tests/test_streaming.py."""
    params = _params(ref_wav, noise_scale=0)
    chunks = []
    with httpx.stream("POST", f"{server}/tts", json={**params, "streaming_mode": int(mode)}, timeout=120) as r:
        assert r.status_code == 200
        chunks = list(r.iter_raw())
    assert len(chunks) >= 3 and chunks[0][:4] == b"RIFF"  # the unknown-size header, then PCM as it comes
    audio, sr = _wav(b"".join(chunks))
    sentence = httpx.post(f"{server}/tts", json={**params, "streaming_mode": True}, timeout=120)  # true = mode 1
    reference = _wav(sentence.content)[0].astype(float)
    assert sr == 32000 and audio.shape == reference.shape
    assert abs(audio.astype(float) - reference).max() < 0.05 * abs(reference).max()


def test_streaming_mode_out_of_range_is_a_400(server, ref_wav):
    r = httpx.get(f"{server}/tts", params=_params(ref_wav, streaming_mode="4"), timeout=30)
    assert r.status_code == 400 and "streaming_mode" in r.text


def test_uploaded_reference(server, ref_wav):
    data = {k: str(v) for k, v in _params(ref_wav).items() if k != "ref_audio_path"}
    with open(ref_wav, "rb") as f:
        r = httpx.post(f"{server}/tts", data=data, files={"ref_audio": ("mine.wav", f, "audio/wav")}, timeout=120)
    assert r.status_code == 200, r.text
    assert len(_wav(r.content)[0]) > 0


def test_paths_outside_allowed_roots_are_refused(server, ref_wav, tmp_path):
    outside = tmp_path / "outside.wav"
    shutil.copy(ref_wav, outside)
    r = httpx.get(f"{server}/tts", params=_params(outside), timeout=60)
    assert r.status_code == 400 and "outside the allowed" in r.json()["message"]
    r = httpx.get(f"{server}/set_gpt_weights", params={"weights_path": "/etc/passwd"}, timeout=60)
    assert r.status_code == 400 and "outside the allowed" in r.json()["message"]


@pytest.mark.parametrize("change, fragment", [
    ({"text": ""}, "text"),
    ({"text_lang": "klingon"}, "text_lang"),
    ({"top_k": "many"}, "top_k"),
    ({"media_type": "mp9"}, "media_type"),
    ({"ref_audio_path": "datasets/missing.wav"}, "no readable file"),
])
def test_bad_parameters_give_400_with_message(server, ref_wav, change, fragment):
    r = httpx.post(f"{server}/tts", json={**_params(ref_wav), **change}, timeout=60)
    assert r.status_code == 400
    assert fragment in r.json()["message"]


def test_set_weights_and_refer_audio(server, root, ref_wav):
    paths = ProjectPaths(root)
    assert httpx.get(f"{server}/set_gpt_weights", params={"weights_path": str(paths.pretrained_gpt("v2"))},
                     timeout=60).json() == {"message": "success"}
    assert httpx.get(f"{server}/set_sovits_weights", params={"weights_path": str(paths.pretrained_sovits_g("v2"))},
                     timeout=60).json() == {"message": "success"}
    assert httpx.get(f"{server}/set_refer_audio", params={"refer_audio_path": str(ref_wav)},
                     timeout=60).status_code == 200
    params = _params(ref_wav)
    del params["ref_audio_path"]
    r = httpx.get(f"{server}/tts", params=params, timeout=120)
    assert r.status_code == 200, r.text


@pytest.mark.slow
def test_api_key_required_when_set(root, ref_wav):
    paths = ProjectPaths(root)
    pipeline = TTSPipeline(paths, device="cpu")
    url, srv, thread = _serve(create_app(pipeline, [paths.root, ref_wav.parent], api_key="s3cret"))
    try:
        assert httpx.get(f"{url}/set_refer_audio", params={"refer_audio_path": str(ref_wav)}).status_code == 401
        ok = httpx.get(f"{url}/set_refer_audio", params={"refer_audio_path": str(ref_wav)},
                       headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
