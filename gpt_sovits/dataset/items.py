"""The lines of a `.list` as 1A sees them: one `FormatItem` per line, keyed by the audio file's basename.

Upstream names every derived file after `basename(cleaned wav path)`, so two lines pointing at different files with
the same basename would overwrite each other's features; we refuse such lists up front.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.asr.listfile import ListEntry, ListFormatError, normalize_lang, parse_line


MESSAGE_LIMIT = 5  # offenders named in one error message; the rest are counted


class FormatError(ValueError):
    """The formatting cannot start or produced nothing usable; the message says what to fix."""


@dataclass(frozen=True)
class FormatItem:
    """One `.list` line; `index` is its 0-based position among the usable lines (sharding and output order)."""

    index: int
    line_no: int              # 1-based line number in the file
    name: str                 # basename of the audio path: the key of every output file
    audio_path: Path
    lang: str | None          # internal code (zh, en, ja, ko, yue) or None when not supported
    raw_lang: str
    text: str


@dataclass(frozen=True)
class BadLine:
    line_no: int              # 1-based line number in the file
    line: str
    reason: str


def clean_path(path: str) -> str:
    """Upstream's path cleaning: strip spaces/quotes/newlines/U+202A at the ends, unify separators, drop trailing
    slashes. (Upstream drops the slashes before stripping, so `"x.wav/"` keeps one; we strip first.)"""
    path = path.strip(" '\n\r\"\u202a").replace("\\", "/")
    return path.rstrip("/").strip(" '\n\r\"\u202a") or path


def _resolve_audio(cleaned: str, bases: list[Path], wav_dir: Path | None) -> Path:
    name = os.path.basename(cleaned)
    if wav_dir is not None:
        return wav_dir / name
    path = Path(cleaned).expanduser()
    if path.is_absolute():
        return path
    candidates = [base / path for base in bases]
    return next((c for c in candidates if c.exists()), candidates[0])


def read_items(list_path: str | Path, wav_dir: str | Path | None = None,
               root: str | Path | None = None) -> tuple[list[FormatItem], list[BadLine]]:
    """Parse a `.list` (`path|speaker|language|text`) into items, plus the lines that cannot be parsed.

    When `wav_dir` is given, every audio file is looked up there by basename (upstream's "audio folder" field);
    otherwise a relative path is looked up next to the list, then under `root` (upstream resolves it against its
    working folder, the project root).
    """
    list_path = Path(list_path)
    try:
        raw = list_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError(f"The list file {list_path} does not exist.") from None
    except UnicodeDecodeError as e:
        raise FormatError(f"The list file {list_path} is not UTF-8 text ({e}).") from None
    wav_dir = Path(wav_dir) if wav_dir else None
    bases = [list_path.parent] + ([Path(root)] if root is not None else [])
    bad: list[BadLine] = []
    entries: list[tuple[int, ListEntry]] = []
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append((line_no, parse_line(line, line_no, str(list_path))))
        except ListFormatError as e:
            bad.append(BadLine(line_no, line, str(e)))
    items: list[FormatItem] = []
    for line_no, entry in entries:
        cleaned = clean_path(entry.path)
        name = os.path.basename(cleaned)
        if not name:
            bad.append(BadLine(line_no, entry.path, "the audio path has no file name"))
            continue
        items.append(FormatItem(
            index=len(items), line_no=line_no, name=name,
            audio_path=_resolve_audio(cleaned, bases, wav_dir),
            lang=normalize_lang(entry.lang), raw_lang=entry.lang, text=entry.text,
        ))
    return items, bad


def find_collisions(items: list[FormatItem]) -> dict[str, list[FormatItem]]:
    """Basenames used by more than one line (same name, whether or not the paths differ)."""
    by_name: dict[str, list[FormatItem]] = {}
    for item in items:
        by_name.setdefault(item.name, []).append(item)
    return {name: group for name, group in by_name.items() if len(group) > 1}


def check_collisions(items: list[FormatItem]) -> None:
    """Raise `FormatError` listing every basename shared by several lines (their outputs would overwrite)."""
    collisions = find_collisions(items)
    if not collisions:
        return
    lines = []
    for name, group in list(collisions.items())[:MESSAGE_LIMIT]:
        where = ", ".join(f"line {i.line_no}: {i.audio_path}" for i in group[:MESSAGE_LIMIT])
        more = f" and {len(group) - MESSAGE_LIMIT} more lines" if len(group) > MESSAGE_LIMIT else ""
        lines.append(f"  {name}: {where}{more}")
    if len(collisions) > MESSAGE_LIMIT:
        lines.append(f"  ... and {len(collisions) - MESSAGE_LIMIT} more shared names (check-list shows them all)")
    raise FormatError(
        f"{len(collisions)} audio file name(s) are used by several lines; every output is named after the file, so "
        "they would overwrite each other. Rename the files or remove the duplicate lines:\n" + "\n".join(lines)
    )
