"""1Ba: SoVITS finetuning as a job — `python -m gpt_sovits train-sovits --root DIR --exp NAME [options]`.

Upstream's `s2_train.py` recipe (see `sovits_step`), run as a loop that reports every step (progress events and
TensorBoard), saves atomically every N epochs and always after the last one, stops cleanly on SIGTERM (the job's
Stop) and resumes from where it stopped. Resume files in `logs/<exp>/logs_s2_<ver>/` are upstream's
``G_<step>.pth`` / ``D_<step>.pth`` (``model``, ``iteration`` = completed epochs, ``optimizer``, ``learning_rate``),
so upstream can resume ours and we resume upstream's; our ``train_state_<step>.pth`` beside them adds the global
step, the position inside an epoch, the RNG and loss-scaler state and the config. It is written last, so a set
without it is never taken for complete. Several GPUs: start it through ``torchrun``.

Versions v1, v2, v2Pro and v2ProPlus (default: the one 1A formatted the experiment for, see ``versions``). v2Pro and
v2ProPlus start from ``pretrained_models/v2Pro/s2G<version>.pth`` / ``s2D<version>.pth``, read 1A's speaker
embeddings (``7-sv_cn/``), train the discriminator with upstream's two extra periods, and write weights with
upstream's version header into ``SoVITS_weights_<version>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gpt_sovits.audio.spectrogram import spec_to_mel
from gpt_sovits.dataset.readers import require_formatted
from gpt_sovits.dataset.sovits_data import MIN_ITEMS, BucketSampler, SoVITSData, SoVITSDataset, collate, scan_items
from gpt_sovits.dataset.steps import SV_VERSIONS
from gpt_sovits.models.checkpoints import save_sovits_weights
from gpt_sovits.models.safe_load import CheckpointError, load_checkpoint
from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
from gpt_sovits.paths import PROJECT_DIR, ExperimentPaths, ProjectPaths
from gpt_sovits.progress import EventWriter
from gpt_sovits.train.checkpoint import atomic_save, rng_state, set_rng_state
from gpt_sovits.train.control import (
    EXIT_BAD_DATA,
    Precision,
    StopSignal,
    TrainingError,
    check_finite,
    choose_precision,
    oom_guard,
    resolve_device,
    run_training,
)
from gpt_sovits.train.distributed import barrier, cleanup, dist_info, init_distributed
from gpt_sovits.train.report import TrainReporter, mel_image
from gpt_sovits.train.sovits_init import initialise
from gpt_sovits.train.sovits_step import LOSS_NAMES, make_optimizers, set_epoch_lr, train_step, unwrap
from gpt_sovits.train.versions import SOVITS_VERSIONS, training_version, version_note

STAGE = "train-sovits"
DEFAULT_CONFIG = PROJECT_DIR / "configs" / "s2.json"


def default_config(version: str) -> Path:
    """Upstream's webui: configs/s2.json for v1/v2, configs/s2<version>.json for v2Pro/v2ProPlus."""
    return PROJECT_DIR / "configs" / f"s2{version}.json" if version in SV_VERSIONS else DEFAULT_CONFIG
STATE_RE = re.compile(r"^train_state_(\d+)\.pth$")
UPSTREAM_G_RE = re.compile(r"^G_(\d+)\.pth$")


@dataclass
class SoVITSTrainOptions:
    root: Path
    exp: str
    epochs: int = 8
    batch_size: int = 4
    save_every: int = 4  # epochs between saves; the last epoch is always saved
    keep_latest: int = 1  # resume sets kept (0: keep all)
    save_weights: bool = True  # weights/SoVITS_weights_<ver>/<exp>_e<E>_s<S>.pth at every save
    final_weights_only: bool = False  # weights only after the last epoch (resume checkpoints still at every save)
    precision: str = "auto"
    device: str = "auto"
    version: str | None = None  # None: the version 1A formatted the experiment for (v2 when it recorded none)
    config: Path | None = None  # s2 config (default: configs/s2.json, v2Pro*: configs/s2<version>.json)
    pretrained_g: Path | None = None  # default: the version's pretrained G under pretrained_models/
    pretrained_d: Path | None = None
    continue_from: Path | None = None  # a finetuned SoVITS weights file to start from
    text_low_lr_rate: float = 0.4
    learning_rate: float | None = None
    seed: int = 1234
    workers: int | None = None  # DataLoader workers (default: 0 on CPU, 4 on CUDA)
    min_items: int = MIN_ITEMS
    threads: int | None = None  # torch CPU threads (default: torch's choice)


