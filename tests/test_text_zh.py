"""Chinese frontend: normalisation rules, tone sandhi, lexicon, errors (parity with upstream's table:
tests/test_text_parity.py)."""

from __future__ import annotations

import pytest

from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence, require_phones
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon import UserLexicon
from gpt_sovits.text.symbols import SYMBOLS_V1, SYMBOLS_V2
from gpt_sovits.text.zh import ChineseG2P, merge_erhua
from gpt_sovits.text.zh_normalize import text_normalize
from gpt_sovits.text.zh_pinyin import pinyin_to_phones, syllable_table


def phones(text: str, version: str = "v2") -> str:
    return " ".join(clean_text(text, "zh", version).phones)


# ------------------------------------------------------------------------------------------------ normalisation
@pytest.mark.parametrize(
    "text, expected",
    [
        ("我有2个苹果", "我有两个苹果"),
        ("3.20", "三点二零"),
        ("温度-3°C", "温度零下三度"),
        ("版本1.2.3", "版本一点二点三"),
        ("x²", "的二次方"),
        ("一共1/2", "一共二分之一"),
        ("第10页", "第十页"),
        ("电话13812345678", "电话幺三八幺二三四五六七八"),
        ("Hello世界", "世界"),
        ("ＡＢＣ１２３", "幺二三"),
        ("α粒子", "阿尔法粒子"),
        ("你好！！！", "你好!"),
    ],
)
def test_normalisation_rules(text, expected):
    assert text_normalize(text) == expected


def test_traditional_to_simplified():
    assert text_normalize("這個國家的電腦網絡") == "这个国家的电脑网络"
    assert text_normalize("二加三等於五") == "二加三等於五"  # upstream's table keeps 於


# ------------------------------------------------------------------------------------------------ pinyin / sandhi
def test_syllable_table_size_and_conventions():
    table = syllable_table()
    assert len(table) == 429
    assert table["a"] == ("AA", "a") and table["er"] == ("EE", "er") and table["o"] == ("OO", "o")
    assert table["zhi"] == ("zh", "ir") and table["si"] == ("s", "i0")
    assert table["yan"] == ("y", "En") and table["ye"] == ("y", "E") and table["yuan"] == ("y", "van")
    for initial, final in table.values():
        assert initial in SYMBOLS_V1 and final + "1" in SYMBOLS_V1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("不怕", "b u2 p a4 ."),  # 不 before tone 4
        ("看一看", "k an4 y i5 k an4 ."),
        ("一天", "y i4 t ian1 ."),
        ("一段", "y i2 d uan4 ."),
        ("你好", "n i2 h ao3 ."),  # third-tone sandhi
        ("桌子", "zh uo1 z i05 ."),  # neutral 子
        ("玩儿", "w an2 EE er2 ."),  # erhua takes the previous tone
    ],
)
def test_sandhi_examples(text, expected):
    assert phones(text + "。") == expected


def test_merge_erhua_respects_not_erhua():
    assert merge_erhua(["n", ""], ["v3", "er2"], "女儿", "n")[1] == ["v3", "er2"]
    assert merge_erhua(["x", "y", ""], ["iao3", "van4", "er2"], "小院儿", "n")[1][-1] == "er4"


def test_word2ph_and_ids_consistent():
    r = clean_text("今天是2024年3月15日，星期五。", "zh")
    assert len(r.word2ph) == len(r.norm_text)
    assert sum(r.word2ph) == len(r.phones)
    assert all(w in (1, 2) for w in r.word2ph)
    assert len(cleaned_text_to_sequence(r.phones)) == len(r.phones)


def test_special_silence_markers():
    assert "SP3" in clean_text("等一下^我马上来。", "zh").phones
    r = clean_text("价格是￥50，很便宜。", "zh")
    assert "," not in r.phones and r.phones.count("SP2") == 2


def test_v1_path_uses_v1_table():
    r = clean_text("你好，世界。", "zh", "v1")
    assert r.phones == ["n", "i2", "h", "ao3", ",", "sh", "ir4", "j", "ie4", "."]
    assert all(p in SYMBOLS_V1 for p in r.phones)
    assert clean_text("他在玩儿。", "zh", "v1").phones[-3:] == ["EE", "er2", "."]  # no erhua in v1


