"""A corpus of bad data-side inputs (audio, lists, names, paths) run through the core functions and a few CLI runs.

For each one: the outcome is either success with valid output or a clear message that names the file (and the line,
for lists); nothing raises anything but the documented errors; and no file that existed before is changed.
The 3 h recording is checked through `check-list` here; slicing it is measured in bench/bench_slicer_memory.py.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.asr.check import check_list
from gpt_sovits.asr.editor import EditorError, LabelEditor
from gpt_sovits.asr.whisper import unlistable_reason
from gpt_sovits.audio.slicer import SliceConflict, SliceOptions, slice_path
from gpt_sovits.cli import main as cli_main
from gpt_sovits.dataset.items import FormatError, check_collisions, read_items
from gpt_sovits.paths import PathError, resolve_inside

SR = 32000
ONE_WORKER = SliceOptions(workers=1)


# ---- helpers --------------------------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_unchanged(before: dict[str, str], folder: Path, new_under: str | None = None) -> None:
    after = snapshot(folder)
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert not changed, f"existing files changed or removed: {changed}"
    added = [k for k in after if k not in before and not (new_under and k.startswith(new_under + os.sep))]
    assert not added, f"unexpected new files: {added}"


def speech_like(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > -0.2)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


def wav(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr, subtype=subtype)
    return path


# ---- audio ----------------------------------------------------------------------------------------------------

def _empty(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.wav").write_bytes(b"")
    return d / "empty.wav"


def _text(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "notes.wav").write_text("not audio at all\n" * 50)
    return d / "notes.wav"


def _truncated(d: Path) -> Path:
    path = wav(d / "truncated.wav", speech_like(3.0))
    path.write_bytes(path.read_bytes()[:30])  # the header cut in the middle
    return path


AUDIO_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {  # builder, "ok" or a part of the error message
    "empty": (_empty, "empty (0 bytes)"),
    "not_audio": (_text, "not a readable audio file"),
    "truncated_header": (_truncated, "not a readable audio file"),
    "one_sample": (lambda d: wav(d / "one.wav", np.array([0.5])), "too short"),
    "nan": (lambda d: wav(d / "nan.wav", np.full(SR, np.nan), subtype="FLOAT"), "NaN"),
    "inf": (lambda d: wav(d / "inf.wav", np.full(SR, np.inf), subtype="FLOAT"), "infinite"),
    "eight_channels": (lambda d: wav(d / "eight.wav", speech_like(6.0, channels=8)), "ok"),
    "96_khz": (lambda d: wav(d / "hi.wav", speech_like(6.0, sr=96000), sr=96000), "ok"),
    "all_silence": (lambda d: wav(d / "quiet.wav", np.zeros(SR * 6)), "nothing louder than -34 dB"),
}


@pytest.mark.parametrize("case", list(AUDIO_CASES))
def test_bad_audio_through_the_slicer_and_check_list(case, tmp_path):
    build, outcome = AUDIO_CASES[case]
    src = build(tmp_path / "raw")
    lst = tmp_path / "one.list"
    lst.write_text(f"{src}|spk|en|some text\n", encoding="utf-8")
    before = snapshot(tmp_path)

    report = slice_path(src, tmp_path / "out", ONE_WORKER)
    if outcome == "ok":
        assert report.ok and report.outputs
        for clip in report.outputs:
            info = sf.info(clip)
            assert (info.samplerate, info.channels) == (SR, 1)
    else:
        assert [e.path.name for e in report.errors] == [src.name]
        assert outcome in report.errors[0].message and src.name in report.errors[0].message
        assert src.name in report.summary()
    problems = check_list(lst).problems
    if outcome != "ok" and case != "all_silence":  # silence is valid audio to check-list
        assert [(p.line_no, p.level) for p in problems] and all(p.line_no == 1 for p in problems)
        assert any(src.name in p.message or src.name in p.path for p in problems)
    assert_unchanged(before, tmp_path, new_under="out")


def test_three_hours_of_silence_is_found_by_check_list_with_its_line(tmp_path, capsys):
    src = wav(tmp_path / "silence3h.wav", np.zeros(3 * 3600 * 1000, np.int16), sr=1000)  # 21.6 MB
    lst = tmp_path / "long.list"
    lst.write_text(f"{src}|spk|en|nothing\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert cli_main(["check-list", str(lst), "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{lst}:1: error: too_long: 10800.0 s" in out
    assert_unchanged(before, tmp_path)


# ---- lists ----------------------------------------------------------------------------------------------------

GOOD = "good.wav|spk|en|a good line"

LIST_CASES: dict[str, tuple[str | bytes, str | None, int | None]] = {  # content, problem kind, its line
    "missing_fields": (f"{GOOD}\nbad.wav|spk|en\n", "bad_line", 2),
    "extra_pipe": (f"{GOOD}\nbad.wav|spk|en|left|right\n", "bad_line", 2),
    "empty_path": (f"{GOOD}\n|spk|en|text\n", "bad_line", 2),
    "bom": ("\ufeff" + GOOD + "\n", None, None),
    "crlf": (f"{GOOD}\r\nsecond.wav|spk|en|second line\r\n", None, None),
    "unknown_language": (f"{GOOD}\nsecond.wav|spk|DE|Hallo\n", "unknown_language", 2),
    "missing_audio": (f"{GOOD}\nnowhere.wav|spk|en|text\n", "missing_audio", 2),
    "duplicate_names": (f"{GOOD}\nsub/good.wav|spk|en|other text\n", "basename_collision", 2),
    "duplicate_line": (f"{GOOD}\n{GOOD}\n", "duplicate_line", 2),
    "empty_text": (f"{GOOD}\nsecond.wav|spk|en|   \n", "empty_text", 2),
    "empty_file": ("", "no_usable_lines", 0),
    "blank_lines_only": ("\n   \n\n", "no_usable_lines", 0),
    "not_utf8": ("good.wav|spk|en|caf\xe9\n".encode("latin-1"), "not UTF-8", None),
}


@pytest.mark.parametrize("case", list(LIST_CASES))
def test_bad_lists_are_reported_by_line_and_never_rewritten(case, tmp_path):
    content, kind, line = LIST_CASES[case]
    wav(tmp_path / "good.wav", speech_like(2.0))
    wav(tmp_path / "second.wav", speech_like(2.0))
    wav(tmp_path / "sub" / "good.wav", speech_like(2.0))
    lst = tmp_path / "case.list"
    lst.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = snapshot(tmp_path)

    if kind == "not UTF-8":
        with pytest.raises(FormatError, match=rf"{re.escape(str(lst))} is not UTF-8"):
            check_list(lst)
        with pytest.raises(EditorError):
            LabelEditor(lst)
        assert_unchanged(before, tmp_path)
        return
    report = check_list(lst, root=tmp_path)
    found = [(p.kind, p.line_no) for p in report.problems]
    if kind is None:
        assert found == [] and report.ok
        entries = LabelEditor(lst).entries
        assert [e.path for e in entries][0] == "good.wav" and not any("\r" in e.text for e in entries)
    else:
        assert (kind, line) in found and not report.ok
        shown = [p for p in report.problems if p.kind == kind][0]
        assert shown.message
    # formatting reads the list the same way: what check-list calls an error, formatting refuses or skips
    items, bad = read_items(lst, None, tmp_path)
    if kind in ("bad_line",):
        assert [b.line_no for b in bad] == [line] and str(lst) in bad[0].reason
    if kind in ("basename_collision", "duplicate_line"):
        with pytest.raises(FormatError, match="good.wav"):
            check_collisions(items)
    if kind == "bad_line":
        with pytest.raises(EditorError, match=rf"case.list:{line}"):
            LabelEditor(lst)
    assert_unchanged(before, tmp_path)


def test_ten_thousand_lines_and_capped_messages(tmp_path, capsys):
    wav(tmp_path / "same.wav", speech_like(2.0))
    lst = tmp_path / "big.list"
    lst.write_text("".join(f"same.wav|spk|en|line {i}\n" for i in range(10_000)), encoding="utf-8")
    before = snapshot(tmp_path)
    report = check_list(lst, read_audio_files=False)
    assert report.clips == 10_000 and len(report.problems) == 9_999
    items, _ = read_items(lst)
    with pytest.raises(FormatError) as info:
        check_collisions(items)
    assert len(str(info.value)) < 2_000 and "9995 more lines" in str(info.value)  # capped, with a count
    assert cli_main(["format", "--root", str(tmp_path), "--list", str(lst), "--exp", "big"]) == 2
    assert len(capsys.readouterr().err) < 2_000
    ed = LabelEditor(lst)
    rows, pages = ed.page(999, 10)
    assert pages == 1_000 and [r.text for r in rows][-1] == "line 9999"
    assert_unchanged(before, tmp_path)


# ---- names ----------------------------------------------------------------------------------------------------

NAME_CASES = {  # recording name → the start of its clips' names
    "spaces": ("my take 1.wav", "my take 1.wav_"),
    "unicode": ("録音 テスト.wav", "録音 テスト.wav_"),
    "pipe": ("a|b.wav", "a_b.wav_"),
    "bracket": ("take[1].wav", "take[1].wav_"),
    "control_character": ("a\tb.wav", "a_b.wav_"),
}


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_odd_names_give_clips_a_list_can_hold(case, tmp_path):
    name, prefix = NAME_CASES[case]
    src = wav(tmp_path / "raw" / name, np.concatenate([speech_like(5.0), np.zeros(SR), speech_like(5.0)]))
    before = snapshot(tmp_path)
    report = slice_path(src, tmp_path / "out", ONE_WORKER)
    assert report.ok and report.outputs and all(p.name.startswith(prefix) for p in report.outputs)
    assert all(unlistable_reason(str(p)) is None for p in report.outputs)
    with pytest.raises(SliceConflict, match=re.escape(name)):  # found again despite glob/regex characters
        slice_path(src, tmp_path / "out", ONE_WORKER)
    assert_unchanged(before, tmp_path, new_under="out")


# ---- paths ----------------------------------------------------------------------------------------------------

def test_paths_relative_outside_and_escaping(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "datasets" / "me").mkdir(parents=True)
    (tmp_path / "secret.list").write_text(GOOD + "\n")
    os.symlink(tmp_path / "secret.list", root / "datasets" / "me" / "link.list")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert resolve_inside("datasets/me", [root], "input") == (root / "datasets" / "me").resolve()  # relative
    for given in ("/etc/passwd", "../secret.list", str(tmp_path / "secret.list"), "datasets/me/link.list"):
        with pytest.raises(PathError, match="outside the allowed folders") as info:
            resolve_inside(given, [root], "list file")
        assert repr(given) in str(info.value) or given in str(info.value)
    assert_unchanged(before, tmp_path)


def test_a_folder_where_a_file_belongs(tmp_path, capsys):
    (tmp_path / "a.list").mkdir()
    (tmp_path / "clipdir.wav").mkdir()
    lst = tmp_path / "dir.list"
    lst.write_text(f"{tmp_path / 'clipdir.wav'}|spk|en|text\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert cli_main(["check-list", str(tmp_path / "a.list")]) == 2
    assert "a.list" in capsys.readouterr().err
    with pytest.raises(EditorError, match="a.list"):
        LabelEditor(tmp_path / "a.list")
    assert [(p.kind, p.line_no) for p in check_list(lst).problems] == [("missing_audio", 1)]
    assert_unchanged(before, tmp_path)


def test_cli_on_a_folder_of_bad_recordings_names_each_one(tmp_path, capsys):
    raw = tmp_path / "raw"
    for build, _ in (AUDIO_CASES["empty"], AUDIO_CASES["not_audio"], AUDIO_CASES["nan"]):
        build(raw)
    wav(raw / "fine.wav", np.concatenate([speech_like(5.0), np.zeros(SR), speech_like(5.0)]))
    before = snapshot(tmp_path)
    assert cli_main(["slice", str(raw), str(tmp_path / "out"), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "1/4 files sliced" in out
    for name in ("empty.wav", "notes.wav", "nan.wav"):
        assert re.search(rf"FAILED .*{re.escape(name)}", out)
    assert_unchanged(before, tmp_path, new_under="out")