@dataclass
class TrainOutcome:
    status: str  # "finished" | "stopped" | "nothing to do"
    epoch: int
    global_step: int
    weights: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Position:
    """Where training stands: the epoch in progress (1-based), batches of it already done, optimizer steps so far."""

    epoch: int = 1
    done_in_epoch: int = 0
    global_step: int = 0


# --------------------------------------------------------------------------------------------------- config
def _stored_model_config(path: Path) -> dict[str, Any] | None:
    """The `model` section of the config a SoVITS G file carries (None when absent or unreadable: the trainer
    reports an unreadable file itself when it loads the weights)."""
    if not path.is_file():
        return None
    try:
        config = load_checkpoint(path).data.get("config")
    except (CheckpointError, OSError):
        return None
    model = config.get("model") if isinstance(config, dict) else None
    return dict(model) if isinstance(model, dict) else None


def training_config(opts: SoVITSTrainOptions, exp: ExperimentPaths, project: ProjectPaths) -> dict[str, Any]:
    """The s2 config with what upstream's webui writes into TEMP/tmp_s2.json before training.

    Without an explicit `--config`, the network's dimensions (the `model` section) come from the config stored in
    the pretrained G file when it has one, so the network always matches the weights it starts from (upstream
    always takes configs/s2.json and would fail on a file of another size); everything else is configs/s2.json.
    """
    if opts.version is None:
        opts = replace(opts, version=training_version(exp, None, SOVITS_VERSIONS))
    path = opts.config or default_config(opts.version)
    hps = json.loads(Path(path).read_text(encoding="utf-8"))
    if opts.config is None:
        stored = _stored_model_config(Path(opts.pretrained_g or project.pretrained_sovits_g(opts.version)))
        if stored:
            hps["model"].update(stored)
    train = hps["train"]
    train.update(batch_size=opts.batch_size, epochs=opts.epochs, text_low_lr_rate=opts.text_low_lr_rate,
                 save_every_epoch=opts.save_every, if_save_latest=opts.keep_latest == 1,
                 if_save_every_weights=opts.save_weights, seed=opts.seed)
    if opts.learning_rate is not None:
        train["learning_rate"] = opts.learning_rate
    train["pretrained_s2G"] = str(opts.pretrained_g or project.pretrained_sovits_g(opts.version))
    train["pretrained_s2D"] = str(opts.pretrained_d or project.pretrained_sovits_d(opts.version))
    hps["model"]["version"] = opts.version
    hps["data"]["exp_dir"] = str(exp.dir)
    hps["s2_ckpt_dir"] = str(exp.dir)
    hps["save_weight_dir"] = str(project.sovits_weights_dir(opts.version))
    hps["name"] = exp.name
    hps["version"] = opts.version
    return hps


