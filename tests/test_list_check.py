"""`.list` checks: one row per problem that training would skip or get wrong, and the totals."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from gpt_sovits.asr.check import check_list
from gpt_sovits.cli import main as cli_main


def wav(path, seconds, sr=32000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.arange(int(seconds * sr)) / 5.0), sr)
    return path


def test_every_kind_of_problem_gets_a_row(tmp_path):
    a = wav(tmp_path / "a" / "clip.wav", 2.0)
    b = wav(tmp_path / "b" / "clip.wav", 3.0)  # same basename as a
    short = wav(tmp_path / "short.wav", 0.5)
    long_sovits = wav(tmp_path / "long40.wav", 40.0, sr=8000)
    long_all = wav(tmp_path / "long60.wav", 60.0, sr=8000)
    ok = wav(tmp_path / "ok.wav", 4.0)
    (tmp_path / "broken.wav").write_text("not audio")
    lines = [
        f"{a}|s|zh|你好。",                 # 1
        f"{b}|s|EN|Hello.",                 # 2 basename collision with 1
        f"{tmp_path / 'missing.wav'}|s|en|x",  # 3
        f"{tmp_path / 'broken.wav'}|s|en|y",   # 4
        f"{ok}|s|en|   ",                   # 5 empty text
        f"{ok}|s|DE|Hallo.",                # 6 unknown language
        f"{short}|s|ja|はい。",              # 7
        f"{long_sovits}|s|ko|long",         # 8 warning only
        f"{long_all}|s|yue|longer",         # 9
        f"{a}|s|zh|你好。",                 # 10 duplicate of 1
        "only|three|fields",                # 11
    ]
    lst = tmp_path / "x.list"
    lst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = check_list(lst)
    got = {(p.line_no, p.kind, p.level) for p in report.problems}
    assert got == {
        (2, "basename_collision", "error"), (3, "missing_audio", "error"), (4, "unreadable_audio", "error"),
        (5, "empty_text", "error"), (6, "unknown_language", "error"), (6, "basename_collision", "error"),
        (7, "too_short", "error"),
        (8, "too_long", "warning"), (9, "too_long", "error"), (10, "duplicate_line", "error"),
        (11, "bad_line", "error"),
    }
    assert not report.ok
    assert report.clips == 10
    expected_seconds = 2 + 3 + 4 + 4 + 0.5 + 40 + 60 + 2
    assert abs(report.total_seconds - expected_seconds) < 1e-3
    assert report.per_language == {"zh": 2, "en": 2, "DE": 1, "ja": 1, "ko": 1, "yue": 1}
    assert "10 clips" in report.totals_text()
    assert len(report.rows()) == len(report.problems)


def test_clean_list_passes_and_cli_exit_codes(tmp_path, capsys):
    clip = wav(tmp_path / "c" / "one.wav", 1.5)
    good = tmp_path / "good.list"
    good.write_text(f"{clip}|s|en|Fine.\n", encoding="utf-8")
    assert check_list(good).ok
    assert cli_main(["check-list", str(good)]) == 0
    assert "1 clips" in capsys.readouterr().out
    bad = tmp_path / "bad.list"
    bad.write_text("one.wav|s|xx|text\n", encoding="utf-8")
    # with an audio folder, the file is looked up by its basename there (the formatting step's rule)
    assert cli_main(["check-list", str(bad), "--audio-dir", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "bad.list:1: error: unknown_language" in out and "missing_audio" not in out
