"""Property tests: any unicode text gives phones from the symbol table or a TextFrontendError, nothing else.

A frontend that raised TextFrontendError for everything would pass "symbols or error" trivially, so each of those
tests also counts its successful conversions and requires a minimum share of them (the examples are derandomized,
so the share is the same on every run; the observed shares are in the comments).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.langseg import LANGUAGE_OPTIONS, segment_text
from gpt_sovits.text.phones import get_phones_and_bert
from gpt_sovits.text.split import METHODS, split_text
from gpt_sovits.text.symbols import symbol_to_id

TABLE = symbol_to_id("v2")

# Pieces people (and fuzzers) type: scripts of all five languages, digits, punctuation, emoji, control characters.
_SAMPLES = [
    "你好", "银行", "一", "不", "儿", "係", "嘅", "¥", "￥", "^", "%", "％", "$", "3.14", "10:30", "2024-01-02", "1/3",
    "-5", "100%", "℃", "km", "Hello", "world", "I'm", "USA", "e-mail", "こんにちは", "カタカナ", "ｶﾀｶﾅ", "ー", "っ",
    "今日", "안녕하세요", "ㄱ", "한국어", "。", "，", "、", "！", "？", "…", "……", "——", "「", "」", "《", "》", "~",
    "～", "\n", "\t", " ", "  ", "\x00", "\x07", "\u200b", "\ufeff", "😀", "👍🏽", "🇯🇵", "Привет", "مرحبا", "é",
    "ß", "Ω", "∑", "①", "Ⅻ", "𠮶", "乄", "\U0010ffff", "\ud7ff", "〇", "々",
]  # fmt: skip
texts = st.lists(
    st.one_of(st.sampled_from(_SAMPLES), st.text(max_size=6)),
    max_size=8,
).map("".join)

PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# Minimum share of generated texts that must convert without a TextFrontendError.
MIN_CLEAN_SHARE = 0.9  # observed 30/30 for every language
MIN_PHONES_SHARE = 0.6  # observed 27/30 per option (empty or pure-symbol texts raise)
MIN_SPLIT_SHARE = 0.8  # observed 27/30 to 30/30 per method and variant


class _Share:
    """Counts conversions and successes inside a hypothesis test."""

    def __init__(self) -> None:
        self.total = 0
        self.ok = 0

    def check(self, minimum: float, what: str) -> None:
        assert self.total > 0, f"{what}: hypothesis generated no example"
        share = self.ok / self.total
        assert share >= minimum, f"{what}: only {self.ok}/{self.total} texts converted ({share:.0%} < {minimum:.0%})"


def _check_phones(phones):
    assert all(p in TABLE for p in phones), [p for p in phones if p not in TABLE]


@pytest.mark.slow
@pytest.mark.parametrize("language", ["zh", "en", "ja", "ko", "yue"])
def test_clean_text_returns_symbols_or_frontend_error(language):
    share = _Share()

    @PROPERTY_SETTINGS
    @given(text=texts)
    def check(text):
        share.total += 1
        try:
            cleaned = clean_text(text, language, "v2")
        except TextFrontendError:
            return
        share.ok += 1
        _check_phones(cleaned.phones)
        ids = cleaned_text_to_sequence(cleaned.phones, "v2")
        assert len(ids) == len(cleaned.phones)
        if cleaned.word2ph is not None:
            assert sum(cleaned.word2ph) == len(cleaned.phones)
            assert len(cleaned.word2ph) == len(cleaned.norm_text)

    check()
    share.check(MIN_CLEAN_SHARE, f"clean_text {language}")


@pytest.mark.slow
@pytest.mark.parametrize("option", LANGUAGE_OPTIONS)
def test_get_phones_and_bert_returns_ids_or_frontend_error(option):
    n_symbols = len(TABLE)
    share = _Share()

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(text=texts)
    def check(text):
        share.total += 1
        try:
            result = get_phones_and_bert(text, option)
        except TextFrontendError:
            return
        share.ok += 1
        assert result.phones and all(0 <= i < n_symbols for i in result.phones)
        assert result.bert.shape == (1024, len(result.phones))

    check()
    share.check(MIN_PHONES_SHARE, f"get_phones_and_bert {option}")


@PROPERTY_SETTINGS
@given(text=texts, option=st.sampled_from(LANGUAGE_OPTIONS))
def test_segmentation_never_fails(text, option):
    for piece, lang in segment_text(text, option):
        assert piece and lang in ("zh", "en", "ja", "ko", "yue")


@pytest.mark.parametrize("variant", ["inference_webui", "tts_infer_pack"])
def test_split_returns_pieces_or_frontend_error(variant):
    share = _Share()

    @PROPERTY_SETTINGS
    @given(text=texts, method=st.sampled_from(METHODS))
    def check(text, method):
        share.total += 1
        try:
            pieces = split_text(text, method, variant)
        except TextFrontendError:
            return
        share.ok += 1
        assert all(isinstance(p, str) and p for p in pieces)

    check()
    share.check(MIN_SPLIT_SHARE, f"split_text {variant}")


_LONG_UNIT = "今天天气很好，我们去公园吧。Hello world, 123. こんにちは。안녕하세요. 😀\x07"


def _long_text(unit: str = _LONG_UNIT, size: int = 100_000) -> str:
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.slow
def test_very_long_input_segments_and_splits():
    text = _long_text()
    for option in ("auto", "zh", "all_ja"):
        assert "".join(piece for piece, _ in segment_text(text, option)) == text
    for method in METHODS:
        for variant in ("inference_webui", "tts_infer_pack"):
            assert split_text(text, method, variant)
    assert all(len(p) <= 510 for p in split_text(text, "cut0", "tts_infer_pack"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "option, unit",
    [
        ("en", "Hello world, this is a test of 123 numbers. "),
        ("all_ja", "こんにちは、今日はいい天気ですね。Hello. "),
    ],
)
def test_very_long_input_gives_phones(option, unit):
    # The whole text in one call (what a careless API client sends) must finish, not hang or crash. The other
    # options are the same per-segment work (about 0.02-0.04 s per segment here), measured in the README.
    text = _long_text(unit)
    result = get_phones_and_bert(text, option)
    assert len(result.phones) > 10_000
    assert result.bert.shape == (1024, len(result.phones))
