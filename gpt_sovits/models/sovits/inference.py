"""Inference-only preparation of a loaded SoVITS generator: weight norm folded once, and for the opt-in fast CPU
mode a HiFi-GAN decoder whose weights are converted to bf16 once, run in fixed-size windows on channels-last data.

Why: the decoder is ~95 % of a SoVITS decode and is pure convolution, already at the CPU's fp32 peak. Recomputing
every weight norm per call costs a few per cent (folded: bit-identical). bf16 halves the work on CPUs with native
bf16 dot products (AVX512-BF16/AMX); holding the weights in bf16 replaces the fp32 copy instead of casting it on
every call as autocast did. Its cost is a waveform error around -75 dBFS rms (tests/test_sovits_fast.py,
bench/bench_decoder.py). Flow, prior encoder and the final conv + tanh stay fp32: they are cheap and sensitive.
The bf16 decoder runs in windows of one size (see WINDOW_FRAMES: oneDNN's bf16 convolutions are slow to build for
each new length) with channels-last activations (``[B, C, 1, T]``, which oneDNN consumes without reordering);
windowing also bounds the activations, which had made channels-last raise the peak memory of a whole-sentence decode.
The window's core is bit-identical to decoding in one piece (every convolution's output past the valid frames is
zeroed, as its zero padding would read). fp32 keeps one piece and the contiguous layout: upstream's numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator
from .modules import LRELU_SLOPE, ResBlock1, ResBlock2
from .weight_norm import fold_weight_norm

PRECISIONS = ("fp32", "bf16")
# bf16 decodes in windows of one fixed size. oneDNN builds a convolution for each new input length, and its bf16
# kernels for AMX take ~33 ms each to build: on a 2-core Xeon, a 10 s sentence of a length not seen before took 4.8-5.3
# s to decode in bf16 (1.7 s when the length repeated; fp32 2.5 s either way), and in real use nearly every sentence
# is a new length. Fixed-size windows, each with WINDOW_CONTEXT_FRAMES of neighbours on both sides, are built once.
WINDOW_FRAMES = 128
# Each window reads its neighbours' frames as far as the decoder's receptive field reaches (`receptive_radius`: 12.2
# frames for v2's decoder; an impulse at one input frame measurably changed the wave from 10.7 frames before it to 11.7
# after) plus a margin, so its core is the same function of the input as in one piece.
WINDOW_MARGIN_FRAMES = 2
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
    without reordering (~1.1-1.3x faster on a Zen 4 EPYC, ~2x with AMX); over a whole 10 s sentence its convolutions
    raised the decode's peak RSS by 50-250 MB, within a window they do not. ``window``: see `WINDOW_FRAMES`.
    """

    def __init__(self, dec: Generator, precision: str = "fp32", channels_last: bool = False,
                 window: int | str | None = "auto") -> None:
        """Consumes `dec`: its weights are released as they are converted (pass a copy to keep it). window: frames
        per window ("auto": WINDOW_FRAMES in bf16, none in fp32)."""
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
        self.upsampling = math.prod(up.stride[1] for up in self.ups)
        self.context = math.ceil(self.receptive_radius()) + WINDOW_MARGIN_FRAMES
        if window == "auto":
            window = WINDOW_FRAMES if precision == "bf16" else None
        if window is not None and window <= 2 * self.context:
            raise ValueError(f"a window must be longer than twice the context ({self.context} frames)")
        self.window = window

    def receptive_radius(self) -> float:
        """How many input frames to either side of a frame reach its part of the wave (an upper bound): the sum over
        the layers of each one's reach, in input frames."""
        def reach(conv: _Conv) -> float:  # in the conv's own input steps
            k = conv.weight.size(-1)
            return k / conv.stride[1] if conv.transposed else conv.dilation[1] * (k - 1) / 2

        radius, rate = reach(self.conv_pre), 1
        for i, up in enumerate(self.ups):
            radius += reach(up) / rate
            rate *= up.stride[1]
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            radius += max(sum(reach(c) for pair in block for c in pair) for block in blocks) / rate
        return radius + reach(self.conv_post) / rate

    def _resblock(self, index: int, x: torch.Tensor, valid: int | None) -> torch.Tensor:
        y = x
        for convs in self.resblocks[index]:
            t = _mask(convs[0](F.leaky_relu(y, LRELU_SLOPE)), valid)
            if len(convs) == 2:  # ResBlock1: lrelu → conv → lrelu → conv
                t = _mask(convs[1](F.leaky_relu(t, LRELU_SLOPE, inplace=True)), valid)
            y = t.add_(y)  # y + t (addition commutes exactly)
        return y

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, C, T]``, ``g [B, gin, 1]`` → wave ``[B, 1, T·prod(rates)]`` float32.

        With a `window`, in windows of that many frames (see `WINDOW_FRAMES`), each with `context` frames of its
        neighbours on both sides whose part of the wave is dropped; else in one piece."""
        if self.window is None:
            return self._decode(x, g, None)
        frames, window, context = x.size(-1), self.window, self.context
        core, up = window - 2 * context, self.upsampling
        wave = x.new_empty(x.size(0), 1, frames * up, dtype=torch.float32)
        for start in range(0, frames, core):
            lo, hi, end = max(0, start - context), min(frames, start + core + context), min(frames, start + core)
            piece = self._decode(F.pad(x[..., lo:hi], (0, window - (hi - lo))), g, hi - lo)
            wave[..., start * up : end * up] = piece[..., (start - lo) * up : (end - lo) * up]
        return wave

    def _decode(self, x: torch.Tensor, g: torch.Tensor | None, valid: int | None) -> torch.Tensor:
        """The network over x; with `valid`, the frames from `valid` on are padding: every convolution's output
        there is zeroed, so the valid part sees zeros beyond its end, as the convolutions' own zero padding."""
        x = self.conv_pre(x.to(self.dtype).unsqueeze(2).contiguous(memory_format=self.layout))
        if g is not None and self.cond is not None:
            x.add_(self.cond(g.to(self.dtype).unsqueeze(2)))
        x = _mask(x, valid)
        for i, up in enumerate(self.ups):
            valid = None if valid is None else valid * up.stride[1]
            x = _mask(up(F.leaky_relu(x, LRELU_SLOPE)), valid)
            xs = self._resblock(i * self.num_kernels, x, valid)
            for j in range(1, self.num_kernels):
                xs.add_(self._resblock(i * self.num_kernels + j, x, valid))
            x = xs if self.fold_mean else xs.div_(self.num_kernels)
        x = F.leaky_relu(x.float())  # default slope 0.01 here, as upstream
        x = self.conv_post(x.contiguous(memory_format=self.layout))
        return torch.tanh(x).squeeze(2).contiguous()


def _mask(x: torch.Tensor, valid: int | None) -> torch.Tensor:
    """x with its time steps from `valid` on set to zero (in place); x itself when valid is None."""
    if valid is not None and valid < x.size(-1):
        x[..., valid:].zero_()
    return x


def prepare_for_inference(model: nn.Module, precision: str = "fp32", channels_last: bool | None = None) -> nn.Module:
    """Fold every weight norm of a SoVITS ``SynthesizerTrn`` once (bit-identical results) and, on a CPU, give it the
    decoder ``precision`` asks for.

    fp32 without ``channels_last`` keeps the module decoder itself (folded): upstream's numbers and memory. bf16 (or
    ``channels_last``) swaps in an :class:`InferenceGenerator` (windowed in bf16; channels_last None: on in bf16, off
    in fp32); its fp32 weights are released, not kept beside it.
    The model becomes inference-only (no training, no saving in upstream's format). Returns the same model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if channels_last is None:
        channels_last = precision == "bf16"
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
