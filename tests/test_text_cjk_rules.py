"""Korean, Japanese and Cantonese frontends, rule by rule, against upstream GPT-SoVITS's own logic.

Expected values were derived by stepping through upstream's korean.py / japanese.py / cantonese.py by hand (the rule
is stated next to each case); only the third-party steps (g2pk2's pronunciation rules, OpenJTalk, ToJyutping) are
taken from those libraries, which upstream calls the same way.
"""

from __future__ import annotations

import pytest

from gpt_sovits.text import ja, ko, yue

# --- Korean -------------------------------------------------------------------------------------------------------

KO_CASES = [
    # Latin letters → Korean letter names (case-insensitive, a..z in turn) before g2pk2; g2pk2 then drops the ㅎ
    # of 좋아; compound vowels are written as two simple vowels; a final jamo gets "."; a space becomes 空.
    ("AI 좋아", "ㅇㅔㅇㅣㅇㅏㅇㅣ ㅈㅗㅇㅏ."),
    ("kK", "ㅋㅔㅇㅣㅋㅔㅇㅣ."),
    # ㅘ → ㅗㅏ, ㅢ → ㅡㅣ, ㅕ → ㅣㅓ, ㅛ → ㅣㅗ.
    ("과자", "ㄱㅗㅏㅈㅏ."),
    ("의사", "ㅇㅡㅣㅅㅏ."),
    # g2pk2 keeps ㄹ after a word ending in 을/를 before a word starting with ㄹ; upstream rewrites that ㄹ to ㄴ.
    ("물을 랄랄라", "ㅁㅜㄹㅡㄹ ㄴㅏㄹㄹㅏㄹㄹㅏ."),
    # The "." is only added when the very last character is a jamo (not after "@").
    ("안녕@", "ㅇㅏㄴㄴㅣㅓㅇ@"),
    ("ㅋ", "ㅋ."),
]


@pytest.mark.parametrize("text, expected", KO_CASES)
def test_korean_pronunciation_string(text, expected):
    assert ko.default_g2p().pronounce(text) == expected


def test_korean_phone_mapping():
    # Per character: space → 空, characters outside the symbol table → 停, full-width marks → ASCII.
    assert ko.g2p("가 나")[0] == ["ㄱ", "ㅏ", "空", "ㄴ", "ㅏ", "."]
    assert ko.g2p("안녕@")[0] == ["ㅇ", "ㅏ", "ㄴ", "ㄴ", "ㅣ", "ㅓ", "ㅇ", "停"]
    assert ko.text_normalize("안녕, AI!!") == "안녕, AI!!"  # upstream has no Korean normaliser


# --- Japanese -----------------------------------------------------------------------------------------------------

JA_NORMALISATION = [
    # Runs of ! ? … , . - collapse to their first mark (no whitespace group, unlike English).
    ("はい!!", "はい!"),
    ("はい…!?", "はい…"),
    ("はい !!", "はい !"),
    # Full-width marks are not part of that set and are left alone here.
    ("はい！！", "はい！！"),
]


@pytest.mark.parametrize("text, expected", JA_NORMALISATION)
def test_japanese_normalisation(text, expected):
    assert ja.text_normalize(text) == expected


def test_japanese_marks_between_runs():
    # The text is cut at every non-Japanese character; each such mark is kept (、→ , and 。→ .), a plain space is
    # dropped, brackets are kept as they are (the cleaner maps them to UNK).
    phones = ja.g2p("ええ、そう。")[0]
    assert phones[phones.index(",") - 1] != "," and phones[-1] == "."
    assert "," in phones
    spaced = ja.g2p("本当 に")[0]
    assert " " not in spaced and "" not in spaced
    assert ja.g2p("本当 に")[0] == ja.g2p("本当")[0] + ja.g2p("に")[0]
    bracketed = ja.g2p("「はい」")[0]
    assert bracketed[0] == "「" and bracketed[-1] == "」"
    assert bracketed[1:-1] == ja.g2p("はい")[0]


def test_japanese_percent_sign_and_latin_case():
    # "％" is spelled パーセント before OpenJTalk; Latin letters are lower-cased first (so case does not matter).
    assert ja.g2p("50％です")[0] == ja.g2p("50パーセントです")[0]
    assert ja.g2p("AKITOです")[0] == ja.g2p("akitoです")[0]


# --- Cantonese ----------------------------------------------------------------------------------------------------

YUE_SYLLABLES = [
    # The first entry of upstream's initial list that prefixes the syllable wins (list order, not longest match).
    ("aai4", ("aa", "i", 4)),
    ("aau3", ("aa", "u", 3)),
    ("ei6", ("e", "i", 6)),
    ("jyut6", ("j", "yut", 6)),
    # When the "initial" is the whole syllable, its last letter is repeated as the final.
    ("m4", ("m", "m", 4)),
    ("ng5", ("ng", "g", 5)),
    ("oi3", ("oi", "i", 3)),
    ("ou5", ("ou", "u", 5)),
    ("uk6", ("uk", "k", 6)),
    ("ung1", ("ung", "g", 1)),
    # "nga..." is always cut after "ng".
    ("nga4", ("ng", "a", 4)),
    ("ngo5", ("ng", "o", 5)),
]


@pytest.mark.parametrize("syllable, expected", YUE_SYLLABLES)
def test_cantonese_syllable_split(syllable, expected):
    assert yue.split_syllable(syllable) == expected


YUE_NORMALISATION = [
    # Brackets and quotes are removed (by the Chinese normaliser or mapped to "'" and then deleted).
    ("“你好”", "你好"),
    ("你（好）", "你好"),
    # "..." → "…"; "~" → "-"; Latin letters are deleted.
    ("你好...", "你好…"),
    ("你好~再见", "你好-再见"),
    ("A你B好", "你好"),
    # Cantonese does not collapse repeated marks (unlike Mandarin).
    ("你好！！", "你好!!"),
]


@pytest.mark.parametrize("text, expected", YUE_NORMALISATION)
def test_cantonese_normalisation(text, expected):
    assert yue.text_normalize(text) == expected


def test_cantonese_g2p_phones():
    # Initial and toned final each get a "Y" prefix; punctuation stays bare with word2ph 1.
    phones, word2ph = yue.g2p("你好!!")
    assert phones[-2:] == ["!", "!"] and word2ph[-2:] == [1, 1]
    assert all(p.startswith("Y") for p in phones[:-2])
    assert word2ph[:-2] == [2, 2]
