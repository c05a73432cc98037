"""The chain's whole-run ETA: later stages predicted from the 1B Estimate, shown beside the running stage's ETA."""

from __future__ import annotations

import json
import time

from gpt_sovits.jobs.runner import _EventsFold
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EventWriter
from gpt_sovits.train.chain import parse_stages, run_chain
from gpt_sovits.train.chain_eta import later_stages_seconds, stage_seconds
from gpt_sovits.ui.job_panel import eta_text, progress_bar_html

ESTIMATE = {
    "sovits": {"seconds_per_step": 2.0, "steps_per_epoch": 5, "batch_size": 4, "epochs": 8},
    "gpt": {"seconds_per_step": 0.5, "steps_per_epoch": 3, "batch_size": 8, "epochs": 15},
}


def t(key: str, **_: object) -> str:
    return key


def test_stage_seconds_scale_the_measured_epoch_to_the_stages_epochs():
    assert stage_seconds(ESTIMATE, "sovits", ["--epochs", "2"]) == 2.0 * 5 * 2
    assert stage_seconds(ESTIMATE, "gpt", ["--batch-size", "4", "--epochs=10"]) == 0.5 * 3 * 10
    assert stage_seconds(ESTIMATE, "gpt", []) == 0.5 * 3 * 15  # the trainer's default epochs
    assert stage_seconds({"gpt": {"error": "out of memory"}}, "gpt", []) is None
    assert stage_seconds({}, "sovits", []) is None


def test_later_stages_need_an_estimate_for_every_stage(tmp_path):
    stages = [("sovits", ["--epochs", "1"]), ("gpt", ["--epochs", "2"])]
    assert later_stages_seconds(tmp_path, stages) is None  # no estimate file: unknown, not zero
    (tmp_path / "train_estimate.json").write_text(json.dumps(ESTIMATE))
    assert later_stages_seconds(tmp_path, stages) == 2.0 * 5 * 1 + 0.5 * 3 * 2
    assert later_stages_seconds(tmp_path, []) == 0.0
    (tmp_path / "train_estimate.json").write_text(json.dumps({"sovits": ESTIMATE["sovits"]}))
    assert later_stages_seconds(tmp_path, stages) is None


def test_the_chain_announces_the_later_stages_time(tmp_path):
    """A real chain whose first trainer fails at once (nothing formatted): its start event still carries the
    predicted time of the GPT stage after it."""
    paths = ProjectPaths(tmp_path)
    exp_dir = paths.experiment("voice").dir
    exp_dir.mkdir(parents=True)
    (exp_dir / "train_estimate.json").write_text(json.dumps(ESTIMATE))
    events = tmp_path / "events.jsonl"
    code = run_chain(paths, "voice", parse_stages("sovits,gpt", "--epochs 1", "--epochs 4"), events=EventWriter(events))
    assert code != 0
    started = [json.loads(line) for line in events.read_text().splitlines() if "started" in line]
    assert started[0]["chain_stage"] == 1 and started[0]["chain_later_s"] == 0.5 * 3 * 4


def test_progress_shows_the_whole_chain_eta_only_when_it_is_known(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    now = time.time()
    writer.emit(stage="train-chain", message="stage 1/2 started", chain_stage=1, chain_stages=2, chain_later_s=600.0)
    fold = _EventsFold(path)
    for step in range(3):
        with open(path, "a") as f:
            f.write(json.dumps({"t": now + 10 * step, "stage": "train-sovits", "step": step, "total": 10}) + "\n")
    p = fold.read()
    assert p.chain == (1, 2) and p.chain_later_s == 600.0
    assert p.eta_s == 80.0  # 8 steps left at 10 s each
    assert eta_text(p, t) == "ETA of this stage 1:20, whole chain ≈ 11:20"
    assert "whole chain" in progress_bar_html(p, True, t)

    p.chain_later_s = None
    assert "run Estimate for the whole chain" in eta_text(p, t)
    p.chain = (2, 2)  # the last stage: its ETA is the chain's
    assert eta_text(p, t) == "ETA 1:20"