# --------------------------------------------------------------------------------------------------- checkpoints
def _saved_steps(folder: Path) -> list[int]:
    """Steps with a complete resume set (our sidecar + upstream G/D files), oldest first."""
    steps = []
    for p in folder.glob("train_state_*.pth"):
        m = STATE_RE.match(p.name)
        if m and (folder / f"G_{m.group(1)}.pth").is_file() and (folder / f"D_{m.group(1)}.pth").is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def save_checkpoint(folder: Path, net_g: nn.Module, net_d: nn.Module, optim_g: torch.optim.Optimizer,
                    optim_d: torch.optim.Optimizer, scaler: torch.amp.GradScaler, pos: Position, hps: dict,
                    meta: dict[str, Any], keep: int) -> Path:
    """Upstream's G/D files, then our sidecar (the commit mark), then older sets beyond ``keep`` are removed."""
    completed = pos.epoch - 1  # whole epochs behind this point (upstream's "iteration")
    lr = float(hps["train"]["learning_rate"])
    step = pos.global_step
    atomic_save({"model": unwrap(net_g).state_dict(), "iteration": completed, "optimizer": optim_g.state_dict(),
                 "learning_rate": lr}, folder / f"G_{step}.pth")
    atomic_save({"model": unwrap(net_d).state_dict(), "iteration": completed, "optimizer": optim_d.state_dict(),
                 "learning_rate": lr}, folder / f"D_{step}.pth")
    state = {"global_step": step, "epoch": pos.epoch, "done_in_epoch": pos.done_in_epoch, "rng": rng_state(),
             "scaler": scaler.state_dict(), "config": hps, **meta}
    path = atomic_save(state, folder / f"train_state_{step}.pth")
    if keep > 0:
        for old in _saved_steps(folder)[:-keep]:
            for name in (f"train_state_{old}.pth", f"G_{old}.pth", f"D_{old}.pth"):
                (folder / name).unlink(missing_ok=True)
    return path


def _load(path: Path) -> dict[str, Any]:
    data = load_checkpoint(path).data
    if not isinstance(data, dict) or "model" not in data:
        raise CheckpointError(f"{path}: not a SoVITS resume checkpoint (no 'model')")
    return data


def _load_model_and_optimizer(path: Path, net: nn.Module, optim: torch.optim.Optimizer, what: str) -> dict:
    data = _load(path)
    try:
        unwrap(net).load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in data["model"].items()})
    except RuntimeError as err:
        raise TrainingError(f"The {what} checkpoint {path} does not fit this model ({str(err).splitlines()[0]}). "
                            "It belongs to another experiment, version or config: move logs_s2 away or start a new "
                            "experiment.", EXIT_BAD_DATA) from None
    if data.get("optimizer") is not None:
        configured = [g["initial_lr"] for g in optim.param_groups]
        try:
            optim.load_state_dict(data["optimizer"])
        except (ValueError, KeyError) as err:
            raise TrainingError(f"The optimizer state in {path} does not fit ({err}).", EXIT_BAD_DATA) from None
        for group, lr in zip(optim.param_groups, configured):
            group["initial_lr"] = lr  # the rate rule follows the current config, not the saved rates
    return data


def resume(folder: Path, net_g: nn.Module, net_d: nn.Module, optim_g: torch.optim.Optimizer,
           optim_d: torch.optim.Optimizer, scaler: torch.amp.GradScaler, hps: dict, steps_per_epoch: int,
           meta: dict[str, Any]) -> tuple[Position, str] | None:
    """Load the newest resume set (ours, else upstream's G_/D_ files); None when there is none."""
    steps = _saved_steps(folder)
    if steps:
        step = steps[-1]
        state = load_checkpoint(folder / f"train_state_{step}.pth").data
        saved_model = state.get("config", {}).get("model", {})
        if saved_model and {k: v for k, v in saved_model.items() if k != "version"} != {
                k: v for k, v in hps["model"].items() if k != "version"} or state.get("version") != meta["version"]:
            raise TrainingError(f"The checkpoint in {folder} was trained with another model config or version; "
                                "refusing to resume it (move the folder away to start over).", EXIT_BAD_DATA)
        _load_model_and_optimizer(folder / f"G_{step}.pth", net_g, optim_g, "generator")
        _load_model_and_optimizer(folder / f"D_{step}.pth", net_d, optim_d, "discriminator")
        pos = Position(int(state["epoch"]), int(state["done_in_epoch"]), int(state["global_step"]))
        note = ""
        if pos.done_in_epoch and (state.get("steps_per_epoch") != steps_per_epoch
                                  or state.get("world_size") != meta["world_size"]):
            note = " (batches per epoch changed: epoch restarts from its first batch)"
            pos.done_in_epoch = 0
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if state.get("rng"):
            set_rng_state(state["rng"])
        return pos, f"resumed from {folder / f'G_{step}.pth'} at epoch {pos.epoch}, step {pos.global_step}{note}"
    upstream = sorted((int(m.group(1)), p) for p in folder.glob("G_*.pth") if (m := UPSTREAM_G_RE.match(p.name)))
    if not upstream:
        return None
    number, g_path = upstream[-1]
    d_path = folder / f"D_{number}.pth"
    if not d_path.is_file():
        raise TrainingError(f"{g_path} has no matching {d_path.name}; cannot resume.", EXIT_BAD_DATA)
    data = _load_model_and_optimizer(g_path, net_g, optim_g, "generator")
    _load_model_and_optimizer(d_path, net_d, optim_d, "discriminator")
    epoch = int(data.get("iteration", 0)) + 1
    pos = Position(epoch, 0, (epoch - 1) * steps_per_epoch)
    return pos, f"resumed upstream's checkpoint {g_path} at epoch {epoch} (step {pos.global_step})"


