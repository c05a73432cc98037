"""Multi-period discriminator (HiFi-GAN style) used to train SoVITS: one scale discriminator on the raw wave plus
period discriminators (v1/v2 periods 2, 3, 5, 7, 11; v2Pro/v2ProPlus add 17, 23).

All convolutions are weight-normed with upstream's legacy parameter names (or spectrally normed when
``use_spectral_norm`` is set, as upstream allows).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .commons import get_padding
from .modules import LRELU_SLOPE
from .weight_norm import WNConv1d, WNConv2d

PERIODS = {"v1": (2, 3, 5, 7, 11), "v2": (2, 3, 5, 7, 11), "v2Pro": (2, 3, 5, 7, 11, 17, 23),
           "v2ProPlus": (2, 3, 5, 7, 11, 17, 23)}

DiscOutput = tuple[torch.Tensor, list[torch.Tensor]]


def _conv_factory(use_spectral_norm: bool, two_d: bool) -> Callable[..., nn.Module]:
    if not use_spectral_norm:
        return WNConv2d if two_d else WNConv1d
    conv = nn.Conv2d if two_d else nn.Conv1d
    return lambda *args, **kwargs: nn.utils.spectral_norm(conv(*args, **kwargs))


class DiscriminatorP(nn.Module):
    """Folds the wave into ``[B, 1, T/p, p]`` and runs (k, 1) 2-D convs over time."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, use_spectral_norm: bool = False) -> None:
        super().__init__()
        self.period = period
        conv = _conv_factory(use_spectral_norm, two_d=True)
        pad = (get_padding(kernel_size, 1), 0)
        self.convs = nn.ModuleList([
            conv(1, 32, (kernel_size, 1), (stride, 1), padding=pad),
            conv(32, 128, (kernel_size, 1), (stride, 1), padding=pad),
            conv(128, 512, (kernel_size, 1), (stride, 1), padding=pad),
            conv(512, 1024, (kernel_size, 1), (stride, 1), padding=pad),
            conv(1024, 1024, (kernel_size, 1), 1, padding=pad),
        ])
        self.conv_post = conv(1024, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor) -> DiscOutput:
        fmap = []
        b, c, t = x.shape
        if t % self.period != 0:  # reflect-pad to a multiple of the period
            n_pad = self.period - (t % self.period)
            x = F.pad(x, (0, n_pad), "reflect")
            t = t + n_pad
        x = x.view(b, c, t // self.period, self.period)
        for layer in self.convs:
            x = F.leaky_relu(layer(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorS(nn.Module):
    """Scale discriminator on the raw wave: grouped strided 1-D convs."""

    def __init__(self, use_spectral_norm: bool = False) -> None:
        super().__init__()
        conv = _conv_factory(use_spectral_norm, two_d=False)
        self.convs = nn.ModuleList([
            conv(1, 16, 15, 1, padding=7),
            conv(16, 64, 41, 4, groups=4, padding=20),
            conv(64, 256, 41, 4, groups=16, padding=20),
            conv(256, 1024, 41, 4, groups=64, padding=20),
            conv(1024, 1024, 41, 4, groups=256, padding=20),
            conv(1024, 1024, 5, 1, padding=2),
        ])
        self.conv_post = conv(1024, 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> DiscOutput:
        fmap = []
        for layer in self.convs:
            x = F.leaky_relu(layer(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminator(nn.Module):
    """``discriminators = [DiscriminatorS, DiscriminatorP(p) for p in periods]``."""

    def __init__(self, use_spectral_norm: bool = False, version: str | None = None) -> None:
        super().__init__()
        periods = PERIODS.get(version or "v2")
        if periods is None:
            raise ValueError(f"no discriminator layout for SoVITS version {version!r}")
        discs: list[nn.Module] = [DiscriminatorS(use_spectral_norm=use_spectral_norm)]
        discs += [DiscriminatorP(p, use_spectral_norm=use_spectral_norm) for p in periods]
        self.discriminators = nn.ModuleList(discs)

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor) -> tuple[
        list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]
    ]:
        """Real ``y`` and generated ``y_hat`` ``[B, 1, T]`` → (real logits, fake logits, real fmaps, fake fmaps)."""
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
        for d in self.discriminators:
            y_d_r, fmap_r = d(y)
            y_d_g, fmap_g = d(y_hat)
            y_d_rs.append(y_d_r)
            y_d_gs.append(y_d_g)
            fmap_rs.append(fmap_r)
            fmap_gs.append(fmap_g)
        return y_d_rs, y_d_gs, fmap_rs, fmap_gs
