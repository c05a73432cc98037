"""`logs/<exp>/format_manifest.json`: what 1A produced for each line, and from which inputs.

For every line name and step ("text", "hubert", "semantic") the manifest keeps the key (a hash of everything the
step's output depends on) and the small results (the 2-name2text line, the semantic tokens). A line whose key is
unchanged is reused; a changed key means recompute; a name that left the list means delete its outputs.
Failed lines are not recorded, so they are retried on the next run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpt_sovits.audio.io import atomic_write_bytes

SCHEMA = 1
STEPS = ("text", "hubert", "semantic")


@dataclass
class Manifest:
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # name -> step -> record
    file_hashes: dict[str, dict[str, Any]] = field(default_factory=dict)       # FileHashCache state

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest; a missing or unreadable one means "nothing is known" (everything recomputed)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return cls()
        return cls(items=dict(data.get("items") or {}), file_hashes=dict(data.get("file_hashes") or {}))

    def save(self, path: Path) -> None:
        data = {"schema": SCHEMA, "items": dict(sorted(self.items.items())), "file_hashes": self.file_hashes}
        text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))

    def get(self, name: str, step: str) -> dict[str, Any] | None:
        return self.items.get(name, {}).get(step)

    def put(self, name: str, step: str, record: dict[str, Any]) -> None:
        self.items.setdefault(name, {})[step] = record

    def drop(self, name: str, step: str | None = None) -> None:
        if step is None:
            self.items.pop(name, None)
            return
        steps = self.items.get(name)
        if steps is not None:
            steps.pop(step, None)
            if not steps:
                self.items.pop(name, None)
