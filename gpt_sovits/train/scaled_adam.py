"""ScaledAdam (icefall/k2), the optimiser upstream trains the GPT with, written from its definition (TRAIN_CASES.md).

Adam whose step is scaled by each tensor's root-mean-square value, so every tensor moves by a fixed *fraction* of its
own size, plus a slowly learned overall scale per tensor. Momentum is kept on the parameter change ("delta"), not on
the gradient. Per tensor p with gradient g (a parameter without a gradient counts as g = 0), k = updates so far:

    delta *= beta1
    tensors:  scale_grads[k % 4] = sum(p * g);  every 4th update (k % 4 == 3) refresh rms(p) and, for k > 0,
              grow or shrink p along itself (the "size update", lr * scalar_lr_scale);
              v = EMA_beta2(g^2) (bias-corrected while 1 - beta2^(k+1) < 0.99);
              delta += -lr * (1 - beta1) * max(rms(p), param_min_rms) * g / (sqrt(v) + eps)
    scalars:  delta += -lr * scalar_lr_scale * (1 - beta1) * g / (sqrt(v_corrected) + eps);  p = clamp(p, +-scalar_max)
    p += delta

Gradient clipping: the model norm sqrt(sum((g * rms(p))^2)) of every update is kept for `clipping_update_period`
updates; at every multiple of that period the threshold becomes clipping_scale x their median, and from then on
the factor is min(1, threshold / norm). As in upstream, the factor only scales the gradient that feeds the size
update; the main Adam step and the scalar step read the raw gradient (so clipping is nearly a no-op there).
Upstream stacks tensors of equal shape for speed; that does not change the per-element arithmetic, so we update
tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class ScaledAdam(torch.optim.Optimizer):
    """Upstream's GPT optimiser. Defaults are the values `t2s_lightning_module.py` passes (betas 0.9/0.95, clip 2x)."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.95),
        clipping_scale: float | None = 2.0,
        scalar_lr_scale: float = 0.1,
        eps: float = 1e-8,
        param_min_rms: float = 1e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 1000,
    ) -> None:
        defaults = dict(
            lr=lr, betas=betas, clipping_scale=clipping_scale, scalar_lr_scale=scalar_lr_scale, eps=eps,
            param_min_rms=param_min_rms, param_max_rms=param_max_rms, scalar_max=scalar_max,
            size_update_period=size_update_period, clipping_update_period=clipping_update_period,
        )
        super().__init__(params, defaults)

    # ------------------------------------------------------------------ state
    @staticmethod
    def _init_state(group: dict, p: Tensor, state: dict) -> None:
        state["step"] = 0
        state["delta"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p.numel() > 1:
            rms = p.detach().pow(2).mean().sqrt()  # rms of p before the first update
            state["param_rms"] = rms
            state["scale_exp_avg_sq"] = torch.zeros_like(rms)
            state["scale_grads"] = torch.zeros(group["size_update_period"], dtype=p.dtype, device=p.device)

    def _clipping_factor(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> float:
        """Factor <= 1 for this update; 1 until the first threshold exists (update 1000 with the defaults)."""
        scale = group["clipping_scale"]
        first = self.state[params[0]]
        k = first["step"]
        if scale is None or k == 0:
            return 1.0
        period = group["clipping_update_period"]
        sumsq = torch.zeros((), dtype=torch.float32, device=params[0].device)
        for p, g in zip(params, grads):
            if p.numel() == 1:
                sumsq += g.float().pow(2).sum()
            else:
                sumsq += (g * self.state[p]["param_rms"]).float().pow(2).sum()
        norm = sumsq.sqrt()
        if "model_norms" not in first:
            first["model_norms"] = torch.zeros(period, device=norm.device)
        first["model_norms"][k % period] = norm
        if k % period == 0:
            median = first["model_norms"].sort().values[min(period - 1, (period // 4) * 2)].item()
            first["model_norm_threshold"] = scale * median
        if k < period or "model_norm_threshold" not in first:
            return 1.0
        return min(1.0, first["model_norm_threshold"] / (norm.item() + 1e-20))

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = list(group["params"])
            if not params:
                continue
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
            fresh = len(self.state[params[0]]) == 0
            for p in params:
                if len(self.state[p]) == 0:
                    self._init_state(group, p, self.state[p])
            clip = 1.0 if fresh else self._clipping_factor(group, params, grads)
            group["last_clipping_factor"] = clip
            for p, g in zip(params, grads):
                self._update(group, p, g, self.state[p], clip)
        return loss

    @staticmethod
    def _update(group: dict, p: Tensor, g: Tensor, state: dict, clip: float) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        k = state["step"]
        delta = state["delta"]
        delta.mul_(beta1)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if p.numel() == 1:
            corrected = exp_avg_sq / (1 - beta2 ** (k + 1))
            delta.add_(g / (corrected.sqrt() + eps), alpha=-lr * group["scalar_lr_scale"] * (1 - beta1))
            p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])
            p.add_(delta)
            state["step"] = k + 1
            return
        period = group["size_update_period"]
        clipped = g * clip if clip != 1.0 else g
        state["scale_grads"][k % period] = (p * clipped).sum()
        if k % period == period - 1:
            state["param_rms"].copy_(p.pow(2).mean().sqrt())
            if k > 0:
                ScaledAdam._size_update(group, p, state)
        correction = 1 - beta2 ** (k + 1)
        v = exp_avg_sq * (1.0 / correction) if correction < 0.99 else exp_avg_sq
        alpha = -lr * (1 - beta1) * state["param_rms"].clamp(min=group["param_min_rms"])
        delta.add_((g / (v.sqrt() + eps)) * alpha)
        p.add_(delta)
        state["step"] = k + 1

    @staticmethod
    def _size_update(group: dict, p: Tensor, state: dict) -> None:
        """Learn the tensor's overall scale: a step along p itself, from the 4 stored sum(p*g) values."""
        beta1, beta2 = group["betas"]
        size_lr = group["lr"] * group["scalar_lr_scale"]
        scale_grads = state["scale_grads"]
        period = scale_grads.numel()
        beta2_period = beta2**period
        avg = state["scale_exp_avg_sq"]
        avg.mul_(beta2_period).add_(scale_grads.pow(2).mean(), alpha=1 - beta2_period)
        size_step = (state["step"] + 1) // period
        correction = 1 - beta2_period**size_step
        scale_step = -size_lr * correction**0.5 * scale_grads.sum() / (avg.sqrt() + group["eps"])
        rms = state["param_rms"]
        if rms < group["param_min_rms"]:
            scale_step = torch.zeros_like(scale_step)  # never shrink a tensor that is already tiny
        elif rms > group["param_max_rms"]:
            scale_step = torch.full_like(scale_step, -size_lr * period)  # and stop a huge one from growing
        state["delta"].add_(p * scale_step, alpha=1 - beta1)
