"""Upstream's GPT training recipe as pure functions: when to update, at which learning rate, with which optimiser.

Upstream (`t2s_lightning_module.py`, quirks G1–G3 of TRAIN_CASES.md):
- gradients are accumulated over batches and the optimiser steps after batch_idx 4, 8, 12, ... of each epoch
  (`batch_idx > 0 and batch_idx % 4 == 0`): the first update of a run sums 5 batches, later ones 4, and the
  gradients of an epoch's last batches roll into the next epoch's first update (batch_idx restarts at 0);
- the learning rate is 0.01 for the very first update and 0.002 for every later one: the scheduler computes a
  warm-up/cosine value and then overwrites it with a hard-coded 0.002;
- the config's `train.gradient_clip` is never used; ScaledAdam clips by itself after 1000 updates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from torch import nn

from gpt_sovits.train.scaled_adam import ScaledAdam

Schedule = Literal["upstream", "warmup-cosine"]
SCHEDULES: tuple[str, ...] = ("upstream", "warmup-cosine")
FIRST_LR = 0.01  # ScaledAdam's constructor lr in upstream, used until the scheduler first steps
LOCKED_LR = 0.002  # what upstream's WarmupCosineLRSchedule.step() always writes
ACCUMULATE = 4


def is_update_batch(batch_idx: int) -> bool:
    """True when upstream steps the optimiser after this batch (batch_idx counts from 0 in every epoch)."""
    return batch_idx > 0 and batch_idx % ACCUMULATE == 0


def upstream_lr(update_index: int) -> float:
    """Learning rate of update number `update_index` (0-based) in upstream's effective schedule."""
    return FIRST_LR if update_index == 0 else LOCKED_LR


def warmup_cosine_lr(update_index: int, optimizer_config: Mapping[str, Any]) -> float:
    """The schedule the s1 config describes (linear warm-up lr_init → lr, cosine decay to lr_end over decay_steps).

    A deliberate deviation offered as an option: upstream computes it and then overrides it with 0.002. Update 0
    runs at lr_init, as the first value this schedule yields.
    """
    init = float(optimizer_config.get("lr_init", 1e-5))
    peak = float(optimizer_config.get("lr", 0.01))
    end = float(optimizer_config.get("lr_end", 1e-4))
    warmup = int(optimizer_config.get("warmup_steps", 2000))
    total = int(optimizer_config.get("decay_steps", 40000))
    k = update_index
    if k < warmup:
        return init + (peak - init) * k / max(warmup, 1)
    if k > total or total <= warmup:
        return end
    ratio = (k - warmup) / (total - warmup)
    return end + 0.5 * (peak - end) * (1.0 + math.cos(math.pi * ratio))


def learning_rate(update_index: int, schedule: Schedule, optimizer_config: Mapping[str, Any]) -> float:
    """The learning rate of a given update under the chosen schedule."""
    if schedule == "upstream":
        return upstream_lr(update_index)
    if schedule == "warmup-cosine":
        return warmup_cosine_lr(update_index, optimizer_config)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def make_optimizer(model: nn.Module, lr: float = FIRST_LR) -> ScaledAdam:
    """Upstream's single parameter group over every parameter, in `named_parameters()` order."""
    return ScaledAdam(
        [p for _, p in model.named_parameters()], lr=lr, betas=(0.9, 0.95), clipping_scale=2.0,
        clipping_update_period=1000,
    )


def set_lr(optimizer: ScaledAdam, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
