"""One GPT training batch as a function: forward, backward, and (every 4th batch, upstream's rule) an update.

The loop around it only feeds batches and logs; the bundle's parity test calls the same function over its recorded
batches, with the DPO draws injected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gpt_sovits.dataset.gpt_data import GPTBatch
from gpt_sovits.models.gpt.t2s import RejectDraws, T2SForwardOutput, Text2SemanticDecoder
from gpt_sovits.train.gpt_recipe import is_update_batch, set_lr
from gpt_sovits.train.scaled_adam import ScaledAdam


@dataclass
class BatchResult:
    loss: float  # summed cross-entropy (+ DPO term), as upstream logs it
    acc: float  # top-3 accuracy over non-EOS targets
    dpo: float | None  # the DPO term alone, when on
    updated: bool  # the optimiser stepped after this batch
    lr: float | None  # learning rate of that update
    grad_norm: float | None  # L2 norm of the accumulated gradients just before the update (unclipped)


def batch_loss(
    model: Text2SemanticDecoder, batch: GPTBatch, dpo: bool = False, draws: RejectDraws | None = None,
    generator: torch.Generator | None = None,
) -> T2SForwardOutput:
    """Upstream's training forward: `forward_old` (summed CE) or, with DPO on, `forward` (CE + DPO)."""
    if dpo:
        return model.forward_dpo(*batch.model_args(), generator=generator, draws=draws)
    return model(*batch.model_args())


def grad_norm(model: torch.nn.Module) -> float:
    """sqrt(sum of squared float32 gradient norms) over parameters that have a gradient."""
    total = 0.0
    for p in model.parameters():
        if p.grad is not None:
            total += float(p.grad.detach().float().norm()) ** 2
    return math.sqrt(total)


def train_batch(
    model: Text2SemanticDecoder,
    optimizer: ScaledAdam,
    batch: GPTBatch,
    batch_idx: int,
    update_index: int,
    lr_of: Callable[[int], float],
    *,
    dpo: bool = False,
    draws: RejectDraws | None = None,
    generator: torch.Generator | None = None,
    autocast: Callable[[], object] | None = None,
    scaler: torch.amp.GradScaler | None = None,
    before_update: Callable[[], None] | None = None,
) -> BatchResult:
    """Forward + backward on one batch; step the optimiser when upstream would (see gpt_recipe.is_update_batch).

    `update_index` is the number of optimiser updates done so far (it picks the learning rate). Gradients are not
    divided by the number of accumulated batches, as upstream. Raises nothing itself on non-finite losses: the
    caller checks `loss` before the next batch.
    """
    model.train()
    if autocast is not None:
        with autocast():
            out = batch_loss(model, batch, dpo, draws, generator)
    else:
        out = batch_loss(model, batch, dpo, draws, generator)
    loss = out.loss
    (scaler.scale(loss) if scaler is not None else loss).backward()
    result = BatchResult(
        loss=float(loss.detach()), acc=out.acc, dpo=None if out.dpo is None else float(out.dpo.loss.detach()),
        updated=False, lr=None, grad_norm=None,
    )
    if is_update_batch(batch_idx):
        lr = lr_of(update_index)
        set_lr(optimizer, lr)
        if before_update is not None:
            before_update()  # e.g. average gradients over processes
        if scaler is not None:
            scaler.unscale_(optimizer)
        result.grad_norm = grad_norm(model)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        result.updated, result.lr = True, lr
    return result


def disable_dropout(model: torch.nn.Module) -> None:
    """Every dropout probability to 0 (the parity cases' setup; upstream hard-codes 0.1 inside the GPT)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0
