"""English dictionary lookups in upstream's order: CMUdict 0.7b first pronunciations, hot fixes, absent words,
the names table for title-case words only, and the package data that carries those tables."""

from __future__ import annotations

from importlib import resources

import pytest

from gpt_sovits.text import en
from gpt_sovits.text.en_dict import (
    HOT_OVERRIDES,
    EnglishDictionary,
    cmudict_first_pronunciations,
    parse_cmudict,
    parse_table,
    parse_word_list,
    read_data,
    upstream_word_table,
)


@pytest.fixture(scope="module")
def g2p() -> en.EnglishG2P:
    return en.default_g2p()


@pytest.fixture(scope="module")
def cmudict_113() -> dict[str, str]:
    return cmudict_first_pronunciations()


def test_package_data_tables_and_licence_notices_are_shipped():
    folder = resources.files("gpt_sovits.text").joinpath("en_dict_data")
    assert "Carnegie Mellon University" in folder.joinpath("LICENSE-CMUdict.txt").read_text(encoding="utf-8")
    assert "MIT License" in folder.joinpath("LICENSE-names.txt").read_text(encoding="utf-8")
    assert len(parse_table(read_data("word_overrides.tsv"))) == 1522
    assert len(parse_word_list(read_data("absent_words.txt"))) == 124
    assert len(parse_table(read_data("names.tsv"))) == 19929


def test_cmudict_parser_keeps_the_first_pronunciation_only():
    text = "zero Z IH1 R OW0\nzero(2) Z IY1 R OW0\naalborg AO1 L B AO0 R G # place, danish\n"
    assert parse_cmudict(text) == {"zero": "Z IH1 R OW0", "aalborg": "AO1 L B AO0 R G"}


def test_layers_apply_in_upstream_order():
    base = {"zero": "Z IH1 R OW0", "json": "JH EY1 S AA0 N", "os": "AA1 S", "aalborg": "AO1 L B AO0 R G"}
    overrides = {"zero": "Z IY1 R OW0", "json": "X", "hmm": "HH AH0 M"}
    table = upstream_word_table(base, overrides, ["aalborg"])
    assert table == {"zero": "Z IY1 R OW0", "json": HOT_OVERRIDES["json"], "hmm": "HH AH0 M",
                     "conda": HOT_OVERRIDES["conda"], "chatgpt": HOT_OVERRIDES["chatgpt"]}


@pytest.mark.parametrize(
    "word, upstream",
    [
        ("zero", "Z IY1 R OW0"),         # 0.7b's first pronunciation (1.1.3 lists Z IH1 R OW0 first)
        ("hmm", "HH AH0 M"),             # 1.1.3: HH M
        ("alice", "AE1 L IH0 S"),        # 1.1.3: AE1 L AH0 S
    ],
)
def test_dictionary_uses_the_07b_first_pronunciation(g2p, cmudict_113, word, upstream):
    assert cmudict_113[word] != upstream  # the layer matters for this word
    assert g2p.query_word(word) == upstream.split()
    assert en.g2p(word.capitalize())[0] == upstream.split()


def test_possessive_headwords_come_from_the_dictionary(g2p):
    assert g2p.query_word("boss's") == ["B", "AO1", "S", "IH0", "Z"]


@pytest.mark.parametrize("word", sorted(HOT_OVERRIDES))
def test_hot_fixes_override_both_dictionaries(g2p, word):
    assert g2p.query_word(word) == HOT_OVERRIDES[word].split()
    assert parse_table(read_data("word_overrides.tsv"))[word] == HOT_OVERRIDES[word]


def test_upstreams_deleted_abbreviations_are_spelled(g2p, cmudict_113):
    assert "os" in cmudict_113 and "os" not in g2p.cmu
    assert en.g2p("os")[0] == ["OW1", "EH1", "S"]


def test_title_case_name_found_only_in_the_names_table(g2p):
    names = EnglishDictionary().names
    assert "aarav" in names and "aarav" not in g2p.cmu
    assert g2p.query_word("Aarav") == names["aarav"].split() == ["AA1", "R", "AA0", "V"]
    # the same word not title-case skips the names table and goes on to compound splitting ("aa" + "rav")
    for written in ("aarav", "AARAV"):
        assert g2p.query_word(written) != names["aarav"].split()
        assert g2p.query_word(written) == [ph for part in g2p.segmenter.segment("aarav") for ph in g2p.query_word(part)]


def test_dictionary_words_win_over_names(g2p):
    # the names step comes after the dictionary step: a title-case dictionary word keeps its dictionary reading
    assert g2p.cmu.word("oliver") is not None
    assert g2p.query_word("Oliver") == g2p.cmu.word("oliver")


def test_absent_word_falls_through_to_prediction(g2p, cmudict_113):
    assert "gazebo" in parse_word_list(read_data("absent_words.txt"))
    assert "gazebo" in cmudict_113 and "gazebo" not in g2p.cmu
    assert g2p.segmenter.segment("gazebo") == ["gazebo"]
    assert g2p.query_word("gazebo") == g2p.predictor.predict("gazebo")
    assert en.g2p("gazebo")[0] == ["G", "AH0", "Z", "IY1", "B", "OW0"]
