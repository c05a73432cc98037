"""The pieces both trainers share: atomic checkpoints, retention, RNG state, reporting, stop and failure handling."""

import errno
import json
import os
import random
import signal

import numpy as np
import pytest
import torch

from gpt_sovits.dataset.readers import MissingFormattedData, read_name2text, require_formatted
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EventWriter
from gpt_sovits.train.checkpoint import CheckpointWriteError, atomic_save, keep_latest, rng_state, set_rng_state
from gpt_sovits.train.control import (
    EXIT_BAD_DATA, EXIT_DISK, EXIT_NONFINITE, EXIT_OOM, StopSignal, TrainingError, check_finite, choose_precision,
    oom_guard, resolve_device, run_training,
)
from gpt_sovits.train.report import TrainReporter, mel_image


class _FailsWhilePickled:
    def __init__(self, err: int):
        self.err = err

    def __reduce__(self):
        raise OSError(self.err, os.strerror(self.err))


def test_atomic_save_keeps_previous_file_when_the_write_fails(tmp_path):
    path = tmp_path / "G_100.pth"
    atomic_save({"step": 1, "w": torch.ones(3)}, path)
    with pytest.raises(CheckpointWriteError, match="disk is full"):
        atomic_save({"step": 2, "bad": _FailsWhilePickled(errno.ENOSPC)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["G_100.pth"]  # no temp file left behind


def test_atomic_save_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_save({"a": 1}, tmp_path / "x.pth")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_keep_latest_orders_by_number_not_text(tmp_path):
    for step in (9, 10, 100, 99):
        (tmp_path / f"G_{step}.pth").write_bytes(b"x")
    (tmp_path / "D_5.pth").write_bytes(b"x")
    removed = keep_latest(tmp_path, "G_*.pth", keep=2)
    assert sorted(p.name for p in removed) == ["G_10.pth", "G_9.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D_5.pth", "G_100.pth", "G_99.pth"]


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    atomic_save({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_reporter_writes_events_and_tensorboard_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = tmp_path / "events.jsonl"
    lines: list[str] = []
    with TrainReporter("train-x", tmp_path / "tb", total_steps=3, events=EventWriter(events), log=lines.append) as r:
        for step in (1, 2, 3):
            r.step(step=step, epoch=1, losses={"mel": torch.tensor(10.0 / step), "kl": float("nan")},
                   lr={"g": 1e-4}, grad_norms={"g": 2.0}, seconds_per_step=0.5, items_per_second=4.0)
        r.image("mel", mel_image(np.random.rand(16, 20)), 3)
        r.audio("sample", np.zeros(3200, np.float32), 32000, 3)
        r.message("saved")
        r.result(weights=["a.pth"], stopped=False)
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    assert [rec["step"] for rec in recs if "loss" in rec] == [1, 2, 3]
    assert recs[0]["loss"] == {"mel": 10.0, "kl": "nan"} and recs[0]["total"] == 3
    assert recs[-1]["result"] == {"weights": ["a.pth"], "stopped": False}
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [round(e.value, 4) for e in acc.Scalars("loss/mel")] == [10.0, 5.0, 3.3333]
    assert "loss/kl" not in acc.Tags()["scalars"]  # NaN is not plotted
    assert acc.Tags()["images"] == ["mel"] and acc.Tags()["audio"] == ["sample"]
    assert any("step 1/3" in line for line in lines)


def test_mel_image_is_rgb_and_flipped():
    mel = np.zeros((4, 5))
    mel[0] = 1.0  # lowest band loudest → bottom row bright
    img = mel_image(mel)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    assert img[-1].sum() > img[0].sum()


def test_stop_signal_sets_a_flag_instead_of_killing():
    with StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_check_finite_names_the_step_and_term():
    check_finite({"a": torch.tensor(1.0), "b": 2.0}, step=3)
    with pytest.raises(TrainingError, match="step 7.*mel=inf") as e:
        check_finite({"mel": torch.tensor(float("inf")), "kl": torch.tensor(0.0)}, step=7)
    assert e.value.exit_code == EXIT_NONFINITE


def test_precision_and_device_on_cpu():
    cpu = resolve_device("cpu")
    assert choose_precision(cpu, "auto").name == "fp32"
    assert not choose_precision(cpu, "auto").make_scaler().is_enabled()
    with pytest.raises(TrainingError, match="needs a CUDA GPU"):
        choose_precision(cpu, "fp16")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(TrainingError, match="Unknown precision"):
        choose_precision(cpu, "fp8")


def test_run_training_maps_failures_to_exit_codes(tmp_path):
    said: list[str] = []

    def oom():
        with oom_guard(batch_size=8, longest="clip_07.wav (12.3 s)"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    def disk():
        atomic_save({"x": _FailsWhilePickled(errno.ENOSPC)}, tmp_path / "c.pth")

    def missing():
        require_formatted(ProjectPaths(tmp_path).experiment("nothing"), ("name2text",))

    assert run_training(lambda: None, said.append) == 0
    assert run_training(oom, said.append) == EXIT_OOM and "batch size 8" in said[-1] and "clip_07.wav" in said[-1]
    assert run_training(disk, said.append) == EXIT_DISK and "disk is full" in said[-1]
    assert run_training(missing, said.append) == EXIT_BAD_DATA and "Run 1A" in said[-1]
    assert run_training(lambda: 1 / 0, said.append) == 1 and "ZeroDivisionError" in said[-1]


def test_require_formatted_names_every_missing_step(tmp_path):
    exp = ProjectPaths(tmp_path).experiment("voice")
    exp.dir.mkdir(parents=True)
    exp.name2text.write_text("a.wav\tn i2\t[2]\tni\n", encoding="utf-8")
    exp.hubert_dir.mkdir()
    with pytest.raises(MissingFormattedData) as e:
        require_formatted(exp, ("name2text", "hubert", "wav32k", "semantic"))
    msg = str(e.value)
    assert "4-cnhubert/" in msg and "5-wav32k/" in msg and "6-name2semantic.tsv" in msg and "2-name2text" not in msg
    (exp.hubert_dir / "a.wav.pt").write_bytes(b"x")
    exp.wav32k_dir.mkdir()
    (exp.wav32k_dir / "a.wav").write_bytes(b"x")
    require_formatted(exp, ("name2text", "hubert", "wav32k"))


def test_read_name2text(tmp_path):
    path = tmp_path / "2-name2text.txt"
    path.write_text("a.wav\tn i2 h ao3\t[2, 2]\t你好\nbad line\nb.wav\tHH AH0\tNone\thi\n", encoding="utf-8")
    rows = read_name2text(path)
    assert list(rows) == ["a.wav", "b.wav"]
    assert rows["a.wav"].phones == ["n", "i2", "h", "ao3"] and rows["a.wav"].word2ph == [2, 2]
    assert rows["b.wav"].word2ph is None and rows["b.wav"].norm_text == "hi"
