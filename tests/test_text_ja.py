"""Japanese frontend: the prosody-mark rules (parity with upstream's table: tests/test_text_parity.py)."""

from pathlib import Path

import pytest

from gpt_sovits.text import ja
from gpt_sovits.text.errors import TextFrontendError


def test_word2ph_is_none():
    assert ja.g2p("こんにちは")[1] is None


def test_normalize_collapses_repeated_ascii_punctuation_only():
    assert ja.text_normalize("すごい……!!") == "すごい…"
    assert ja.text_normalize("え--?") == "え-"
    assert ja.text_normalize("待って！！") == "待って！！"


def test_prosody_marks_and_punctuation_mapping():
    phones, _ = ja.g2p("はい、そうです。")
    assert phones == ["h", "a", "]", "i", ",", "s", "o", "[", "o", "d", "e", "s", "u", "."]


def test_percent_sign_is_read():
    phones, _ = ja.g2p("５０％")
    assert "p" in phones and phones[-1] != "％"


def test_spaces_are_dropped_and_marks_kept():
    phones, _ = ja.g2p("あ い「う」")
    assert " " not in phones and "" not in phones
    assert "「" in phones and "」" in phones


def test_question_end_mark_is_not_emitted():
    phones, _ = ja.g2p("本当？")
    assert phones[-1] == "?" and "$" not in phones and "^" not in phones


def test_label_rules_on_synthetic_labels():
    def label(p, a1="xx", a2="xx", a3="xx", f1="xx", e3="xx"):
        return f"xx^xx-{p}+xx=xx/A:{a1}+{a2}+{a3}/B:xx/E:xx_xx!{e3}_xx/F:{f1}_xx#xx"

    labels = [
        label("sil"),
        label("k", a1="0", a2="1", a3="2", f1="2"),
        label("a", a1="0", a2="1", a3="2", f1="2"),
        label("t", a1="1", a2="2", a3="1", f1="2"),
        label("A", a1="1", a2="2", a3="1", f1="2"),
        label("pau"),
        label("sil", e3="1"),
    ]
    # 'a' (a1 0, a2 1 → next 2, a2 != f1): pitch fall; 'A' is unvoiced → lower case; pau → '_'; question end → '?'.
    assert ja.labels_to_prosody_phones(labels) == ["^", "k", "a", "]", "t", "a", "_", "?"]


def test_missing_dictionary_is_an_error_not_a_download(monkeypatch, tmp_path):
    import urllib.request

    import pyopenjtalk

    def no_network(*args, **kwargs):
        raise AssertionError("pyopenjtalk tried to download its dictionary")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(pyopenjtalk, "urlopen", no_network, raising=False)
    monkeypatch.setattr(pyopenjtalk, "OPEN_JTALK_DICT_DIR", str(tmp_path / "missing").encode())
    with pytest.raises(TextFrontendError, match="dictionary"):
        ja.g2p("こんにちは")


def test_bundled_dictionary_present():
    import pyopenjtalk

    path = pyopenjtalk.OPEN_JTALK_DICT_DIR
    path = path.decode() if isinstance(path, bytes) else path
    assert (Path(path) / "sys.dic").is_file()
