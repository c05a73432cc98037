"""Find what training would silently skip or get wrong in a `.list`: one row per problem, plus totals.

Limits come from upstream's trainers: SoVITS keeps 0.6 s < d < 54 s but its bucket sampler drops clips outside
(0.64 s, 38 s]; the GPT trainer keeps clips up to 54 s. Features are keyed by the wav basename, so two entries with
the same basename overwrite each other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from gpt_sovits.asr.listfile import normalize_lang, read_list_lenient, resolve_audio_path
from gpt_sovits.audio.io import AudioError, read_audio

MIN_SECONDS = 0.6
MAX_SECONDS_SOVITS = 38.0
MAX_SECONDS_GPT = 54.0


@dataclass(frozen=True)
class Problem:
    """One finding; `line_no` is 1-based in the `.list` file."""

    line_no: int
    path: str
    kind: str  # bad_line missing_audio unreadable_audio empty_text unknown_language too_short too_long
    #            basename_collision duplicate_line
    message: str
    level: str = "error"  # error: training skips or breaks on it; warning: one trainer skips it


@dataclass
class ListCheckReport:
    list_path: Path
    problems: list[Problem] = field(default_factory=list)
    clips: int = 0
    total_seconds: float = 0.0
    per_language: dict[str, int] = field(default_factory=dict)
    seconds_per_language: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)

    def rows(self) -> list[list[object]]:
        """Table rows for a UI: line, level, kind, path, message."""
        return [[p.line_no, p.level, p.kind, p.path, p.message] for p in self.problems]

    def totals_text(self) -> str:
        langs = ", ".join(f"{k}: {v} ({self.seconds_per_language.get(k, 0.0) / 60:.1f} min)"
                          for k, v in sorted(self.per_language.items()))
        n_err = sum(p.level == "error" for p in self.problems)
        n_warn = len(self.problems) - n_err
        return (f"{self.clips} clips, {self.total_seconds / 60:.1f} min in total ({langs or 'no languages'}); "
                f"{n_err} errors, {n_warn} warnings.")


def audio_duration(path: Path) -> float:
    """Seconds of audio; reads only the header where soundfile can, decodes otherwise (mp3, m4a...)."""
    if not path.is_file():
        raise FileNotFoundError(str(path))
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError):
        pass
    data, sr = read_audio(path)
    return data.shape[0] / sr


def check_list(list_path: str | Path, audio_dir: str | Path | None = None, read_audio_files: bool = True) -> ListCheckReport:
    """Check every line of a `.list`; `audio_dir` as in the formatting step (audio = audio_dir/<basename>)."""
    list_path = Path(list_path)
    report = ListCheckReport(list_path=list_path)
    entries_ok, bad_lines = read_list_lenient(list_path)
    for bad in bad_lines:
        report.problems.append(Problem(bad.line_no, bad.line.split("|", 1)[0], "bad_line", bad.message))

    # line numbers of the good entries, in file order (blank and bad lines skipped)
    good_line_nos = []
    lines = list_path.read_text(encoding="utf-8-sig").splitlines()
    bad_nos = {b.line_no for b in bad_lines}
    for i, line in enumerate(lines, start=1):
        if line.strip() and i not in bad_nos:
            good_line_nos.append(i)

    seen_lines: dict[tuple[str, str, str, str], int] = {}
    by_basename: dict[str, list[tuple[int, str]]] = defaultdict(list)
    per_lang: Counter[str] = Counter()
    secs_lang: dict[str, float] = defaultdict(float)
    for line_no, entry in zip(good_line_nos, entries_ok):
        report.clips += 1
        key = (entry.path, entry.speaker, entry.lang, entry.text)
        if key in seen_lines:
            report.problems.append(Problem(line_no, entry.path, "duplicate_line",
                                           f"Same line as line {seen_lines[key]}; it would be trained twice."))
        else:
            seen_lines[key] = line_no
        audio = resolve_audio_path(entry.path, list_path, audio_dir)
        by_basename[audio.name].append((line_no, entry.path))
        lang = normalize_lang(entry.lang)
        if lang is None:
            report.problems.append(Problem(line_no, entry.path, "unknown_language",
                                           f"Language {entry.lang!r} is not one training accepts (zh, en, ja, ko, "
                                           "yue, or upstream's spellings ZH JP JA EN KO YUE); the line is skipped."))
        if not entry.text.strip():
            report.problems.append(Problem(line_no, entry.path, "empty_text", "The text is empty."))
        if not read_audio_files:
            continue
        try:
            seconds = audio_duration(audio)
        except FileNotFoundError:
            report.problems.append(Problem(line_no, entry.path, "missing_audio", f"Audio file not found: {audio}"))
            continue
        except (AudioError, OSError) as e:
            report.problems.append(Problem(line_no, entry.path, "unreadable_audio", f"Cannot read the audio: {e}"))
            continue
        report.total_seconds += seconds
        tag = lang or entry.lang
        per_lang[tag] += 1
        secs_lang[tag] += seconds
        if seconds <= MIN_SECONDS:
            report.problems.append(Problem(line_no, entry.path, "too_short",
                                           f"{seconds:.2f} s: both trainers skip clips of {MIN_SECONDS} s or less."))
        elif seconds > MAX_SECONDS_GPT:
            report.problems.append(Problem(line_no, entry.path, "too_long",
                                           f"{seconds:.1f} s: both trainers skip clips over {MAX_SECONDS_GPT:.0f} s; "
                                           "slice it."))
        elif seconds > MAX_SECONDS_SOVITS:
            report.problems.append(Problem(line_no, entry.path, "too_long",
                                           f"{seconds:.1f} s: SoVITS training skips clips over "
                                           f"{MAX_SECONDS_SOVITS:.0f} s (GPT keeps it).", level="warning"))
    for name, items in by_basename.items():
        first, first_path = items[0]
        for line_no, p in items[1:]:
            if p != first_path:
                report.problems.append(Problem(
                    line_no, p, "basename_collision",
                    f"Same file name {name!r} as line {first} but a different path; features are keyed by file "
                    "name, so one would overwrite the other. Rename one of the files."))
    report.problems.sort(key=lambda p: (p.line_no, p.kind))
    report.per_language = dict(per_lang)
    report.seconds_per_language = dict(secs_lang)
    return report
