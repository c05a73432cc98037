"""The 1B pre-flight estimate on the tiny models, CPU, an 8-clip espeak-ng dataset formatted by 1A (all steps).

The estimate's prediction is checked against a real one-epoch run of each trainer in this process (same thread
count): the sum of the run's per-step seconds (from its progress events, model loading and saving excluded) must be
within a factor of 2 of the predicted seconds — a ratio of two measurements, no assertion on speed itself.
SoVITS runs with a 4-frame training segment and no small-set repetition (as its own tests) to stay cheap.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from dataset_helpers import CLIPS, formatted_root

from gpt_sovits.cli import main as cli_main
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EVENTS_ENV
from gpt_sovits.tiny.models import TINY_S2
from gpt_sovits.train.control import EXIT_BAD_DATA, Precision
from gpt_sovits.train.estimate import EstimateOptions, Probe, estimate, kept_sets, save_count, search_cuda

EXP = "est8"
PICK = [c for c in CLIPS if c.lang.lower() == "zh"][:4] + [c for c in CLIPS if c.lang.lower() == "en"][:4]
SEGMENT_FRAMES = 4


@pytest.fixture(scope="module")
def root(tiny_pretrained, tmp_path_factory) -> Path:
    """A data root with the tiny models, `est8` formatted by 1A (text, HuBERT/wav, semantic) and a test s2 config."""
    folder = formatted_root(tiny_pretrained, tmp_path_factory.mktemp("estimate"), EXP, PICK)
    hps = json.loads(TINY_S2.read_text())
    hps["train"]["segment_size"] = SEGMENT_FRAMES * hps["data"]["hop_length"]
    (folder / "s2_test.json").write_text(json.dumps(hps))
    return folder


def _files(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def _step_seconds(events_file: Path, stage: str) -> list[float]:
    lines = [json.loads(x) for x in events_file.read_text().splitlines() if x.strip()]
    return [e["s_per_step"] for e in lines if e.get("stage") == stage and "s_per_step" in e]


def _form_values(exp: str) -> dict:
    """The 1B form as a user would fill it: CPU, fp32, small batches, 1 SoVITS epoch, 2 GPT epochs (48 short steps)."""
    return {"exp": exp, "version": "v2", "device": "cpu", "precision": "fp32", "pre_g": "", "pre_d": "", "pre_gpt": "",
            "sovits_batch": 2, "sovits_epochs": 1, "sovits_save_every": 1, "text_lr": 0.4, "sovits_keep_latest": True,
            "sovits_save_weights": True, "sovits_continue": "",
            "gpt_batch": 4, "gpt_epochs": 2, "gpt_save_every": 1, "dpo": False, "gpt_keep_latest": True,
            "gpt_save_weights": True, "gpt_continue": ""}


@pytest.mark.slow
def test_estimate_predicts_a_real_epoch_of_each_trainer(root, tmp_path, monkeypatch):
    from gpt_sovits.train.gpt import GPTTrainOptions, train
    from gpt_sovits.train.sovits import SoVITSTrainOptions, train_sovits
    from gpt_sovits.ui.context import UiContext
    from gpt_sovits.ui.tabs.train import estimate_markdown, estimate_request

    paths = ProjectPaths(root)
    exp = paths.experiment(EXP)
    ctx = UiContext.create(str(root))
    request = estimate_request(ctx, _form_values(EXP))
    stage_args = [str(a) for a in request.argv[3:]]  # after "python -m gpt_sovits": what the tab's job runs
    assert stage_args[0] == "train-estimate"
    before = _files(exp.dir)
    weights_before = _files(paths.weights)
    events_file = tmp_path / "estimate.events"
    monkeypatch.setenv(EVENTS_ENV, str(events_file))
    code = cli_main([*stage_args, "--sovits-config", str(root / "s2_test.json"), "--min-items", "0"])
    assert code == 0

    out = Path(request.outputs[0])
    data = json.loads(out.read_text())
    after = _files(exp.dir)
    assert {k: v for k, v in after.items() if k != out.name} == before  # nothing else in logs/<exp>/ changed
    assert _files(paths.weights) == weights_before
    for key in ("sovits", "gpt"):
        e = data[key]
        assert "error" not in e, e
        assert 1 <= e["batch_size"] <= e["max_batch_size"] <= e["items"]
        assert e["seconds_per_step"] > 0 and e["timed_steps"] >= 4 and e["peak_memory_bytes"] > 0
        assert e["predicted_seconds"] == pytest.approx(e["seconds_per_step"] * e["steps_per_epoch"] * e["epochs"])
        assert e["epochs"] == (1 if key == "sovits" else 2) and e["disk_bytes"] > 0
    assert data["sovits"]["batch_size"] == 2 and data["gpt"]["batch_size"] == 4
    assert data["problems"] == [], data["problems"]
    assert any("largest batch" in json.loads(x).get("message", "") for x in events_file.read_text().splitlines())

    shown = estimate_markdown(ctx, EXP)
    assert "**SoVITS**" in shown and "**GPT**" in shown
    assert f"at batch {data['sovits']['batch_size']}" in shown and f"at batch {data['gpt']['batch_size']}" in shown

    # the real runs, same settings, same process (same threads); their per-step seconds from the progress events.
    # GPT first: its estimate ran last, so a change in the machine's load between estimate and run matters least
    sovits_events, gpt_events = tmp_path / "sovits.events", tmp_path / "gpt.events"
    monkeypatch.setenv(EVENTS_ENV, str(gpt_events))
    train(GPTTrainOptions(root=root, exp=EXP, epochs=2, batch_size=4, save_every=1, device="cpu", precision="fp32"))
    monkeypatch.setenv(EVENTS_ENV, str(sovits_events))
    train_sovits(SoVITSTrainOptions(root=root, exp=EXP, epochs=1, batch_size=2, save_every=1, device="cpu",
                                    precision="fp32", config=root / "s2_test.json", min_items=0),
                 reporter_log=lambda _t: None)

    for key, events, stage in (("sovits", sovits_events, "train-sovits"), ("gpt", gpt_events, "train-gpt")):
        seconds = _step_seconds(events, stage)
        assert len(seconds) == data[key]["steps_per_epoch"] * data[key]["epochs"], (key, seconds)
        ratio = data[key]["predicted_seconds"] / sum(seconds)
        print(f"{key}: predicted {data[key]['predicted_seconds']:.2f} s, measured {sum(seconds):.2f} s over "
              f"{len(seconds)} steps, ratio {ratio:.2f}")
        assert 0.5 <= ratio <= 2.0, (key, ratio, seconds, data[key])

    # the disk need against what the runs wrote (save every epoch, keep 1): SoVITS 1 resume set + 1 weights file;
    # GPT 2 weights files + 1 resume file left, 2 resume files at the peak (the new one is written before the old goes)
    gpt_resume = list((exp.gpt_logs() / "ckpt").glob("resume-*.pt"))
    assert len(gpt_resume) == 1
    written = {
        "sovits": sum(p.stat().st_size for p in exp.sovits_logs().glob("*.pth"))
        + sum(p.stat().st_size for p in paths.sovits_weights_dir().glob(f"{EXP}_*.pth")),
        "gpt": 2 * gpt_resume[0].stat().st_size
        + sum(p.stat().st_size for p in paths.gpt_weights_dir().glob(f"{EXP}-*.ckpt")),
    }
    for key, size in written.items():
        assert 0.8 <= data[key]["disk_bytes"] / size <= 1.25, (key, data[key]["disk_bytes"], size)


def test_unformatted_experiment_exits_3_and_names_the_1a_step(tiny_pretrained, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "pretrained_models").symlink_to(Path(tiny_pretrained) / "pretrained_models", target_is_directory=True)
    assert cli_main(["train-estimate", "--root", str(root), "--exp", "nothing", "--device", "cpu"]) == EXIT_BAD_DATA
    assert not ProjectPaths(root).experiment("nothing").dir.exists()  # nothing created for a missing experiment

    exp = ProjectPaths(root).experiment("half")
    exp.dir.mkdir(parents=True)
    out = tmp_path / "est.json"
    assert cli_main(["train-estimate", "--root", str(root), "--exp", "half", "--device", "cpu",
                     "--output", str(out)]) == EXIT_BAD_DATA
    data = json.loads(out.read_text())
    assert "2-name2text.txt" in data["sovits"]["error"] and "1A" in data["sovits"]["error"]
    assert "error" in data["gpt"]


@pytest.mark.slow
def test_one_trainer_failing_keeps_the_other_and_names_the_missing_file(root, tmp_path):
    """SoVITS cannot start (its pretrained G is missing): exit 0, SoVITS gets the error, GPT its estimate."""
    out = tmp_path / "est.json"
    missing = tmp_path / "nowhere" / "s2G.pth"
    code = cli_main(["train-estimate", "--root", str(root), "--exp", EXP, "--device", "cpu", "--output", str(out),
                     "--pretrained-g", str(missing), "--gpt-epochs", "3", "--gpt-batch-size", "2", "--steps", "4"])
    assert code == 0
    data = json.loads(out.read_text())
    assert str(missing) in data["sovits"]["error"]
    assert any("s2G.pth" in p and str(missing.parent) in p for p in data["problems"])
    assert data["gpt"]["epochs"] == 3 and data["gpt"]["batch_size"] == 2 and data["gpt"]["predicted_seconds"] > 0


def test_disk_counts_follow_the_trainers_save_rules():
    assert save_count(8, 4) == 2 and save_count(10, 4) == 3 and save_count(1, 5) == 1
    assert kept_sets(3, 1) == 2 and kept_sets(1, 1) == 1 and kept_sets(5, 0) == 5


def test_the_tabs_settings_reach_the_estimate(tmp_path):
    """Per-trainer "keep latest only" / "save weights every time" / DPO / pretrained files, as the tab spells them."""

    from gpt_sovits.train import estimate as est
    from gpt_sovits.ui.context import UiContext
    from gpt_sovits.ui.tabs.train import estimate_request

    values = {**_form_values(EXP), "gpt_keep_latest": False, "sovits_save_weights": False, "dpo": True,
              "sovits_save_every": 3, "pre_gpt": str(tmp_path / "my_gpt.ckpt")}
    argv = [str(a) for a in estimate_request(UiContext.create(str(tmp_path)), values).argv[4:]]
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path)
    est.configure(parser)
    opts = est.options_from_args(parser.parse_args(argv))
    assert opts.keep_all == ("gpt",) and opts.final_weights_only == ("sovits",) and opts.dpo
    assert opts.sovits_save_every == 3 and opts.pretrained_gpt == tmp_path / "my_gpt.ckpt" and opts.pretrained_g is None
    assert est.keep_of("gpt", opts) == 0 and est.keep_of("sovits", opts) == 1
    assert est.weights_written("sovits", 4, opts) == 1 and est.weights_written("gpt", 4, opts) == 4


def test_unknown_trainer_is_refused(tmp_path):
    from gpt_sovits.train.control import TrainingError

    with pytest.raises(TrainingError, match="Unknown trainer"):
        estimate(EstimateOptions(root=tmp_path, exp=EXP, device="cpu", trainers=("sovits", "hifigan")))


class FakeMeter:
    """Memory as a made-up function of the last batch: `fixed + per_item · size` above `base`."""

    def __init__(self, base: int = 0, fixed: int = 0, per_item: int = 0) -> None:
        self.base, self.fixed, self.per_item, self.size = base, fixed, per_item, 0

    def reset(self) -> None:
        self.size = 0

    def current(self) -> int:
        return self.base

    def peak(self) -> int:
        return self.base + self.fixed + self.per_item * self.size


def _fake_probe(meter: FakeMeter, limit: int, cap: int = 500) -> tuple[Probe, list[int]]:
    """A trainer whose step runs out of memory above `limit` items per batch; records the sizes tried."""
    sizes: list[int] = []

    def step(batch: list[int], _index: int) -> None:
        sizes.append(len(batch))
        if len(batch) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        meter.size = len(batch)

    cpu = torch.device("cpu")
    probe = Probe(name="fake", device=cpu, precision=Precision(cpu, None), items=cap, batch_cap=cap,
                  longest=list(range(cap)), longest_label="x (1.0 s)", clamp=lambda b: b,
                  epoch_batches=lambda b: [list(range(b))] * 3, load=lambda ids: list(ids), step=step,
                  saved_bytes=lambda _e, _b: 0, loads_in_step=True)
    return probe, sizes


def test_gpu_search_doubles_until_out_of_memory_then_bisects():
    meter = FakeMeter(fixed=10, per_item=100)
    probe, sizes = _fake_probe(meter, limit=37)
    found, tried = search_cuda(probe, meter, lambda _t: None)
    assert found == 37
    assert sizes[:7] == [1, 2, 4, 8, 16, 32, 64] and len(sizes) == 7 + 5  # bisect 32..64: 48, 40, 36, 38, 37
    assert tried[64] is None and tried[37] == 10 + 3700
    probe, sizes = _fake_probe(FakeMeter(), limit=10**6, cap=20)
    assert search_cuda(probe, FakeMeter(), lambda _t: None)[0] == 20 and max(sizes) == 20  # capped at the items
    probe, _ = _fake_probe(FakeMeter(), limit=0)
    assert search_cuda(probe, FakeMeter(), lambda _t: None)[0] == 0  # not even one item fits


def test_cpu_fit_extrapolates_two_batches_to_the_available_ram(monkeypatch):
    import gpt_sovits.train.estimate as est

    monkeypatch.setattr(est, "available_ram", lambda: 10 * 2**30)
    meter = FakeMeter(base=2**30, fixed=200 * 2**20, per_item=300 * 2**20)
    probe, sizes = _fake_probe(meter, limit=10**6)
    found, growth, per_item = est.fit_cpu(probe, meter, 0.85, lambda _t: None)
    assert sizes == [1, 1, 3]  # a first step allocates the optimiser state, then the two measured
    assert per_item == 300 * 2**20 and growth == {1: 500 * 2**20, 3: 1100 * 2**20}
    assert found == int((0.85 * 10 * 2**30 - 200 * 2**20) / (300 * 2**20))  # 28
    probe, _ = _fake_probe(meter, limit=10**6, cap=12)
    assert est.fit_cpu(probe, meter, 0.85, lambda _t: None)[0] == 12  # never more than the items

def test_a_step_failing_mid_way_leaves_a_usable_loss_scaler():
    """fp16: out of memory between unscale_ and update would make every later step refuse; the scale carries over."""
    from gpt_sovits.train.estimate import Scaler

    box = Scaler(Precision(torch.device("cpu"), torch.float16))
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    box.scaler.scale(p.sum()).backward()
    box.scaler.unscale_(opt)  # ... and then the step runs out of memory
    with pytest.raises(RuntimeError, match="already been called"):
        box.scaler.unscale_(opt)
    scale = box.scaler.get_scale()
    box.renew()
    box.scaler.scale(p.sum()).backward()
    box.scaler.unscale_(opt)
    box.scaler.step(opt)
    box.scaler.update()
    assert box.scaler.get_scale() == scale


@pytest.mark.slow
def test_an_unloadable_pretrained_gpt_is_a_problem_naming_the_file(root, tmp_path):
    broken = tmp_path / "broken_gpt.ckpt"
    broken.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    out = tmp_path / "est.json"
    assert cli_main(["train-estimate", "--root", str(root), "--exp", EXP, "--device", "cpu", "--trainers", "gpt",
                     "--pretrained-gpt", str(broken), "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert str(broken) in data["gpt"]["error"] and "sovits" not in data
    assert any(str(broken) in p and "cannot be loaded" in p for p in data["problems"]), data["problems"]


def test_version_defaults_to_the_experiments_formatted_version(tmp_path):
    from gpt_sovits.paths import ProjectPaths
    from gpt_sovits.train import estimate as est

    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path)
    est.configure(parser)
    argv = ["--root", str(tmp_path), "--exp", "voice"]
    assert est.options_from_args(parser.parse_args(argv)).version == "v2"  # nothing recorded
    exp = ProjectPaths(tmp_path).experiment("voice")
    exp.dir.mkdir(parents=True)
    exp.format_source.write_text(json.dumps({"version": "v2Pro"}))
    assert est.options_from_args(parser.parse_args(argv)).version == "v2Pro"
    assert est.options_from_args(parser.parse_args([*argv, "--version", "v2"])).version == "v2"
