"""SoVITS encoders: the prior ``TextEncoder`` (SSL content + phones + timbre via MRTE) and the training-only
``PosteriorEncoder`` (linear spectrogram → latent z)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attentions import Encoder
from .commons import time_mask
from .modules import WN
from .mrte import MRTE

SSL_DIM = 768  # HuBERT-base width, fixed by upstream
N_SYMBOLS = {"v1": 322, "v2": 732}


class TextEncoder(nn.Module):
    """Prior encoder ``enc_p``: returns the hidden sequence and the prior's mean / log-std ``m_p, logs_p``."""

    def __init__(
        self,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        version: str = "v2",
    ) -> None:
        super().__init__()
        if version not in N_SYMBOLS:
            raise ValueError(f"unsupported SoVITS symbol version {version!r} (expected one of {sorted(N_SYMBOLS)})")
        self.out_channels = out_channels
        # registration order = upstream's state-dict order
        self.ssl_proj = nn.Conv1d(SSL_DIM, hidden_channels, 1)
        self.encoder_ssl = Encoder(hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size, p_dropout)
        self.encoder_text = Encoder(hidden_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout)
        self.text_embedding = nn.Embedding(N_SYMBOLS[version], hidden_channels)
        # MRTE is built with its defaults (content 192, hidden 512, 4 heads) exactly as upstream does
        self.mrte = MRTE()
        self.encoder2 = Encoder(hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size, p_dropout)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self,
        y: torch.Tensor,  # [B, 768, T] quantized SSL at 50 Hz
        y_lengths: torch.Tensor,  # [B] (or [1], broadcast)
        text: torch.Tensor,  # [B, N] phone ids
        text_lengths: torch.Tensor,  # [B] (or [1])
        ge: torch.Tensor | None,  # [B, 512, 1]
        speed: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ ``(x [B, H, T'], m_p [B, out, T'], logs_p [B, out, T'], y_mask [B, 1, T'])``; T' = T unless speed ≠ 1."""
        y_mask = time_mask(y_lengths, y.size(2), y.dtype)
        y = self.ssl_proj(y * y_mask) * y_mask
        y = self.encoder_ssl(y * y_mask, y_mask)

        text_mask = time_mask(text_lengths, text.size(1), y.dtype)
        t = self.text_embedding(text).transpose(1, 2)  # [B, H, N], no √d scaling
        t = self.encoder_text(t * text_mask, text_mask)

        y = self.mrte(y, y_mask, t, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if speed != 1:
            # resample the prior in time: int(T / speed) + 1 frames (linear; the mask nearest)
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.shape[-1], mode="nearest")
        stats = self.proj(y) * y_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return y, m, logs, y_mask


class PosteriorEncoder(nn.Module):
    """``enc_q``: spectrogram → ``z = (m + ε·exp(logs))·mask`` through a conditioned WaveNet (training only)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self,
        x: torch.Tensor,  # [B, spec_channels, T]
        x_lengths: torch.Tensor,  # [B]
        g: torch.Tensor | None = None,  # [B, gin, 1]
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,  # [B, out_channels, T] standard-normal draw, replaces the sampled one
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ ``(z, m_q, logs_q, x_mask)``; the condition is detached (no gradient from here into ``ref_enc``).

        ``noise`` lets a test inject a recorded draw (upstream: ``randn_like(m)`` over the full padded length).
        """
        if g is not None:
            g = g.detach()
        x_mask = time_mask(x_lengths, x.size(2), x.dtype)
        x = self.pre(x) * x_mask
        x = self.enc(x, x_mask, g=g)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        if noise is None:
            noise = torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
        elif noise.shape != m.shape:
            raise ValueError(f"posterior noise has shape {tuple(noise.shape)}, expected {tuple(m.shape)}")
        z = (m + noise.to(device=m.device, dtype=m.dtype) * torch.exp(logs)) * x_mask
        return z, m, logs, x_mask
