"""VITS transformer encoder: multi-head attention with windowed relative positions, conv FFN, post-LN layers.

Used by the SoVITS prior encoder (``encoder_ssl``, ``encoder_text``, ``encoder2``) and, without relative
positions, by MRTE's cross-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .modules import LayerNorm


class MultiHeadAttention(nn.Module):
    """Multi-head attention on ``[B, C, T]`` with 1×1 conv projections.

    With ``window_size`` set, learned relative-position embeddings (``emb_rel_k``/``emb_rel_v``, shape
    ``[1 or heads, 2·window+1, d_k]``) add key logits and value terms for offsets within ±window (self-attention
    only). Masked scores are filled with −1e4 before the softmax.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        p_dropout: float = 0.0,
        window_size: int | None = None,
        heads_share: bool = True,
    ) -> None:
        super().__init__()
        assert channels % n_heads == 0, "channels must divide into heads"
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        if window_size is not None:
            # parameters first: upstream's state dict lists emb_rel_k/v before the convs
            n_heads_rel = 1 if heads_share else n_heads
            rel_stddev = self.k_channels**-0.5
            self.emb_rel_k = nn.Parameter(torch.randn(n_heads_rel, window_size * 2 + 1, self.k_channels) * rel_stddev)
            self.emb_rel_v = nn.Parameter(torch.randn(n_heads_rel, window_size * 2 + 1, self.k_channels) * rel_stddev)
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        nn.init.xavier_uniform_(self.conv_q.weight)
        nn.init.xavier_uniform_(self.conv_k.weight)
        nn.init.xavier_uniform_(self.conv_v.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Queries from ``x [B, C, Tq]``, keys/values from ``c [B, C, Tk]``; ``attn_mask [B, 1, Tq, Tk]``."""
        q = self.conv_q(x)
        k = self.conv_k(c)
        v = self.conv_v(c)
        out = self._attention(q, k, v, attn_mask)
        return self.conv_o(out)

    def _attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   mask: torch.Tensor | None) -> torch.Tensor:
        b, d, t_s = key.size()
        t_t = query.size(2)
        # [B, C, T] → [B, heads, T, d_k]
        query = query.view(b, self.n_heads, self.k_channels, t_t).transpose(2, 3)
        key = key.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        value = value.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)

        scaled_query = query / math.sqrt(self.k_channels)
        scores = torch.matmul(scaled_query, key.transpose(-2, -1))  # [B, h, Tq, Tk]
        if self.window_size is not None:
            assert t_s == t_t, "relative attention is only defined for self-attention"
            rel_k = self._relative_embeddings(self.emb_rel_k, t_s)  # [1, 2T-1, d_k]
            rel_logits = torch.matmul(scaled_query, rel_k.unsqueeze(0).transpose(-2, -1))  # [B, h, T, 2T-1]
            scores = scores + self._relative_to_absolute(rel_logits)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e4)
        p_attn = self.drop(F.softmax(scores, dim=-1))
        output = torch.matmul(p_attn, value)  # [B, h, Tq, d_k]
        if self.window_size is not None:
            rel_weights = self._absolute_to_relative(p_attn)  # [B, h, T, 2T-1]
            rel_v = self._relative_embeddings(self.emb_rel_v, t_s)
            output = output + torch.matmul(rel_weights, rel_v.unsqueeze(0))
        return output.transpose(2, 3).contiguous().view(b, d, t_t)

    def _relative_embeddings(self, embeddings: torch.Tensor, length: int) -> torch.Tensor:
        """Pad (zeros beyond ±window) or slice the ``2w+1`` embeddings to the ``2·length−1`` offsets."""
        w = self.window_size
        pad_length = max(length - (w + 1), 0)
        start = max((w + 1) - length, 0)
        end = start + 2 * length - 1
        if pad_length > 0:
            embeddings = F.pad(embeddings, [0, 0, pad_length, pad_length, 0, 0])
        return embeddings[:, start:end]

    @staticmethod
    def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
        """``[B, h, L, 2L−1]`` (indexed by offset) → ``[B, h, L, L]`` (indexed by key position)."""
        batch, heads, length, _ = x.size()
        x = F.pad(x, [0, 1])  # one column of padding → [B, h, L, 2L]
        x_flat = x.view(batch, heads, length * 2 * length)
        x_flat = F.pad(x_flat, [0, length - 1])
        return x_flat.view(batch, heads, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]

    @staticmethod
    def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
        """``[B, h, L, L]`` → ``[B, h, L, 2L−1]`` (inverse skew of ``_relative_to_absolute``)."""
        batch, heads, length, _ = x.size()
        x = F.pad(x, [0, length - 1])
        x_flat = x.view(batch, heads, length**2 + length * (length - 1))
        x_flat = F.pad(x_flat, [length, 0])
        return x_flat.view(batch, heads, length, 2 * length)[:, :, :, 1:]


class FFN(nn.Module):
    """Position-wise conv feed-forward: conv(k) → ReLU → dropout → conv(k), "same" padding, masked."""

    def __init__(self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int,
                 p_dropout: float = 0.0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def _same_pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, [(self.kernel_size - 1) // 2, self.kernel_size // 2])

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(self._same_pad(x * x_mask))
        x = self.drop(torch.relu(x))
        x = self.conv_2(self._same_pad(x * x_mask))
        return x * x_mask


class Encoder(nn.Module):
    """Post-LN transformer: ``x = LN(x + MHA(x))``, ``x = LN(x + FFN(x))`` per layer; input/output masked."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 1,
        p_dropout: float = 0.0,
        window_size: int = 4,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(MultiHeadAttention(hidden_channels, hidden_channels, n_heads,
                                                       p_dropout=p_dropout, window_size=window_size))
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(FFN(hidden_channels, hidden_channels, filter_channels, kernel_size,
                                       p_dropout=p_dropout))
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # [B, 1, T, T]
        x = x * x_mask
        for attn, norm1, ffn, norm2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers,
                                           self.norm_layers_2):
            y = self.drop(attn(x, x, attn_mask))
            x = norm1(x + y)
            y = self.drop(ffn(x, x_mask))
            x = norm2(x + y)
        return x * x_mask
