"""MRTE (multi-reference timbre encoder) of the SoVITS prior: cross-attention from the content (SSL) sequence
to the text sequence, plus the global timbre vector ``ge``."""

from __future__ import annotations

import torch
from torch import nn

from .attentions import MultiHeadAttention


class MRTE(nn.Module):
    """``out = c_post((CrossAttn(q=c, kv=t) + c + ge) · mask)`` with ``c = c_pre(ssl)``, ``t = text_pre(text)``.

    ``ge`` is added to the ``hidden_size``-wide hidden state, so the timbre vector must be ``hidden_size`` (512) wide.
    The attention has no relative positions and no dropout.
    """

    def __init__(self, content_enc_channels: int = 192, hidden_size: int = 512, out_channels: int = 192,
                 n_heads: int = 4) -> None:
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden_size, hidden_size, n_heads)
        self.c_pre = nn.Conv1d(content_enc_channels, hidden_size, 1)
        self.text_pre = nn.Conv1d(content_enc_channels, hidden_size, 1)
        self.c_post = nn.Conv1d(hidden_size, out_channels, 1)

    def forward(
        self,
        ssl_enc: torch.Tensor,  # [B, C, T]
        ssl_mask: torch.Tensor,  # [B, 1, T]
        text: torch.Tensor,  # [B, C, N]
        text_mask: torch.Tensor,  # [B, 1, N]
        ge: torch.Tensor | None,  # [B, hidden, 1]
    ) -> torch.Tensor:
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # [B, 1, T, N]
        ssl_enc = self.c_pre(ssl_enc * ssl_mask)
        text_enc = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl_enc * ssl_mask, text_enc * text_mask, attn_mask) + ssl_enc
        if ge is not None:
            x = x + ge
        return self.c_post(x * ssl_mask)  # [B, out, T]
