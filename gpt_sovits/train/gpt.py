"""1Bb: finetune the GPT (s1) on an experiment formatted by 1A — `python -m gpt_sovits train-gpt --exp NAME ...`.

Upstream's recipe exactly (ScaledAdam, an update every 4 batches with 5 for the first, lr 0.01 then 0.002, summed
loss, optional DPO), as a plain loop that survives being stopped or killed:
- resume files `logs/<exp>/logs_s1_v2/ckpt/resume-e<epochs done>-b<batches done>.pt` hold the model, the
  optimiser, the step counters, the gradients accumulated since the last update (upstream carries them across
  epochs) and every RNG state, so a restart continues the same run update for update; they are written atomically
  after every epoch and when the job is stopped (SIGTERM), keeping the latest `--keep-latest`;
- weights `weights/GPT_weights_v2/<exp>-e<E>.ckpt` in upstream's format every `--save-every` epochs and after the last;
- progress events per batch and TensorBoard scalars in `logs/<exp>/logs_s1_v2/`.
v2Pro/v2ProPlus finetune the same v2 GPT, from upstream's `pretrained_models/s1v3.ckpt`, into `GPT_weights_v2Pro/` /
`GPT_weights_v2ProPlus/` and `logs_s1_<version>/` (`--version`; default: the version 1A formatted the experiment for).
v1 finetunes upstream's v1 GPT (a 512-phone table, read with the v1 symbols 1A wrote) into `GPT_weights/` (no suffix,
as upstream) and `logs_s1_v1/`.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml

from gpt_sovits.dataset.gpt_data import (
    MIN_ITEMS, BadItemError, BucketBatchSampler, GPTDataset, clamp_batch_size, collate, read_name2semantic,
    repeat_small, select_items,
)
from gpt_sovits.dataset.readers import read_name2text, require_formatted
from gpt_sovits.models.checkpoints import V1_PHONEME_VOCAB, gpt_version, save_gpt_weights
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.models.safe_load import CheckpointError, load_checkpoint
from gpt_sovits.paths import PRETRAINED_GPT, PROJECT_DIR, ExperimentPaths, ProjectPaths
from gpt_sovits.train.checkpoint import CheckpointWriteError, atomic_save, keep_latest, rng_state, set_rng_state
from gpt_sovits.train.control import (
    EXIT_BAD_DATA, StopSignal, TrainingError, check_finite, choose_precision, oom_guard, resolve_device, run_training,
)
from gpt_sovits.train.distributed import DistInfo, cleanup, init_distributed
from gpt_sovits.train.gpt_recipe import SCHEDULES, learning_rate, make_optimizer
from gpt_sovits.train.gpt_step import train_batch
from gpt_sovits.train.report import TrainReporter
from gpt_sovits.train.versions import GPT_VERSIONS, training_version, version_note

STAGE = "train-gpt"
RESUME_FORMAT = "gpt-sovits-py/gpt-resume/1"
DEFAULT_CONFIG = PROJECT_DIR / "configs" / "s1longer-v2.yaml"
V1_TOP_K = 5  # s1longer.yaml's inference.top_k
GPT_PREFIX = "model."
LIGHTNING_PRECISION = {"fp32": "32", "fp16": "16-mixed", "bf16": "bf16-mixed"}  # how upstream writes train.precision


@dataclass
class GPTTrainOptions:
    root: Path
    exp: str
    epochs: int = 15
    batch_size: int = 8
    save_every: int = 5
    keep_latest: int = 1  # resume files kept (0: all)
    precision: str = "auto"
    device: str = "auto"
    pretrained: Path | None = None  # default: pretrained_models/ GPT of the version
    continue_from: Path | None = None  # an upstream GPT weights file or Lightning .ckpt to start from instead
    dpo: bool = False
    schedule: str = "upstream"
    lr_scale: float = 1.0  # multiplies every learning rate of the schedule (1: upstream's)
    version: str | None = None  # None: the version 1A formatted the experiment for (v2 when it recorded none)
    seed: int = 1234
    save_weights: bool = True
    final_weights_only: bool = False  # weights only after the last epoch
    min_items: int = MIN_ITEMS  # a smaller set is repeated to about this many items per epoch (0: never repeated)


@dataclass
class GPTRunResult:
    status: str  # "finished" | "stopped"
    epochs_done: int
    updates: int
    weights: list[str] = field(default_factory=list)
    resume_file: str | None = None
    items: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)
    missing_bert: int = 0


# ---------------------------------------------------------------------------------------------------- model files
def _model_state(data: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """The GPT state dict (no "model." prefix) of an upstream weights file ("weight") or Lightning .ckpt."""
    weight = data.get("weight")
    if not isinstance(weight, dict):
        weight = data.get("state_dict")
    if not isinstance(weight, dict) or not weight:
        raise TrainingError(f"{path}: neither a GPT weights file ('weight') nor a Lightning checkpoint ('state_dict').",
                            EXIT_BAD_DATA)
    return {k.removeprefix(GPT_PREFIX): v.float() for k, v in weight.items() if isinstance(v, torch.Tensor)}


def _read_model_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TrainingError(f"The GPT model file {path} does not exist.", EXIT_BAD_DATA)
    try:
        return load_checkpoint(path).data
    except CheckpointError as e:
        raise TrainingError(f"Cannot read {path}: {e}", EXIT_BAD_DATA) from e


def default_sections(version: str) -> dict[str, Any]:
    """Upstream's s1 yaml of `version`: s1longer-v2.yaml, and for v1 s1longer.yaml, which differs from it only in
    `phoneme_vocab_size` 512 and `inference.top_k` 5 (reference/upstream/SYMBOLS_AND_DEFAULTS.md)."""
    defaults = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    if version == "v1":
        defaults["model"]["phoneme_vocab_size"] = V1_PHONEME_VOCAB
        defaults["inference"]["top_k"] = V1_TOP_K
    return defaults


def training_config(pretrained: dict[str, Any], version: str = "v2") -> dict[str, Any]:
    """The s1 config of the run: the pretrained file's, with the sections upstream's yaml of `version` has filled
    in (those the file lacks)."""
    config = copy.deepcopy(pretrained.get("config") or {})
    if "model" not in config:
        raise TrainingError("The pretrained GPT file holds no s1 config with a 'model' section.", EXIT_BAD_DATA)
    defaults = default_sections(version)
    for section in ("train", "optimizer", "data", "inference"):
        config.setdefault(section, copy.deepcopy(defaults.get(section, {})))
    return config


def build_model(options: GPTTrainOptions, paths: ProjectPaths) -> tuple[Text2SemanticDecoder, dict[str, Any], str]:
    """The GPT to finetune: the pretrained model, or `continue_from`'s weights loaded into it (strict)."""
    version = options.version or training_version(paths.experiment(options.exp), None, GPT_VERSIONS)
    pretrained_path = Path(options.pretrained or paths.pretrained_gpt(version))
    pretrained = _read_model_file(pretrained_path)
    config = training_config(pretrained, version)
    family, wanted = gpt_version(config), "v1" if version == "v1" else "v2"
    if family != wanted:
        raise TrainingError(
            f"{pretrained_path} is a {family} GPT ({config['model'].get('phoneme_vocab_size')} phones) and this run "
            f"trains {version}, which finetunes a {wanted} GPT: pass --pretrained with upstream's {version} GPT "
            f"(pretrained_models/{PRETRAINED_GPT[version]}) or --version {family}.", EXIT_BAD_DATA)
    model = Text2SemanticDecoder(config)
    source = options.continue_from or pretrained_path
    state = _model_state(pretrained if source == pretrained_path else _read_model_file(Path(source)), Path(source))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # same keys, other shapes
        raise TrainingError(f"{source} does not fit the GPT of {pretrained_path.name} (another model version or "
                            f"size?): {str(err).splitlines()[-1].strip()}", EXIT_BAD_DATA) from err
    if missing or unexpected:
        raise TrainingError(
            f"{source} does not fit the GPT of {pretrained_path.name}: missing {sorted(missing)[:5]}, unexpected "
            f"{sorted(unexpected)[:5]} (another model version or size?).", EXIT_BAD_DATA,
        )
    return model, config, str(source)


