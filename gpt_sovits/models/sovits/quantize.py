"""Residual vector quantizer of the SoVITS semantic tokeniser (frozen, inference path only).

State-dict layout is upstream's: ``vq.layers.<i>._codebook.{inited, cluster_size, embed, embed_avg}`` — all
*buffers*. Upstream trains the codebook with EMA updates and k-means initialisation; GPT-SoVITS finetuning keeps it
frozen (``freeze_quantizer``), so only encoding (nearest codebook row) and decoding (row lookup) are implemented.
A codebook that was never initialised (``inited == 0``) is refused instead of running k-means.

Code layout: ``[n_q, B, T]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EuclideanCodebook(nn.Module):
    """One codebook ``embed [bins, dim]``; index = nearest row in Euclidean distance."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def _check_initialised(self) -> None:
        if self.inited.device.type != "meta" and not bool(self.inited.item()):
            raise RuntimeError(
                "the SoVITS codebook is not initialised (inited=0); load a pretrained SoVITS G file "
                "(codebook training / k-means initialisation is not supported)"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., dim]`` → indices ``[...]``."""
        self._check_initialised()
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # [N, dim]
        embed_t = self.embed.t()  # [dim, bins]
        # −‖x − e‖² expanded as upstream does (same rounding): −(‖x‖² − 2 x·e + ‖e‖²)
        dist = -(flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed_t + embed_t.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices.view(*shape[:-1])

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """indices ``[...]`` → rows ``[..., dim]``."""
        return F.embedding(indices, self.embed)


class VectorQuantization(nn.Module):
    """One quantizer stage on channels-first input (no in/out projection: codebook dim = input dim)."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self._codebook = EuclideanCodebook(dim, codebook_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, D, T]`` → indices ``[B, T]``."""
        return self._codebook.encode(x.transpose(1, 2))

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """indices ``[B, T]`` → ``[B, D, T]``."""
        return self._codebook.decode(indices).transpose(1, 2)


class ResidualVectorQuantization(nn.Module):
    def __init__(self, num_quantizers: int, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantization(dim, codebook_size) for _ in range(num_quantizers))

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize residually with the first ``n_q`` layers → (quantized ``[B, D, T]``, codes ``[n_q, B, T]``)."""
        quantized_out = torch.zeros_like(x)
        residual = x
        all_indices = []
        for layer in self.layers[: n_q or len(self.layers)]:
            indices = layer.encode(residual)
            quantized = layer.decode(indices)
            residual = residual - quantized
            quantized_out = quantized_out + quantized
            all_indices.append(indices)
        return quantized_out, torch.stack(all_indices)

    def decode(self, codes: torch.Tensor, st: int = 0) -> torch.Tensor:
        """codes ``[n_q, B, T]`` → sum of the rows of layers ``st … st+n_q−1``: ``[B, D, T]``."""
        quantized_out = None
        for i, indices in enumerate(codes):
            q = self.layers[st + i].decode(indices)
            quantized_out = q if quantized_out is None else quantized_out + q
        assert quantized_out is not None, "no codes to decode"
        return quantized_out


class ResidualVectorQuantizer(nn.Module):
    """``ResidualVectorQuantizer(dimension=768, n_q=1, bins=1024)`` as SoVITS builds it."""

    def __init__(self, dimension: int = 256, n_q: int = 8, bins: int = 1024) -> None:
        super().__init__()
        self.n_q = n_q
        self.dimension = dimension
        self.bins = bins
        self.vq = ResidualVectorQuantization(n_q, dimension, bins)

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, D, T]`` → (quantized ``[B, D, T]``, codes ``[n_q, B, T]``, commitment loss).

        The frozen quantizer has no straight-through path and no commitment loss (always 0, as upstream in eval).
        """
        quantized, codes = self.vq(x, n_q or self.n_q)
        commit_loss = x.new_zeros(())
        return quantized, codes, commit_loss

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``x [B, D, T]`` → codes ``[n_q, B, T]``."""
        return self.vq(x, n_q or self.n_q)[1]

    def decode(self, codes: torch.Tensor, st: int = 0) -> torch.Tensor:
        """codes ``[n_q, B, T]`` → quantized ``[B, D, T]``."""
        return self.vq.decode(codes, st)
