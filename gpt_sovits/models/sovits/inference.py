"""Inference-only preparation of a loaded SoVITS generator: weight norm folded once, and for the opt-in fast CPU
mode a HiFi-GAN decoder whose weights are converted to bf16 once.

Why: the decoder is ~95 % of a SoVITS decode and is pure convolution, already at the CPU's fp32 peak. Recomputing
every weight norm per call costs a few per cent (folded: bit-identical). bf16 halves the work on CPUs with native
bf16 dot products (AVX512-BF16/AMX); holding the weights in bf16 replaces the fp32 copy instead of casting it on
every call as autocast did. Its cost is a waveform error around -75 dBFS rms (tests/test_sovits_fast.py,
bench/bench_decoder.py). Flow, prior encoder and the final conv + tanh stay fp32: they are cheap and sensitive.
A channels-last layout (``[B, C, 1, T]``, which oneDNN consumes without reordering) is available and measured in the
bench, but off by default because it raised the peak memory of a decode.
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


def _as_2d_kernel(weight: torch.Tensor, dtype: torch.dtype, layout: torch.memory_format) -> torch.Tensor:
    """A conv1d / conv_transpose1d weight ``[O, I, k]`` as ``[O, I, 1, k]`` in ``layout`` and ``dtype``."""
    return weight.detach().unsqueeze(2).to(dtype).contiguous(memory_format=layout)


def _bias(conv: nn.Module, dtype: torch.dtype) -> torch.Tensor | None:
    return None if conv.bias is None else conv.bias.detach().to(dtype).clone()


class _Conv(nn.Module):
    """One 1-D convolution run as a ``(1, k)`` 2-D convolution on ``[B, C, 1, T]`` tensors."""

    def __init__(self, conv: nn.Module, dtype: torch.dtype, scale: float = 1.0,
                 layout: torch.memory_format = torch.contiguous_format) -> None:
        """Takes `conv`'s (folded) weights and releases them from `conv`, so that converting a decoder never holds
        two full copies of it."""
        super().__init__()
        weight = conv.weight if scale == 1.0 else conv.weight * scale
        self.register_buffer("weight", _as_2d_kernel(weight, dtype, layout))
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

    fp32 keeps upstream's order of operations (the mean of the resblocks is a division, as upstream). bf16 also
    folds that ``1 / num_kernels`` into the next convolution's weights (leaky ReLU is positively homogeneous), saving
    one pass per stage. ``channels_last``: activations as ``[B, C, 1, T]`` channels-last, which oneDNN consumes
    without reordering (faster by ~1.1-1.3x here) but whose convolutions raised the decode's peak RSS (measured +50 to
    +250 MB for 10 s of audio), so it is off by default.
    """

    def __init__(self, dec: Generator, precision: str = "fp32", channels_last: bool = False) -> None:
        """Consumes `dec`: its weights are released as they are converted (pass a copy to keep it)."""
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        fold_weight_norm(dec)
        self.precision = precision
        self.dtype = _DTYPES[precision]
        self.layout = _CL if channels_last else torch.contiguous_format
        self.num_kernels = dec.num_kernels
        self.fold_mean = precision == "bf16"
        mean_scale = 1.0 / dec.num_kernels if self.fold_mean else 1.0

        def conv(module: nn.Module, scale: float = 1.0, dtype: torch.dtype = self.dtype) -> _Conv:
            return _Conv(module, dtype, scale, self.layout)

        self.conv_pre = conv(dec.conv_pre)
        self.cond = conv(dec.cond) if hasattr(dec, "cond") else None
        self.ups = nn.ModuleList(conv(up, 1.0 if i == 0 else mean_scale) for i, up in enumerate(dec.ups))
        self.resblocks = nn.ModuleList()
        for block in dec.resblocks:
            if isinstance(block, ResBlock1):
                pairs = [nn.ModuleList([conv(c1), conv(c2)]) for c1, c2 in zip(block.convs1, block.convs2)]
            elif isinstance(block, ResBlock2):
                pairs = [nn.ModuleList([conv(c)]) for c in block.convs]
            else:
                raise TypeError(f"unknown resblock {type(block).__name__}")
            self.resblocks.append(nn.ModuleList(pairs))
        # the last conv and tanh stay fp32: one output channel, negligible work, and the wave's own precision
        self.conv_post = conv(dec.conv_post, mean_scale, torch.float32)

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
        x = self.conv_pre(x.to(self.dtype).unsqueeze(2).contiguous(memory_format=self.layout))
        if g is not None and self.cond is not None:
            x.add_(self.cond(g.to(self.dtype).unsqueeze(2)))
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            xs = self._resblock(i * self.num_kernels, x)
            for j in range(1, self.num_kernels):
                xs.add_(self._resblock(i * self.num_kernels + j, x))
            x = xs if self.fold_mean else xs.div_(self.num_kernels)
        x = F.leaky_relu(x.float())  # default slope 0.01 here, as upstream
        x = self.conv_post(x.contiguous(memory_format=self.layout))
        return torch.tanh(x).squeeze(2).contiguous()


def prepare_for_inference(model: nn.Module, precision: str = "fp32", channels_last: bool = False) -> nn.Module:
    """Fold every weight norm of a SoVITS ``SynthesizerTrn`` once (bit-identical results) and, on a CPU, give it the
    decoder ``precision`` asks for.

    fp32 without ``channels_last`` keeps the module decoder itself (folded): upstream's numbers and memory. bf16 (or
    ``channels_last``) swaps in an :class:`InferenceGenerator`; its fp32 weights are released, not kept beside it.
    The model becomes inference-only (no training, no saving in upstream's format). Returns the same model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fold_weight_norm(model)
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    fp32 = isinstance(model.dec, Generator) and next(model.dec.parameters()).dtype == torch.float32
    if on_cpu and fp32 and (precision == "bf16" or channels_last):
        model.dec = InferenceGenerator(model.dec, precision, channels_last)
    model.requires_grad_(False)
    if isinstance(model.dec, InferenceGenerator):
        model.inference_precision = precision
    else:
        model.inference_precision = "fp32" if on_cpu and fp32 else "as loaded"
    return model.eval()
