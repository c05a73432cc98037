"""English frontend: parity with upstream's reference cases, the rules one by one, and offline operation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_sovits.text import en
from gpt_sovits.text.cleaner import clean_text
from gpt_sovits.text.en_normalize import text_normalize
from gpt_sovits.text.symbols import SYMBOLS_V2
from offline_child import BLOCK_NETWORK

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It is 7:45 am", "It is seven forty-five a.m. am"),
        ("at 13:00", "at one o'clock p.m."),
        ("the 1990s", "the nineteen ninety seconds"),
        ("dropped to -5 now", "dropped tonegative five now"),
        ("$2 million", "two dollars million"),
        ("$1.5", "one dollar and fifty cents"),
        ("£0.01", "one penny"),
        ("3/4 and 1/2 and 5/2 and 6/1", "three fourths and one half and five halves and six"),
        ("1st 22nd", "first twenty-second"),
        ("1. Go", "first, Go"),
        (
            "2,500 and 1501 and 2005 and 3000",
            "twenty-five hundred and fifteen oh one and two thousand five and three thousand",
        ),
        ("1987", "nineteen eighty-seven"),
        ("3.14", "three point one four"),
        ("2 + 3 = 5", "two plus three Equals five"),
        ("5km and 1m and 1.0m", "five kilometers and one meter and one point zero meters"),
        ("60 km/h", "sixty kmh"),
        ("25°C", "twenty-five degrees celsius"),
        ("50%", "fifty percent"),
        ("e.g. this", "for example this"),
        ("Wait... what?! no!!", "Wait. what? no!"),
        ('First: wash; "dry"', "First wash dry"),
        ("JavaScript PhD NASA", "Java Script Ph D N A S A"),
        ("Café naïve", "Cafe naive"),
        ("你好。", "."),
    ],
)
def test_normalisation_rules(text, expected):
    assert text_normalize(text) == expected


def test_normalisation_survives_huge_and_odd_input():
    assert text_normalize("1" * 5000).startswith("one one one")
    for text in ["$,5", "(5$", "1/0", "", "😀\x00", "£" * 50, "-" * 1000]:
        text_normalize(text)


def _phones(text: str, lexicon=None) -> list[str]:
    return en.g2p(text, lexicon)[0]


def test_dictionary_single_letters_and_capital_a():
    assert _phones("A") == ["EY1"]
    assert _phones("a") == ["AH0"]
    assert _phones("B") == ["B", "IY1"]
    assert _phones("hello") == ["HH", "AH0", "L", "OW1"]


def test_removed_abbreviations_and_hot_overrides():
    assert _phones("ChatGPT".lower()) == ["CH", "AE1", "T", "JH", "IY1", "P", "IY1", "T", "IY1"]
    # "os" is removed from the dictionary, so it is spelled as a short OOV word
    assert _phones("os") == ["OW1", "EH1", "S"]


def test_short_oov_words_are_spelled():
    assert _phones("zxq") == ["Z", "IY1", "EH1", "K", "S", "K", "Y", "UW1"]


def test_possessive_rule_on_oov_bases():
    g = en.EnglishG2P()
    sibilant, voiceless, voiced = g.query_word("zzzwitch"), g.query_word("kropmack"), g.query_word("zorbdoom")
    assert (sibilant[-1], voiceless[-1], voiced[-1]) == ("CH", "K", "M")
    assert g.query_word("zzzwitch's") == sibilant + ["AH0", "Z"]
    assert g.query_word("kropmack's") == voiceless + ["S"]
    assert g.query_word("zorbdoom's") == voiced + ["Z"]
    assert _phones("James's") == ["JH", "EY1", "M", "Z", "IH0", "Z"]  # in the dictionary itself


def test_apostrophe_token_becomes_dash_and_unknowns_are_dropped():
    assert _phones("dogs' beds") == ["D", "AA1", "G", "Z", "-", "B", "EH1", "D", "Z"]
    assert _phones("... , ! ?") == [",", "!", "?"]  # "..." is not a symbol: dropped like upstream


def test_compound_words_use_word_segmentation():
    # not in the dictionary, split into known words
    assert _phones("testexample") == ["T", "EH1", "S", "T", "IH0", "G", "Z", "AE1", "M", "P", "AH0", "L"]


def test_neural_predictor_for_unknown_words():
    phones = _phones("zugzwang")
    assert phones == ["Z", "AH1", "G", "Z", "W", "AA2", "B"]  # g2p_en's model output in the reference data
    assert set(phones) <= set(SYMBOLS_V2)


def test_homographs_use_a_context_tag():
    g = en.EnglishG2P()
    verb, other, tag = g.homographs["record"]
    assert tag == "V"
    assert _phones("the record") == ["DH", "AH0", *other]  # no verb cue → "NN" → the non-verb reading
    assert _phones("to record") == ["T", "UW1", *verb]
    assert _phones("they record") == ["DH", "EY1", *verb]
    # upstream's override of "read": VBP (and its prefixes) → R IY1 D, any other tag → R EH1 D
    assert _phones("I read")[-3:] == ["R", "IY1", "D"]
    assert _phones("will read")[-3:] == ["R", "IY1", "D"]
    assert _phones("she read")[-3:] == ["R", "EH1", "D"]
    assert _phones("read") == ["R", "EH1", "D"]
    assert en.homograph_tag(None) == en.HOMOGRAPH_TAG == "NN"
    assert en.homograph_reading((["X"], ["Y"], "NNS"), "NN") == ["X"]  # the tag is a prefix of the entry's tag
    assert en.homograph_reading((["X"], ["Y"], "VB"), "NN") == ["Y"]


class _Lexicon:
    def __init__(self, entries):
        self.entries = entries
        self.calls = []

    def lookup(self, language, word):
        self.calls.append((language, word))
        return self.entries.get(word.lower())


def test_user_lexicon_is_consulted_first():
    lexicon = _Lexicon({"gpt": ["JH", "IY1", "P", "IY1", "T", "IY1"], "hello": ["HH", "EH1", "L", "OW0"]})
    assert _phones("hello GPT", lexicon) == ["HH", "EH1", "L", "OW0", "JH", "IY1", "P", "IY1", "T", "IY1"]
    assert ("en", "GPT") in lexicon.calls


def test_cleaner_prepends_comma_for_short_output():
    out = clean_text("Hi.", "en")
    assert out.phones == [",", "HH", "AY1", "."]
    assert out.word2ph is None


def test_every_phone_is_a_v2_symbol():
    table = set(SYMBOLS_V2)
    text = "Grumbleworth's 3.5% of $4 on 1/2 the zzqx-thing, isn't it? Xiaoming's Reykjavik!"
    phones = en.g2p(en.text_normalize(text))[0]
    assert phones and set(phones) <= table


_OFFLINE_CHILD = BLOCK_NETWORK + textwrap.dedent(
    """

    import nltk
    def _forbidden_download(*args, **kwargs):
        raise AssertionError("nltk.download was called")
    nltk.download = _forbidden_download

    from gpt_sovits.text.cleaner import clean_text
    out = clean_text(sys.argv[1], "en")
    assert "g2p_en" not in sys.modules, "g2p_en must not be imported (its import downloads NLTK data)"
    print(" ".join(out.phones))
    """
)


@pytest.mark.slow
def test_runs_offline_without_nltk_data(tmp_path):
    empty = tmp_path / "nltk_data"
    empty.mkdir()
    env = {**os.environ, "NLTK_DATA": str(empty), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    text = "Grumbleworth snorfled twice at 7:45 am."
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_CHILD, text],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == clean_text(text, "en").phones


_ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list("0123456789$£%.,:;/-+=×÷ ()'\"’!?…abcXYZ°CFkmhs")),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(_ODD_TEXT)
def test_any_text_gives_table_phones(text):
    out = clean_text(text, "en")
    assert set(out.phones) <= set(SYMBOLS_V2)
    assert len(out.phones) >= 1  # the cleaner pads short output with ","


def test_lexicon_words_survive_the_capital_split():
    lexicon = _Lexicon({"gpt": ["JH", "IY1", "P", "IY1", "T", "IY1"], "mcdonald": ["M", "AH0", "K", "D", "AA1", "N"]})
    assert text_normalize("GPT and McDonald's PhD") == "G P T and Mc Donald's Ph D"
    norm = en.text_normalize("GPT and McDonald's PhD", lexicon)
    assert norm == "GPT and McDonald's Ph D"
    phones = en.g2p(en.text_normalize("GPT's McDonald", lexicon), lexicon)[0]
    assert phones[:7] == ["JH", "IY1", "P", "IY1", "T", "IY1", "Z"]  # possessive after a vowel
    assert phones[7:] == ["M", "AH0", "K", "D", "AA1", "N"]
    assert en.g2p(en.text_normalize("McDonald"))[0][:2] == ["M", "IH0"]  # without the lexicon: "Mc Donald"
