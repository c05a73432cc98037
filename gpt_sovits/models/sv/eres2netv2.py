"""ERes2NetV2, the speaker-verification network of upstream's v2Pro models (3D-Speaker's design, our own code).

Upstream builds it as ``ERes2NetV2(baseWidth=24, scale=4, expansion=4)`` and only ever calls ``forward3``: the
fused last feature map ``[B, 2048, 10, T/8]`` flattened over (channel, frequency) and averaged over time →
``[B, 20480]``. The pooling layer and the 192-d projection ``seg_1`` exist only so that the checkpoint loads
strictly; they are never run. Module names and registration order reproduce upstream's state-dict keys.

Activations: the stem uses a plain ReLU; every block uses ReLU clipped at 20 (``Hardtanh(0, 20)``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AFF", "ERes2NetV2", "SV_EMBEDDING_DIM", "build_eres2netv2"]

SV_EMBEDDING_DIM = 20480  # 2048 channels × 10 frequency rows of the last feature map


def _clipped_relu() -> nn.Module:
    return nn.Hardtanh(0.0, 20.0)


class AFF(nn.Module):
    """Attentional feature fusion: a learned per-element mix ``x·w + y·(2 - w)`` with ``w = 1 + tanh(att)``."""

    def __init__(self, channels: int, r: int = 4) -> None:
        super().__init__()
        inter = channels // r
        self.local_att = nn.Sequential(
            nn.Conv2d(channels * 2, inter, kernel_size=1),
            nn.BatchNorm2d(inter),
            nn.SiLU(),
            nn.Conv2d(inter, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = 1.0 + torch.tanh(self.local_att(torch.cat((x, y), dim=1)))
        return torch.mul(x, w) + torch.mul(y, 2.0 - w)


class Block(nn.Module):
    """Res2Net-style bottleneck: 1×1 → ``scale`` groups of 3×3 with a hierarchical carry → 1×1, plus a shortcut.

    The carry into group i is ``previous + group_i`` (plain blocks) or ``AFF(previous, group_i)`` (fused blocks).
    """

    def __init__(self, in_planes: int, planes: int, stride: int, base_width: int, scale: int, expansion: int,
                 fused: bool) -> None:
        super().__init__()
        width = int(math.floor(planes * (base_width / 64.0)))
        self.width = width
        self.conv1 = nn.Conv2d(in_planes, width * scale, kernel_size=1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False)
                                   for _ in range(scale))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale))
        self.fuse_models = nn.ModuleList(AFF(width, r=4) for _ in range(scale - 1)) if fused else None
        self.relu = _clipped_relu()
        self.conv3 = nn.Conv2d(width * scale, planes * expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * expansion)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes * expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        groups = torch.split(out, self.width, 1)
        outputs = []
        sp = groups[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                sp = self.fuse_models[i - 1](sp, groups[i]) if self.fuse_models is not None else sp + groups[i]
            sp = self.relu(bn(conv(sp)))
            outputs.append(sp)
        out = self.bn3(self.conv3(torch.cat(outputs, 1)))
        return self.relu(out + self.shortcut(x))


class ERes2NetV2(nn.Module):
    """``[B, T, 80]`` fbank → ``[B, 20480]`` speaker embedding (``embed``), upstream's ``forward3``."""

    def __init__(self, num_blocks: tuple[int, ...] = (3, 4, 6, 3), m_channels: int = 64, feat_dim: int = 80,
                 embedding_size: int = 192, base_width: int = 24, scale: int = 4, expansion: int = 4) -> None:
        super().__init__()
        self.in_planes = m_channels
        self.base_width, self.scale, self.expansion = base_width, scale, expansion
        stats_dim = int(feat_dim / 8) * m_channels * 8
        self.conv1 = nn.Conv2d(1, m_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = self._make_layer(m_channels, num_blocks[0], stride=1, fused=False)
        self.layer2 = self._make_layer(m_channels * 2, num_blocks[1], stride=2, fused=False)
        self.layer3 = self._make_layer(m_channels * 4, num_blocks[2], stride=2, fused=True)
        self.layer4 = self._make_layer(m_channels * 8, num_blocks[3], stride=2, fused=True)
        self.layer3_ds = nn.Conv2d(m_channels * 4 * expansion, m_channels * 8 * expansion, kernel_size=3,
                                   padding=1, stride=2, bias=False)
        self.fuse34 = AFF(m_channels * 8 * expansion, r=4)
        # statistics pooling + projection: unused by forward3, present in the checkpoint (mean and std → 2×)
        self.seg_1 = nn.Linear(stats_dim * expansion * 2, embedding_size)

    def _make_layer(self, planes: int, n: int, stride: int, fused: bool) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(Block(self.in_planes, planes, s, self.base_width, self.scale, self.expansion, fused))
            self.in_planes = planes * self.expansion
        return nn.Sequential(*layers)

    def feature_map(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's output for ``feats [B, T, 80]`` (diagnostics and ``embed``)."""
        x = feats.permute(0, 2, 1).unsqueeze(1)  # [B, 1, 80, T]
        stem = torch.relu(self.bn1(self.conv1(x)))  # unbounded ReLU, as upstream's stem
        out1 = self.layer1(stem)
        out2 = self.layer2(out1)
        out3 = self.layer3(out2)
        out4 = self.layer4(out3)
        out3_ds = self.layer3_ds(out3)
        fused = self.fuse34(out4, out3_ds)  # [B, 2048, 10, T']
        return {"layer1": out1, "layer2": out2, "layer3": out3, "layer4": out4, "layer3_ds": out3_ds,
                "fuse34": fused}

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """``[B, T, 80]`` → ``[B, 20480]``: the fused map flattened over (channel, frequency), mean over time."""
        return self.feature_map(feats)["fuse34"].flatten(start_dim=1, end_dim=2).mean(-1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.embed(feats)


def build_eres2netv2() -> ERes2NetV2:
    """The configuration upstream's ``sv.py`` builds (baseWidth 24, scale 4, expansion 4; 53.5 M parameters)."""
    return ERes2NetV2(base_width=24, scale=4, expansion=4)
