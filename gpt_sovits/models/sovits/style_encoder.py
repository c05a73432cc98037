"""MelStyleEncoder (``ref_enc``): reference spectrogram → global timbre vector ``ge [B, style_vector_dim, 1]``.

Despite its name it reads the *linear* spectrogram (v2: only the first 704 of 1025 bins; v1: all of them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


class LinearNorm(nn.Module):
    """A ``Linear`` under the attribute ``fc`` (keys ``….fc.weight``)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class ConvNorm(nn.Module):
    """A "same"-padded ``Conv1d`` under the attribute ``conv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        super().__init__()
        padding = int(dilation * (kernel_size - 1) / 2)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Conv1dGLU(nn.Module):
    """Residual gated conv: ``x + dropout(a · sigmoid(b))`` with ``[a, b] = conv(x)``."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = ConvNorm(channels, 2 * channels, kernel_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(self.conv1(x), self.channels, dim=1)
        return x + self.dropout(a * torch.sigmoid(b))


class StyleAttention(nn.Module):
    """Classic multi-head self-attention on ``[B, T, C]`` with ``Linear`` projections and a residual.

    Softmax temperature is √d_model (not √d_k), padded keys get −inf — both as upstream.
    """

    def __init__(self, n_head: int, d_model: int, dropout: float) -> None:
        super().__init__()
        assert d_model % n_head == 0
        self.n_head = n_head
        self.d_k = d_model // n_head
        self.temperature = math.sqrt(d_model)
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, C]``; ``mask [B, T, T]`` True where a key is padding."""
        b, t, _ = x.size()
        h, d_k = self.n_head, self.d_k
        residual = x

        def heads(y: torch.Tensor) -> torch.Tensor:  # [B, T, h·d_k] → [h·B, T, d_k] (head-major)
            return y.view(b, t, h, d_k).permute(2, 0, 1, 3).contiguous().view(-1, t, d_k)

        q, k, v = heads(self.w_qs(x)), heads(self.w_ks(x)), heads(self.w_vs(x))
        attn = torch.bmm(q, k.transpose(1, 2)) / self.temperature  # [h·B, T, T]
        if mask is not None:
            attn = attn.masked_fill(mask.repeat(h, 1, 1), -math.inf)
        attn = self.attn_dropout(torch.softmax(attn, dim=2))
        out = torch.bmm(attn, v)  # [h·B, T, d_k]
        out = out.view(h, b, t, d_k).permute(1, 2, 0, 3).contiguous().view(b, t, -1)
        return self.dropout(self.fc(out)) + residual


class MelStyleEncoder(nn.Module):
    """spectral MLP → 2 gated temporal convs → self-attention → Linear → masked mean over time."""

    def __init__(
        self,
        n_mel_channels: int = 80,
        style_hidden: int = 128,
        style_vector_dim: int = 256,
        style_kernel_size: int = 5,
        style_head: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            LinearNorm(n_mel_channels, style_hidden),
            Mish(),
            nn.Dropout(dropout),
            LinearNorm(style_hidden, style_hidden),
            Mish(),
            nn.Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            Conv1dGLU(style_hidden, style_kernel_size, dropout),
            Conv1dGLU(style_hidden, style_kernel_size, dropout),
        )
        self.slf_attn = StyleAttention(style_head, style_hidden, dropout)
        self.fc = LinearNorm(style_hidden, style_vector_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, n_mel_channels, T]``, ``mask [B, 1, T]`` (1 = valid) → ``ge [B, style_vector_dim, 1]``."""
        x = x.transpose(1, 2)  # [B, T, F]
        pad = None
        attn_mask = None
        if mask is not None:
            pad = (mask.int() == 0).squeeze(1)  # [B, T] True on padding
            attn_mask = pad.unsqueeze(1).expand(-1, x.shape[1], -1)  # [B, T, T]
        x = self.spectral(x)
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)  # convs run on [B, C, T]
        if pad is not None:
            x = x.masked_fill(pad.unsqueeze(-1), 0)
        x = self.fc(self.slf_attn(x, mask=attn_mask))  # [B, T, D]
        if pad is None:
            w = torch.mean(x, dim=1)
        else:
            n_valid = (~pad).sum(dim=1).unsqueeze(1)  # [B, 1]
            w = x.masked_fill(pad.unsqueeze(-1), 0).sum(dim=1) / n_valid
        return w.unsqueeze(-1)  # [B, D, 1]
