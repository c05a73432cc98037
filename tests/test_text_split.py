"""Sentence splitting: every case of upstream's reference table, for both pipelines."""

import json
from pathlib import Path

import pytest

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.split import cut_text, merge_short_text_in_array, split_big_text, split_text
from reference_data import split_cases_path

FIXTURES = Path(__file__).parent / "fixtures"


def _cases() -> list[dict]:
    path = split_cases_path()
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CASES = _cases()


@pytest.mark.parametrize("pipeline", ["inference_webui", "TTS_infer_pack"])
def test_all_reference_cases(pipeline):
    cases = [c for c in CASES if c["pipeline"] == pipeline]
    assert cases
    failures = []
    for case in cases:
        args = (case["text"], case["method"], case["pipeline"], case["lang"])
        cut = cut_text(*args)
        try:
            segments, error = split_text(*args), None
        except TextFrontendError as exc:
            segments, error = None, exc
        ok = cut == case["cut_output"] and segments == case["segments"] and (error is None) == ("error" not in case)
        if not ok:
            failures.append(f"{case['method']} {case['text']!r}: cut {cut!r} segments {segments} error {error}")
    assert not failures, f"{len(failures)}/{len(cases)} {pipeline} cases differ:\n" + "\n".join(failures)


def test_lowercase_variant_name_and_unknown_names():
    assert split_text("你好。", "cut5", "tts_infer_pack") == split_text("你好。", "cut5", "TTS_infer_pack")
    with pytest.raises(TextFrontendError):
        split_text("你好。", "cut9")
    with pytest.raises(TextFrontendError):
        split_text("你好。", "cut1", "nonsense")


def test_empty_text():
    with pytest.raises(TextFrontendError):
        split_text("", "cut1")
    with pytest.raises(TextFrontendError):
        split_text("\n\n", "cut0")
    assert split_text("", "cut1", "tts_infer_pack") == []


def test_english_final_mark():
    assert split_text("Hello there", "cut0", language="en") == ["Hello there."]
    assert split_text("你好啊朋友", "cut0") == ["你好啊朋友。"]


def test_merge_short_text():
    assert merge_short_text_in_array(["a", "bc", "defg", "h"], 5) == ["abcdefgh"]
    assert merge_short_text_in_array(["abcde", "f"], 5) == ["abcdef"]
    assert merge_short_text_in_array(["ab"], 5) == ["ab"]


def test_long_lines_are_resplit_for_bert():
    text = "，".join(["一二三四五六七八九十"] * 80) + "。"
    pieces = split_text(text, "cut0", "tts_infer_pack")
    assert len(pieces) > 1 and all(len(p) <= 510 for p in pieces)
    assert "".join(pieces) == text
    assert split_big_text("短句。") == ["短句。"]
