"""Korean frontend: parity with upstream's reference cases, the jamo rules, and offline/lazy behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_sovits.text import ko
from gpt_sovits.text.cleaner import clean_text
from gpt_sovits.text.symbols import KO_SYMBOLS, SYMBOLS_V2
from offline_child import BLOCK_NETWORK

REPO = Path(__file__).resolve().parents[1]


def test_latin_letters_become_letter_names():
    assert ko.latin_to_hangul("KTX apple") == "케이티엑스 에이피피엘이"
    assert ko.latin_to_hangul("가나 123") == "가나 123"


def test_jamo_decomposition_splits_compound_vowels():
    assert ko.divide_hangul("과자") == "ㄱㅗㅏㅈㅏ"
    assert ko.divide_hangul("의견") == "ㅇㅡㅣㄱㅣㅓㄴ"
    assert ko.divide_hangul("얘기 예쁜 요리 유리") == "ㅇㅣㅐㄱㅣ ㅇㅣㅔㅃㅡㄴ ㅇㅣㅗㄹㅣ ㅇㅣㅜㄹㅣ"
    simple = set(KO_SYMBOLS) - {"停", "空"}
    assert set(ko.divide_hangul("왜 뭐 웨 위 쇄 괴")) - {" "} <= simple


def test_liaison_fix():
    assert ko.fix_liaison("ㅁㅜㄹㅡㄹ ㄹㅏ") == "ㅁㅜㄹㅡㄹ ㄴㅏ"
    assert ko.fix_liaison("ㅇㅡㄹ ㄹㅣ") == "ㅇㅡㄹ ㄴㅣ"
    assert ko.fix_liaison("ㅇㅡㄹ ㄱㅏ") == "ㅇㅡㄹ ㄱㅏ"
    assert ko.fix_liaison("ㄹㅡㄹ ㄹ") == "ㄹㅡㄹ ㄴ"
    assert ko.fix_liaison("ㄹㅡㄹ") == "ㄹㅡㄹ"


def test_phone_mapping():
    phones, word2ph = ko.g2p("네, 알겠습니다; 곧")
    assert word2ph is None
    assert "空" in phones and "停" in phones  # space, and ';' (not in the table)
    assert phones[-1] == "."  # a '.' is appended after a trailing jamo
    assert ko.g2p("뭐?")[0] == ["ㅁ", "ㅜ", "ㅓ", "?"]
    assert ko.g2p("와!!!")[0] == ["ㅇ", "ㅗ", "ㅏ", "!", "!", "!"]
    assert ko.g2p("아，아")[0][2] == ","  # full-width comma is mapped
    assert set(ko.g2p("😀 ＡＢ 가")[0]) <= set(SYMBOLS_V2)


def test_user_visible_normalisation_is_identity():
    assert ko.text_normalize("2024년 3월") == "2024년 3월"


_LAZY_AND_OFFLINE_CHILD = BLOCK_NETWORK + textwrap.dedent(
    """

    import subprocess
    def _no_subprocess(*args, **kwargs):
        raise AssertionError("a subprocess (pip install?) was started")
    subprocess.Popen = _no_subprocess

    import gpt_sovits.text.ko as ko
    assert "g2pk2" not in sys.modules, "importing the Korean module must not load g2pk2"
    phones, _ = ko.g2p(sys.argv[1])
    import nltk
    assert nltk.download.__name__ == "download", "nltk.download was not restored"
    print("".join(phones))
    """
)


@pytest.mark.slow
def test_lazy_and_runs_offline_without_nltk_data(tmp_path):
    empty = tmp_path / "nltk_data"
    empty.mkdir()
    env = {**os.environ, "NLTK_DATA": str(empty), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    text = "KTX를 타고 부산에 갔어요."
    proc = subprocess.run(
        [sys.executable, "-c", _LAZY_AND_OFFLINE_CHILD, text],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ㅋㅔㅇㅣㅌㅣㅇㅔㄱㅆㅡㄹㅡㄹ空ㅌㅏㄱㅗ空ㅂㅜㅅㅏㄴㅔ空ㄱㅏㅆㅓㅇㅣㅗ."
    assert "nltk_data" not in proc.stdout + proc.stderr  # nltk's downloader prints "[nltk_data] ..." when it runs


_ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list("가나다라마바사아자차카타파하한국어값닭흙의왜뭐 0123456789,.?!;:~…%$abcXYZ")),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(_ODD_TEXT)
def test_any_text_gives_table_phones(text):
    out = clean_text(text, "ko")
    assert set(out.phones) <= set(SYMBOLS_V2)
