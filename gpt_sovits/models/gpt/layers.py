"""Building blocks of the text-to-semantic transformer, named so that `state_dict()` matches upstream's files.

Upstream's layer is a post-LN transformer encoder layer (like `nn.TransformerEncoderLayer(norm_first=False)`) whose
attention keeps PyTorch's fused `in_proj_weight` / `in_proj_bias` names. We implement it directly with
`F.scaled_dot_product_attention`, plus a KV-cache path for autoregressive decoding: the cache is allocated once and
written in place (no per-step `torch.cat`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TokenEmbedding(nn.Module):
    """Embedding + dropout; the parameter lives under `word_embeddings` as in upstream."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.word_embeddings(ids))  # [B, T, C]


def sinusoid_table(n_positions: int, dim: int) -> torch.Tensor:
    """pe[pos, 2i] = sin(pos·exp(-2i·ln(10000)/dim)), pe[pos, 2i+1] = cos(...); float32 [n_positions, dim]."""
    position = torch.arange(0, n_positions, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    pe = torch.zeros(n_positions, dim)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class SinePositionalEmbedding(nn.Module):
    """x + alpha · pe[offset : offset + T], then dropout (0.1, hard-coded upstream). Each stream starts at 0.

    The table is not part of the state dict; it is built for 4000 positions and grown on demand.
    """

    def __init__(self, dim: int, dropout: float = 0.1, initial_positions: int = 4000) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoid_table(initial_positions, dim), persistent=False)

    def table(self, n_positions: int) -> torch.Tensor:
        """The PE table with at least n_positions rows [N, C]."""
        if self.pe.size(0) < n_positions:
            self.pe = sinusoid_table(max(n_positions, 2 * self.pe.size(0)), self.dim).to(self.pe.device)
        return self.pe

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        T = x.size(1)
        pe = self.table(offset + T)[offset : offset + T].to(x.dtype)  # [T, C]
        return self.dropout(x + self.alpha * pe)


class KVCache:
    """Per-layer keys/values [n_layers, B, heads, capacity, head_dim], filled in place; grows by doubling."""

    def __init__(
        self, n_layers: int, batch: int, heads: int, head_dim: int, capacity: int,
        dtype: torch.dtype, device: torch.device,
    ) -> None:
        shape = (n_layers, batch, heads, max(capacity, 1), head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # positions already committed (all layers written)

    @property
    def capacity(self) -> int:
        return self.k.size(3)

    def reserve(self, n_new: int) -> None:
        """Make room for n_new more positions (rarely reallocates: capacity doubles)."""
        need = self.length + n_new
        if need <= self.capacity:
            return
        new_cap = max(need, 2 * self.capacity)
        for name in ("k", "v"):
            old = getattr(self, name)
            grown = old.new_zeros(old.shape[:3] + (new_cap,) + old.shape[4:])
            grown[:, :, :, : self.length] = old[:, :, :, : self.length]
            setattr(self, name, grown)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v [B, H, T, D] at the current position of `layer`; return all keys/values so far."""
        start, end = self.length, self.length + k.size(2)
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        self.length += n


class FusedSelfAttention(nn.Module):
    """Multi-head self-attention with PyTorch's fused-QKV parameter names (in_proj_weight/bias, out_proj)."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"hidden_dim {dim} is not divisible by head {n_heads}")
        self.dim, self.n_heads, self.head_dim = dim, n_heads, dim // n_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        # Set only by `gpt_sovits.models.gpt.quantize` (a quantized copy of in_proj); not part of the state dict.
        self.qkv: nn.Module | None = None
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        """x [B, T, C]; attn_mask bool [B or 1, 1, T, S] (True = may attend) or None; returns [B, T, C]."""
        B, T, C = x.shape
        qkv = self.qkv(x) if self.qkv is not None else F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.chunk(3, dim=-1)
        q = q.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, T, D]
        k = k.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.write(layer, k, v)  # [B, H, S, D], S = cached + T
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # [B, H, T, D]
        out = out.transpose(1, 2).reshape(B, T, C)
        return self.out_proj(out)


class T2SLayer(nn.Module):
    """Post-LN encoder layer: x = LN1(x + Drop(MHA(x))); x = LN2(x + Drop(W2·Drop(ReLU(W1·x))))."""

    def __init__(self, dim: int, n_heads: int, ffn_dim: int, dropout: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.self_attn = FusedSelfAttention(dim, n_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, cache: KVCache | None = None, layer: int = 0,
    ) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(self.self_attn(x, attn_mask, cache, layer)))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))
        return x


class T2SStack(nn.Module):
    """The layer stack (`h.layers.N.*`); no final LayerNorm."""

    def __init__(self, dim: int, n_heads: int, n_layers: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(T2SLayer(dim, n_heads, ffn_dim, dropout) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, attn_mask, cache, i)
        if cache is not None:
            cache.advance(x.size(1))
        return x
