"""User lexicon files: where they live, how they merge, and how 1A formatting uses them (only affected lines are
re-formatted)."""

from __future__ import annotations

import pytest

from gpt_sovits.dataset import FormatError, FormatOptions, format_text
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon_files import (
    fingerprint,
    lexicon_files,
    load_lexicon,
    preview_phones,
    read_rows,
    relevant_entries,
    rows_to_lexicon,
    write_rows,
)

GPT = "G IH1 P T"  # not what the dictionary says ("JH IY1 P IY1 T IY1")
HELLO = "HH EH1 L OW0"


def test_rows_round_trip_and_bad_rows_are_refused(tmp_path):
    path = tmp_path / "lexicon.tsv"
    assert read_rows(path) == []
    assert write_rows(path, [["en", "GPT", f" {GPT} "], ["", "", ""], ["zh", "重庆", "chong2 qing4"]]) == 2
    assert read_rows(path) == [["en", "GPT", GPT], ["zh", "重庆", "chong2 qing4"]]
    before = path.read_bytes()
    with pytest.raises(TextFrontendError, match="row 2: .*not in the symbol table"):
        write_rows(path, [["en", "GPT", GPT], ["en", "bad", "XX1"]])
    with pytest.raises(TextFrontendError, match="row 1: unknown language"):
        rows_to_lexicon([["fr", "bonjour", "B"]])
    assert path.read_bytes() == before  # nothing written when a row is bad


def test_experiment_lexicon_overrides_the_global_one(tmp_path):
    paths = ProjectPaths(tmp_path)
    assert lexicon_files(paths, "me") == [] and load_lexicon([]) is None
    write_rows(paths.lexicon, [["en", "GPT", GPT], ["en", "hello", HELLO]])
    write_rows(paths.experiment("me").lexicon, [["en", "gpt", "G IY1"]])
    files = lexicon_files(paths, "me")
    assert files == [paths.lexicon, paths.experiment("me").lexicon]
    merged = load_lexicon(files)
    assert merged.lookup("en", "GPT") == ["G", "IY1"] and merged.lookup("en", "Hello") == HELLO.split()
    assert lexicon_files(paths, None) == [paths.lexicon]
    assert fingerprint(merged) != fingerprint(load_lexicon([paths.lexicon])) != ""


def test_relevant_entries_are_those_in_the_text_or_its_normal_form():
    lexicon = rows_to_lexicon([["en", "GPT", GPT], ["en", "seven", "S EH1 V N"], ["zh", "重庆", "chong2 qing4"]])
    assert relevant_entries(lexicon, "en", ["I like gpt."]) == [["gpt", GPT.split()]]
    assert relevant_entries(lexicon, "en", ["At 7.", "At seven."]) == [["seven", ["S", "EH1", "V", "N"]]]
    assert relevant_entries(lexicon, "en", ["Nothing here."]) == []
    assert relevant_entries(lexicon, "zh", ["我去重庆。"])[0][0] == "重庆"
    assert relevant_entries(lexicon, "ja", ["GPT"]) == []  # the ja G2P has no lexicon
    assert relevant_entries(None, "en", ["GPT"]) == []


def test_preview_shows_phones_with_and_without_the_lexicon():
    lexicon = rows_to_lexicon([["en", "GPT", GPT]])
    assert preview_phones("I use GPT.", "en", None) == "AY1 Y UW1 Z JH IY1 P IY1 T IY1 ."
    assert preview_phones("I use GPT.", "en", lexicon) == f"AY1 Y UW1 Z {GPT} ."
    # one part per language segment
    assert preview_phones("こんにちは、GPT。", "ja", lexicon).endswith(f"| {GPT} .")


def _format(root, list_path):
    return format_text(FormatOptions(list_path=list_path, exp_name="me", root=root))


def _name2text(root) -> dict[str, str]:
    lines = (root / "logs" / "me" / "2-name2text.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[1] for line in lines}


def test_formatting_uses_the_lexicon_and_redoes_only_affected_lines(tmp_path):
    paths = ProjectPaths(tmp_path)
    lst = tmp_path / "me.list"
    lst.write_text("a.wav|me|en|I trained a GPT model.\nb.wav|me|en|Hello there.\nc.wav|me|en|Good night.\n",
                   encoding="utf-8")
    first = _format(tmp_path, lst)
    assert first.step("text").computed == ["a.wav", "b.wav", "c.wav"]
    plain = _name2text(tmp_path)
    assert GPT not in plain["a.wav"]

    write_rows(paths.experiment("me").lexicon, [["en", "GPT", GPT]])
    second = _format(tmp_path, lst)
    assert second.step("text").computed == ["a.wav"] and second.step("text").reused == 2
    lexical = _name2text(tmp_path)
    assert GPT in lexical["a.wav"] and lexical["b.wav"] == plain["b.wav"]

    write_rows(paths.lexicon, [["en", "hello", HELLO]])  # the global lexicon: only the "Hello" line changes
    third = _format(tmp_path, lst)
    assert third.step("text").computed == ["b.wav"]
    assert HELLO in _name2text(tmp_path)["b.wav"]

    write_rows(paths.lexicon, [["en", "hello", HELLO], ["en", "zebra", "Z IY1 B R AH0"]])  # no line has "zebra"
    assert _format(tmp_path, lst).step("text").computed == []

    paths.experiment("me").lexicon.unlink()
    fourth = _format(tmp_path, lst)
    assert fourth.step("text").computed == ["a.wav"]
    assert _name2text(tmp_path)["a.wav"] == plain["a.wav"]


def test_a_broken_lexicon_stops_formatting_with_its_line(tmp_path):
    paths = ProjectPaths(tmp_path)
    lst = tmp_path / "me.list"
    lst.write_text("a.wav|me|en|Hello.\n", encoding="utf-8")
    paths.lexicon.write_text("en\tGPT\tNOT_A_PHONE\n", encoding="utf-8")
    with pytest.raises(FormatError, match="lexicon.tsv:1"):
        _format(tmp_path, lst)
