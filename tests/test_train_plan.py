"""The 1B tab's core: experiments offered, upstream's defaults, trainer command lines, weights found, exclusivity."""

import json
import shlex
import sys

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.devices import DeviceInfo, GpuInfo
from gpt_sovits.jobs import JobConflict, JobRunner
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.train.chain import parse_stages
from gpt_sovits.train.plan import (
    TrainerSettings, default_version, experiment_weights, formatted_experiments, train_defaults, version_files,
)
from gpt_sovits.infer.references import guess_language
from gpt_sovits.train.preview import pending_previews, pick_reference, preview_path
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.job_panel import loss_plot_svg


def _gpu(mem: float, fp16: bool = True) -> GpuInfo:
    return GpuInfo(0, "Test GPU", mem + 0.4, 8.9 if fp16 else 6.1, True, fp16)


def test_defaults_follow_upstreams_memory_rule():
    d = train_defaults(DeviceInfo(gpus=[_gpu(24.0)], ram_gb=64))
    assert (d.sovits_batch, d.sovits_batch_max, d.gpt_batch) == (12, 36, 12)
    assert train_defaults(DeviceInfo(gpus=[_gpu(8.0, fp16=False)])).sovits_batch == 2  # halved without fp16
    cpu = train_defaults(DeviceInfo(ram_gb=24.0))
    assert cpu.sovits_batch == 3 and cpu.gpt_batch == 3
    assert (cpu.sovits_epochs, cpu.sovits_save_every, cpu.gpt_epochs, cpu.gpt_save_every) == (8, 4, 15, 5)


def _formatted(root, name: str, clips: dict[str, tuple[float, str]]) -> ProjectPaths:
    paths = ProjectPaths(root)
    exp = paths.experiment(name)
    exp.wav32k_dir.mkdir(parents=True)
    exp.hubert_dir.mkdir()
    lines = []
    for clip, (seconds, text) in clips.items():
        sf.write(exp.wav32k_dir / clip, np.zeros(int(seconds * 32000), np.int16), 32000)
        (exp.hubert_dir / f"{clip}.pt").write_bytes(b"x")
        lines.append(f"{clip}\tn i2\t[2]\t{text}")
    exp.name2text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def test_formatted_experiments_count_clips_and_duration(tmp_path):
    paths = _formatted(tmp_path, "voice", {"a.wav": (2.0, "你好"), "b.wav": (4.5, "再见")})
    (paths.logs / "not_formatted").mkdir()
    (paths.logs / ".jobs").mkdir()
    [s] = formatted_experiments(paths)
    assert (s.name, s.clips, s.has_audio, s.has_semantic) == ("voice", 2, True, False)
    assert s.seconds == pytest.approx(6.5)
    assert s.label == "voice (2 clips, 0:06) — no semantic tokens"


def test_reference_for_previews_is_a_3_to_10_s_clip_with_text(tmp_path):
    paths = _formatted(tmp_path, "v", {"short.wav": (1.0, "短"), "ok.wav": (5.0, "这是参考"), "long.wav": (12.0, "长")})
    ref = pick_reference(paths, "v")
    assert ref.path.name == "ok.wav" and ref.lang == "all_zh" and ref.text == "这是参考"
    assert [guess_language(x) for x in ("hello", "こんにちは", "안녕", "你好")] == ["en", "all_ja", "all_ko", "all_zh"]


def test_experiment_weights_and_pending_previews(tmp_path):
    paths = ProjectPaths(tmp_path)
    sov = paths.sovits_weights_dir("v2")
    gpt = paths.gpt_weights_dir("v2")
    sov.mkdir(parents=True), gpt.mkdir(parents=True)
    for name in ("voice_e4_s40.pth", "voice_e10_s100.pth", "voice_e8_s80.pth", "voice2_e4_s4.pth", "x.pth"):
        (sov / name).write_bytes(b"x")
    for name in ("voice-e5.ckpt", "voice-e15.ckpt", "other-e5.ckpt"):
        (gpt / name).write_bytes(b"x")
    found = experiment_weights(paths, "voice")
    assert [(w.kind, w.epoch) for w in found] == [("sovits", 4), ("sovits", 8), ("sovits", 10), ("gpt", 5),
                                                   ("gpt", 15)]
    preview = preview_path(paths, "voice", found[0].path)
    preview.parent.mkdir(parents=True)
    preview.write_bytes(b"RIFF")
    assert [w.path.name for w in pending_previews(paths, "voice")] == [
        "voice_e8_s80.pth", "voice_e10_s100.pth", "voice-e5.ckpt", "voice-e15.ckpt"]


def test_trainer_command_lines(tmp_path):
    from gpt_sovits.ui.tabs.train import FORM_KEYS, train_request

    s = TrainerSettings(epochs=8, batch_size=4, save_every=4, keep_latest=False, save_every_weights=False,
                        device="cpu", precision="fp32", pretrained=("G.pth", "D.pth"), text_low_lr_rate=0.4)
    assert s.args("sovits") == ["--epochs", "8", "--batch-size", "4", "--save-every", "4", "--device", "cpu",
                                "--precision", "fp32", "--version", "v2", "--keep-latest", "0", "--final-weights-only",
                                "--pretrained-g", "G.pth", "--pretrained-d", "D.pth", "--text-low-lr-rate", "0.4"]
    ctx = UiContext.create(str(tmp_path))
    values = dict.fromkeys(FORM_KEYS, "")
    values.update(exp="my voice", version="v2", device="cpu", precision="auto", sovits_batch=2, sovits_epochs=3,
                  sovits_save_every=1, text_lr=0.4, sovits_keep_latest=True, sovits_save_weights=True, gpt_batch=5,
                  gpt_epochs=4, gpt_save_every=2, dpo=True, gpt_keep_latest=True, gpt_save_weights=True,
                  pre_gpt="/p/gpt.ckpt")
    req = train_request(ctx, "chain", values)
    argv = req.argv
    assert argv[argv.index("--exp") + 1] == "my voice"
    stages = parse_stages("sovits,gpt", argv[argv.index("--sovits-args") + 1], argv[argv.index("--gpt-args") + 1])
    assert [st.name for st in stages] == ["sovits", "gpt"]
    assert stages[1].args[:2] == ("--epochs", "4") and "--dpo" in stages[1].args
    assert shlex.join(stages[1].args).endswith("--pretrained /p/gpt.ckpt --dpo")
    with pytest.raises(ValueError, match="Choose an experiment"):
        train_request(ctx, "sovits", {**values, "exp": None})


