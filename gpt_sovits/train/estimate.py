"""1B "Estimate": a pre-flight probe of both trainers — `python -m gpt_sovits train-estimate --exp NAME ...`.

Upstream guesses the batch size from VRAM and tells nobody how long a run takes. Here each trainer is set up exactly
as it trains (its config, model, optimiser(s), precision, item selection and batch sampler) and runs a few REAL
training steps, which nothing saves:
- the largest batch size that fits: on CUDA a search on the dataset's LONGEST clips (double until out of memory,
  then bisect), on the CPU peak RSS at two small batch sizes extrapolated against the available RAM; both keep a
  safety margin;
- seconds per step at the batch size the run will use, on batches as the trainer's own sampler forms them (a
  warm-up step excluded), hence the predicted time = steps per epoch × epochs × seconds per step;
- peak memory of a step and the disk the checkpoints will need (resume sets kept + weights files written, from
  the parameter and optimiser-state sizes).
It also checks the environment: pretrained files present and loadable, data formatted and consistent, free disk.
The result is one JSON file (`--output`) that the 1B tab renders; nothing else under logs/ or weights/ changes.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gpt_sovits.dataset.readers import MissingFormattedData, require_formatted
from gpt_sovits.dataset.steps import SV_VERSIONS
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EventWriter
from gpt_sovits.train.control import (
    EXIT_BAD_DATA, Precision, TrainingError, choose_precision, is_out_of_memory, resolve_device,
)
from gpt_sovits.train.versions import GPT_VERSIONS, SOVITS_VERSIONS, training_version

STAGE = "train-estimate"
TRAINERS = ("sovits", "gpt")
MARGIN = 0.85  # keep 15 % of the memory found free: lengths, fragmentation and other processes vary
CUDA_BATCH_CAP = 1024  # the search never tries more than this many items per batch
TIMED_STEPS = 4  # after one warm-up step; a multiple of 4 covers one GPT update cycle
MIN_TIMED_SECONDS = 3.0  # short steps are timed in larger numbers, so timer and scheduler noise averages out
TENSOR_OVERHEAD = 512  # bytes a pickled tensor costs beyond its data (name, storage record), roughly


@dataclass
class EstimateOptions:
    root: Path
    exp: str
    device: str = "auto"
    precision: str = "auto"
    version: str = "v2"
    trainers: tuple[str, ...] = TRAINERS
    sovits_epochs: int = 8
    gpt_epochs: int = 15
    sovits_batch_size: int = 4
    gpt_batch_size: int = 8
    sovits_save_every: int = 4
    gpt_save_every: int = 5
    keep_latest: int = 1  # resume sets kept by each trainer (0: all)
    keep_all: tuple[str, ...] = ()  # trainers that keep every resume set (the tab's "keep latest only" off)
    save_weights: bool = True
    final_weights_only: tuple[str, ...] = ()  # trainers writing weights after the last epoch only
    steps: int = TIMED_STEPS
    margin: float = MARGIN
    sovits_config: Path | None = None  # as train-sovits --config
    pretrained_g: Path | None = None
    pretrained_d: Path | None = None
    pretrained_gpt: Path | None = None
    min_items: int | None = None  # as train-sovits --min-items (None: the trainer's default)
    dpo: bool = False
    seed: int = 1234


# --------------------------------------------------------------------------------------------------- memory
def _proc_status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_ram() -> int | None:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


class MemoryMeter:
    """Peak memory of a stretch of work: CUDA's allocator statistics, or the process's peak RSS on the CPU.

    On Linux the RSS high-water mark is reset between stretches (/proc/self/clear_refs), so each stretch has its
    own peak; elsewhere the lifetime maximum (getrusage) is the best there is and the CPU fit is less precise.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._libc: Any = None
        if device.type == "cpu":
            with contextlib.suppress(OSError):
                self._libc = ctypes.CDLL("libc.so.6")

    def current(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.memory_allocated(self.device))
        rss = _proc_status_kb("VmRSS")
        return rss * 1024 if rss is not None else self._maxrss()

    def reset(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        if self._libc is not None:
            with contextlib.suppress(AttributeError):
                self._libc.malloc_trim(0)  # freed blocks back to the OS, so the next peak is the next step's own
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")

    def peak(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return int(torch.cuda.max_memory_allocated(self.device))
        hwm = _proc_status_kb("VmHWM")
        return hwm * 1024 if hwm is not None else self._maxrss()

    @staticmethod
    def _maxrss() -> int:
        scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kB
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def _release(device: torch.device) -> None:
    """After a probe step (a failed one above all): what it held goes back to CUDA. On the CPU the meter's reset
    does the same before the next measurement."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------------- the probe
@dataclass
class Probe:
    """One trainer, set up as it trains, reduced to what the measurements need (see `sovits_probe`, `gpt_probe`)."""

    name: str
    device: torch.device
    precision: Precision
    items: int  # dataset items of one epoch (after the trainer's repetition of small sets)
    batch_cap: int  # the largest batch the trainer would form from these items
    longest: list[int]  # dataset indices, longest item first
    longest_label: str  # the longest clip, for messages
    clamp: Callable[[int], int]  # requested batch size → the one the trainer uses
    epoch_batches: Callable[[int], list[list[int]]]  # batch size → epoch 1's batches from the trainer's sampler
    load: Callable[[Sequence[int]], Any]  # indices → a collated batch on the device
    step: Callable[[Any, int], None]  # (batch, batch index in the epoch) → one real training step
    saved_bytes: Callable[[int, int], int]  # (epochs, batch size) → bytes of checkpoints and weights of the run
    loads_in_step: bool  # the real loop loads data inside the step (no DataLoader workers overlapping it)
    cycle: int = 1  # batches per optimiser update (GPT accumulates 4): timing covers whole cycles
    notes: list[str] = field(default_factory=list)


class Scaler:
    """The run's loss scaler, renewed after a failed step: an out-of-memory error between `unscale_` and `update`
    leaves a GradScaler refusing the next step ("unscale_() has already been called"). The scale carries over."""

    def __init__(self, precision: Precision) -> None:
        self.precision = precision
        self.scaler = precision.make_scaler()

    def renew(self) -> None:
        fresh = self.precision.make_scaler()
        if self.scaler.is_enabled():
            fresh.load_state_dict(self.scaler.state_dict())
        self.scaler = fresh


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _longest_batch(probe: Probe, size: int) -> list[int]:
    """`size` indices of the longest items (cycling when the set is smaller): the worst batch of that size."""
    return [probe.longest[i % len(probe.longest)] for i in range(size)]


def _try_step(probe: Probe, size: int, meter: MemoryMeter) -> tuple[int, int] | None:
    """(peak, memory in use before) of one real step with an optimiser update on the longest items; None: OOM."""
    meter.reset()
    before = meter.current()
    try:
        probe.step(probe.load(_longest_batch(probe, size)), 4)  # batch index 4: an update batch for both trainers
        return meter.peak(), before
    except Exception as e:  # noqa: BLE001 - only out-of-memory is an answer here
        if not is_out_of_memory(e):
            raise
        return None
    finally:
        _release(probe.device)


def search_cuda(probe: Probe, meter: MemoryMeter, say: Callable[[str], None]) -> tuple[int, dict[int, int | None]]:
    """Largest batch of the longest clips that runs a step: double until out of memory, then bisect.

    Returns (largest size that ran, {size tried: peak bytes or None for out of memory}).
    """
    cap = min(probe.batch_cap, CUDA_BATCH_CAP)
    tried: dict[int, int | None] = {}

    def fits(size: int) -> bool:
        measured = _try_step(probe, size, meter)
        tried[size] = None if measured is None else measured[0]
        say(f"{probe.name}: batch {size} of the longest clips: "
            + ("out of memory" if tried[size] is None else f"fits, peak {tried[size] / 2**30:.2f} GiB"))
        return tried[size] is not None

    if not fits(1):
        return 0, tried
    good, bad = 1, None
    while bad is None and good < cap:
        size = min(good * 2, cap)
        if fits(size):
            good = size
        else:
            bad = size
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good, tried


def fit_cpu(probe: Probe, meter: MemoryMeter, margin: float,
            say: Callable[[str], None]) -> tuple[int, dict[int, int | None], int | None]:
    """Peak RSS growth at two small batches of the longest clips, extrapolated to `margin` of the RAM available.

    Returns (largest batch that fits, {size: peak growth of its step}, bytes per item or None when not measurable).
    Running big batches on a CPU would take minutes; two small ones take seconds. A first step (not measured)
    allocates the optimiser state, which would otherwise count as memory of the smaller batch.
    """
    small, large = 1, min(3, probe.batch_cap)
    if _try_step(probe, small, meter) is None:
        return 0, {}, None
    growth: dict[int, int | None] = {}
    for size in sorted({small, large}):
        measured = _try_step(probe, size, meter)
        growth[size] = None if measured is None else max(measured[0] - measured[1], 0)
        say(f"{probe.name}: batch {size} of the longest clips: peak memory growth "
            + ("out of memory" if growth[size] is None else f"{growth[size] / 2**20:.0f} MiB"))
    avail = available_ram()
    if large == small or avail is None or growth[small] is None or growth[large] is None:
        return (probe.batch_cap if growth[small] is not None else 0), growth, None
    per_item = (growth[large] - growth[small]) / (large - small)
    if per_item <= 0:  # below what RSS can resolve: memory does not limit the batch
        return probe.batch_cap, growth, None
    fixed = growth[small] - per_item * small
    fit = int((avail * margin - fixed) / per_item)
    return max(1, min(fit, probe.batch_cap)), growth, int(per_item)


def spread(n: int, count: int) -> list[int]:
    """`count` positions in range(n), each prefix spread over the whole range (golden-ratio sequence)."""
    golden = (math.sqrt(5) - 1) / 2
    return [int(((i * golden) % 1.0) * n) for i in range(count)]


def time_steps(probe: Probe, batch_size: int, steps: int, meter: MemoryMeter, baseline: int,
               min_seconds: float = MIN_TIMED_SECONDS) -> tuple[float, int, int]:
    """Mean seconds of a real step at `batch_size` on the sampler's batches, warm-up excluded; peak memory; steps.

    The batches are drawn from all over epoch 1 as the trainer's sampler orders it (short and long buckets alike),
    at least `steps` of them and more (up to 16×) while they add up to less than `min_seconds`, always whole
    cycles of `probe.cycle` with the batch index running 1, 2, 3 ... so GPT's one update per four batches weighs
    in the mean as in a real run. Peak memory on the CPU is the peak RSS above `baseline` (before the set-up).
    """
    batches = probe.epoch_batches(batch_size)
    if not batches:
        raise TrainingError("The trainer's sampler forms no batch from this data.", EXIT_BAD_DATA)
    least = math.ceil(max(1, steps) / probe.cycle) * probe.cycle
    picks = [batches[i] for i in spread(len(batches), 16 * least + 1)]
    meter.reset()
    seconds: list[float] = []
    for index, indices in enumerate(picks):
        _sync(probe.device)
        start = time.perf_counter()
        batch = probe.load(indices)
        loaded = time.perf_counter()
        probe.step(batch, index)
        _sync(probe.device)
        end = time.perf_counter()
        if index == 0:
            continue  # the warm-up: first use of these shapes and kernels, not what a run's steps cost
        seconds.append(end - start if probe.loads_in_step else end - loaded)
        if len(seconds) >= least and len(seconds) % probe.cycle == 0 and sum(seconds) >= min_seconds:
            break
    peak = meter.peak()
    if probe.device.type == "cpu":
        peak = max(peak - baseline, 0)
    return sum(seconds) / len(seconds), peak, len(seconds)


def estimate_trainer(probe: Probe, requested: int, epochs: int, opts: EstimateOptions, say: Callable[[str], None],
                     baseline: int = 0, world: int = 1) -> dict[str, Any]:
    """Batch size that fits, then speed and memory at the batch size the run will use."""
    meter = MemoryMeter(probe.device)
    if probe.device.type == "cuda":
        found, tried = search_cuda(probe, meter, say)
        if found == 0:
            raise TrainingError(f"Even a batch of 1 of the longest clip ({probe.longest_label}) does not fit on "
                                f"{probe.device}: remove the longest clips or use another device.")
        max_batch = max(1, int(found * opts.margin))
        per_item = None
    else:
        found, tried, per_item = fit_cpu(probe, meter, opts.margin, say)
        if found == 0:
            raise TrainingError(f"Even a batch of 1 of the longest clip ({probe.longest_label}) does not fit in the "
                                "RAM: remove the longest clips or free memory.")
        max_batch = found
    batch = probe.clamp(requested)
    notes = list(probe.notes)
    if batch > max_batch:
        notes.append(f"batch size {requested} does not fit: timed at {max_batch}, the largest that fits")
        batch = max_batch
    say(f"{probe.name}: largest batch that fits {max_batch}; timing at least {opts.steps} steps at batch {batch}")
    if world > 1:
        notes.append(f"{world} processes: each trains 1/{world} of every epoch; timed on {probe.device} alone, "
                     "without the gradient exchange between GPUs")
    seconds, peak, timed = time_steps(probe, batch, opts.steps, meter, baseline)
    steps_per_epoch = len(probe.epoch_batches(batch))
    result = {
        "max_batch_size": max_batch, "batch_size": batch, "seconds_per_step": seconds,
        "predicted_seconds": seconds * steps_per_epoch * epochs, "epochs": epochs, "peak_memory_bytes": peak,
        "disk_bytes": probe.saved_bytes(epochs, batch), "steps_per_epoch": steps_per_epoch,
        "requested_batch_size": requested, "timed_steps": timed, "items": probe.items, "device": str(probe.device),
        "precision": probe.precision.name, "largest_fitting_found": found,
        "tried": {str(k): v for k, v in sorted(tried.items())}, "memory_per_item_bytes": per_item,
        "longest_clip": probe.longest_label, "notes": notes,
    }
    say(f"{probe.name}: {seconds:.2f} s/step × {steps_per_epoch} steps × {epochs} epochs ≈ "
        f"{result['predicted_seconds'] / 60:.1f} min, peak memory {peak / 2**20:.0f} MiB, checkpoints "
        f"{result['disk_bytes'] / 2**20:.0f} MiB")
    return result


# --------------------------------------------------------------------------------------------------- sizes
def tensor_bytes(obj: Any) -> int:
    """Bytes the tensors in a (nested) state take when saved, with a small per-tensor overhead."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size() + TENSOR_OVERHEAD
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def half_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes of a weights file: every tensor stored in fp16 (what save_*_weights writes)."""
    return sum(t.numel() * 2 + TENSOR_OVERHEAD for t in state.values())


def save_count(epochs: int, every: int) -> int:
    """Saves of a run: every `every` epochs and always after the last one."""
    return len({e for e in range(1, epochs + 1) if e % every == 0} | {epochs})


def weights_written(trainer: str, saves: int, opts: EstimateOptions) -> int:
    """Weights files a run writes: one per save, only the last one, or none."""
    if not opts.save_weights:
        return 0
    return 1 if trainer in opts.final_weights_only else saves


def keep_of(trainer: str, opts: EstimateOptions) -> int:
    """Resume sets a trainer keeps (0: all)."""
    return 0 if trainer in opts.keep_all else opts.keep_latest


def kept_sets(written: int, keep: int) -> int:
    """Resume sets on disk at the peak: those kept, plus the new one written before the oldest is removed."""
    if keep <= 0 or written <= keep:
        return written
    return keep + 1


# --------------------------------------------------------------------------------------------------- SoVITS
def sovits_probe(opts: EstimateOptions, paths: ProjectPaths, device: torch.device, precision: Precision,
                 problems: list[str], world: int = 1) -> Probe:
    """The SoVITS trainer's setup (train_sovits): config, items, dataset, sampler, G/D from the pretrained files."""
    from gpt_sovits.dataset.sovits_data import MIN_ITEMS, BucketSampler, SoVITSDataset, collate, scan_items
    from gpt_sovits.models.safe_load import CheckpointError
    from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
    from gpt_sovits.train.sovits import SoVITSTrainOptions, training_config
    from gpt_sovits.train.sovits_init import initialise
    from gpt_sovits.train.sovits_step import make_optimizers, set_epoch_lr, train_step

    exp = paths.experiment(opts.exp)
    require_formatted(exp, ("name2text", "hubert", "wav32k", *(("sv",) if opts.version in SV_VERSIONS else ())))
    train_opts = SoVITSTrainOptions(
        root=opts.root, exp=opts.exp, epochs=opts.sovits_epochs, batch_size=opts.sovits_batch_size,
        save_every=opts.sovits_save_every, keep_latest=opts.keep_latest, save_weights=opts.save_weights,
        precision=opts.precision, device=str(device), version=opts.version, config=opts.sovits_config,
        pretrained_g=opts.pretrained_g, pretrained_d=opts.pretrained_d, seed=opts.seed,
        min_items=MIN_ITEMS if opts.min_items is None else opts.min_items,
    )
    hps = training_config(train_opts, exp, paths)
    data_hps = hps["data"]
    data = scan_items(exp, int(data_hps["sampling_rate"]), int(data_hps["hop_length"]), opts.version,
                      train_opts.min_items)
    if data.skipped:
        shown = "; ".join(f"{s.name}: {s.reason}" for s in data.skipped[:5])
        more = f" and {len(data.skipped) - 5} more" if len(data.skipped) > 5 else ""
        problems.append(f"SoVITS leaves out {len(data.skipped)} clip(s): {shown}{more}.")
    if data.unique == 0:
        raise TrainingError(f"No clip of {opts.exp!r} can be trained by SoVITS: run 1A (format) with model version "
                            f"{opts.version}.", EXIT_BAD_DATA)
    dataset = SoVITSDataset(exp, data.items, data_hps, opts.version)

    torch.manual_seed(opts.seed)
    net_g = build_synthesizer(hps, opts.version)
    net_d = build_discriminator(hps, opts.version)
    pretrained_g = Path(hps["train"]["pretrained_s2G"])
    pretrained_d = Path(hps["train"]["pretrained_s2D"])
    try:
        initialise(net_g, net_d, pretrained_g, pretrained_d if pretrained_d.is_file() else None, opts.version)
    except FileNotFoundError:
        raise TrainingError(f"The pretrained SoVITS generator {pretrained_g} is missing: put upstream's file there "
                            f"({pretrained_g.parent}).", EXIT_BAD_DATA) from None
    except CheckpointError as e:
        problems.append(f"A pretrained SoVITS file cannot be loaded: {e}")
        raise TrainingError(f"The pretrained SoVITS files cannot be used: {e}", EXIT_BAD_DATA) from None
    optim_g, optim_d = make_optimizers(net_g, net_d, hps["train"])
    scaler = Scaler(precision)
    net_g.to(device).train()
    net_d.to(device).train()
    set_epoch_lr(optim_g, float(hps["train"]["lr_decay"]), 1)
    set_epoch_lr(optim_d, float(hps["train"]["lr_decay"]), 1)

    def epoch_batches(batch_size: int) -> list[list[int]]:
        sampler = BucketSampler(dataset.lengths, batch_size, world_size=world, rank=0)
        sampler.set_epoch(1)
        return sampler.batches()

    def step(batch: Any, _index: int) -> None:
        try:
            train_step(net_g, net_d, optim_g, optim_d, batch, hps, scaler.scaler, precision.autocast)
        except BaseException:
            scaler.renew()
            raise

    def saved_bytes(epochs: int, _batch: int) -> int:
        resume = (tensor_bytes(net_g.state_dict()) + tensor_bytes(optim_g.state_dict())
                  + tensor_bytes(net_d.state_dict()) + tensor_bytes(optim_d.state_dict()) + 64 * 1024)
        weights = half_bytes({k: v for k, v in net_g.state_dict().items() if "enc_q" not in k}) + 16 * 1024
        saves = save_count(epochs, opts.sovits_save_every)
        return resume * kept_sets(saves, keep_of("sovits", opts)) + weights * weights_written("sovits", saves, opts)

    longest = sorted(range(len(dataset)), key=lambda i: dataset.lengths[i], reverse=True)
    top = data.items[longest[0]]
    return Probe(
        name="SoVITS", device=device, precision=precision, items=len(dataset), batch_cap=len(dataset),
        longest=longest, longest_label=f"{top.name} ({top.frames * 0.02:.1f} s)", clamp=lambda b: max(1, b),
        epoch_batches=epoch_batches, load=lambda ids: collate([dataset[i] for i in ids]).to(device), step=step,
        saved_bytes=saved_bytes, loads_in_step=device.type != "cuda",  # CUDA runs load in 4 workers alongside
    )


# --------------------------------------------------------------------------------------------------- GPT
def gpt_probe(opts: EstimateOptions, paths: ProjectPaths, device: torch.device, precision: Precision,
              problems: list[str], world: int = 1) -> Probe:
    """The GPT trainer's setup (gpt.train): model and config, item selection, repetition, clamp, bucket sampler."""
    from gpt_sovits.dataset.gpt_data import (
        BucketBatchSampler, GPTDataset, clamp_batch_size, collate, read_name2semantic, repeat_small, select_items,
    )
    from gpt_sovits.dataset.readers import read_name2text
    from gpt_sovits.train.gpt import GPTTrainOptions, build_model
    from gpt_sovits.train.gpt_recipe import ACCUMULATE, make_optimizer, upstream_lr
    from gpt_sovits.train.gpt_step import train_batch

    if opts.version not in GPT_VERSIONS:
        raise TrainingError(f"The GPT trainer trains {', '.join(GPT_VERSIONS)} only (asked: {opts.version}).")
    exp = paths.experiment(opts.exp)
    require_formatted(exp, ("name2text", "semantic"))
    train_opts = GPTTrainOptions(root=opts.root, exp=opts.exp, epochs=opts.gpt_epochs, batch_size=opts.gpt_batch_size,
                                 save_every=opts.gpt_save_every, keep_latest=opts.keep_latest,
                                 precision=opts.precision, device=str(device), pretrained=opts.pretrained_gpt,
                                 dpo=opts.dpo, version=opts.version, seed=opts.seed, save_weights=opts.save_weights)
    try:
        model, config, _source = build_model(train_opts, paths)
    except TrainingError as e:
        if Path(opts.pretrained_gpt or paths.pretrained_gpt(opts.version)).is_file():  # missing: reported already
            problems.append(f"The pretrained GPT cannot be loaded: {e}")
        raise
    max_sec = int(config.get("data", {}).get("max_sec", 54))
    selection = select_items(read_name2text(exp.name2text), read_name2semantic(exp.name2semantic), exp.bert_dir,
                             max_sec=max_sec, version=opts.version)
    if selection.dropped:
        shown = "; ".join(f"{n}: {r}" for n, r in selection.dropped[:5])
        more = f" and {len(selection.dropped) - 5} more" if len(selection.dropped) > 5 else ""
        problems.append(f"GPT leaves out {len(selection.dropped)} item(s): {shown}{more}.")
    if not selection.items:
        raise TrainingError(f"No item of {opts.exp!r} can be trained by GPT (see the problems).", EXIT_BAD_DATA)
    dataset = GPTDataset(repeat_small(selection.items), exp.bert_dir)
    torch.manual_seed(opts.seed)
    model.to(device)
    optimizer = make_optimizer(model)
    scaler = Scaler(precision)

    def clamp(requested: int) -> int:
        return clamp_batch_size(requested, len(dataset), opts.dpo)

    dpo_note = "with DPO the trainer halves the batch size asked for: batch sizes here are the halved ones"

    def epoch_batches(batch_size: int) -> list[list[int]]:
        sampler = BucketBatchSampler(dataset, batch_size, 0, world)
        sampler.set_epoch(0)
        return list(sampler)

    def step(batch: Any, index: int) -> None:
        try:
            train_batch(model, optimizer, batch, index, 1, upstream_lr, dpo=opts.dpo, autocast=precision.autocast,
                        scaler=scaler.scaler)
        except BaseException:
            scaler.renew()
            optimizer.zero_grad(set_to_none=True)  # a failed batch's partial gradients are not accumulated on
            raise

    def saved_bytes(epochs: int, _batch: int) -> int:
        grads = sum(p.numel() * 4 + TENSOR_OVERHEAD for p in model.parameters())  # accumulated fp32 gradients
        resume = tensor_bytes(model.state_dict()) + tensor_bytes(optimizer.state_dict()) + grads + 64 * 1024
        weights = half_bytes(model.state_dict()) + 16 * 1024
        saves = save_count(epochs, opts.gpt_save_every)
        return resume * kept_sets(epochs, keep_of("gpt", opts)) + weights * weights_written("gpt", saves, opts)

    assert ACCUMULATE == 4  # _try_step relies on batch index 4 being an update batch
    longest = sorted(range(len(dataset)), key=lambda i: len(dataset.items[i].semantic_ids), reverse=True)
    top = dataset.items[longest[0]]
    return Probe(
        name="GPT", device=device, precision=precision, items=len(dataset), batch_cap=clamp(10**9), longest=longest,
        longest_label=f"{top.name} ({top.seconds:.1f} s)", clamp=clamp, epoch_batches=epoch_batches,
        load=lambda ids: collate([dataset[i] for i in ids]).to(device), step=step, saved_bytes=saved_bytes,
        loads_in_step=True, cycle=ACCUMULATE,  # the GPT loop reads and collates each batch itself
        notes=[dpo_note] if opts.dpo else [],
    )


PROBES: dict[str, Callable[..., Probe]] = {"sovits": sovits_probe, "gpt": gpt_probe}


# --------------------------------------------------------------------------------------------------- checks
def check_pretrained(opts: EstimateOptions, paths: ProjectPaths) -> list[str]:
    """Pretrained files each asked trainer starts from: present, not empty, not a Git LFS pointer."""
    files: list[tuple[str, Path]] = []
    if "sovits" in opts.trainers:
        files += [("SoVITS generator (G)", Path(opts.pretrained_g or paths.pretrained_sovits_g(opts.version))),
                  ("SoVITS discriminator (D)", Path(opts.pretrained_d or paths.pretrained_sovits_d(opts.version)))]
    if "gpt" in opts.trainers:
        files.append(("GPT", Path(opts.pretrained_gpt or paths.pretrained_gpt(opts.version))))
    problems = []
    for what, path in files:
        if not path.is_file():
            lacking = " (training would start the discriminator from random weights)" if "(D)" in what else ""
            problems.append(f"The pretrained {what} file {path.name} is missing{lacking}: it belongs in "
                            f"{path.parent}.")
            continue
        with open(path, "rb") as f:
            head = f.read(64)
        if not head:
            problems.append(f"The pretrained {what} file {path} is empty: download it again into {path.parent}.")
        elif head.startswith(b"version https://git-lfs"):
            problems.append(f"The pretrained {what} file {path} is a Git LFS pointer, not the file: run `git lfs "
                            f"pull` or download it again into {path.parent}.")
    return problems


def check_formatted(opts: EstimateOptions, paths: ProjectPaths) -> tuple[list[str], bool]:
    """(problems, formatted at all): each asked trainer's 1A outputs, naming the 1A step that writes what is missing."""
    exp = paths.experiment(opts.exp)
    needs = {"sovits": ("name2text", "hubert", "wav32k", *(("sv",) if opts.version in SV_VERSIONS else ())),
             "gpt": ("name2text", "semantic")}
    problems = []
    try:
        require_formatted(exp, ("name2text",))
    except MissingFormattedData as e:
        return [str(e)], False
    for trainer in opts.trainers:
        try:
            require_formatted(exp, needs[trainer])
        except MissingFormattedData as e:
            problems.append(f"{'SoVITS' if trainer == 'sovits' else 'GPT'}: {e}")
    return problems, True


def check_disk(paths: ProjectPaths, results: dict[str, Any]) -> list[str]:
    """Free space where checkpoints and weights go, against what the estimated runs will write."""
    need = sum(r.get("disk_bytes", 0) for r in results.values() if isinstance(r, dict) and "error" not in r)
    target = paths.root
    try:
        free = shutil.disk_usage(target).free
    except OSError:
        return []
    if need > free:
        return [f"The checkpoints need about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB is free on the "
                f"disk of {target}: free space, keep fewer checkpoints or save less often."]
    return []


# --------------------------------------------------------------------------------------------------- the run
def estimate(opts: EstimateOptions, say: Callable[[str], None] = print) -> tuple[dict[str, Any], int]:
    """The estimate's JSON object and the exit code: 0 (also when one trainer failed), 3 when not formatted at all."""
    paths = ProjectPaths(Path(opts.root))
    unknown = [t for t in opts.trainers if t not in PROBES]
    if unknown:
        raise TrainingError(f"Unknown trainer(s) {unknown}: use {','.join(TRAINERS)}.")
    out: dict[str, Any] = {"exp": opts.exp, "problems": []}
    formatted_problems, formatted = check_formatted(opts, paths)
    out["problems"] += formatted_problems + check_pretrained(opts, paths)
    if not formatted:
        for trainer in opts.trainers:
            out[trainer] = {"error": formatted_problems[0]}
        return out, EXIT_BAD_DATA
    devices = [d.strip() for d in str(opts.device or "auto").split(",") if d.strip()] or ["auto"]
    world = len(devices)  # several GPUs: one process each (torchrun), every one of them like the first
    try:
        device = resolve_device(devices[0])
        precision = choose_precision(device, opts.precision)
    except TrainingError as e:  # a device or precision this machine lacks: said in the file the tab shows
        for trainer in opts.trainers:
            out[trainer] = {"error": str(e)}
        return out, e.exit_code
    out.update(device=str(device), precision=precision.name, margin=opts.margin, processes=world)
    started = time.perf_counter()
    for trainer in opts.trainers:
        requested, epochs = ((opts.sovits_batch_size, opts.sovits_epochs) if trainer == "sovits"
                             else (opts.gpt_batch_size, opts.gpt_epochs))
        say(f"{trainer}: setting up as the trainer does")
        probe = None
        meter = MemoryMeter(device)
        meter.reset()  # what the previous trainer freed goes back to the OS first
        baseline = meter.current()
        try:
            probe = PROBES[trainer](opts, paths, device, precision, out["problems"], world)
            out[trainer] = estimate_trainer(probe, requested, epochs, opts, say, baseline, world)
        except (TrainingError, MissingFormattedData) as e:
            out[trainer] = {"error": str(e)}
            say(f"{trainer}: {e}")
        except Exception as e:  # noqa: BLE001 - one trainer's failure must not lose the other's estimate
            message = (f"out of memory on {device} while setting up or with a batch of 1" if is_out_of_memory(e)
                       else f"{type(e).__name__}: {e}")
            out[trainer] = {"error": f"The estimate failed: {message}"}
            say(f"{trainer}: {out[trainer]['error']}")
        finally:
            del probe
            _release(device)
    out["problems"] += check_disk(paths, out)
    out["seconds"] = time.perf_counter() - started
    return out, 0


def write_json(data: dict[str, Any], path: Path) -> None:
    """Atomically (temp file + rename), so the tab never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment name (formatted by 1A into logs/<exp>/)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda or cuda:N; several GPUs (cuda:0,cuda:1) as the trainers run them")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument("--version", default=None, choices=SOVITS_VERSIONS,
                        help="model version (default: the one 1A formatted the experiment for, else v2)")
    parser.add_argument("--trainers", default=",".join(TRAINERS), help="which to estimate: sovits,gpt (default both)")
    parser.add_argument("--sovits-epochs", type=int, default=8)
    parser.add_argument("--gpt-epochs", type=int, default=15)
    parser.add_argument("--sovits-batch-size", type=int, default=4)
    parser.add_argument("--gpt-batch-size", type=int, default=8)
    parser.add_argument("--sovits-save-every", type=int, default=4)
    parser.add_argument("--gpt-save-every", type=int, default=5)
    parser.add_argument("--keep-latest", type=int, default=1,
                        help="resume sets each trainer keeps (default 1; 0: all)")
    parser.add_argument("--keep-all", default="", metavar="TRAINERS",
                        help="trainers (sovits,gpt) that keep every resume set")
    parser.add_argument("--no-weights", action="store_true", help="the runs will write no weights files")
    parser.add_argument("--final-weights-only", default="", metavar="TRAINERS",
                        help="trainers (sovits,gpt) that write weights after the last epoch only")
    parser.add_argument("--steps", type=int, default=TIMED_STEPS, help="timed steps per trainer (after a warm-up)")
    parser.add_argument("--margin", type=float, default=MARGIN, help="fraction of the memory found that may be used")
    parser.add_argument("--sovits-config", type=Path, default=None, help="as train-sovits --config")
    parser.add_argument("--pretrained-g", type=Path, default=None)
    parser.add_argument("--pretrained-d", type=Path, default=None)
    parser.add_argument("--pretrained-gpt", type=Path, default=None)
    parser.add_argument("--min-items", type=int, default=None, help="as train-sovits --min-items")
    parser.add_argument("--dpo", action="store_true", help="the GPT run will use DPO (halves its batch)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the JSON (default logs/<exp>/train_estimate.json)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in str(text or "").split(",") if t.strip())


def options_from_args(args: argparse.Namespace) -> EstimateOptions:
    """Raises TrainingError when no --version is given and the experiment's cannot be told (see training_version)."""
    trainers = _names(args.trainers)
    version = training_version(ProjectPaths(Path(args.root)).experiment(args.exp), args.version, SOVITS_VERSIONS)
    return EstimateOptions(
        root=args.root, exp=args.exp, device=args.device, precision=args.precision, version=version,
        trainers=trainers, sovits_epochs=args.sovits_epochs, gpt_epochs=args.gpt_epochs,
        sovits_batch_size=args.sovits_batch_size, gpt_batch_size=args.gpt_batch_size,
        sovits_save_every=args.sovits_save_every, gpt_save_every=args.gpt_save_every, keep_latest=args.keep_latest,
        keep_all=_names(args.keep_all), save_weights=not args.no_weights,
        final_weights_only=_names(args.final_weights_only), steps=args.steps, margin=args.margin,
        sovits_config=args.sovits_config,
        pretrained_g=args.pretrained_g, pretrained_d=args.pretrained_d, pretrained_gpt=args.pretrained_gpt,
        min_items=args.min_items, dpo=args.dpo,
    )


def run(args: argparse.Namespace) -> int:
    try:
        opts = options_from_args(args)
    except (TrainingError, ValueError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name, value in (("epochs", min(opts.sovits_epochs, opts.gpt_epochs)),
                        ("batch size", min(opts.sovits_batch_size, opts.gpt_batch_size)),
                        ("save interval", min(opts.sovits_save_every, opts.gpt_save_every)), ("steps", opts.steps)):
        if value < 1:
            print(f"ERROR: {name} must be at least 1.", file=sys.stderr)
            return 2
    if not 0 < opts.margin <= 1:
        print("ERROR: --margin must be in (0, 1].", file=sys.stderr)
        return 2
    events = EventWriter.from_env()

    def say(text: str) -> None:
        print(f"[{STAGE}] {text}", flush=True)
        events.emit(stage=STAGE, message=text, level="info")

    exp_dir = ProjectPaths(Path(args.root)).experiment(args.exp).dir
    output = Path(args.output or exp_dir / "train_estimate.json")
    try:
        data, code = estimate(opts, say)
    except TrainingError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return e.exit_code
    if output.parent.is_dir() or output.parent.resolve() != exp_dir.resolve():  # never create logs/<exp>/ itself
        write_json(data, output)
        say(f"wrote {output}")
    for problem in data.get("problems", []):
        say(f"problem: {problem}")
    events.emit(stage=STAGE, result={k: data.get(k) for k in ("sovits", "gpt", "problems") if k in data})
    return code
