"""Inference-only preparation of a loaded SoVITS generator: weight norm folded once, and on a CPU a HiFi-GAN decoder
laid out for oneDNN (channels-last), in fp32 (exact mode) or bf16 (the opt-in fast mode).

Why: the decoder is ~95 % of a SoVITS decode and is pure convolution. Recomputing every weight norm per call costs a
few per cent; plain ``[B, C, T]`` tensors make oneDNN reorder every activation into its own layout and back around
each conv, while a ``[B, C, 1, T]`` channels-last tensor is consumed as it is (measured 1.3x on the decoder in fp32,
more in bf16). bf16 halves the work again on CPUs with native bf16 dot products (AVX512-BF16/AMX); its cost is a
waveform error of roughly -37 dB relative to the exact decoder (see tests/test_sovits_fast.py and
bench/bench_decoder.py). Flow, prior encoder and the final conv + tanh stay fp32: they are cheap and sensitive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator
from .modules import LRELU_SLOPE, ResBlock1, ResBlock2
from .weight_norm import fold_weight_norm

PRECISIONS = ("fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_CL = torch.channels_last


def _as_2d_kernel(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A conv1d / conv_transpose1d weight ``[O, I, k]`` as ``[O, I, 1, k]`` channels-last, in ``dtype``."""
    return weight.detach().unsqueeze(2).to(dtype).contiguous(memory_format=_CL)


def _bias(conv: nn.Module, dtype: torch.dtype) -> torch.Tensor | None:
    return None if conv.bias is None else conv.bias.detach().to(dtype).clone()


class _Conv(nn.Module):
    """One 1-D convolution run as a ``(1, k)`` 2-D convolution on ``[B, C, 1, T]`` channels-last tensors."""

    def __init__(self, conv: nn.Module, dtype: torch.dtype, scale: float = 1.0) -> None:
        """Takes `conv`'s (folded) weights and releases them from `conv`, so that converting a decoder never holds
        two full copies of it."""
        super().__init__()
        weight = conv.weight if scale == 1.0 else conv.weight * scale
        self.register_buffer("weight", _as_2d_kernel(weight, dtype))
        self.register_buffer("bias", _bias(conv, dtype))
        conv.weight = None
        conv.bias = None
        del weight
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        self.stride = (1, int(conv.stride[0]))
        self.padding = (0, int(conv.padding[0]))
        self.dilation = (1, int(conv.dilation[0]))
        if self.transposed:
            self.output_padding = (0, int(conv.output_padding[0]))
        if conv.groups != 1 or getattr(conv, "padding_mode", "zeros") != "zeros":
            raise ValueError("only ungrouped zero-padded convolutions are supported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding, 1,
                                      self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class InferenceGenerator(nn.Module):
    """:class:`Generator`'s forward (same inputs, same ``[B, 1, samples]`` float32 output) on folded weights held as
    buffers in ``precision``, with the elementwise work done in place.

    fp32 keeps upstream's order of operations (the mean of the resblocks is a division, as upstream); only the
    convolution algorithm differs, which moves results by ~1e-7 relative. bf16 also folds that ``1 / num_kernels``
    into the next convolution's weights (leaky ReLU is positively homogeneous), saving one pass per stage.
    """

    def __init__(self, dec: Generator, precision: str = "fp32") -> None:
        """Consumes `dec`: its weights are released as they are converted (pass a copy to keep it)."""
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        fold_weight_norm(dec)
        self.precision = precision
        self.dtype = _DTYPES[precision]
        self.num_kernels = dec.num_kernels
        self.fold_mean = precision == "bf16"
        mean_scale = 1.0 / dec.num_kernels if self.fold_mean else 1.0
        self.conv_pre = _Conv(dec.conv_pre, self.dtype)
        self.cond = _Conv(dec.cond, self.dtype) if hasattr(dec, "cond") else None
        self.ups = nn.ModuleList(_Conv(up, self.dtype, 1.0 if i == 0 else mean_scale) for i, up in enumerate(dec.ups))
        self.resblocks = nn.ModuleList()
        for block in dec.resblocks:
            if isinstance(block, ResBlock1):
                pairs = [(_Conv(c1, self.dtype), _Conv(c2, self.dtype)) for c1, c2 in zip(block.convs1, block.convs2)]
            elif isinstance(block, ResBlock2):
                pairs = [(_Conv(c, self.dtype), None) for c in block.convs]
            else:
                raise TypeError(f"unknown resblock {type(block).__name__}")
            self.resblocks.append(nn.ModuleList(nn.ModuleList(p for p in pair if p is not None) for pair in pairs))
        # the last conv and tanh stay fp32: one output channel, negligible work, and the wave's own precision
        self.conv_post = _Conv(dec.conv_post, torch.float32, mean_scale)

    def _resblock(self, index: int, x: torch.Tensor) -> torch.Tensor:
        y = x
        for convs in self.resblocks[index]:
            t = convs[0](F.leaky_relu(y, LRELU_SLOPE))
            if len(convs) == 2:  # ResBlock1: lrelu → conv → lrelu → conv
                t = convs[1](F.leaky_relu(t, LRELU_SLOPE, inplace=True))
            y = t.add_(y)  # y + t (addition commutes exactly)
        return y

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, C, T]``, ``g [B, gin, 1]`` → wave ``[B, 1, T·prod(rates)]`` float32."""
        x = self.conv_pre(x.to(self.dtype).unsqueeze(2).contiguous(memory_format=_CL))
        if g is not None and self.cond is not None:
            x.add_(self.cond(g.to(self.dtype).unsqueeze(2)))
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            xs = self._resblock(i * self.num_kernels, x)
            for j in range(1, self.num_kernels):
                xs.add_(self._resblock(i * self.num_kernels + j, x))
            x = xs if self.fold_mean else xs.div_(self.num_kernels)
        x = F.leaky_relu(x.float())  # default slope 0.01 here, as upstream
        x = self.conv_post(x.contiguous(memory_format=_CL))
        return torch.tanh(x).squeeze(2).contiguous()


def prepare_for_inference(model: nn.Module, precision: str = "fp32") -> nn.Module:
    """Fold every weight norm of a SoVITS ``SynthesizerTrn`` once and, on a CPU, swap its decoder for an
    :class:`InferenceGenerator` in ``precision`` (the fp32 decoder weights are released, not kept beside it).

    The model becomes inference-only (no training, no saving in upstream's format). Returns the same model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fold_weight_norm(model)
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    if on_cpu and isinstance(model.dec, Generator) and next(model.dec.parameters()).dtype == torch.float32:
        model.dec = InferenceGenerator(model.dec, precision)
    model.requires_grad_(False)
    model.inference_precision = precision if isinstance(model.dec, InferenceGenerator) else "as loaded"
    return model.eval()
