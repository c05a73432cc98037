"""How long the stages after the running one will take, so the chain's progress can show a whole-chain ETA.

The running stage's own ETA comes from its measured pace (jobs/runner.py). A stage that has not started has no
pace yet; what we do know is the 1B Estimate (`logs/<exp>/train_estimate.json`): real seconds per step at some
batch size. Scaled to the epochs and batch size the stage will actually run with, that predicts its duration.
Without an estimate (or with one that failed for that trainer) the answer is None and the UI says the ETA covers
the running stage only — never a made-up number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

ESTIMATE_FILE = "train_estimate.json"
DEFAULT_EPOCHS = {"sovits": 8, "gpt": 15}  # the trainers' own defaults (train/sovits.py, train/gpt.py)


def _option(args: Sequence[str], name: str) -> int | None:
    """The integer value of `--name N` or `--name=N` in a trainer's argument list (last one wins), else None."""
    found = None
    for i, arg in enumerate(args):
        text = None
        if arg == name and i + 1 < len(args):
            text = args[i + 1]
        elif arg.startswith(name + "="):
            text = arg.split("=", 1)[1]
        if text is not None:
            try:
                found = int(text)
            except ValueError:
                found = None
    return found


def stage_seconds(estimate: dict, trainer: str, args: Sequence[str]) -> float | None:
    """Predicted seconds of one trainer run with `args`, from the estimate's measured seconds per step.

    An epoch is the same items whatever the batch size, and a step's time grows roughly with its batch, so the time
    of an epoch carries over to another batch size (roughly: larger batches use the hardware a little better).
    """
    entry = estimate.get(trainer)
    if not isinstance(entry, dict) or "error" in entry:
        return None
    try:
        per_step = float(entry["seconds_per_step"])
        steps_per_epoch = int(entry["steps_per_epoch"])
    except (KeyError, TypeError, ValueError):
        return None
    epochs = _option(args, "--epochs") or DEFAULT_EPOCHS.get(trainer)
    if not epochs or per_step <= 0 or steps_per_epoch <= 0:
        return None
    return per_step * steps_per_epoch * epochs


def later_stages_seconds(exp_dir: Path, stages: Sequence[tuple[str, Sequence[str]]]) -> float | None:
    """Predicted seconds of all `stages` (name, args) together, or None when any of them cannot be predicted."""
    if not stages:
        return 0.0
    try:
        estimate = json.loads((exp_dir / ESTIMATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, OSError):
        return None
    if not isinstance(estimate, dict):
        return None
    total = 0.0
    for name, args in stages:
        seconds = stage_seconds(estimate, name, args)
        if seconds is None:
            return None
        total += seconds
    return total
