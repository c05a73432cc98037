"""What a trainer tells the world: progress events for the job panel, TensorBoard events, log lines.

One object per training run. Each step goes to three places at once: a JSON line in the job's events file (the
WebUI's progress bar, ETA and loss plot read it), TensorBoard scalars under the run's log folder, and — every few
steps — a human line in the log. Nothing here knows which model is being trained.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from gpt_sovits.progress import EventWriter


def _finite_or_none(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _floats(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain floats for JSON (tensors → float); NaN/inf kept as the strings "nan"/"inf" so a bad step shows."""
    out: dict[str, Any] = {}
    for k, v in (values or {}).items():
        if _is_number(v):
            f = float(v)
            out[k] = f if math.isfinite(f) else str(f)
    return out


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


class TrainReporter:
    """Progress events + TensorBoard + log lines for one training run.

    `stage` names the run in events ("train-sovits"), `tb_dir` is where TensorBoard event files go (None: no
    TensorBoard), `total_steps` is the number of optimiser steps the run will make (for the progress bar and ETA).
    """

    def __init__(
        self,
        stage: str,
        tb_dir: str | Path | None,
        total_steps: int | None,
        events: EventWriter | None = None,
        log: Callable[[str], None] = print,
        log_every: int = 10,
    ):
        self.stage = stage
        self.total_steps = total_steps
        self.events = events if events is not None else EventWriter.from_env()
        self.log = log
        self.log_every = max(1, int(log_every))
        self._writer = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # imported lazily: tensorboard is slow to import

            Path(tb_dir).mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(tb_dir))
        self.start_time = time.time()

    # ---- per step ----------------------------------------------------------------------------------------------
    def step(
        self,
        *,
        step: int,
        epoch: int,
        losses: Mapping[str, Any],
        lr: float | Mapping[str, Any] | None = None,
        grad_norms: Mapping[str, Any] | None = None,
        step_in_epoch: int | None = None,
        steps_per_epoch: int | None = None,
        seconds_per_step: float | None = None,
        items_per_second: float | None = None,
        **extra: Any,
    ) -> None:
        """Report optimiser step `step` (1-based global count) of `epoch` (1-based)."""
        loss = _floats(losses)
        lrs = _floats(lr if isinstance(lr, Mapping) else ({"lr": lr} if lr is not None else {}))
        norms = _floats(grad_norms)
        extras = {k: (_finite_or_none(v) if _is_number(v) else v) for k, v in extra.items()}
        self.events.emit(
            stage=self.stage, step=int(step), total=self.total_steps, epoch=int(epoch), loss=loss, lr=lrs or None,
            grad_norm=norms or None, step_in_epoch=step_in_epoch, steps_per_epoch=steps_per_epoch,
            s_per_step=_finite_or_none(seconds_per_step), items_per_s=_finite_or_none(items_per_second), **extras,
        )
        if self._writer is not None:
            for group, values in (("loss", loss), ("lr", lrs), ("grad_norm", norms)):
                for k, v in values.items():
                    if isinstance(v, float):
                        self._writer.add_scalar(f"{group}/{k}", v, step)
            for k, v in (("speed/s_per_step", seconds_per_step), ("speed/items_per_s", items_per_second)):
                f = _finite_or_none(v)
                if f is not None:
                    self._writer.add_scalar(k, f, step)
        if step == 1 or step % self.log_every == 0 or (self.total_steps and step == self.total_steps):
            where = f"epoch {epoch}"
            if step_in_epoch is not None and steps_per_epoch:
                where += f" step {step_in_epoch}/{steps_per_epoch}"
            terms = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in loss.items())
            speed = f" {seconds_per_step:.2f}s/step" if _finite_or_none(seconds_per_step) else ""
            total = f"/{self.total_steps}" if self.total_steps else ""
            self.log(f"[{self.stage}] step {step}{total} ({where}) {terms}{speed}")

    # ---- occasional ---------------------------------------------------------------------------------------------
    def message(self, text: str, level: str = "info") -> None:
        """A line for the user: in the log and as the job's status message."""
        self.log(f"[{self.stage}] {text}")
        self.events.emit(stage=self.stage, total=self.total_steps, message=text, level=level)

    def scalars(self, step: int, values: Mapping[str, Any]) -> None:
        """Extra TensorBoard scalars (tag → value) that are not per-step losses."""
        if self._writer is None:
            return
        for tag, v in values.items():
            f = _finite_or_none(v)
            if f is not None:
                self._writer.add_scalar(tag, f, step)

    def image(self, tag: str, hwc_uint8: np.ndarray, step: int) -> None:
        if self._writer is not None:
            self._writer.add_image(tag, np.asarray(hwc_uint8), step, dataformats="HWC")

    def audio(self, tag: str, wav: np.ndarray, sample_rate: int, step: int) -> None:
        if self._writer is not None:
            data = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
            self._writer.add_audio(tag, data, step, sample_rate=int(sample_rate))

    def result(self, **fields: Any) -> dict[str, Any]:
        """The run's summary (weights written, items skipped, stopped or finished), as the last event."""
        summary = json.loads(json.dumps(fields, default=str))
        self.events.emit(stage=self.stage, total=self.total_steps, result=summary)
        return summary

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "TrainReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mel_image(mel: np.ndarray) -> np.ndarray:
    """A log-mel [n_mels, frames] as an RGB picture (low frequencies at the bottom), without matplotlib."""
    m = np.asarray(mel, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"mel_image needs a 2-D array, got shape {m.shape}")
    lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
    x = np.zeros_like(m) if hi <= lo else (m - lo) / (hi - lo)
    x = np.nan_to_num(x)[::-1]
    # a small dark-blue → yellow ramp, so quiet and loud regions are told apart at a glance
    stops = np.array([[0.05, 0.03, 0.25], [0.25, 0.15, 0.55], [0.75, 0.25, 0.45], [0.98, 0.6, 0.2], [1.0, 0.95, 0.55]])
    pos = x * (len(stops) - 1)
    i = np.clip(pos.astype(np.int64), 0, len(stops) - 2)
    f = (pos - i)[..., None]
    rgb = stops[i] * (1 - f) + stops[i + 1] * f
    return (rgb * 255).astype(np.uint8)
