"""A user lexicon entry changes the phones that synthesis receives, from the pipeline, the CLI and the HTTP API
(tiny models; the phones are recorded where the pipeline asks the text frontend for them). The pipeline and CLI
checks stop right after the target text's phones (synthesis itself is covered by test_infer); the API request runs
to the end."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import gpt_sovits.text.phones as phones_module
from gpt_sovits.api.server import create_app
from gpt_sovits.cli import main as cli_main
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.text.cleaner import cleaned_text_to_sequence
from gpt_sovits.text.lexicon_files import write_rows
from infer_helpers import espeak_reference

TEXT = "I trained a GPT model."
FIX = ["G", "IH1", "P", "T"]  # the dictionary reads GPT as JH IY1 P IY1 T IY1
FIX_IDS = cleaned_text_to_sequence(FIX, "v2")


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    return espeak_reference(tmp_path_factory.mktemp("lex_ref") / "ref.wav")


@pytest.fixture(scope="module")
def lexicon_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lex") / "lexicon.tsv"
    write_rows(path, [["en", "GPT", " ".join(FIX)]])
    return path


@pytest.fixture(scope="module")
def pipeline(tiny_pretrained) -> TTSPipeline:
    paths = ProjectPaths(tiny_pretrained)
    pipe = TTSPipeline(paths, device="cpu")
    pipe.load_gpt(paths.pretrained_gpt("v2"))
    pipe.load_sovits(paths.pretrained_sovits_g("v2"))
    return pipe


class _Stop(Exception):
    """Raised by the spy to end a synthesis once the phones are known."""


def _spy(monkeypatch, stop: bool) -> list[list[int]]:
    """Phone ids of every target text the pipeline converts (raising _Stop after it when ``stop``)."""
    calls: list[list[int]] = []
    real = phones_module.get_phones_and_bert

    def spy(text, language_option, *args, **kwargs):
        result = real(text, language_option, *args, **kwargs)
        if "GPT" in text:
            calls.append(list(result.phones))
            if stop:
                raise _Stop
        return result

    monkeypatch.setattr(phones_module, "get_phones_and_bert", spy)
    return calls


@pytest.fixture()
def seen(monkeypatch) -> list[list[int]]:
    return _spy(monkeypatch, stop=True)


@pytest.fixture()
def seen_to_the_end(monkeypatch) -> list[list[int]]:
    return _spy(monkeypatch, stop=False)


def _contains(ids: list[int], part: list[int]) -> bool:
    return any(ids[i:i + len(part)] == part for i in range(len(ids) - len(part) + 1))


def _request(ref: Path, **extra) -> TTSRequest:
    return TTSRequest(text=TEXT, text_lang="en", ref_audio_path=ref, ref_free=True, seed=3, text_split_method="cut0",
                      **extra)


def test_pipeline_reads_the_lexicon_of_the_request(pipeline, ref_wav, lexicon_file, seen):
    for lexicon in (None, lexicon_file):
        with pytest.raises(_Stop):
            pipeline.synthesize(_request(ref_wav, lexicon=lexicon))
    assert len(seen) == 2
    assert not _contains(seen[0], FIX_IDS) and _contains(seen[1], FIX_IDS)


def test_cli_lexicon_option(tiny_pretrained, ref_wav, lexicon_file, tmp_path, seen):
    buf = io.StringIO()
    with redirect_stdout(buf), pytest.raises(_Stop):
        cli_main(["infer", "--root", str(tiny_pretrained), "--ref", str(ref_wav), "--text", TEXT, "--text-lang", "en",
                  "--cut", "cut0", "--out", str(tmp_path / "out.wav"), "--seed", "3", "--lexicon", str(lexicon_file)])
    assert len(seen) == 1 and _contains(seen[0], FIX_IDS)


def test_api_lexicon_parameter(pipeline, ref_wav, lexicon_file, seen_to_the_end, tmp_path):
    seen = seen_to_the_end
    app = create_app(pipeline, [pipeline.paths.root, ref_wav.parent, lexicon_file.parent])
    with TestClient(app) as client:
        params = {"text": TEXT, "text_lang": "en", "ref_audio_path": str(ref_wav), "ref_free": True, "seed": 3,
                  "text_split_method": "cut0"}
        r = client.post("/tts", json={**params, "lexicon": str(lexicon_file)})
        assert r.status_code == 200, r.text
        assert len(seen) == 1 and _contains(seen[0], FIX_IDS)
        outside = tmp_path / "lexicon.tsv"
        outside.write_text("en\tGPT\tG IH1 P T\n", encoding="utf-8")
        r = client.get("/tts", params={**params, "lexicon": str(outside)})
        assert r.status_code == 400 and "outside the allowed folders" in r.json()["message"]
        broken = lexicon_file.parent / "broken.tsv"
        broken.write_text("en\tGPT\tNOPE\n", encoding="utf-8")
        r = client.get("/tts", params={**params, "lexicon": str(broken)})
        assert r.status_code == 400 and "broken.tsv:1" in r.json()["message"]