def test_pinyin_predictor_seam():
    """A G2PW-like predictor (one TONE3 pinyin per character) replaces pypinyin's readings."""
    calls = []

    def predictor(sentence):
        calls.append(sentence)
        return ["xing2" if ch == "行" else "hao3" if ch == "好" else ch for ch in sentence]

    g2p = ChineseG2P(pinyin_predictor=predictor)
    ph, w2p = g2p.g2p("行好.")
    assert calls == ["行好."]
    assert ph == ["x", "ing2", "h", "ao3", "."] and w2p == [2, 2, 1]


# ------------------------------------------------------------------------------------------------ lexicon
def test_lexicon_overrides_zh_and_keeps_word2ph(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text(
        "# my names\nzh\t曾小贤\tzeng1 xiao3 xian2\nzh\t银行\tx ing2 h ang2\nen\tGPT\tJH IY1 P IY1 T IY1\n",
        encoding="utf-8",
    )
    lex = UserLexicon.load(path)
    assert len(lex) == 3
    assert lex.lookup("zh", "曾小贤") == ["z", "eng1", "x", "iao3", "x", "ian2"]
    assert lex.lookup("en", "gpt") == ["JH", "IY1", "P", "IY1", "T", "IY1"]
    assert lex.lookup("zh", "不存在") is None
    r = clean_text("曾小贤去银行。", "zh", lexicon=lex)
    assert r.phones[:6] == ["z", "eng1", "x", "iao3", "x", "ian2"]
    assert r.phones[8:12] == ["x", "ing2", "h", "ang2"]
    assert r.word2ph == [2] * 6 + [1] and sum(r.word2ph) == len(r.phones)
    assert clean_text("曾小贤去银行。", "zh").phones[:2] == ["c", "eng2"]  # without the lexicon: pypinyin


@pytest.mark.parametrize(
    "line, message",
    [
        ("zh\t你好\tn i3", "needs 2 toned pinyin syllables or 4 phones"),
        ("zh\t你\tqqq1", "needs 1 toned pinyin"),
        ("en\tFOO\tF XX1", "not in the symbol table"),
        ("xx\tword\tA", "unknown language"),
        ("zh 你好 n i3 h ao3", "expected 'language<TAB>word<TAB>phones'"),
    ],
)
def test_lexicon_rejects_bad_lines(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("# ok\n" + line + "\n", encoding="utf-8")
    with pytest.raises(TextFrontendError, match=message) as info:
        UserLexicon.load(path)
    assert ":2:" in str(info.value)  # points at the line


def test_pinyin_to_phones():
    assert pinyin_to_phones("lv4") == ["l", "v4"]
    assert pinyin_to_phones("nü3") == ["n", "v3"]
    assert pinyin_to_phones("xyz1") is None


# ------------------------------------------------------------------------------------------------ errors
def test_unsupported_language_is_a_clear_error():
    with pytest.raises(TextFrontendError, match="unsupported language 'fr'"):
        clean_text("bonjour", "fr")
    with pytest.raises(TextFrontendError, match="unsupported language 'ko' for v1"):
        clean_text("안녕", "ko", "v1")


def test_text_without_phones():
    r = clean_text("😀 hello", "zh")
    assert r.phones == [] and r.word2ph == [] and r.norm_text == ""
    with pytest.raises(TextFrontendError, match="nothing that can be pronounced"):
        require_phones(r, "😀 hello")


@pytest.mark.slow
def test_odd_input_never_crashes_with_another_error():
    for text in ["", "\x00\x01\n\t", "𝕗𐛥）", "嗧塦", "１２３４５６７８９０" * 3, "a" * 1000, "中" * 2000 + "🙂"]:
        try:
            r = clean_text(text, "zh")
        except TextFrontendError:
            continue
        assert all(p in SYMBOLS_V2 for p in r.phones)
        assert len(r.word2ph) == len(r.norm_text)
