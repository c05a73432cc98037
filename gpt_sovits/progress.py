"""Progress reporting shared by every long stage: a tqdm bar for people, JSON lines for the job runner.

A stage run by the job runner gets the events file path from the runner (the `GSV_JOB_EVENTS` entry of the
child's explicit environment, see `gpt_sovits.jobs`); run by hand it just shows a tqdm bar.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from tqdm import tqdm

EVENTS_ENV = "GSV_JOB_EVENTS"
T = TypeVar("T")


class EventWriter:
    """Appends one JSON object per line: {"t", "stage", "step", "total", "epoch", "loss", "message", ...}."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "EventWriter":
        env = os.environ if environ is None else environ
        return cls(env.get(EVENTS_ENV) or None)

    def emit(self, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"t": time.time(), **{k: v for k, v in fields.items() if v is not None}}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()


class Progress:
    """A tqdm bar that also writes progress events. Use as a context manager or call close()."""

    def __init__(self, total: int | None, stage: str, events: EventWriter | None = None, disable_bar: bool = False):
        self.total = total
        self.stage = stage
        self.step = 0
        self.events = events if events is not None else EventWriter.from_env()
        self.bar = tqdm(total=total, desc=stage, disable=disable_bar, dynamic_ncols=True)
        self.events.emit(stage=stage, step=0, total=total)

    def update(self, n: int = 1, **fields: Any) -> None:
        self.step += n
        self.bar.update(n)
        if fields.get("loss") is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in fields["loss"].items()})
        self.events.emit(stage=self.stage, step=self.step, total=self.total, **fields)

    def message(self, text: str, level: str = "info") -> None:
        """A line for the user: printed to the log and shown by the UI."""
        self.bar.write(text)
        self.events.emit(stage=self.stage, step=self.step, total=self.total, message=text, level=level)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], total: int | None, stage: str, events: EventWriter | None = None) -> Iterator[T]:
    """Iterate with a progress bar and events: `for x in track(xs, len(xs), "slice"): ...`."""
    with Progress(total, stage, events) as p:
        for item in items:
            yield item
            p.update()
