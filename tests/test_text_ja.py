"""Japanese frontend: parity with upstream's reference table and the prosody-mark rules."""

import json
from pathlib import Path

import pytest

from gpt_sovits.text import ja
from gpt_sovits.text.errors import TextFrontendError
from reference_data import frontend_cases_path

FIXTURES = Path(__file__).parent / "fixtures"
MIN_PASS_RATE = 0.98


def _cases(lang: str) -> list[dict]:
    path = frontend_cases_path()
    with path.open(encoding="utf-8") as f:
        return [case for case in map(json.loads, f) if case["lang"] == lang]


def _run(text: str):
    """(norm_text, phones, ids) through the cleaner when it exists, else through ja.py + the symbol table."""
    try:
        from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
    except ImportError:
        from gpt_sovits.text.symbols import symbol_to_id

        table = symbol_to_id("v2")
        norm = ja.text_normalize(text)
        phones = [p if p in table else "UNK" for p in ja.g2p(norm)[0]]
        return norm, phones, [table[p] for p in phones]
    cleaned = clean_text(text, "ja", "v2")
    return cleaned.norm_text, list(cleaned.phones), list(cleaned_text_to_sequence(cleaned.phones, "v2"))


def test_reference_cases_pass_rate():
    cases = _cases("ja")
    assert cases, "no ja cases in the reference table"
    failures = []
    for case in cases:
        norm, phones, ids = _run(case["text"])
        if (norm, phones, ids) != (case["norm_text"], case["phones"], case["ids"]):
            failures.append(f"{case['text']!r}: got {' '.join(phones)} / expected {' '.join(case['phones'])}")
    rate = 1 - len(failures) / len(cases)
    assert rate >= MIN_PASS_RATE, f"ja pass rate {rate:.1%}:\n" + "\n".join(failures)


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
