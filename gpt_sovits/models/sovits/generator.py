"""HiFi-GAN decoder (``dec``): latent z ``[B, C, T]`` (+ timbre ``ge``) → 32 kHz wave ``[B, 1, T·prod(rates)]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .modules import LRELU_SLOPE, ResBlock1, ResBlock2
from .weight_norm import WNConvTranspose1d


class Generator(nn.Module):
    """conv_pre (+cond(ge)) → per stage: lrelu(0.1) → transposed conv ↑u → mean of the resblocks → lrelu(0.01)
    → conv_post → tanh.

    Upstream applies an N(0, 0.01) initialiser *after* weight-norm wrapping, which has no lasting effect; the
    effective init here is therefore PyTorch's default, as upstream's really is.
    """

    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int = 0,
        is_bias: bool = False,
    ) -> None:
        super().__init__()
        if str(resblock) not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {resblock!r}")
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            WNConvTranspose1d(upsample_initial_channel // (2**i), upsample_initial_channel // (2 ** (i + 1)),
                              k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes))
        )
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(self.num_upsamples):
            ch = upsample_initial_channel // (2 ** (i + 1))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, tuple(d)))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=is_bias)
        if gin_channels != 0:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv_pre(x)  # [B, C0, T]
        if g is not None:
            x = x + self.cond(g)
        for i in range(self.num_upsamples):
            x = F.leaky_relu(x, LRELU_SLOPE)
            x = self.ups[i](x)  # [B, C0/2^(i+1), T·u_0…u_i]
            xs = self.resblocks[i * self.num_kernels](x)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        x = F.leaky_relu(x)  # default slope 0.01 here, as upstream
        x = self.conv_post(x)
        return torch.tanh(x)  # [B, 1, T·prod(u)]
