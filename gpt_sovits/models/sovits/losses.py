"""SoVITS training losses (LSGAN adversarial, feature matching, mel L1, KL), computed in fp32 as upstream."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(
    disc_real_outputs: list[torch.Tensor], disc_generated_outputs: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """``Σ_d mean((1 − D(y))²) + mean(D(ŷ)²)`` → (total, per-disc real terms, per-disc fake terms).

    Upstream returns the per-discriminator terms as Python floats (``.item()``); here they stay 0-d tensors
    (detached) so callers decide when to synchronise.
    """
    loss = torch.zeros((), device=disc_real_outputs[0].device)
    r_losses, g_losses = [], []
    for dr, dg in zip(disc_real_outputs, disc_generated_outputs):
        r_loss = torch.mean((1 - dr.float()) ** 2)
        g_loss = torch.mean(dg.float() ** 2)
        loss = loss + (r_loss + g_loss)
        r_losses.append(r_loss.detach())
        g_losses.append(g_loss.detach())
    return loss, r_losses, g_losses


def generator_loss(disc_outputs: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``Σ_d mean((1 − D(ŷ))²)`` → (total, per-disc terms)."""
    loss = torch.zeros((), device=disc_outputs[0].device)
    gen_losses = []
    for dg in disc_outputs:
        term = torch.mean((1 - dg.float()) ** 2)
        gen_losses.append(term)
        loss = loss + term
    return loss, gen_losses


def feature_loss(fmap_r: list[list[torch.Tensor]], fmap_g: list[list[torch.Tensor]]) -> torch.Tensor:
    """``2 · Σ_d Σ_layer mean|fmap_r.detach() − fmap_g|``."""
    loss = torch.zeros((), device=fmap_g[0][0].device)
    for dr, dg in zip(fmap_r, fmap_g):
        for rl, gl in zip(dr, dg):
            loss = loss + torch.mean(torch.abs(rl.float().detach() - gl.float()))
    return loss * 2


def mel_loss(y_mel: torch.Tensor, y_hat_mel: torch.Tensor, c_mel: float) -> torch.Tensor:
    """``L1(y_mel, ŷ_mel) · c_mel`` (upstream: ``c_mel = 45``)."""
    return F.l1_loss(y_mel.float(), y_hat_mel.float()) * c_mel


def kl_loss(
    z_p: torch.Tensor, logs_q: torch.Tensor, m_p: torch.Tensor, logs_p: torch.Tensor, z_mask: torch.Tensor
) -> torch.Tensor:
    """``Σ[(logs_p − logs_q − 0.5) + 0.5·(z_p − m_p)²·exp(−2·logs_p)]·mask / Σmask`` (mask ``[B, 1, T]``)."""
    z_p, logs_q, m_p, logs_p, z_mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, z_mask))
    kl = logs_p - logs_q - 0.5
    kl = kl + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)
