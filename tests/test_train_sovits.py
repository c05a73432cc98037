"""The SoVITS finetune as a job on an espeak-ng dataset formatted by 1A, with the tiny models on the CPU.

The tiny config's discriminator is upstream's full-size one (it has no size knobs), so a step costs seconds even
here: the runs use a 4-frame training segment, small batches and no small-set repetition (`--min-items 0`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from dataset_helpers import CLIPS, ESPEAK, make_clips, write_list

from gpt_sovits.dataset.format import FormatOptions, format_dataset
from gpt_sovits.dataset.steps import HUBERT, TEXT
from gpt_sovits.models.checkpoints import load_sovits
from gpt_sovits.models.safe_load import load_checkpoint
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EVENTS_ENV
from gpt_sovits.tiny.models import TINY_S2
from gpt_sovits.train import sovits as trainer
from gpt_sovits.train.checkpoint import CheckpointWriteError
from gpt_sovits.train.control import EXIT_BAD_DATA, EXIT_NONFINITE

EXP = "sv8"
SEGMENT_FRAMES = 4
PICK = [c for c in CLIPS if c.lang.lower() == "en"][:5] + [c for c in CLIPS if c.lang.lower() == "ja"][:3]


@pytest.fixture(scope="module")
def formatted(tiny_pretrained, tmp_path_factory) -> Path:
    """A root whose logs/sv8/ is 1A's output (text + HuBERT/wav steps) for 8 espeak-ng clips, and a test config."""
    if ESPEAK is None:
        pytest.fail("espeak-ng is needed to make the test dataset (apt install espeak-ng)")
    work = tmp_path_factory.mktemp("sovits_train")
    make_clips(work / "clips", PICK)
    list_path = write_list(work / "sv8.list", work / "clips", PICK)
    root = _root(tiny_pretrained, work / "root")
    report = format_dataset(FormatOptions(list_path=list_path, exp_name=EXP, root=root, steps=(TEXT, HUBERT),
                                          threads=1))
    assert report.succeeded, report.summary()
    hps = json.loads(TINY_S2.read_text())
    hps["train"]["segment_size"] = SEGMENT_FRAMES * hps["data"]["hop_length"]
    (work / "s2_test.json").write_text(json.dumps(hps))
    return root