def test_versions_offered_and_defaults_follow_formatting_and_pretrained_files(tmp_path):
    from gpt_sovits.ui.tabs.train import VERSIONS, version_markdown

    assert VERSIONS == ("v2", "v1", "v2Pro", "v2ProPlus")
    pro = TrainerSettings(epochs=8, batch_size=4, save_every=4, version="v2Pro")
    for trainer in ("sovits", "gpt"):
        args = pro.args(trainer)
        assert args[args.index("--version") + 1] == "v2Pro"
    with pytest.raises(ValueError, match="v4"):
        TrainerSettings(epochs=8, batch_size=4, save_every=4, version="v4").args("gpt")

    paths = ProjectPaths(tmp_path)
    assert default_version(paths, None) == "v2"  # nothing present: the project's default
    missing = version_files(paths, "v2Pro")
    assert not missing.ready and {w for w, _, _ in missing.missing} == {"SoVITS G", "SoVITS D", "GPT"}
    note = version_markdown(UiContext.create(str(tmp_path)), "v2Pro")
    assert "s2Gv2Pro.pth" in note and str(paths.pretrained_models / "v2Pro") in note and "s1v3.ckpt" in note

    for f in (paths.pretrained_sovits_g("v2Pro"), paths.pretrained_gpt("v2Pro")):  # no D: still ready
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"PK not really")
    assert version_files(paths, "v2Pro").ready and not version_files(paths, "v2ProPlus").ready
    assert default_version(paths, None) == "v2Pro"  # the only version whose files are there

    exp = paths.experiment("voice")
    exp.sv_dir.mkdir(parents=True)
    (exp.sv_dir / "a.wav.pt").write_bytes(b"x")
    assert default_version(paths, "voice") == "v2Pro"  # speaker embeddings, no recorded version
    exp.format_source.write_text(json.dumps({"list": "x.list", "version": "v2ProPlus"}))
    assert default_version(paths, "voice") == "v2ProPlus"  # what 1A formatted it for wins

    sov = paths.sovits_weights_dir("v2Pro")
    sov.mkdir(parents=True)
    (sov / "voice_e1_s1.pth").write_bytes(b"x")
    (paths.weights / "SoVITS_weights").mkdir()
    (paths.weights / "SoVITS_weights" / "voice_e2_s2.pth").write_bytes(b"x")
    assert sorted((w.epoch, w.version) for w in experiment_weights(paths, "voice")) == [(1, "v2Pro"), (2, "v1")]


def test_format_and_training_exclude_each_other_per_experiment(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    job = runner.start("train-chain", "voice", sleeper)
    try:
        with pytest.raises(JobConflict, match="train-chain job is already running for experiment 'voice'"):
            runner.start("format", "voice", sleeper)
        with pytest.raises(JobConflict, match="train-chain job is already running"):
            runner.start("train-gpt", "voice", sleeper)
        other = runner.start("format", "another", [sys.executable, "-c", "pass"])  # other experiments are free
        runner.wait(other.id, timeout=30)
    finally:
        runner.stop(job.id)


def test_loss_plot_shows_the_running_stage_only():
    points = [{"t": 0, "step": 1, "epoch": 1, "stage": "train-sovits", "mel": 30.0},
              {"t": 1, "step": 2, "epoch": 1, "stage": "train-sovits", "mel": 20.0},
              {"t": 2, "step": 1, "epoch": 1, "stage": "train-gpt", "total": 400.0}]
    svg = loss_plot_svg(points)
    assert "total" in svg and "mel" not in svg
    assert "mel" in loss_plot_svg(points[:2])


def test_estimate_markdown_reads_the_estimate_file(tmp_path):
    from gpt_sovits.ui.tabs.train import ESTIMATE_FILE, estimate_markdown

    ctx = UiContext.create(str(tmp_path))
    assert "No estimate yet" in estimate_markdown(ctx, "voice")
    folder = ctx.paths.experiment("voice").dir
    folder.mkdir(parents=True)
    (folder / ESTIMATE_FILE).write_text(json.dumps({
        "sovits": {"max_batch_size": 6, "batch_size": 4, "seconds_per_step": 1.5, "predicted_seconds": 3725,
                   "epochs": 8, "peak_memory_bytes": 3 * 2**30, "disk_bytes": 800 * 2**20},
        "gpt": {"error": "no semantic tokens: run 1Ac"}, "problems": ["pretrained GPT missing"]}))
    md = estimate_markdown(ctx, "voice")
    assert "fits 6" in md and "1.50 s/step" in md and "1 h 02 min" in md and "3.0 GB" in md and "800.0 MB" in md
    assert "run 1Ac" in md and "pretrained GPT missing" in md
