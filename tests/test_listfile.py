"""The `.list` format: upstream's four fields, accepted language spellings, refusals with line numbers."""

from __future__ import annotations

import os

import pytest

from gpt_sovits.asr.listfile import (
    ListEntry,
    ListFormatError,
    normalize_lang,
    read_list,
    read_list_lenient,
    resolve_audio_path,
    write_list,
)


def test_round_trip_and_upstream_example(tmp_path):
    path = tmp_path / "a.list"
    path.write_text("D:\\GPT-SoVITS\\xxx/xxx.wav|xxx|en|I like playing Genshin.\n\n"
                    "/data/b.wav|spk| ZH |  你好。  \n", encoding="utf-8")
    entries = read_list(path)
    assert entries == [
        ListEntry("D:\\GPT-SoVITS\\xxx/xxx.wav", "xxx", "en", "I like playing Genshin."),
        ListEntry("/data/b.wav", "spk", "ZH", "你好。"),
    ]
    out = tmp_path / "b.list"
    write_list(out, entries)
    assert read_list(out) == entries
    assert out.read_text(encoding="utf-8").endswith("你好。\n")


def test_bad_lines_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bad.list"
    path.write_text("a.wav|s|en|fine\nb.wav|s|en|a | in the text\nc.wav|s|en\n", encoding="utf-8")
    with pytest.raises(ListFormatError, match=r"bad.list:2: .*'\|' inside the text"):
        read_list(path)
    good, bad = read_list_lenient(path)
    assert [e.path for e in good] == ["a.wav"]
    assert [b.line_no for b in bad] == [2, 3]


def test_writing_refuses_pipes_and_line_breaks_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.list"
    write_list(path, [ListEntry("a.wav", "s", "en", "one")])
    before = path.read_bytes()
    with pytest.raises(ListFormatError, match=r"contains '\|'"):
        write_list(path, [ListEntry("a.wav", "s", "en", "one"), ListEntry("b.wav", "s", "en", "x|y")])
    with pytest.raises(ListFormatError, match="line break"):
        write_list(path, [ListEntry("a.wav", "s", "en", "two\nlines")])
    assert path.read_bytes() == before
    assert [p for p in os.listdir(tmp_path) if p != "x.list"] == []  # no temp files left behind


@pytest.mark.parametrize("code,expected", [
    ("ZH", "zh"), ("zh", "zh"), ("JP", "ja"), ("jp", "ja"), ("JA", "ja"), ("ja", "ja"), ("EN", "en"), ("En", "en"),
    ("KO", "ko"), ("Ko", "ko"), ("yue", "yue"), ("YUE", "yue"), ("Yue", "yue"),
    ("AUTO", None), ("DE", None), ("eN", None), ("", None),
])
def test_normalize_lang_accepts_upstream_spellings_only(code, expected):
    assert normalize_lang(code) == expected


def test_resolve_audio_path(tmp_path):
    assert resolve_audio_path("C:\\data\\x.wav", None, tmp_path) == tmp_path / "x.wav"
    assert resolve_audio_path("clips/x.wav", tmp_path / "a.list") == tmp_path / "clips" / "x.wav"
    assert resolve_audio_path(str(tmp_path / "y.wav")) == tmp_path / "y.wav"


def test_written_files_get_the_umask_mode_or_keep_their_own(tmp_path):
    import os

    from gpt_sovits.audio.io import atomic_write_bytes

    mask = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "new.list", b"x")
        assert (tmp_path / "new.list").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
        os.chmod(tmp_path / "new.list", 0o664)
        atomic_write_bytes(tmp_path / "new.list", b"y")
        assert (tmp_path / "new.list").stat().st_mode & 0o777 == 0o664  # a replaced file keeps its mode
    finally:
        os.umask(mask)
