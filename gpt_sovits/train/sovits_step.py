"""One SoVITS training step, the optimizers and the learning-rate rule: upstream's `s2_train.py` recipe.

The recipe (TRAIN_CASES.md, quirks S1–S9): AdamW (betas/eps from the config, PyTorch's default weight decay 0.01)
over four generator groups (text embedding, text encoder and MRTE at ``lr · text_low_lr_rate``); lr of epoch ``e`` is
``lr · lr_decay^e`` (the scheduler is stepped once before epoch 1); the discriminator steps first and the generator's
adversarial and feature losses use the UPDATED discriminator; gradient norms are measured, never clipped.
v2Pro/v2ProPlus: the batch's stored SV embeddings go into the generator (its sv_emb/ge_to512/prelu layers train in
group 0 at the full rate, as upstream) and the discriminator has upstream's two extra periods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from gpt_sovits.audio.spectrogram import mel_spectrogram, spec_to_mel
from gpt_sovits.dataset.sovits_data import SoVITSBatch
from gpt_sovits.models.sovits import SynthesizerTrainOutput, losses
from gpt_sovits.models.sovits.commons import slice_segments

TEXT_MODULES = ("enc_p.text_embedding.", "enc_p.encoder_text.", "enc_p.mrte.")  # trained at lr · text_low_lr_rate
LOSS_NAMES = ("disc_all", "gen", "fm", "mel", "kl_ssl", "kl", "gen_all")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def disable_dropout(*models: nn.Module) -> int:
    """Set every ``nn.Dropout`` to p = 0 (deterministic training forward, for replaying a recorded step)."""
    count = 0
    for model in models:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
                count += 1
    return count


def generator_param_groups(net_g: nn.Module) -> list[list[nn.Parameter]]:
    """Upstream's four groups, in its order: everything else, text_embedding, encoder_text, mrte.

    The frozen ssl_proj stays in group 0 (as upstream, where it simply never gets a gradient) so that optimizer
    state dicts keep upstream's parameter numbering and resume across the two implementations.
    """
    groups: list[list[nn.Parameter]] = [[] for _ in range(len(TEXT_MODULES) + 1)]
    for name, param in unwrap(net_g).named_parameters():
        index = next((i + 1 for i, prefix in enumerate(TEXT_MODULES) if name.startswith(prefix)), 0)
        groups[index].append(param)
    return groups


def make_optimizers(net_g: nn.Module, net_d: nn.Module, train_hps: Mapping) -> tuple[torch.optim.AdamW,
                                                                                     torch.optim.AdamW]:
    """(optim_g, optim_d) as upstream builds them; weight decay is AdamW's default 0.01 (upstream passes none)."""
    lr = float(train_hps["learning_rate"])
    low = lr * float(train_hps.get("text_low_lr_rate", 0.4))
    betas = tuple(float(b) for b in train_hps["betas"])
    eps = float(train_hps["eps"])
    groups = generator_param_groups(net_g)
    optim_g = torch.optim.AdamW(
        [{"params": groups[0], "lr": lr}] + [{"params": g, "lr": low} for g in groups[1:]],
        lr, betas=betas, eps=eps, weight_decay=0.01,
    )
    optim_d = torch.optim.AdamW(unwrap(net_d).parameters(), lr, betas=betas, eps=eps, weight_decay=0.01)
    for opt in (optim_g, optim_d):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]  # what ExponentialLR records; our lr rule starts from it
    return optim_g, optim_d


def epoch_lr(initial_lr: float, lr_decay: float, epoch: int) -> float:
    """Learning rate used during ``epoch`` (1-based): ExponentialLR stepped once before epoch 1 and after each epoch.

    Multiplied out step by step like the scheduler, so the float values are the ones upstream logs.
    """
    lr = initial_lr
    for _ in range(epoch):
        lr *= lr_decay
    return lr


def set_epoch_lr(optimizer: torch.optim.Optimizer, lr_decay: float, epoch: int) -> list[float]:
    """Put every group of ``optimizer`` at its rate for ``epoch``; returns the rates."""
    rates = []
    for group in optimizer.param_groups:
        group["lr"] = epoch_lr(group["initial_lr"], lr_decay, epoch)
        rates.append(group["lr"])
    return rates


def grad_norm(params: Iterable[nn.Parameter]) -> float:
    """Upstream's logged value (``clip_grad_value_(params, None)``): sqrt(Σ ‖g‖₂²) over parameters with a gradient,
    without clipping. One host sync instead of one per parameter."""
    norms = [torch.linalg.vector_norm(p.grad.detach(), 2).double() for p in params if p.grad is not None]
    if not norms:
        return 0.0
    return float(torch.stack(norms).pow(2).sum().sqrt())


@dataclass
class StepDraws:
    """Random numbers of one step; None = draw them (from ``generator`` or torch's global RNG)."""

    noise: torch.Tensor | None = None  # posterior noise, shape of m_q
    slice_rand: torch.Tensor | None = None  # [B] uniforms of the segment offsets


