"""The label editor's core: open a `.list`, page through clips, fix text and language, delete, merge, split, undo.

Every change is saved at once, through `gpt_sovits.asr.history`: the previous content is kept as a version in
`<list>.history/`, writes are atomic (a crash leaves the old or the new file, never a truncated one), and Undo/Redo
walk those versions. Audio files are never overwritten: merge and split write new files next to the originals.

Several pages (browser tabs, people) may edit one list. A page saves a row with `apply(RowChange)`, which carries
the value the page started from: nothing is written unless the user really changed it, and when the row on disk is
no longer that value (or the clip is gone) `RowConflict` says what is there now, so the page can show both.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gpt_sovits.asr import history
from gpt_sovits.asr.check import ListCheckReport, audio_duration, check_list
from gpt_sovits.asr.listfile import (
    LANGUAGES,
    ListEntry,
    ListFormatError,
    format_list,
    normalize_lang,
    read_list,
    resolve_audio_path,
)
from gpt_sovits.asr.whisper import read_sidecar
from gpt_sovits.audio.io import AudioError, load_audio_with_rate, resample, save_wav

SORTS = ("list order", "confidence", "shortest first", "longest first")
CJK_LANGS = {"zh", "ja", "yue"}
MIN_PIECE_SECONDS = 0.1


class EditorError(ValueError):
    """An edit that cannot be done as asked; the message says why."""


class EditorConflict(EditorError):
    """The file changed on disk since it was opened here; reopen it before editing."""


@dataclass(frozen=True)
class RowChange:
    """One row saved from a page: where the page showed the clip, the value it started from, the user's value."""

    path: str            # the clip's path as written in the list (identifies the row)
    index: int           # where the page showed it (a hint: the row may have moved)
    was: str             # the value the page was rendered with
    now: str             # the value the user left in the box
    field: str = "text"  # "text" or "lang"


class RowConflict(EditorConflict):
    """The row on disk is no longer what the page started from (or the clip is gone); nothing was written."""

    def __init__(self, message: str, change: RowChange, current: str | None, index: int | None):
        super().__init__(message)
        self.change = change
        self.current = current  # the value on disk now; None when the clip was deleted
        self.index = index


@dataclass(frozen=True)
class Row:
    """One clip as the table shows it; `index` is its position in the `.list`."""

    index: int
    path: str
    audio_path: Path
    text: str
    lang: str
    duration: float | None
    avg_logprob: float | None
    no_speech_prob: float | None


def _unique_path(folder: Path, stem: str, suffix: str = ".wav") -> Path:
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}_{n}{suffix}"
        n += 1
    return candidate


