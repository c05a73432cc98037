"""Versioned `.list` files: every write keeps the previous content, and Undo/Redo walk those versions.

Hours of hand correction live in one small text file, so no writer may simply replace it. Each write through
`write_versioned` stores the new content as `<list>.history/NNNN.list` with `NNNN.json` (who, what, when, the
version it replaced) and moves `HEAD` to it. A file changed by anything else (a text editor, an old tool) is
noticed before the next versioned write or undo and recorded as an "outside" version first, so it is kept too.

Undo moves HEAD to the version the current one replaced and writes that content; Redo moves to the newest version
made from the current one. Versions are never rewritten, only the oldest beyond `keep` are pruned, so an edit made
after an Undo does not destroy the undone version: it stays in the folder. The history belongs to the file, not to a
browser tab: an Undo in one tab undoes the last change to the list, whoever made it, and says which change that was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from gpt_sovits.audio.io import atomic_write_bytes

KEEP = 50
OUTSIDE = "outside"


class HistoryError(ValueError):
    """Undo or Redo has nowhere to go; the message says why."""


class ChangedOnDisk(HistoryError):
    """The file is not what the writer expected to replace; nothing was written."""


@dataclass(frozen=True)
class Version:
    n: int
    parent: int | None  # the version this one replaced (None: the first one known)
    who: str            # editor, asr, outside...
    what: str           # a short description for people ("edited the text of clip #3")
    when: str           # UTC, ISO 8601
    sha: str            # sha256 of the content

    def describe(self) -> str:
        return f"'{self.what}' ({self.who}, {self.when.replace('T', ' ')[:19]} UTC)"


def history_dir(list_path: str | Path) -> Path:
    list_path = Path(list_path)
    return list_path.with_name(list_path.name + ".history")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _locked(list_path: Path) -> Iterator[None]:
    """One writer at a time per list across processes (the WebUI and an ASR job, two WebUIs)."""
    folder = history_dir(list_path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, the versions are still kept
        yield
        return
    with open(folder / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def versions(list_path: str | Path) -> list[Version]:
    """All kept versions, oldest first (unreadable metadata files are skipped)."""
    folder = history_dir(list_path)
    out = []
    for meta in sorted(folder.glob("[0-9]*.json")) if folder.is_dir() else []:
        try:
            out.append(Version(**json.loads(meta.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda v: v.n)


def _content_path(list_path: Path, n: int) -> Path:
    return history_dir(list_path) / f"{n:04d}.list"


def content(list_path: str | Path, version: Version) -> bytes:
    return _content_path(Path(list_path), version.n).read_bytes()


def head(list_path: str | Path) -> Version | None:
    """The version the file on disk was last written as (it may since have been changed outside)."""
    try:
        n = int((history_dir(list_path) / "HEAD").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return next((v for v in versions(list_path) if v.n == n), None)


def _set_head(list_path: Path, n: int) -> None:
    atomic_write_bytes(history_dir(list_path) / "HEAD", f"{n}\n".encode())


def _record(list_path: Path, data: bytes, parent: int | None, who: str, what: str) -> Version:
    existing = versions(list_path)
    n = (existing[-1].n + 1) if existing else 1
    v = Version(n, parent, who, what, datetime.now(timezone.utc).isoformat(timespec="seconds"), _sha(data))
    atomic_write_bytes(_content_path(list_path, n), data)
    atomic_write_bytes(history_dir(list_path) / f"{n:04d}.json",
                       json.dumps(asdict(v), ensure_ascii=False).encode("utf-8"))
    _set_head(list_path, n)
    return v


def _sync(list_path: Path) -> Version | None:
    """HEAD after making sure the file on disk is itself a kept version (changes made outside are recorded)."""
    current = head(list_path)
    if not list_path.is_file():
        return current
    data = list_path.read_bytes()
    if current is not None and current.sha == _sha(data):
        return current
    what = "changed outside the editor" if current is not None else "the file as it was before versioning"
    return _record(list_path, data, current.n if current else None, OUTSIDE, what)


def _prune(list_path: Path, keep: int) -> None:
    kept = versions(list_path)
    current = head(list_path)
    for v in kept[:-keep] if keep > 0 else []:
        if current is not None and v.n == current.n:
            continue
        for suffix in (".list", ".json"):
            (history_dir(list_path) / f"{v.n:04d}{suffix}").unlink(missing_ok=True)


def write_versioned(list_path: str | Path, data: bytes, who: str, what: str, keep: int = KEEP,
                    expect: bytes | None = None) -> Version:
    """Write `data` to the list atomically, keeping what was there (and the new content) as versions.

    With `expect`, the write happens only if the file still holds exactly those bytes (checked under the lock)."""
    list_path = Path(list_path)
    with _locked(list_path):
        if expect is not None and (list_path.read_bytes() if list_path.is_file() else b"") != expect:
            raise ChangedOnDisk(f"{list_path} was changed by another program or page since it was read.")
        current = _sync(list_path)
        if current is not None and current.sha == _sha(data) and list_path.is_file():
            return current
        atomic_write_bytes(list_path, data)
        v = _record(list_path, data, current.n if current else None, who, what)
        _prune(list_path, keep)
        return v


def can_undo(list_path: str | Path) -> bool:
    current = head(list_path)
    return (current is not None and current.parent is not None
            and _content_path(Path(list_path), current.parent).is_file())


def can_redo(list_path: str | Path) -> bool:
    current = head(list_path)
    return current is not None and any(v.parent == current.n for v in versions(list_path))


def undo(list_path: str | Path) -> tuple[Version, Version]:
    """Restore the version the current one replaced; returns (undone, restored)."""
    list_path = Path(list_path)
    with _locked(list_path):
        current = _sync(list_path)
        if current is None or current.parent is None:
            raise HistoryError("Nothing to undo: this list has no earlier version.")
        previous = next((v for v in versions(list_path) if v.n == current.parent), None)
        if previous is None or not _content_path(list_path, previous.n).is_file():
            raise HistoryError("Nothing to undo: the earlier versions of this list were pruned.")
        atomic_write_bytes(list_path, content(list_path, previous))
        _set_head(list_path, previous.n)
        return current, previous


def redo(list_path: str | Path) -> Version:
    """Go forward to the newest version made from the current one; returns it."""
    list_path = Path(list_path)
    with _locked(list_path):
        current = _sync(list_path)
        children = [v for v in versions(list_path) if current is not None and v.parent == current.n]
        if not children:
            raise HistoryError("Nothing to redo.")
        target = children[-1]
        atomic_write_bytes(list_path, content(list_path, target))
        _set_head(list_path, target.n)
        return target


def written_by(list_path: str | Path, who: str) -> bool:
    """Whether the file on disk is exactly a version that `who` wrote (e.g. ASR output nobody has corrected)."""
    list_path = Path(list_path)
    try:
        sha = _sha(list_path.read_bytes())
    except OSError:
        return False
    return any(v.who == who and v.sha == sha for v in versions(list_path))