@dataclass
class StepResult:
    losses: dict[str, torch.Tensor]  # LOSS_NAMES → 0-d fp32 tensors (detached)
    grad_norm_d: float
    grad_norm_g: float
    out: SynthesizerTrainOutput  # generator outputs of the step (graph released)
    y_mel: torch.Tensor
    y_hat_mel: torch.Tensor
    d_fake_before_update: list[torch.Tensor]  # D outputs on ŷ.detach() in the D step
    losses_disc_r: list[torch.Tensor] = field(default_factory=list)
    losses_disc_g: list[torch.Tensor] = field(default_factory=list)
    losses_gen: list[torch.Tensor] = field(default_factory=list)


def _set_requires_grad(params: Iterable[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def train_step(
    net_g: nn.Module,
    net_d: nn.Module,
    optim_g: torch.optim.Optimizer,
    optim_d: torch.optim.Optimizer,
    batch: SoVITSBatch,
    hps: Mapping,
    scaler: torch.amp.GradScaler,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    draws: StepDraws | None = None,
    generator: torch.Generator | None = None,
    check: Callable[[dict[str, torch.Tensor]], None] | None = None,
    on_grads: Callable[[str], None] | None = None,
) -> StepResult:
    """Discriminator step, then generator step against the updated discriminator (upstream's order, S5).

    ``check(losses)`` runs before each optimizer step (e.g. stop on a NaN loss before it reaches the weights);
    ``on_grads("d" | "g")`` runs after each backward, before the step (tests read the gradients there).
    """
    data, train = hps["data"], hps["train"]
    hop = int(data["hop_length"])
    segment = int(train["segment_size"])
    mel_args = (int(data["filter_length"]), int(data["n_mel_channels"]), int(data["sampling_rate"]))
    fmin, fmax = data["mel_fmin"], data["mel_fmax"]
    draws = draws or StepDraws()
    d_module = unwrap(net_d)

    with autocast():
        out: SynthesizerTrainOutput = net_g(batch.ssl, batch.spec, batch.spec_lengths, batch.text, batch.text_lengths,
                                            generator=generator, sv_emb=batch.sv_emb, noise=draws.noise,
                                            slice_rand=draws.slice_rand)
        mel = spec_to_mel(batch.spec, *mel_args, fmin, fmax)
        y_mel = slice_segments(mel, out.ids_slice, segment // hop)
        # fp32 wave into the STFT (bf16 has no FFT; upstream feeds fp16 under fp16 autocast)
        y_hat_mel = mel_spectrogram(out.y_hat.squeeze(1).float(), mel_args[0], mel_args[1], mel_args[2], hop,
                                    int(data["win_length"]), fmin, fmax)
        y = slice_segments(batch.wav, out.ids_slice * hop, segment)
        d_real, d_fake, _, _ = net_d(y, out.y_hat.detach())
    loss_disc, losses_disc_r, losses_disc_g = losses.discriminator_loss(d_real, d_fake)
    if check is not None:
        check({"disc_all": loss_disc.detach()})
    optim_d.zero_grad(set_to_none=True)
    scaler.scale(loss_disc).backward()
    scaler.unscale_(optim_d)
    grad_norm_d = grad_norm(d_module.parameters())
    if on_grads is not None:
        on_grads("d")
    scaler.step(optim_d)

    # Generator: the D forward bypasses any DDP wrapper and its weights take no gradient here (upstream computes
    # and then discards them); gradients still flow through D into ŷ.
    d_params = [p for p in d_module.parameters() if p.requires_grad]
    _set_requires_grad(d_params, False)
    try:
        with autocast():
            _, d_fake_g, fmap_r, fmap_g = d_module(y, out.y_hat)
        loss_mel = losses.mel_loss(y_mel, y_hat_mel, float(train["c_mel"]))
        loss_kl = losses.kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask) * float(train["c_kl"])
        loss_fm = losses.feature_loss(fmap_r, fmap_g)
        loss_gen, losses_gen = losses.generator_loss(d_fake_g)
        kl_ssl = out.kl_ssl.float()
        loss_gen_all = loss_gen + loss_fm + loss_mel + kl_ssl + loss_kl
        step_losses = {"disc_all": loss_disc.detach(), "gen": loss_gen.detach(), "fm": loss_fm.detach(),
                       "mel": loss_mel.detach(), "kl_ssl": kl_ssl.detach(), "kl": loss_kl.detach(),
                       "gen_all": loss_gen_all.detach()}
        if check is not None:
            check(step_losses)
        optim_g.zero_grad(set_to_none=True)
        scaler.scale(loss_gen_all).backward()
    finally:
        _set_requires_grad(d_params, True)
    scaler.unscale_(optim_g)
    grad_norm_g = grad_norm(unwrap(net_g).parameters())
    if on_grads is not None:
        on_grads("g")
    scaler.step(optim_g)
    scaler.update()

    detached = SynthesizerTrainOutput(**{k: v.detach() for k, v in vars(out).items()})
    return StepResult(
        losses=step_losses, grad_norm_d=grad_norm_d, grad_norm_g=grad_norm_g, out=detached,
        y_mel=y_mel.detach(), y_hat_mel=y_hat_mel.detach(), d_fake_before_update=[t.detach() for t in d_fake],
        losses_disc_r=losses_disc_r, losses_disc_g=losses_disc_g, losses_gen=[t.detach() for t in losses_gen],
    )
