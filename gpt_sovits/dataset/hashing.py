"""Content hashes that decide what 1A has to recompute.

Hashing a 1.3 GB BERT checkpoint on every run would be slow, so file hashes are remembered per (path, size,
mtime); a file that changes in place gets a new mtime and is hashed again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-able value (keys sorted, so dict order never matters)."""
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class FileHashCache:
    """sha256 of files, reused while a file's size and mtime stay the same.

    `entries` is the JSON-able state ({resolved path: {"size", "mtime_ns", "sha256"}}) kept in the manifest.
    """

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None):
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})
        self.used: set[str] = set()

    def file(self, path: str | Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        key = str(path)
        self.used.add(key)
        known = self.entries.get(key)
        if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
            return known["sha256"]
        digest = sha256_file(path)
        self.entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        return digest

    def pruned(self) -> dict[str, dict[str, Any]]:
        """The entries looked up in this run (files no longer used are forgotten)."""
        return {k: v for k, v in self.entries.items() if k in self.used}

    def model(self, path: str | Path) -> str:
        """Fingerprint of a model file or folder (every non-hidden file under it, by relative name)."""
        path = Path(path)
        if path.is_file():
            return self.file(path)
        if not path.is_dir():
            raise FileNotFoundError(f"Model not found: {path}")
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise FileNotFoundError(f"The model folder {path} is empty.")
        return sha256_json([[p.relative_to(path).as_posix(), self.file(p)] for p in files])