# --------------------------------------------------------------------------------------------------- the loop
def _preview(net_g: nn.Module, dataset: SoVITSDataset, reporter: TrainReporter, hps: dict, step: int,
             device: torch.device) -> None:
    """TensorBoard: a mel image and a resynthesis of the first training clip (codes + phones + its own timbre)."""
    model = unwrap(net_g)
    ssl, spec, _wav, text, name, sv_emb = dataset[0]
    frames = min(spec.shape[-1], 250)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            codes = model.extract_latent(ssl[:, :, :frames].float().to(device))  # [1, n_q, T25]
            audio = model.decode(codes.transpose(0, 1), text[None].to(device), spec[None, :, :frames].to(device),
                                 sv_emb=None if sv_emb is None else sv_emb.to(device))
    finally:
        model.train(was_training)
    data = hps["data"]
    mel = spec_to_mel(spec[None], data["filter_length"], data["n_mel_channels"], data["sampling_rate"],
                      data["mel_fmin"], data["mel_fmax"])[0]
    reporter.image(f"clip/{name}/mel", mel_image(mel.numpy()), step)
    reporter.audio(f"clip/{name}/resynthesis", audio[0, 0].float().cpu().numpy(), int(data["sampling_rate"]), step)


def _ignore_stop_signals(_worker_id: int) -> None:
    """Data workers leave Stop to the main process: the job's SIGTERM reaches the whole process group, and a worker
    dying of it would abort the step the trainer is finishing (workers exit by themselves when the trainer does)."""
    for name in ("SIGTERM", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _longest_clip(data: SoVITSData) -> str:
    item = max(data.items, key=lambda it: it.frames)
    return f"{item.name} ({item.frames * 0.02:.1f} s)"


def train_sovits(opts: SoVITSTrainOptions, reporter_log=print) -> TrainOutcome:
    """Run (or resume) a SoVITS finetune; see the module docstring."""
    project = ProjectPaths(opts.root)
    exp = project.experiment(opts.exp)
    if opts.epochs < 1 or opts.batch_size < 1 or opts.save_every < 1:
        raise TrainingError("epochs, batch size and save interval must be at least 1.")
    require_formatted(exp, ("name2text", "hubert", "wav32k"))
    opts = replace(opts, version=training_version(exp, opts.version, SOVITS_VERSIONS))
    if opts.version in SV_VERSIONS:
        require_formatted(exp, ("sv",))
    hps = training_config(opts, exp, project)
    data_hps, train_hps = hps["data"], hps["train"]

    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = resolve_device(opts.device)
    dist = init_distributed(device.type)
    if dist.distributed and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    precision: Precision = choose_precision(device, opts.precision)
    torch.manual_seed(opts.seed)

    data = scan_items(exp, int(data_hps["sampling_rate"]), int(data_hps["hop_length"]), opts.version, opts.min_items)
    if data.unique == 0:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in data.skipped[:10]) or "the folders are empty"
        raise TrainingError(f"No clip of {exp.name!r} can be trained ({reasons}). Run 1A (format) for this experiment "
                            f"with model version {opts.version}.", EXIT_BAD_DATA)
    dataset = SoVITSDataset(exp, data.items, data_hps, opts.version)
    sampler = BucketSampler(dataset.lengths, opts.batch_size, world_size=dist.world_size, rank=dist.rank)
    steps_per_epoch = len(sampler)
    if steps_per_epoch == 0:
        raise TrainingError("No batch can be formed from the data.", EXIT_BAD_DATA)
    workers = opts.workers if opts.workers is not None else (4 if device.type == "cuda" else 0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                         worker_init_fn=_ignore_stop_signals if workers > 0 else None)

    net_g = build_synthesizer(hps, opts.version)
    net_d = build_discriminator(hps, opts.version)
    pretrained_g = Path(train_hps["pretrained_s2G"])
    pretrained_d = Path(train_hps["pretrained_s2D"])
    optim_g, optim_d = make_optimizers(net_g, net_d, train_hps)
    scaler = precision.make_scaler()
    logs = exp.sovits_logs(opts.version)
    meta = {"exp": exp.name, "version": opts.version, "steps_per_epoch": steps_per_epoch,
            "world_size": dist.world_size, "batch_size": opts.batch_size}

    is_main = dist.is_main
    reporter = TrainReporter(STAGE, logs if is_main else None, steps_per_epoch * opts.epochs,
                             events=None if is_main else EventWriter(None),
                             log=reporter_log if is_main else (lambda _t: None))
    outcome = TrainOutcome("finished", 0, 0, skipped=[{"name": s.name, "reason": s.reason} for s in data.skipped])
    try:
        resumed = resume(logs, net_g, net_d, optim_g, optim_d, scaler, hps, steps_per_epoch, meta)
        if resumed is None:
            try:
                report = initialise(net_g, net_d, pretrained_g, pretrained_d if pretrained_d.is_file() else None,
                                    opts.version, opts.continue_from)
            except (CheckpointError, FileNotFoundError) as err:
                raise TrainingError(str(err), EXIT_BAD_DATA) from None
            pos = Position()
            for line in report.lines():
                reporter.message(line)
        else:
            pos, line = resumed
            if opts.continue_from is not None:
                reporter.message(f"--continue-from is ignored: {logs} holds a checkpoint to resume", "warning")
            reporter.message(line)
        note = version_note(exp, opts.version, "sovits")
        if note:
            reporter.message(note, "warning")
        for s in data.skipped:
            reporter.message(f"skipped {s.name}: {s.reason}", "warning")
        reporter.message(f"{data.unique} clips, {len(data.items)} items per epoch, {steps_per_epoch} steps per epoch, "
                         f"batch size {opts.batch_size}, {precision.name} on {device}"
                         + (f", {dist.world_size} processes" if dist.distributed else ""))

        net_g.to(device)
        net_d.to(device)
        for opt in (optim_g, optim_d):  # optimizer state loaded on the CPU follows its parameters
            for st in opt.state.values():
                for k, v in st.items():
                    if isinstance(v, torch.Tensor) and k != "step":
                        st[k] = v.to(device)
        if dist.distributed:
            ids = [device.index] if device.type == "cuda" else None
            net_g = DistributedDataParallel(net_g, device_ids=ids)
            net_d = DistributedDataParallel(net_d, device_ids=ids)
        net_g.train()
        net_d.train()

        def save(final_epoch: int | None) -> None:
            if is_main:
                ck = save_checkpoint(logs, net_g, net_d, optim_g, optim_d, scaler, pos, hps, meta, opts.keep_latest)
                outcome.checkpoints.append(str(ck))
                if final_epoch is not None and opts.save_weights and (
                        not opts.final_weights_only or final_epoch == opts.epochs):
                    name = f"{exp.name}_e{final_epoch}_s{pos.global_step}"
                    path = project.sovits_weights_dir(opts.version) / f"{name}.pth"
                    save_sovits_weights(unwrap(net_g), hps, path, f"{final_epoch}epoch_{pos.global_step}iteration",
                                        version=opts.version)
                    outcome.weights.append(str(path))
                    reporter.message(f"saved weights {path}")
                    _preview(net_g, dataset, reporter, hps, pos.global_step, device)
                reporter.flush()
            barrier()

        if pos.epoch > opts.epochs:
            outcome.status = "nothing to do"
            reporter.message(f"already trained {pos.epoch - 1} epochs (asked for {opts.epochs}); nothing to do")
        decay = float(train_hps["lr_decay"])
        longest = _longest_clip(data)
        with StopSignal() as stop:

            def stopping() -> bool:
                """Stop requested here or (several processes) on any rank: all ranks stop after the same step."""
                if not dist.distributed:
                    return stop.requested
                flag = torch.tensor([1.0 if stop.requested else 0.0], device=device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                return bool(flag.item())

            stop_now = False
            while pos.epoch <= opts.epochs and not stop_now:
                lrs = set_epoch_lr(optim_g, decay, pos.epoch)
                set_epoch_lr(optim_d, decay, pos.epoch)
                sampler.set_epoch(pos.epoch, skip=pos.done_in_epoch)
                tick = time.perf_counter()
                for batch in loader:
                    batch = batch.to(device)
                    step_no = pos.global_step + 1
                    with oom_guard(opts.batch_size, longest):
                        result = train_step(net_g, net_d, optim_g, optim_d, batch, hps, scaler, precision.autocast,
                                            check=lambda losses, s=step_no: check_finite(losses, s))
                    pos.global_step += 1
                    pos.done_in_epoch += 1
                    now = time.perf_counter()
                    seconds, tick = now - tick, now
                    reporter.step(step=pos.global_step, epoch=pos.epoch,
                                  losses={k: result.losses[k] for k in LOSS_NAMES},
                                  lr={"g": lrs[0], "g_text": lrs[1], "d": optim_d.param_groups[0]["lr"]},
                                  grad_norms={"g": result.grad_norm_g, "d": result.grad_norm_d},
                                  step_in_epoch=pos.done_in_epoch, steps_per_epoch=steps_per_epoch,
                                  seconds_per_step=seconds,
                                  items_per_second=batch.ssl.shape[0] * dist.world_size / max(seconds, 1e-9))
                    stop_now = stopping()
                    if stop_now:
                        break
                if pos.done_in_epoch >= steps_per_epoch:  # the epoch is complete
                    finished = pos.epoch
                    pos.epoch, pos.done_in_epoch = pos.epoch + 1, 0
                    reporter.message(f"epoch {finished} done")
                    stop_now = stopping()
                    if finished % opts.save_every == 0 or finished == opts.epochs:
                        save(finished)
                    elif stop_now:
                        save(None)
                elif stop_now:
                    save(None)
            if stop_now and pos.epoch <= opts.epochs:
                outcome.status = "stopped"
                reporter.message(f"stopped at epoch {pos.epoch} step {pos.global_step} ({stop.signal_name}); "
                                 "starting again resumes from here")
        outcome.epoch, outcome.global_step = pos.epoch - (1 if pos.done_in_epoch == 0 else 0), pos.global_step
        if outcome.status == "finished" and not outcome.weights and opts.save_weights and is_main:
            reporter.message("no weights were written in this run (the last save was already done)")
        if is_main:
            reporter.result(status=outcome.status, epoch=outcome.epoch, step=outcome.global_step,
                            weights=outcome.weights, checkpoints=outcome.checkpoints, skipped=outcome.skipped)
        return outcome
    finally:
        reporter.close()
        cleanup()


# --------------------------------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment name (logs/<exp>/ formatted by 1A)")
    parser.add_argument("--epochs", type=int, default=8, help="total epochs (default 8, as upstream's webui)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--save-every", type=int, default=4, help="save every N epochs; the last epoch always saves")
    parser.add_argument("--keep-latest", type=int, default=1,
                        help="resume checkpoints to keep (default 1: only the latest; 0: keep all)")
    parser.add_argument("--no-weights", action="store_true", help="do not write weights files at each save")
    parser.add_argument("--final-weights-only", action="store_true",
                        help="write a weights file only after the last epoch (resume checkpoints at every save)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                        help="auto: fp16 on CUDA (as upstream), fp32 on CPU")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (several GPUs: use torchrun)")
    parser.add_argument("--version", default=None, choices=SOVITS_VERSIONS,
                        help="model version (default: the one 1A formatted the experiment for; v2 if none recorded)")
    parser.add_argument("--config", type=Path, default=None,
                        help="s2 config json (default configs/s2.json; v2Pro/v2ProPlus: configs/s2<version>.json)")
    parser.add_argument("--pretrained-g", type=Path, default=None)
    parser.add_argument("--pretrained-d", type=Path, default=None)
    parser.add_argument("--continue-from", type=Path, default=None,
                        help="start from this finetuned SoVITS weights file instead of the pretrained G")
    parser.add_argument("--text-low-lr-rate", type=float, default=0.4)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=None, help="data loader processes (default: 0 CPU, 4 CUDA)")
    parser.add_argument("--min-items", type=int, default=MIN_ITEMS,
                        help="repeat smaller sets to about this many items per epoch (upstream 100; 0: never)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def options_from_args(args: argparse.Namespace) -> SoVITSTrainOptions:
    return SoVITSTrainOptions(
        root=args.root, exp=args.exp, epochs=args.epochs, batch_size=args.batch_size, save_every=args.save_every,
        keep_latest=args.keep_latest, save_weights=not args.no_weights,
        final_weights_only=args.final_weights_only, precision=args.precision, device=args.device,
        version=args.version, config=args.config, pretrained_g=args.pretrained_g, pretrained_d=args.pretrained_d,
        continue_from=args.continue_from, text_low_lr_rate=args.text_low_lr_rate, learning_rate=args.learning_rate,
        seed=args.seed, workers=args.workers, min_items=args.min_items, threads=args.threads,
    )


def torchrun_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]] | None:
    """For ``--device cuda:0,cuda:1,...``: the torchrun command (one process per GPU, same options) and the
    environment entries that restrict it to those GPUs; None for a single device."""
    devices = [d.strip() for d in str(args.device).split(",") if d.strip()]
    if len(devices) < 2:
        return None
    ids = []
    for d in devices:
        parsed = torch.device(d)
        if parsed.type != "cuda":
            raise TrainingError(f"Several devices can only be CUDA GPUs (got {args.device!r}).")
        ids.append(str(parsed.index or 0))
    options: list[str] = []
    for key, value in vars(args).items():
        if key == "device" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        options += [flag] if value is True else [flag, str(value)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={len(ids)}",
               "-m", "gpt_sovits", "train-sovits", *options, "--device", "cuda"]
    return command, {"CUDA_VISIBLE_DEVICES": ",".join(ids)}


def run(args: argparse.Namespace) -> int:
    """One process, or (several GPUs listed and not already under torchrun) torchrun with one process per GPU."""
    launch = None
    if not dist_info().distributed:
        try:
            launch = torchrun_command(args)
        except TrainingError as err:
            print(f"ERROR: {err}", file=sys.stderr)
            return err.exit_code
    if launch is not None:
        command, env = launch
        return subprocess.run(command, env={**os.environ, **env}, check=False).returncode
    opts = options_from_args(args)
    return run_training(lambda: train_sovits(opts))
