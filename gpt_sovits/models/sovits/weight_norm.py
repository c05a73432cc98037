"""Convolutions with *legacy* weight normalisation (parameters ``weight_g`` / ``weight_v``).

Upstream wraps its convolutions with the deprecated ``torch.nn.utils.weight_norm``, so every weight file stores
``<conv>.bias``, ``<conv>.weight_g``, ``<conv>.weight_v`` (in that state-dict order) instead of ``<conv>.weight``.
The newer ``torch.nn.utils.parametrizations.weight_norm`` would rename them to ``parametrizations.weight.original0/1``.
Rather than depend on the deprecated hook API, these subclasses hold the two parameters themselves and rebuild the
weight in ``forward`` with ``torch._weight_norm`` — the very op the legacy hook calls — so keys, shapes, init and
numbers are identical to upstream's. The norm is always taken over every dim except dim 0 (the legacy default),
which for ``ConvTranspose1d`` means per *input* channel (``weight_g`` is ``[in, 1, 1]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_NORM_DIM = 0


class _LegacyWeightNorm:
    """Mixin: replace the conv's ``weight`` parameter by ``weight_g`` (norm) and ``weight_v`` (direction)."""

    _parameters: dict[str, nn.Parameter | None]

    def _split_weight(self) -> None:
        weight = self._parameters.pop("weight")
        assert weight is not None
        with torch.no_grad():
            # same initial values as the legacy hook: g = ‖w‖ per output slice, v = w
            self.weight_g = nn.Parameter(torch.norm_except_dim(weight, 2, WEIGHT_NORM_DIM))
            self.weight_v = nn.Parameter(weight.detach().clone())

    def normalized_weight(self) -> torch.Tensor:
        """The effective convolution weight ``g · v / ‖v‖``."""
        return torch._weight_norm(self.weight_v, self.weight_g, WEIGHT_NORM_DIM)


class WNConv1d(_LegacyWeightNorm, nn.Conv1d):
    """``nn.Conv1d`` with legacy weight-norm parameters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class WNConv2d(_LegacyWeightNorm, nn.Conv2d):
    """``nn.Conv2d`` with legacy weight-norm parameters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class WNConvTranspose1d(_LegacyWeightNorm, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with legacy weight-norm parameters (norm over dim 0 = input channels)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(
            x, self.normalized_weight(), self.bias, self.stride, self.padding, self.output_padding, self.groups,
            self.dilation,
        )


_PLAIN = {WNConv1d: nn.Conv1d, WNConv2d: nn.Conv2d, WNConvTranspose1d: nn.ConvTranspose1d}


def _plain_conv(conv: _LegacyWeightNorm) -> nn.Module:
    """The same convolution with its weight computed once (``g · v / ‖v‖``) and stored as a plain ``weight``."""
    cls = _PLAIN[type(conv)]
    kwargs = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                  bias=conv.bias is not None, padding_mode=conv.padding_mode, device="meta")
    if cls is nn.ConvTranspose1d:
        kwargs["output_padding"] = conv.output_padding
    plain = cls(conv.in_channels, conv.out_channels, conv.kernel_size, **kwargs)
    with torch.no_grad():
        plain.weight = nn.Parameter(conv.normalized_weight().detach().clone(), requires_grad=False)
    if conv.bias is not None:
        plain.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
    return plain.train(conv.training)


def fold_weight_norm(module: nn.Module) -> int:
    """Replace every legacy weight-norm conv under ``module`` by a plain conv holding the folded weight; returns how
    many were replaced.

    For inference only: the forward recomputed ``g · v / ‖v‖`` on every call, and the folded weight is that very
    tensor, so results are bit-identical; ``weight_g``/``weight_v`` are dropped (the state dict no longer has
    upstream's keys, so never save or train a folded model).
    """
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in _PLAIN:
                setattr(parent, name, _plain_conv(child))
                count += 1
    return count
