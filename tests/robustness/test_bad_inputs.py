"""A corpus of bad API inputs: each must get a 4xx with a message that names the problem and shows no server path,
and the server must keep serving afterwards. Real HTTP on loopback, tiny models."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
import pytest
import soundfile as sf

from api_helpers import ThreadServer, params
from gpt_sovits.api.limits import Limits
from gpt_sovits.api.server import create_app
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.paths import ProjectPaths
from infer_helpers import REF_TEXT, espeak_reference

LIMITS = Limits(max_text_chars=2000, max_upload_bytes=1024 * 1024, max_ref_seconds=30)


@dataclass
class Ctx:
    url: str
    ref: Path  # a good reference inside the allowed folder
    files: Path  # the allowed folder holding the bad files below
    secrets: list[str]  # absolute server paths no message may contain


@dataclass
class Case:
    name: str
    send: Callable[[httpx.Client, Ctx], httpx.Response]
    fragment: str  # expected (case-insensitive) in the message
    statuses: tuple[int, ...] = (400,)


def _post(**change) -> Callable[[httpx.Client, Ctx], httpx.Response]:
    return lambda c, x: c.post(f"{x.url}/tts", json={**params(x.ref), **change})


def _post_with(make: Callable[[Ctx], dict]) -> Callable[[httpx.Client, Ctx], httpx.Response]:
    return lambda c, x: c.post(f"{x.url}/tts", json={**params(x.ref), **make(x)})


def _raw(body: bytes, content_type: str = "application/json") -> Callable[[httpx.Client, Ctx], httpx.Response]:
    return lambda c, x: c.post(f"{x.url}/tts", content=body, headers={"Content-Type": content_type})


def _upload(name: str, data: Callable[[Ctx], bytes], field: str = "ref_audio"):
    def send(c: httpx.Client, x: Ctx) -> httpx.Response:
        form = {k: str(v) for k, v in params(x.ref).items() if k != "ref_audio_path"}
        return c.post(f"{x.url}/tts", data=form, files={field: (name, data(x))})

    return send


def _get(path: str, **query) -> Callable[[httpx.Client, Ctx], httpx.Response]:
    return lambda c, x: c.get(f"{x.url}{path}", params={k: v.format(files=x.files) for k, v in query.items()})


CASES = [
    # wrong types and numbers
    Case("text_is_a_list", _post(text=["a"]), "text"),
    Case("text_lang_is_a_number", _post(text_lang=7), "text_lang"),
    Case("top_k_is_text", _post(top_k="NaN"), "top_k"),
    Case("top_p_is_nan", _raw(json.dumps({"text": "你好。", "text_lang": "zh", "top_p": float("nan")}).encode()),
         "top_p"),
    Case("temperature_is_infinite", _raw(b'{"text": "x", "text_lang": "en", "temperature": 1e400}'), "temperature"),
    Case("seed_is_huge", _post(seed=10 ** 30), "seed"),
    Case("top_k_is_negative", _post(top_k=-5), "top_k"),
    Case("speed_is_zero", _post(speed_factor=0), "speed_factor"),
    Case("streaming_mode_is_seven", _post(streaming_mode=7), "streaming_mode"),
    Case("media_type_is_exe", _post(media_type="exe"), "media_type"),
    Case("text_is_too_long", _post(text="好" * 2001), "limit", (413,)),
    # paths
    Case("traversal_relative", _post(ref_audio_path="../../../../../../etc/passwd"), "outside the allowed"),
    Case("traversal_absolute", _post(ref_audio_path="/etc/passwd"), "outside the allowed"),
    Case("traversal_home", _post(ref_audio_path="~/.ssh/id_rsa"), "outside the allowed"),
    Case("traversal_url_encoded", _post(ref_audio_path="..%2f..%2f..%2fetc%2fpasswd"), "no readable file"),
    Case("traversal_backslashes", _post(ref_audio_path="..\\..\\..\\etc\\passwd"), "no readable file"),
    Case("nul_byte_in_path", _post(ref_audio_path="ref.wav\x00.txt"), "not a valid path"),
    Case("symlink_out_of_the_root", _post_with(lambda x: {"ref_audio_path": str(x.files / "escape.wav")}),
         "outside the allowed"),
    Case("directory_as_reference", _post_with(lambda x: {"ref_audio_path": str(x.files)}), "no readable file"),
    Case("aux_outside", _post(aux_ref_audio_paths=["/etc/hosts"]), "outside the allowed"),
    Case("weights_outside", _get("/set_gpt_weights", weights_path="/etc/passwd"), "outside the allowed"),
    Case("weights_not_a_model", _get("/set_sovits_weights", weights_path="{files}/notes.txt"), "weights"),
    Case("gpt_weights_not_a_model", _get("/set_gpt_weights", weights_path="{files}/notes.txt"), "weights"),
    # bodies
    Case("body_not_json", _raw(b"{{{"), "JSON"),
    Case("body_is_a_json_array", _raw(b"[1, 2]"), "object"),
    Case("body_huge", _raw(b'{"text": "' + b"a" * (LIMITS.max_json_bytes + 10) + b'"}'), "larger than", (413,)),
    Case("nul_bytes_as_text", _post(text="\x00\x00\x00"), "nothing"),
    Case("multipart_without_boundary", _raw(b"--x\r\n", "multipart/form-data"), "boundary"),
    Case("multipart_truncated", _raw(b'--B\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi',
                                     "multipart/form-data; boundary=B"), "malformed"),
    Case("multipart_garbage", _raw(b"\x00\xff" * 500, "multipart/form-data; boundary=B"), "malformed"),
    Case("upload_not_audio", _upload("x.wav", lambda x: b"<?php echo 1; ?>" * 20), "not an audio file", (415,)),
    Case("upload_too_big", _upload("big.wav", lambda x: b"RIFF" + b"\0" * (LIMITS.max_upload_bytes + 1)),
         "larger than", (413,)),
    Case("upload_empty", _upload("e.wav", lambda x: b""), "empty"),
    Case("upload_unexpected_field", _upload("w.pth", lambda x: b"RIFF0000WAVE", field="weights"), "unexpected"),
    Case("upload_corrupt_wav", _upload("c.wav", lambda x: b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10),
         "not a readable audio"),
    # audio that must not be decoded, or cannot be used
    Case("three_hour_reference", _post_with(lambda x: {"ref_audio_path": str(x.files / "three_hours.flac")}),
         "refuses anything over", (413,)),
    Case("three_hour_upload", _upload("long.flac", lambda x: (x.files / "three_hours.flac").read_bytes()),
         "refuses anything over", (413,)),
    Case("three_hour_default_reference", _get("/set_refer_audio", refer_audio_path="{files}/three_hours.flac"),
         "refuses anything over", (413,)),
    Case("reference_too_short", _post_with(lambda x: {"ref_audio_path": str(x.files / "short.wav")}), "3-10"),
    # text that cannot be spoken
    Case("emoji_only", _post(text="😀😀😀🎉"), "nothing"),
    Case("punctuation_only", _post(text="。。。！！？"), "nothing"),
    Case("chinese_read_as_english", _post(text="今天天气很好。", text_lang="en"), "looks like chinese"),
]


@pytest.fixture(scope="module")
def ctx(tiny_pretrained, tmp_path_factory):
    root = Path(tiny_pretrained)
    files = tmp_path_factory.mktemp("robust_files")
    ref = espeak_reference(files / "ref.wav")
    sf.write(files / "short.wav", np.zeros(16000, np.float32), 32000)
    (files / "notes.txt").write_text("not a model\n")
    os.symlink("/etc/hostname", files / "escape.wav")
    with sf.SoundFile(str(files / "three_hours.flac"), "w", 8000, 1, format="FLAC") as f:
        block = np.zeros(8000 * 600, np.int16)  # silence compresses to almost nothing
        for _ in range(18):  # 3 hours
            f.write(block)
    paths = ProjectPaths(root)
    pipeline = TTSPipeline(paths, device="cpu")
    pipeline.load_gpt(paths.pretrained_gpt("v2"))
    pipeline.load_sovits(paths.pretrained_sovits_g("v2"))
    temp = tmp_path_factory.mktemp("robust_temp") / "t"
    srv = ThreadServer(create_app(pipeline, [root, files], limits=LIMITS, temp_root=temp))
    yield Ctx(srv.url, ref, files, [str(root), str(files), str(temp), str(Path.home())])
    srv.stop()


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 25 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(ctx, case):
    with httpx.Client(timeout=120) as client:
        r = case.send(client, ctx)
        assert r.status_code in case.statuses, (r.status_code, r.text[:300])
        message = r.json()["message"]
        assert case.fragment.lower() in message.lower(), message
        for secret in ctx.secrets:
            assert secret not in message, message
        alive = client.get(f"{ctx.url}/control")  # answered at once, by a live server
        assert alive.status_code == 400


def test_still_synthesises_after_the_corpus(ctx):
    r = httpx.post(f"{ctx.url}/tts", json={**params(ctx.ref), "prompt_text": REF_TEXT}, timeout=120)
    assert r.status_code == 200, r.text
    assert sf.read(io.BytesIO(r.content))[0].size > 0
