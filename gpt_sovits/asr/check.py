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
        # integer PCM cannot hold NaN or inf, so its header is enough; float audio is read to check its samples
        if info.frames > 0 and info.samplerate > 0 and info.subtype not in ("FLOAT", "DOUBLE"):
            return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError):
        pass
    data, sr = read_audio(path)
    return data.shape[0] / sr


def check_list(list_path: str | Path, audio_dir: str | Path | None = None, read_audio_files: bool = True,
               root: str | Path | None = None) -> ListCheckReport:
    """Check every line of a `.list` the way formatting reads it (`gpt_sovits.dataset.items.read_items`: audio
    looked up in `audio_dir` by file name, else next to the list, then under `root`), so a list with no errors is
    one formatting accepts. Raises FormatError when the file cannot be read at all (missing, not UTF-8)."""
    # the formatting step's own reading rules (imported here: the gpt_sovits.dataset package pulls in torch)
    from gpt_sovits.dataset.items import find_collisions, read_items

    list_path = Path(list_path)
    report = ListCheckReport(list_path=list_path)
    items, bad_lines = read_items(list_path, audio_dir, root)
    for bad in bad_lines:
        report.problems.append(Problem(bad.line_no, bad.line.split("|", 1)[0], "bad_line", bad.reason))
    if not items:
        report.problems.append(Problem(0, "", "no_usable_lines", "The list has no usable line; formatting refuses it."))
    raw_paths = {line_no: line.split("|", 1)[0].strip()
                 for line_no, line in enumerate(list_path.read_text(encoding="utf-8-sig").splitlines(), start=1)}

    per_lang: Counter[str] = Counter()
    secs_lang: dict[str, float] = defaultdict(float)
    for item in items:
        report.clips += 1
        path = raw_paths.get(item.line_no, item.name)
        if item.lang is None:
            report.problems.append(Problem(item.line_no, path, "unknown_language",
                                           f"Language {item.raw_lang!r} is not one training accepts (zh, en, ja, ko, "
                                           "yue, or upstream's spellings ZH JP JA EN KO YUE); the line is skipped."))
        if not item.text.strip():
            report.problems.append(Problem(item.line_no, path, "empty_text", "The text is empty."))
        if not read_audio_files:
            continue
        try:
            seconds = audio_duration(item.audio_path)
        except FileNotFoundError:
            report.problems.append(Problem(item.line_no, path, "missing_audio",
                                           f"Audio file not found: {item.audio_path}"))
            continue
        except (AudioError, OSError) as e:
            report.problems.append(Problem(item.line_no, path, "unreadable_audio", f"Cannot read the audio: {e}"))
            continue
        report.total_seconds += seconds
        tag = item.lang or item.raw_lang
        per_lang[tag] += 1
        secs_lang[tag] += seconds
        if seconds <= MIN_SECONDS:
            report.problems.append(Problem(item.line_no, path, "too_short",
                                           f"{seconds:.2f} s: both trainers skip clips of {MIN_SECONDS} s or less."))
        elif seconds > MAX_SECONDS_GPT:
            report.problems.append(Problem(item.line_no, path, "too_long",
                                           f"{seconds:.1f} s: both trainers skip clips over {MAX_SECONDS_GPT:.0f} s; "
                                           "slice it."))
        elif seconds > MAX_SECONDS_SOVITS:
            report.problems.append(Problem(item.line_no, path, "too_long",
                                           f"{seconds:.1f} s: SoVITS training skips clips over "
                                           f"{MAX_SECONDS_SOVITS:.0f} s (GPT keeps it).", level="warning"))
    for name, group in find_collisions(items).items():
        first = group[0]
        for item in group[1:]:
            path = raw_paths.get(item.line_no, item.name)
            if (item.audio_path, item.raw_lang, item.text) == (first.audio_path, first.raw_lang, first.text):
                report.problems.append(Problem(item.line_no, path, "duplicate_line",
                                               f"Same line as line {first.line_no}; formatting refuses duplicate "
                                               "file names. Delete one of them."))
            else:
                report.problems.append(Problem(
                    item.line_no, path, "basename_collision",
                    f"Same file name {name!r} as line {first.line_no}; features are keyed by file name, so "
                    "formatting refuses the list. Rename one of the files or delete one line."))
    report.problems.sort(key=lambda p: (p.line_no, p.kind))
    report.per_language = dict(per_lang)
    report.seconds_per_language = dict(secs_lang)
    return report