def _root(tiny_pretrained: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pretrained_models").symlink_to(Path(tiny_pretrained) / "pretrained_models", target_is_directory=True)
    return folder


def own_copy(formatted: Path, tiny_pretrained: Path, tmp_path: Path, clips: int = len(PICK)) -> Path:
    """A private root with a copy of the formatted experiment, keeping only its first `clips` clips."""
    root = _root(tiny_pretrained, tmp_path / "root")
    src, dst = ProjectPaths(formatted).experiment(EXP), ProjectPaths(root).experiment(EXP)
    shutil.copytree(src.dir, dst.dir)
    for clip in PICK[clips:]:
        (dst.wav32k_dir / clip.name).unlink()
        (dst.hubert_dir / f"{clip.name}.pt").unlink()
    return root


def _argv(root: Path, **options) -> list[str]:
    argv = [sys.executable, "-m", "gpt_sovits", "train-sovits", "--root", str(root), "--exp", EXP,
            "--min-items", "0", "--threads", "1"]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def _config(formatted: Path) -> Path:
    return formatted.parent / "s2_test.json"


def _events(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _steps(events: list[dict]) -> list[dict]:
    return [e for e in events if "loss" in e and e.get("step")]


@pytest.mark.slow
def test_two_epoch_job_succeeds_and_its_weights_synthesise(formatted, tiny_pretrained, tmp_path):
    from gpt_sovits.jobs import SUCCEEDED, JobRunner

    root = own_copy(formatted, tiny_pretrained, tmp_path)
    weights = ProjectPaths(root).sovits_weights_dir("v2") / f"{EXP}_e2_s4.pth"
    runner = JobRunner(tmp_path / "jobs")
    # save every 4 epochs, 2 epochs: the last epoch is saved anyway
    argv = _argv(root, config=_config(formatted), epochs=2, batch_size=4, save_every=4)
    job = runner.start("train-sovits", EXP, argv, outputs=[weights])
    job = runner.wait(job.id, timeout=900)
    log = runner.log_tail(job.id, 60)
    assert job.status == SUCCEEDED, log

    # upstream's weights structure, loadable by our inference, and it speaks
    raw = load_checkpoint(weights).data
    assert set(raw) == {"weight", "config", "info"} and raw["info"] == "2epoch_4iteration"
    assert not any("enc_q" in k for k in raw["weight"]) and all(
        v.dtype == torch.float16 for v in raw["weight"].values() if v.is_floating_point())
    loaded = load_sovits(weights)
    assert loaded.version == "v2"
    exp = ProjectPaths(root).experiment(EXP)
    ssl = torch.load(exp.hubert_dir / f"{PICK[0].name}.pt", weights_only=True).float()
    spec = torch.rand(1, 1025, 60)
    with torch.no_grad():
        codes = loaded.model.extract_latent(ssl)
        audio = loaded.model.decode(codes.transpose(0, 1), torch.tensor([[10, 20, 30, 40]]), spec)
    assert audio.shape[-1] > 0 and bool(torch.isfinite(audio).all()) and float(audio.abs().max()) > 0

    # resume files in upstream's format beside our sidecar; only the latest set kept
    logs = exp.sovits_logs("v2")
    g = load_checkpoint(logs / "G_4.pth").data
    assert set(g) == {"model", "iteration", "optimizer", "learning_rate"} and g["iteration"] == 2
    assert any(k.startswith("enc_q.") for k in g["model"])
    assert sorted(p.name for p in logs.glob("*.pth")) == ["D_4.pth", "G_4.pth", "train_state_4.pth"]

    # progress events: every step with all terms; the result names the weights
    events = _events(Path(job.dir) / "events.jsonl")
    steps = _steps(events)
    assert [e["step"] for e in steps] == [1, 2, 3, 4] and [e["epoch"] for e in steps] == [1, 1, 2, 2]
    for e in steps:
        assert set(e["loss"]) == {"disc_all", "gen", "fm", "mel", "kl_ssl", "kl", "gen_all"}
        assert e["steps_per_epoch"] == 2 and e["s_per_step"] > 0 and e["items_per_s"] > 0
        assert set(e["grad_norm"]) == {"g", "d"} and e["lr"]["g"] == pytest.approx(1e-4 * 0.999875 ** e["epoch"])
    result = [e["result"] for e in events if "result" in e][-1]
    assert result["status"] == "finished" and result["weights"] == [str(weights)]

    # TensorBoard: loss scalars per step, a mel image and an audio sample at the save
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0, "images": 0, "audio": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss/mel", "loss/gen_all", "loss/disc_all", "loss/kl", "grad_norm/g", "lr/g"} <= set(tags["scalars"])
    assert [s.step for s in acc.Scalars("loss/mel")] == [1, 2, 3, 4]
    assert tags["images"] and tags["audio"]


def _wait_for_step(events_path: Path, proc: subprocess.Popen, step: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["step"] >= step for e in _steps(_events(events_path))):
            return
        if proc.poll() is not None:
            raise AssertionError(f"trainer ended early with code {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"no step {step} within {timeout} s")


def _start(argv: list[str], events: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, **{EVENTS_ENV: str(events), "PYTHONUNBUFFERED": "1"})
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=str(Path(trainer.__file__).resolve().parents[2]))


@pytest.mark.slow
def test_sigkill_and_sigterm_resume_with_the_same_step_numbering(formatted, tiny_pretrained, tmp_path):
    root = own_copy(formatted, tiny_pretrained, tmp_path, clips=4)
    logs = ProjectPaths(root).experiment(EXP).sovits_logs("v2")
    argv = _argv(root, config=_config(formatted), epochs=3, batch_size=2, save_every=1)  # 2 steps per epoch
    log = tmp_path / "log.txt"

    # 1. SIGKILL in the middle of epoch 2 (its first step reported)
    ev1 = tmp_path / "ev1.jsonl"
    proc = _start(argv, ev1, log)
    _wait_for_step(ev1, proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = trainer._saved_steps(logs)
    assert saved and saved[-1] in (2, 4), (saved, log.read_text()[-2000:])  # epoch-end saves only
    resume_from = saved[-1]
    state = load_checkpoint(logs / f"G_{resume_from}.pth").data["optimizer"]["state"]
    steps_at_save = {float(s["step"]) for s in state.values()}

    # 2. restart: resumes from that checkpoint; SIGTERM after its first step → save, exit 0, "stopped at ..."
    ev2 = tmp_path / "ev2.jsonl"
    proc = _start(argv, ev2, log)
    _wait_for_step(ev2, proc, resume_from + 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    steps2 = _steps(_events(ev2))
    assert steps2[0]["step"] == resume_from + 1 and steps2[0]["epoch"] == resume_from // 2 + 1
    assert steps_at_save == {float(resume_from)}  # AdamW's own step count = global steps before the kill
    assert "stopped at epoch" in log.read_text()
    stopped_at = steps2[-1]["step"]
    assert trainer._saved_steps(logs)[-1] == stopped_at

    # 3. restart again: continues after the stop with the same numbering and optimizer state, to the end
    ev3 = tmp_path / "ev3.jsonl"
    proc = _start(argv, ev3, log)
    assert proc.wait(timeout=900) == 0, log.read_text()[-3000:]
    steps3 = _steps(_events(ev3))
    assert [e["step"] for e in steps3] == list(range(stopped_at + 1, 7))
    final = load_checkpoint(logs / "G_6.pth").data
    assert {float(s["step"]) for s in final["optimizer"]["state"].values()} == {6.0}  # one optimizer history
    assert load_sovits(ProjectPaths(root).sovits_weights_dir("v2") / f"{EXP}_e3_s6.pth").version == "v2"


def test_unformatted_experiment_names_the_missing_1a_step(tmp_path, capsys):
    from gpt_sovits.cli import main

    (tmp_path / "logs" / "nothing").mkdir(parents=True)
    code = main(["train-sovits", "--root", str(tmp_path), "--exp", "nothing"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_DATA
    assert "2-name2text.txt" in err and "4-cnhubert" in err and "1A" in err


@pytest.mark.slow
def test_nonfinite_loss_stops_and_keeps_the_last_checkpoint(formatted, tiny_pretrained, tmp_path, capsys):
    root = own_copy(formatted, tiny_pretrained, tmp_path, clips=2)
    opts = trainer.SoVITSTrainOptions(root=root, exp=EXP, config=_config(formatted), epochs=1, batch_size=2,
                                      save_every=1, min_items=0, save_weights=False)  # one step per epoch
    assert trainer.run_training(lambda: trainer.train_sovits(opts)) == 0
    # resumed with an absurd learning rate: the first step blows the weights up, the next loss is not finite
    opts.epochs, opts.learning_rate = 3, 1e30
    code = trainer.run_training(lambda: trainer.train_sovits(opts))
    err = capsys.readouterr().err
    assert code == EXIT_NONFINITE, err
    assert "non-finite at step 2" in err and "last saved checkpoint is kept" in err
    logs = ProjectPaths(root).experiment(EXP).sovits_logs("v2")
    assert trainer._saved_steps(logs) == [1]
    assert load_checkpoint(logs / "G_1.pth").data["iteration"] == 1


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
    from gpt_sovits.train.sovits_step import make_optimizers

    hps = json.loads(TINY_S2.read_text())
    net_g, net_d = build_synthesizer(hps, "v2"), build_discriminator(hps, "v2")
    optim_g, optim_d = make_optimizers(net_g, net_d, hps["train"])
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    meta = {"version": "v2", "steps_per_epoch": 1, "world_size": 1}
    trainer.save_checkpoint(tmp_path, net_g, net_d, optim_g, optim_d, scaler, trainer.Position(2, 0, 1), hps, meta, 1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    real_save = torch.save

    def full_disk(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError, match="disk is full"):
        trainer.save_checkpoint(tmp_path, net_g, net_d, optim_g, optim_d, scaler, trainer.Position(3, 0, 2), hps,
                                meta, 1)
    monkeypatch.setattr(torch, "save", real_save)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files, old set intact
    assert trainer._saved_steps(tmp_path) == [1]


@pytest.mark.slow
def test_overfitting_two_clips_lowers_the_mel_loss(formatted):
    """6 steps on one fixed batch of 2 clips (same training segment each step) at lr 2e-3.

    Without learning the mel loss of a fixed target stays where it starts (only the posterior noise changes);
    measured here it falls to ~0.6 of its first value in 6 steps (upstream's 1e-4 needs far more steps on the
    random tiny models). Requiring < 0.75 leaves room for float noise while failing a step that does not learn
    (wrong sign, frozen decoder, gradients never applied).
    """
    from gpt_sovits.dataset.sovits_data import SoVITSDataset, collate, scan_items
    from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
    from gpt_sovits.train.sovits_init import initialise
    from gpt_sovits.train.sovits_step import StepDraws, make_optimizers, set_epoch_lr, train_step

    hps = json.loads(_config(formatted).read_text())
    hps["train"]["learning_rate"] = 2e-3
    paths = ProjectPaths(formatted)
    exp = paths.experiment(EXP)
    items = sorted(scan_items(exp, 32000, 640, min_items=0).items, key=lambda it: it.name)[:2]
    dataset = SoVITSDataset(exp, items, hps["data"])
    batch = collate([dataset[0], dataset[1]])
    torch.manual_seed(0)
    net_g, net_d = build_synthesizer(hps, "v2"), build_discriminator(hps, "v2")
    initialise(net_g, net_d, paths.pretrained_sovits_g("v2"), paths.pretrained_sovits_d("v2"), "v2")
    optim_g, optim_d = make_optimizers(net_g, net_d, hps["train"])
    set_epoch_lr(optim_g, hps["train"]["lr_decay"], 1)
    set_epoch_lr(optim_d, hps["train"]["lr_decay"], 1)
    net_g.train()
    net_d.train()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    gen = torch.Generator().manual_seed(1)
    draws = StepDraws(slice_rand=torch.tensor([0.3, 0.6]))
    mel = [float(train_step(net_g, net_d, optim_g, optim_d, batch, hps, scaler, draws=draws, generator=gen)
                 .losses["mel"]) for _ in range(6)]
    assert mel[-1] < 0.75 * mel[0], mel


@pytest.mark.slow
def test_two_process_ddp_run_through_torchrun(formatted, tiny_pretrained, tmp_path):
    """torchrun, 2 CPU processes (gloo): each rank trains half of every epoch's batches; rank 0 alone reports
    and saves."""
    root = own_copy(formatted, tiny_pretrained, tmp_path, clips=4)
    trainer_argv = _argv(root, config=_config(formatted), epochs=1, batch_size=1, save_every=1)[1:]
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *trainer_argv]
    events, log = tmp_path / "events.jsonl", tmp_path / "log.txt"
    proc = _start(argv, events, log)
    assert proc.wait(timeout=900) == 0, log.read_text()[-4000:]
    steps = _steps(_events(events))
    assert [e["step"] for e in steps] == [1, 2]  # 4 clips / (2 processes x batch 1), reported once
    assert "2 processes" in log.read_text()
    assert load_sovits(ProjectPaths(root).sovits_weights_dir("v2") / f"{EXP}_e1_s2.pth").version == "v2"


def _tiny_nets():
    from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
    from gpt_sovits.train.sovits_step import make_optimizers

    hps = json.loads(TINY_S2.read_text())
    net_g, net_d = build_synthesizer(hps, "v2"), build_discriminator(hps, "v2")
    return hps, net_g, net_d, *make_optimizers(net_g, net_d, hps["train"])


def test_continue_from_a_finetuned_file_and_refusals(tiny_pretrained, tmp_path):
    from gpt_sovits.models.checkpoints import save_sovits_weights
    from gpt_sovits.train.sovits_init import initialise

    paths = ProjectPaths(tiny_pretrained)
    hps, net_g, net_d, *_ = _tiny_nets()
    initialise(net_g, net_d, paths.pretrained_sovits_g(), paths.pretrained_sovits_d(), "v2")
    with torch.no_grad():
        net_g.dec.conv_pre.bias.add_(1.0)  # "finetuned"
    finetuned = save_sovits_weights(net_g, hps, tmp_path / "me_e8_s100.pth", "8epoch_100iteration")
    expected = net_g.dec.conv_pre.bias.detach().half().float()

    _, fresh_g, fresh_d, *_ = _tiny_nets()
    report = initialise(fresh_g, fresh_d, paths.pretrained_sovits_g(), paths.pretrained_sovits_d(), "v2", finetuned)
    assert torch.equal(fresh_g.dec.conv_pre.bias.detach(), expected)
    assert not report.missing and not report.unexpected  # enc_q came from the pretrained G
    assert any("continuing from" in line for line in report.lines())

    from gpt_sovits.models.safe_load import CheckpointError

    state = {k: v for k, v in load_checkpoint(finetuned).data["weight"].items()}
    state["enc_p.text_embedding.weight"] = state["enc_p.text_embedding.weight"][:322]  # a v1 symbol table
    v1 = tmp_path / "v1.pth"
    torch.save({"weight": state, "config": hps, "info": "x"}, v1)
    with pytest.raises(CheckpointError, match="v1"):
        initialise(fresh_g, fresh_d, paths.pretrained_sovits_g(), None, "v2", v1)


def test_resume_refuses_another_config_and_takes_upstreams_files(tmp_path):
    from gpt_sovits.train.control import TrainingError

    hps, net_g, net_d, optim_g, optim_d = _tiny_nets()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    meta = {"version": "v2", "steps_per_epoch": 5, "world_size": 1}
    trainer.save_checkpoint(tmp_path, net_g, net_d, optim_g, optim_d, scaler, trainer.Position(3, 0, 10), hps,
                            meta, 1)
    other = json.loads(json.dumps(hps))
    other["model"]["filter_channels"] = 256
    with pytest.raises(TrainingError, match="another model config"):
        trainer.resume(tmp_path, net_g, net_d, optim_g, optim_d, scaler, other, 5, meta)

    pos, line = trainer.resume(tmp_path, net_g, net_d, optim_g, optim_d, scaler, hps, 5, meta)
    assert (pos.epoch, pos.done_in_epoch, pos.global_step) == (3, 0, 10) and "G_10.pth" in line
    # upstream's files alone (no sidecar): epoch = iteration + 1, step = (epoch - 1) · steps per epoch
    (tmp_path / "train_state_10.pth").unlink()
    pos, line = trainer.resume(tmp_path, net_g, net_d, optim_g, optim_d, scaler, hps, 4, meta)
    assert (pos.epoch, pos.global_step) == (3, 8) and "upstream" in line


def test_several_gpus_are_launched_through_torchrun():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path)
    trainer.configure(parser)
    args = parser.parse_args(["--root", "/data", "--exp", "me", "--device", "cuda:0,cuda:2", "--no-weights"])
    command, env = trainer.torchrun_command(args)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    assert command[-2:] == ["--device", "cuda"] and "--no-weights" in command and "--exp" in command
    assert env == {"CUDA_VISIBLE_DEVICES": "0,2"}
    assert trainer.torchrun_command(parser.parse_args(["--exp", "me", "--device", "cuda:1"])) is None


def test_out_of_memory_names_batch_size_and_longest_clip(formatted, tiny_pretrained, tmp_path, monkeypatch, capsys):
    from gpt_sovits.train.control import EXIT_OOM

    def out_of_memory(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "train_step", out_of_memory)  # what a too-large batch does on a GPU
    root = own_copy(formatted, tiny_pretrained, tmp_path, clips=2)
    opts = trainer.SoVITSTrainOptions(root=root, exp=EXP, config=_config(formatted), epochs=1, batch_size=2,
                                      min_items=0)
    code = trainer.run_training(lambda: trainer.train_sovits(opts))
    err = capsys.readouterr().err
    assert code == EXIT_OOM, err
    longest = max(PICK[:2], key=lambda c: (ProjectPaths(root).experiment(EXP).wav32k_dir / c.name).stat().st_size)
    assert "batch size 2" in err and longest.name in err and "Lower the batch size" in err
