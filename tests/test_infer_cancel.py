"""Cancellation inside the pipeline, and text with nothing to say (pipeline and CLI), on the tiny models."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from gpt_sovits.cli import main as cli_main
from gpt_sovits.infer.cancel import Cancelled, CancelToken
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.infer.speakable import is_speakable, language_warning
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.symbols import symbol_to_id
from infer_helpers import REF_TEXT


def _req(ref: Path, text: str, **extra) -> TTSRequest:
    return TTSRequest(text=text, text_lang="all_zh", ref_audio_path=ref, prompt_text=REF_TEXT, prompt_lang="all_zh",
                      text_split_method="cut5", seed=4, **extra)


class CancelAfterChecks(CancelToken):
    """Cancels itself at its n-th check: shows where the pipeline looks, without any timing."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks >= self.n:
            self.cancel("test")
        super().check()


def test_a_cancelled_request_stops_inside_the_first_sentence(pipeline, ref_wav):
    produced = []
    token = CancelAfterChecks(3)  # 1 before the sentence, then GPT steps 0 and 32
    with pytest.raises(Cancelled):
        for sentence in pipeline.stream(_req(ref_wav, "第一句话。第二句话。第三句话。"), cancel=token):
            produced.append(sentence)
    assert produced == [] and token.checks == 3
    assert not pipeline.lock.locked()  # the models are free for the next request


def test_cancelling_between_sentences_stops_the_stream(pipeline, ref_wav):
    token = CancelToken()
    produced = []
    with pytest.raises(Cancelled):
        for sentence in pipeline.stream(_req(ref_wav, "第一句话。第二句话。第三句话。"), cancel=token):
            produced.append(sentence)
            token.cancel("client left")
    assert len(produced) == 1


def test_a_passed_deadline_cancels(pipeline, ref_wav):
    with pytest.raises(Cancelled, match="time limit"):
        pipeline.synthesize(_req(ref_wav, "你好。"), cancel=CancelToken(timeout=-1))


def test_pause_only_sentences_are_skipped_and_an_all_silent_text_is_refused(pipeline, ref_wav):
    alone = pipeline.synthesize(_req(ref_wav, "你好。"))
    with_emoji = pipeline.synthesize(_req(ref_wav, "你好。😀😀😀。"))
    assert len(with_emoji.sentences) == 1 and np.array_equal(with_emoji.audio, alone.audio)
    for text in ("😀😀😀", "。。。！！", "……"):
        with pytest.raises((RequestError, TextFrontendError), match="[Nn]othing"):
            pipeline.synthesize(_req(ref_wav, text))
    with pytest.raises(RequestError, match="looks like Chinese"):
        pipeline.synthesize(TTSRequest(text="今天天气很好。", text_lang="en", ref_audio_path=ref_wav, seed=1))


def test_speakable_and_language_warning():
    assert not is_speakable([symbol_to_id("v2")[s] for s in ("SP", ",", ".", "UNK")], "v2")
    assert is_speakable([symbol_to_id("v2")[s] for s in (",", "AA1")], "v2")
    assert "Chinese" in language_warning("今天天气很好", "en") and "all_zh" in language_warning("今天天气很好", "en")
    assert "Japanese" in language_warning("こんにちは、元気ですか", "en")
    assert "English" in language_warning("hello world how are you", "all_zh")
    assert language_warning("hello 你好 world", "zh") is None and language_warning("😀", "en") is None


def test_cli_refuses_punctuation_only_and_warns_about_the_language(root, ref_wav, tmp_path):
    def run(text: str, lang: str) -> tuple[int, str]:
        err = io.StringIO()
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            code = cli_main(["infer", "--root", str(root), "--ref", str(ref_wav), "--ref-text", REF_TEXT, "--text",
                             text, "--text-lang", lang, "--out", str(tmp_path / "o.wav"), "--seed", "1"])
        return code, err.getvalue()

    code, err = run("...!!!", "en")
    assert code == 2 and "othing" in err and not (tmp_path / "o.wav").exists()
    code, err = run("今天天气很好。", "en")
    assert code == 2 and "warning: The text looks like Chinese" in err
