"""Text → phone ids + BERT features for mixed-language synthesis text."""

import pytest
import torch

from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.phones import get_phones_and_bert
from gpt_sovits.text.symbols import symbols


class FakeBert:
    """Stands in for BertFeatureExtractor: per-character features expanded by word2ph, recorded calls."""

    def __init__(self, hidden: int = 16):
        self.hidden_size = hidden
        self.calls: list[tuple[str, list[int]]] = []

    def phone_features(self, norm_text, word2ph):
        self.calls.append((norm_text, list(word2ph)))
        assert len(norm_text) == len(word2ph)
        per_char = torch.arange(1, len(word2ph) + 1, dtype=torch.float32)
        expanded = torch.repeat_interleave(per_char, torch.tensor(word2ph))  # [n_phones]
        return expanded.unsqueeze(0).repeat(self.hidden_size, 1)  # [hidden, n_phones]


def _ids(text, lang):
    cleaned = clean_text(text, lang, "v2")
    return cleaned_text_to_sequence(cleaned.phones, "v2"), cleaned


@pytest.mark.slow  # first use loads jieba/pypinyin, g2p_en, ToJyutping
def test_mixed_zh_en_ja_shapes_and_zero_features():
    bert = FakeBert(hidden=16)
    text = "我爱你。Hello world. こんにちは。"
    result = get_phones_and_bert(text, "auto", bert=bert)
    zh_ids, zh = _ids("我爱你。", "zh")
    en_ids, _ = _ids("Hello world. ", "en")
    ja_ids, _ = _ids("こんにちは。", "ja")
    assert result.phones == zh_ids + en_ids + ja_ids
    assert result.bert.shape == (16, len(result.phones))
    assert result.bert.dtype == torch.float32
    n_zh = len(zh_ids)
    assert bool((result.bert[:, :n_zh] > 0).all())
    assert bool((result.bert[:, n_zh:] == 0).all())
    assert bert.calls == [(zh.norm_text, zh.word2ph)]
    assert result.norm_text.startswith(zh.norm_text)


def test_without_bert_gives_zeros_of_width_1024():
    result = get_phones_and_bert("今天天气很好，我们去公园吧。", "all_zh")
    assert result.bert.shape == (1024, len(result.phones))
    assert not result.bert.any()


def test_non_zh_text_never_calls_bert():
    bert = FakeBert(hidden=8)
    result = get_phones_and_bert("Good morning everyone.", "en", bert=bert)
    assert bert.calls == []
    assert result.bert.shape == (8, len(result.phones))


def test_short_text_is_retried_with_a_leading_period():
    short = get_phones_and_bert("好", "all_zh")
    retried_ids, _ = _ids(".好", "zh")
    assert short.phones == retried_ids
    assert len(short.phones) == len(_ids("好", "zh")[0]) + 1


def test_spaces_are_collapsed():
    a = get_phones_and_bert("Hello     world, how are you?", "en")
    b = get_phones_and_bert("Hello world, how are you?", "en")
    assert a.phones == b.phones


@pytest.mark.slow  # first use loads jieba/pypinyin, g2p_en, ToJyutping
def test_cantonese_and_korean_options():
    yue = get_phones_and_bert("我哋一齊去飲茶啦。", "all_yue")
    assert all(symbols("v2")[i].startswith("Y") or symbols("v2")[i] in ".,!?" for i in yue.phones)
    ko = get_phones_and_bert("안녕하세요.", "all_ko")
    assert len(ko.phones) >= 6 and ko.bert.shape[1] == len(ko.phones)


def test_errors():
    with pytest.raises(TextFrontendError):
        get_phones_and_bert("", "auto")
    with pytest.raises(TextFrontendError):
        get_phones_and_bert("你好", "klingon")
    with pytest.raises(TextFrontendError):
        get_phones_and_bert("你好", "all_yue", version="v1")


@pytest.mark.slow  # first use loads jieba/pypinyin, g2p_en, ToJyutping
def test_v1_uses_the_small_table():
    result = get_phones_and_bert("你好，世界。", "all_zh", version="v1")
    assert max(result.phones) < len(symbols("v1"))


@pytest.mark.slow
def test_with_the_reference_tiny_bert(reference_bundle):
    bert_dir = reference_bundle / "bert_tiny"
    if not bert_dir.is_dir():
        pytest.skip("reference bundle's bert_tiny is not available")
    from gpt_sovits.models.bert import BertFeatureExtractor

    bert = BertFeatureExtractor.from_pretrained(bert_dir)
    result = get_phones_and_bert("我爱你。Hello world.", "auto", bert=bert)
    zh_ids, zh = _ids("我爱你。", "zh")
    expected_zh = bert.phone_features(zh.norm_text, zh.word2ph)
    assert result.bert.shape == (bert.hidden_size, len(result.phones))
    torch.testing.assert_close(result.bert[:, : len(zh_ids)], expected_zh)
    assert not result.bert[:, len(zh_ids) :].any()
