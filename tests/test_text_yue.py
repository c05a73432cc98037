"""Cantonese frontend: the syllable-splitting rules (parity with upstream's table: tests/test_text_parity.py)."""


import pytest

from gpt_sovits.text import yue
from gpt_sovits.text.errors import TextFrontendError


def _run(text: str):
    """(norm_text, phones, word2ph, ids) through the cleaner when it exists, else through yue.py + the table."""
    try:
        from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
    except ImportError:
        from gpt_sovits.text.symbols import symbol_to_id

        table = symbol_to_id("v2")
        norm = yue.text_normalize(text)
        raw, word2ph = yue.g2p(norm)
        phones = [p if p in table else "UNK" for p in raw]
        return norm, phones, word2ph, [table[p] for p in phones]
    cleaned = clean_text(text, "yue", "v2")
    ids = list(cleaned_text_to_sequence(cleaned.phones, "v2"))
    return cleaned.norm_text, list(cleaned.phones), list(cleaned.word2ph), ids


@pytest.mark.parametrize(
    "syllable, expected",
    [
        ("aai3", ("aa", "i", 3)),  # list order, not longest match
        ("m4", ("m", "m", 4)),  # all-initial syllable repeats the initial's last letter
        ("ng5", ("ng", "g", 5)),
        ("ngaa4", ("ng", "aa", 4)),
        ("gwong2", ("gw", "ong", 2)),
        ("tsz1", ("ts", "z", 1)),
    ],
)
def test_split_syllable(syllable, expected):
    assert yue.split_syllable(syllable) == expected


def test_g2p_prefixes_and_word2ph():
    phones, word2ph = yue.g2p("唔该!")
    assert phones == ["Ym", "Ym4", "Yg", "Yoi1", "!"]
    assert word2ph == [2, 2, 1]
    assert len(phones) == sum(word2ph)


def test_normalize_keeps_only_cjk_and_phone_punctuation():
    norm = yue.text_normalize("「你好」，abc😀“佢”")
    assert set(norm) <= set("你好佢") | set(yue.PUNCTUATION)


def test_normalize_drops_characters_without_reading():
    norm = yue.text_normalize("乄你好")
    phones, word2ph = yue.g2p(norm)
    assert len(norm) == len(word2ph) and len(phones) == sum(word2ph)


def test_g2p_rejects_unreadable_text_clearly():
    with pytest.raises(TextFrontendError):
        yue.g2p("abc")