class LabelEditor:
    """An open `.list` and its clips. Holds no UI state; every method that changes something saves."""

    def __init__(self, list_path: str | Path, audio_dir: str | Path | None = None):
        self.list_path = Path(list_path).expanduser()
        self.audio_dir = Path(audio_dir).expanduser() if audio_dir else None
        if not self.list_path.is_file():
            raise EditorError(f"List file not found: {self.list_path}")
        self._disk_bytes = self.list_path.read_bytes()
        try:
            self.entries: list[ListEntry] = read_list(self.list_path)
        except ListFormatError as e:
            raise EditorError(f"{e} Fix that line in a text editor first (the editor never drops lines).") from None
        except UnicodeDecodeError as e:
            raise EditorError(f"{self.list_path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8 "
                              "first.") from None
        self.confidence = read_sidecar(self.list_path)
        self._durations: dict[Path, float | None] = {}

    @property
    def digest(self) -> str:
        """A fingerprint of the file as this editor last read or wrote it (a UI keeps it to spot stale views)."""
        return hashlib.sha1(self._disk_bytes).hexdigest()

    @property
    def can_undo(self) -> bool:
        return history.can_undo(self.list_path)

    @property
    def can_redo(self) -> bool:
        return history.can_redo(self.list_path)

    def __len__(self) -> int:
        return len(self.entries)

    # ---- reading ----------------------------------------------------------------------------------------------
    def audio_path(self, index: int) -> Path:
        return resolve_audio_path(self._entry(index).path, self.list_path, self.audio_dir)

    def duration(self, index: int) -> float | None:
        path = self.audio_path(index)
        if path not in self._durations:
            try:
                self._durations[path] = audio_duration(path)
            except (FileNotFoundError, AudioError, OSError):
                self._durations[path] = None
        return self._durations[path]

    def row(self, index: int) -> Row:
        e = self._entry(index)
        conf = self.confidence.get(e.path) or self.confidence.get(str(self.audio_path(index).resolve())) or {}
        return Row(index, e.path, self.audio_path(index), e.text, e.lang, self.duration(index),
                   conf.get("avg_logprob"), conf.get("no_speech_prob"))

    def order(self, sort: str = "list order") -> list[int]:
        """Entry indices in display order; doubtful clips first for "confidence" (lowest avg log-prob first)."""
        idx = list(range(len(self.entries)))
        if sort == "list order":
            return idx
        if sort == "confidence":
            def key(i: int) -> tuple[int, float]:
                lp = self.row(i).avg_logprob
                return (1, 0.0) if lp is None else (0, lp)
            return sorted(idx, key=key)
        if sort in ("shortest first", "longest first"):
            sign = 1.0 if sort == "shortest first" else -1.0
            return sorted(idx, key=lambda i: (self.duration(i) is None, sign * (self.duration(i) or 0.0)))
        raise EditorError(f"Unknown sort {sort!r}; choose one of: {', '.join(SORTS)}.")

    def page(self, page: int, page_size: int = 10, sort: str = "list order") -> tuple[list[Row], int]:
        """Rows of one page (0-based, clamped) and the number of pages."""
        order = self.order(sort)
        n_pages = max(1, math.ceil(len(order) / page_size))
        page = min(max(page, 0), n_pages - 1)
        return [self.row(i) for i in order[page * page_size:(page + 1) * page_size]], n_pages

    def check(self, root: str | Path | None = None) -> ListCheckReport:
        """The same checks as `check-list` and formatting (`root`: the data root relative clip paths may use)."""
        return check_list(self.list_path, self.audio_dir, root=root)

    # ---- changes (each one saves) ------------------------------------------------------------------------------
    def edit(self, index: int, text: str | None = None, lang: str | None = None) -> None:
        """Change an entry's text and/or language. Empty text and text with '|' or a line break are refused."""
        e = self._entry(index)
        new = e
        if text is not None:
            if not text.strip():
                raise EditorError(f"The text of clip #{index + 1} cannot be empty: training would skip the clip. "
                                  "Delete the clip instead if it holds no speech.")
            new = replace(new, text=text.strip())
        if lang is not None:
            if normalize_lang(lang) is None:
                raise EditorError(f"Language {lang!r} is not one training accepts ({', '.join(LANGUAGES)}).")
            new = replace(new, lang=lang)
        if new == e:
            return
        what = "edited the " + " and ".join(n for n, v in (("text", text), ("language", lang)) if v is not None)
        self._save(self.entries[:index] + [new] + self.entries[index + 1:], f"{what} of clip #{index + 1}")

    def locate(self, path: str, hint: int) -> int | None:
        """The row showing clip `path`: at `hint` if it is still there, else its only other row; None if gone."""
        if 0 <= hint < len(self.entries) and self.entries[hint].path == path:
            return hint
        rows = [i for i, e in enumerate(self.entries) if e.path == path]
        return rows[0] if len(rows) == 1 else None

    def apply(self, change: RowChange) -> int | None:
        """Save one row as a page saw it; the row index written, or None when the user changed nothing.

        Raises RowConflict (nothing written) when the clip is gone or its value on disk is no longer `change.was`.
        """
        norm = (lambda v: v.strip()) if change.field == "text" else (lambda v: v)
        if norm(change.now or "") == norm(change.was or ""):
            return None
        index = self.locate(change.path, change.index)
        name = Path(change.path).name
        if index is None:
            raise RowConflict(f"The clip {name} was deleted or moved elsewhere since this page was shown; your "
                              f"{change.field} was not saved.", change, None, None)
        current = getattr(self.entries[index], change.field)
        if norm(current) == norm(change.now):
            return index  # someone else already saved the same value
        if norm(current) != norm(change.was):
            raise RowConflict(f"Clip #{index + 1} ({name}) was changed elsewhere since this page was shown; your "
                              f"{change.field} was not saved.", change, current, index)
        if change.field == "text":
            self.edit(index, text=change.now)
        else:
            self.edit(index, lang=change.now)
        return index

    def delete(self, indices: list[int]) -> None:
        """Remove entries from the list (their audio files stay on disk)."""
        drop = {self._check_index(i) for i in indices}
        if not drop:
            raise EditorError("Select at least one clip to delete.")
        self._save([e for i, e in enumerate(self.entries) if i not in drop],
                   f"deleted clip(s) {', '.join(f'#{i + 1}' for i in sorted(drop))}")

    def merge(self, indices: list[int], gap_seconds: float = 0.0) -> int:
        """Join consecutive clips into a new wav (originals kept) with `gap_seconds` of silence between them.

        Texts are joined with a space (no space for zh, ja, yue). Returns the merged entry's index."""
        idx = sorted({self._check_index(i) for i in indices})
        if len(idx) < 2:
            raise EditorError("Select at least two clips to merge.")
        if idx != list(range(idx[0], idx[-1] + 1)):
            raise EditorError("Only consecutive clips (in list order) can be merged.")
        if not 0.0 <= gap_seconds <= 10.0:
            raise EditorError("The gap between merged clips must be between 0 and 10 seconds.")
        first = self.entries[idx[0]]
        src = self.audio_path(idx[0])
        audio0, sr = self._load(idx[0])
        pieces = [audio0]
        for i in idx[1:]:
            audio, sr_i = self._load(i)
            pieces.append(np.zeros(round(gap_seconds * sr), dtype=np.float32))
            pieces.append(resample(audio, sr_i, sr))
        sep = "" if normalize_lang(first.lang) in CJK_LANGS else " "
        text = sep.join(self.entries[i].text.strip() for i in idx if self.entries[i].text.strip())
        merged = replace(first, text=text)
        merged.validate()
        out = _unique_path(src.parent, f"{src.stem}_merged")
        save_wav(out, np.concatenate(pieces), sr)
        new_entry = replace(merged, path=self._entry_path_for(first.path, out))
        self._save(self.entries[:idx[0]] + [new_entry] + self.entries[idx[-1] + 1:],
                   f"merged clips #{idx[0] + 1}-#{idx[-1] + 1}")
        return idx[0]

    def split(self, index: int, at_seconds: float) -> tuple[int, int]:
        """Cut a clip at `at_seconds` into two new wavs (original kept); both entries start with its text."""
        e = self._entry(index)
        src = self.audio_path(index)
        audio, sr = self._load(index)
        cut = round(at_seconds * sr)
        min_samples = int(MIN_PIECE_SECONDS * sr)
        if not min_samples <= cut <= len(audio) - min_samples:
            raise EditorError(f"The split point must lie between {MIN_PIECE_SECONDS} s and "
                              f"{len(audio) / sr - MIN_PIECE_SECONDS:.2f} s for this {len(audio) / sr:.2f} s clip.")
        first = _unique_path(src.parent, f"{src.stem}_part1")
        save_wav(first, audio[:cut], sr)
        second = _unique_path(src.parent, f"{src.stem}_part2")
        save_wav(second, audio[cut:], sr)
        a = replace(e, path=self._entry_path_for(e.path, first))
        b = replace(e, path=self._entry_path_for(e.path, second))
        self._save(self.entries[:index] + [a, b] + self.entries[index + 1:], f"split clip #{index + 1}")
        return index, index + 1

    def undo(self) -> str:
        """Restore the list as it was before its last change (whoever made it); says which change was undone."""
        try:
            undone, _ = history.undo(self.list_path)
        except history.HistoryError as e:
            raise EditorError(str(e)) from None
        self.reload()
        return f"Undone: {undone.describe()}. Redo brings it back."

    def redo(self) -> str:
        """Go forward again to the change the last Undo took back."""
        try:
            done = history.redo(self.list_path)
        except history.HistoryError as e:
            raise EditorError(str(e)) from None
        self.reload()
        return f"Redone: {done.describe()}."

    def reload(self) -> None:
        """Forget unsaved state (there is none) and read the file again, e.g. after it changed on disk."""
        self.__init__(self.list_path, self.audio_dir)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self.entries):
            raise EditorError(f"No clip number {index} (the list has {len(self.entries)}).")
        return index

    def _entry(self, index: int) -> ListEntry:
        return self.entries[self._check_index(index)]

    def _load(self, index: int) -> tuple[np.ndarray, int]:
        path = self.audio_path(index)
        try:
            return load_audio_with_rate(path)
        except AudioError as e:
            raise EditorError(f"Cannot read the audio of clip {index}: {e}") from None

    def _entry_path_for(self, old_entry_path: str, new_file: Path) -> str:
        """Write the new clip's path in the style of the old one (same folder part, absolute or relative)."""
        old = Path(old_entry_path.strip().replace("\\", "/"))
        return str(old.parent / new_file.name) if str(old.parent) != "." else new_file.name

    def _save(self, entries: list[ListEntry], what: str) -> None:
        """Write the new content as a new version (the old one is kept); in-memory state changes only on success."""
        try:
            data = format_list(entries).encode("utf-8")  # validates every entry before touching the disk
        except ListFormatError as e:
            raise EditorError(str(e)) from None
        try:
            history.write_versioned(self.list_path, data, "editor", what, expect=self._disk_bytes)
        except history.ChangedOnDisk:
            raise EditorConflict(f"{self.list_path} was changed by another program since it was opened here; "
                                 "reopen it (your last change was not saved).") from None
        self._disk_bytes = data
        self.entries = entries

