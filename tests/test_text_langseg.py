"""Language segmentation for the inference language options."""

import pytest

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.langseg import LANGUAGE_OPTIONS, check_language_option, detect_language, get_texts, segment_text


def test_auto_splits_by_script():
    assert segment_text("Hello，你好。こんにちは！안녕하세요?", "auto") == [
        ("Hello，", "en"),
        ("你好。", "zh"),
        ("こんにちは！", "ja"),
        ("안녕하세요?", "ko"),
    ]


def test_kanji_with_kana_is_japanese():
    assert segment_text("吾輩は猫である。名前はまだ無い。", "auto") == [("吾輩は猫である。名前はまだ無い。", "ja")]


def test_auto_yue_reads_chinese_as_cantonese():
    assert segment_text("我哋去饮茶，OK？", "auto_yue") == [("我哋去饮茶，", "yue"), ("OK？", "en")]


def test_digits_attach_to_neighbours():
    assert segment_text("我有3个苹果", "auto") == [("我有3个苹果", "zh")]
    assert segment_text("Version 2.0.1 was released", "auto") == [("Version 2.0.1 was released", "en")]
    assert segment_text("2024年3月15日に会議があります。", "auto") == [("2024年3月15日に会議があります。", "ja")]
    assert get_texts("123") == [("123", "zh")]


def test_default_language_keeps_ascii_english():
    assert segment_text("我今天学了English，感觉很好", "all_zh") == [
        ("我今天学了", "zh"),
        ("English，", "en"),
        ("感觉很好", "zh"),
    ]
    assert segment_text("これはpenです", "all_ja") == [("これは", "ja"), ("pen", "en"), ("です", "ja")]
    assert segment_text("佢讲English", "all_yue") == [("佢讲", "yue"), ("English", "en")]
    assert segment_text("你好", "all_ko") == [("你好", "ko")]


def test_mixed_options_merge_non_english_runs():
    text = "これはpenです。这是一本书。"
    assert segment_text(text, "zh") == [("これは", "zh"), ("pen", "en"), ("です。这是一本书。", "zh")]
    assert segment_text(text, "ja") == [("これは", "ja"), ("pen", "en"), ("です。这是一本书。", "ja")]
    assert segment_text("안녕 hello 你好", "ko")[0][1] == "ko"


def test_en_keeps_whole_text():
    assert segment_text("Hello 你好 123", "en") == [("Hello 你好 123", "en")]


def test_other_scripts_and_emoji_never_get_lost_languages():
    for text in ("😀你好Привет", "Привет", "   ", "\x00\x07", "🎉🎉"):
        for option in LANGUAGE_OPTIONS:
            for piece, lang in segment_text(text, option):
                assert lang in ("zh", "ja", "en", "ko", "yue")
                assert piece


def test_pieces_cover_the_text():
    text = "Hi! 我叫小明，今年25岁。日本語も話せます。한국어도 조금 해요."
    for option in LANGUAGE_OPTIONS:
        assert "".join(p for p, _ in segment_text(text, option)) == text


def test_unknown_and_v1_options():
    with pytest.raises(TextFrontendError):
        segment_text("你好", "fr")
    check_language_option("auto", "v1")
    with pytest.raises(TextFrontendError):
        check_language_option("all_yue", "v1")
    with pytest.raises(TextFrontendError):
        check_language_option("ko", "v1")


def test_lite_detector_is_bundled_and_offline(monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("language detection tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert detect_language("東京都庁") == "ja"
    assert detect_language("This is plainly an English sentence.") == "en"