# ---------------------------------------------------------------------------------------------------- resume files
def resume_dir(exp: ExperimentPaths, version: str) -> Path:
    return exp.gpt_logs(version) / "ckpt"


def latest_resume(folder: Path) -> Path | None:
    files = sorted(folder.glob("resume-e*-b*.pt"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters() if p.grad is not None}


def data_signature(items: list) -> str:
    """A short digest of the trained items (names and lengths): a resumed run must see the same data."""
    text = "\n".join(f"{i.name}\t{len(i.phoneme_ids)}\t{len(i.semantic_ids)}" for i in items)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def save_resume(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
    counters: dict[str, int], options: GPTTrainOptions, config: dict[str, Any], keep: int, data: str,
) -> Path:
    """One self-sufficient resume file (atomic), then drop older ones beyond `keep`."""
    path = folder / f"resume-e{counters['epoch']}-b{counters['batches']}.pt"
    state = {
        "format": RESUME_FORMAT,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "grads": _gradients(model),  # accumulated since the last update: upstream carries them forward
        "counters": dict(counters),
        "rng": rng_state(),
        "options": {k: str(v) for k, v in asdict(options).items()},
        "data": data,
        "config": config,
    }
    atomic_save(state, path)
    if keep > 0:
        keep_latest(folder, "resume-e*-b*.pt", keep)
    return path


def load_resume(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, options: GPTTrainOptions, data: str) -> dict[str, int]:
    """Restore a run from its resume file; refuse (loudly) one written for other settings or other data."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise TrainingError(f"The resume file {path} cannot be read ({e}); delete it to start over.") from e
    if state.get("format") != RESUME_FORMAT:
        raise TrainingError(f"{path} is not a GPT resume file of this program; delete it to start over.")
    saved = state["options"]
    for key in ("dpo", "schedule", "batch_size", "version"):
        if saved.get(key) != str(getattr(options, key)):
            raise TrainingError(
                f"{path} was written with --{key.replace('_', '-')} {saved.get(key)}, this run asks for "
                f"{getattr(options, key)}. Use the same setting to resume, or delete {path.parent} to start over."
            )
    if state.get("data") != data:
        raise TrainingError(
            f"The formatted data of {options.exp!r} changed since {path.name} was written (items added, removed or "
            f"re-formatted), so the run cannot continue where it stopped. Delete {path.parent} to start over.",
            EXIT_BAD_DATA,
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if state["scaler"] and scaler.is_enabled():  # fp16 loss scale (absent for fp32/bf16 runs)
        scaler.load_state_dict(state["scaler"])
    params = dict(model.named_parameters())
    for name, grad in state["grads"].items():
        params[name].grad = grad.to(params[name].device)
    set_rng_state(state["rng"])
    return dict(state["counters"])


# ---------------------------------------------------------------------------------------------------- the run
def _all_reduce_grads(model: torch.nn.Module, world_size: int) -> None:
    """Average gradients over processes before an update (what DDP would do, done once per update)."""
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(world_size)


def _any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process when any process has it: all ranks stop after the same batch (no one left waiting)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def train(options: GPTTrainOptions, reporter_factory=TrainReporter) -> GPTRunResult:
    if options.epochs < 1 or options.batch_size < 1 or options.save_every < 1 or options.keep_latest < 0:
        raise TrainingError("--epochs, --batch-size and --save-every must be at least 1, --keep-latest at least 0.")
    if not options.lr_scale > 0:
        raise TrainingError("--lr-scale must be positive.")
    if options.schedule not in SCHEDULES:
        raise TrainingError(f"Unknown --schedule {options.schedule!r}: use {' or '.join(SCHEDULES)}.")
    info: DistInfo = init_distributed("cuda" if options.device.startswith("cuda") or (
        options.device == "auto" and torch.cuda.is_available()) else "cpu")
    device = resolve_device(f"cuda:{info.local_rank}" if info.distributed and torch.cuda.is_available()
                            and options.device != "cpu" else options.device)
    precision = choose_precision(device, options.precision)
    paths = ProjectPaths(Path(options.root))
    exp = paths.experiment(options.exp)
    require_formatted(exp, ("name2text", "semantic"))
    options = replace(options, version=training_version(exp, options.version, GPT_VERSIONS))

    model, config, source = build_model(options, paths)
    max_sec = int(config.get("data", {}).get("max_sec", 54))
    selection = select_items(read_name2text(exp.name2text), read_name2semantic(exp.name2semantic), exp.bert_dir,
                             max_sec=max_sec, version=options.version)
    if not selection.items:
        reasons = "; ".join(f"{n}: {r}" for n, r in selection.dropped[:10]) or "6-name2semantic.tsv lists no items"
        raise TrainingError(f"No item of {options.exp!r} can be trained ({reasons}).", EXIT_BAD_DATA)
    dataset = GPTDataset(repeat_small(selection.items, options.min_items), exp.bert_dir)
    batch_size = clamp_batch_size(options.batch_size, len(dataset), options.dpo)
    sampler = BucketBatchSampler(dataset, batch_size, info.rank, info.world_size)
    steps_per_epoch = len(sampler)
    longest = max(selection.items, key=lambda it: len(it.semantic_ids))
    data = data_signature(selection.items)

    config["train"].update(epochs=options.epochs, batch_size=batch_size, save_every_n_epoch=options.save_every,
                           if_dpo=options.dpo, precision=LIGHTNING_PRECISION[precision.name],
                           exp_name=options.exp)
    model.to(device)
    optimizer = make_optimizer(model)
    scaler = precision.make_scaler()
    log_dir = exp.gpt_logs(options.version)
    ckpt_dir = resume_dir(exp, options.version)
    counters = {"epoch": 0, "batch_idx": 0, "batches": 0, "updates": 0}
    previous = latest_resume(ckpt_dir)
    torch.manual_seed(options.seed)
    if previous is not None:
        counters = load_resume(previous, model, optimizer, scaler, options, data)
        sampler_state = "resumed"
    else:
        sampler_state = "fresh"

    reporter = reporter_factory(STAGE, log_dir if info.is_main else None, options.epochs * steps_per_epoch)
    result = GPTRunResult(status="finished", epochs_done=counters["epoch"], updates=counters["updates"],
                          items=len(selection.items), dropped=selection.dropped,
                          missing_bert=len(selection.missing_bert))
    say = reporter.message if info.is_main else (lambda *a, **k: None)
    say(f"GPT finetune of {options.exp!r} from {source} on {device} ({precision.name}): {len(selection.items)} items "
        f"({len(dataset)} after repetition), batch size {batch_size}, {steps_per_epoch} batches per epoch, "
        f"schedule {options.schedule}{', DPO' if options.dpo else ''}")
    note = version_note(exp, options.version, "gpt")
    if note:
        say(note, "warning")
    for name, reason in selection.dropped:
        say(f"skipped {name}: {reason}", "warning")
    if selection.missing_bert:
        say(f"{len(selection.missing_bert)} item(s) have no BERT features (non-Chinese text): trained with zeros")
    if sampler_state == "resumed" and counters["epoch"] >= options.epochs:
        say(f"{previous.name} has already trained {counters['epoch']} epochs: nothing to do. Ask for more --epochs "
            f"to continue, or delete {ckpt_dir} to start over.", "warning")
    elif sampler_state == "resumed":
        say(f"resumed from {previous.name}: epoch {counters['epoch'] + 1}, batch {counters['batch_idx']}, "
            f"{counters['updates']} updates done")

    def lr_of(update: int) -> float:
        return learning_rate(update, options.schedule, config.get("optimizer", {})) * options.lr_scale

    def save_weights(epoch: int) -> None:
        if not (info.is_main and options.save_weights):
            return
        path = paths.gpt_weights_dir(options.version) / f"{options.exp}-e{epoch}.ckpt"
        try:
            save_gpt_weights(model, config, path, f"GPT-e{epoch}")
        except OSError as e:
            raise CheckpointWriteError(f"Could not write {path}: {e.strerror or e}.") from e
        result.weights.append(str(path))
        say(f"saved weights {path}")

    def checkpoint() -> Path | None:
        if not info.is_main:
            return None
        path = save_resume(ckpt_dir, model, optimizer, scaler, counters, options, config, options.keep_latest, data)
        result.resume_file = str(path)
        return path

    try:
        with StopSignal() as stop:
            while counters["epoch"] < options.epochs:
                epoch = counters["epoch"]
                sampler.set_epoch(epoch)
                for batch_idx, indices in enumerate(sampler):
                    if batch_idx < counters["batch_idx"]:
                        continue  # resumed mid-epoch: the order of an epoch is fixed by its seed
                    started = time.perf_counter()
                    try:
                        batch = collate([dataset[i] for i in indices]).to(device)
                    except BadItemError as e:
                        raise TrainingError(str(e), EXIT_BAD_DATA) from e
                    with oom_guard(batch_size, f"{longest.name} ({len(longest.semantic_ids)} tokens)"):
                        out = train_batch(
                            model, optimizer, batch, batch_idx, counters["updates"], lr_of, dpo=options.dpo,
                            autocast=precision.autocast, scaler=scaler,
                            before_update=(lambda: _all_reduce_grads(model, info.world_size))
                            if info.distributed else None,
                        )
                    counters["batches"] += 1
                    counters["batch_idx"] = batch_idx + 1
                    check_finite({"loss": out.loss}, counters["batches"])
                    if out.updated:
                        counters["updates"] += 1
                    seconds = time.perf_counter() - started
                    if info.is_main:
                        reporter.step(
                            step=counters["batches"], epoch=epoch + 1,
                            losses={"loss": out.loss, **({"dpo": out.dpo} if out.dpo is not None else {})},
                            lr=out.lr, grad_norms={"total": out.grad_norm} if out.grad_norm is not None else None,
                            step_in_epoch=batch_idx + 1, steps_per_epoch=steps_per_epoch, seconds_per_step=seconds,
                            items_per_second=len(batch.names) / max(seconds, 1e-9), acc=out.acc,
                            updates=counters["updates"], tokens_per_second=batch.tokens / max(seconds, 1e-9),
                        )
                        reporter.scalars(counters["batches"], {"acc/top3": out.acc})
                    if info.distributed:
                        stop.requested = _any_rank(stop.requested, device)
                    if stop.requested:
                        break
                if stop.requested and counters["batch_idx"] < steps_per_epoch:
                    saved = checkpoint()
                    result.status = "stopped"
                    say(f"stopped at epoch {epoch + 1} batch {counters['batch_idx']} ({counters['updates']} updates);"
                        f" resume file {saved.name if saved else '-'}")
                    break
                counters["epoch"] = epoch + 1
                counters["batch_idx"] = 0
                done = counters["epoch"]
                if done == options.epochs or (done % options.save_every == 0 and not options.final_weights_only):
                    save_weights(done)
                checkpoint()  # every epoch: a kill loses at most the epoch in progress
                if stop.requested and done < options.epochs:
                    result.status = "stopped"
                    say(f"stopped after epoch {done} ({counters['updates']} updates)")
                    break
    finally:
        result.epochs_done, result.updates = counters["epoch"], counters["updates"]
        if info.is_main:
            reporter.result(**asdict(result))
        reporter.close()
        cleanup()
    return result


# ---------------------------------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment name (formatted by 1A into logs/<exp>/)")
    parser.add_argument("--epochs", type=int, default=15, help="total epochs of the run (default 15, as upstream)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="items per batch before upstream's clamp (halved with --dpo, at most 1/4 of the set)")
    parser.add_argument("--save-every", type=int, default=5, help="save weights every N epochs (and after the last)")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep-latest", type=int, nargs="?", const=1, default=1, metavar="N",
                      help="keep only the latest N resume files (default: 1)")
    keep.add_argument("--keep-all", dest="keep_latest", action="store_const", const=0, help="keep every resume file")
    parser.add_argument("--min-items", type=int, default=MIN_ITEMS,
                        help=f"repeat a smaller dataset to about this many items per epoch (default {MIN_ITEMS}, as "
                             "upstream; 0: no repetition)")
    parser.add_argument("--final-weights-only", action="store_true",
                        help="write a weights file only after the last epoch (not every --save-every epochs)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                        help="auto: fp16 autocast on CUDA, fp32 on CPU")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (several GPUs: use torchrun)")
    parser.add_argument("--pretrained", type=Path, default=None, help="pretrained GPT (default: by --version)")
    parser.add_argument("--continue-from", type=Path, default=None,
                        help="start from this upstream GPT weights file or Lightning .ckpt instead of the pretrained")
    parser.add_argument("--dpo", action="store_true", help="upstream's experimental DPO loss (halves the batch)")
    parser.add_argument("--schedule", default="upstream", choices=SCHEDULES,
                        help="upstream: lr 0.01 for the first update then 0.002 (default, as upstream trains); "
                             "warmup-cosine: the schedule the config describes (a deviation from upstream)")
    parser.add_argument("--lr-scale", type=float, default=1.0,
                        help="multiply every learning rate of the schedule (default 1: upstream's rates)")
    parser.add_argument("--version", default=None, choices=GPT_VERSIONS,
                        help="model version: picks the pretrained GPT and the weights folder (default: the one 1A "
                             "formatted the experiment for; v2 if none recorded)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--no-weights", dest="save_weights", action="store_false",
                        help="write resume files only, no weights files")


def run(args: argparse.Namespace) -> int:
    options = GPTTrainOptions(
        root=args.root, exp=args.exp, epochs=args.epochs, batch_size=args.batch_size, save_every=args.save_every,
        keep_latest=args.keep_latest, precision=args.precision, device=args.device, pretrained=args.pretrained,
        continue_from=args.continue_from, dpo=args.dpo, schedule=args.schedule, lr_scale=args.lr_scale,
        version=args.version, seed=args.seed,
        save_weights=args.save_weights, final_weights_only=args.final_weights_only, min_items=args.min_items,
    )
    return run_training(lambda: train(options))
