"""An inference-only decode path for the GPT on a CPU: pre-packed weights, a flat step, contiguous K/V buffers.

Why: at batch 1 one token reads every weight once, so the step is bound by how fast the linears stream their weights.
PyTorch's default fp32 M=1 path (F.linear → MKL) reaches about a third of this kind of machine's bandwidth and does not
use a second thread. Split into a few blocks of rows and run as one batched product (`rows_linear`), the same MKL
kernels stream at about the memory's speed on each thread (measured on a 2-core EPYC over v2's four linear shapes:
14-16 GB/s on one core and 23-29 GB/s on two, where F.linear reached 7-12 and oneDNN's re-ordered weights 7-11 and
12-19; the decode step went from 29.9 to 19.0 ms per token). The rest of a step is overhead: nn.Module
`__call__` chains, Dropout calls that do nothing in eval, and attention over a strided slice of a 5-D cache.

`FlatDecoder` reads the weights of a `Text2SemanticDecoder` once into a list of per-layer tuples and runs the same
layer maths (post-LN, fused QKV, attention as two matmuls around a softmax) as plain function calls; a step of
one new position runs all layers in one TorchScript call (scripted_step.py: the same ops, no Python between them).
Precisions:
  "fp32" — exact mode: the same fp32 maths on the model's own weights (views, no copy); results differ from
           `F.linear` only by fp32 summation order.
  "bf16" — fast mode: weights and linear inputs in bf16 (fp32 accumulation inside oneDNN); LayerNorm, residuals,
           attention and logits stay fp32.
  "int8" — fast mode alternative: fbgemm dynamic int8 (per-channel weights, activations quantised per call),
           the same numerics as `quantize.quantize_int8`, without the module overhead.
The module path stays the reference (training, CUDA, hooks); this one is built by `Text2SemanticDecoder.prepare_
inference` and checked against the module's parameters before every decode (`matches`), so reloaded, moved or
retyped weights are re-packed rather than silently ignored.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from gpt_sovits.models.gpt.scripted_step import one_position_step

PRECISIONS = ("fp32", "bf16", "int8")
# How exact mode runs its fp32 linears at one row: "rows" (row blocks as one batched GEMV, see `rows_linear`) or
# "plain" (F.linear). Which is faster depends on the machine's BLAS and CPU, by 2x either way (measured at v2 size,
# 2 threads: a Zen 4 EPYC, where MKL's GEMV takes one core, rows 19 vs F.linear ~30 ms per token; a Xeon with AMX,
# where it runs threaded at ~30 GB/s, F.linear 10 vs rows 24 ms for the linears alone), so `measure_fp32_kind` measures.
FP32_KINDS = ("rows", "plain")
# The fast mode's precision: fbgemm int8 reads a quarter of fp32's bytes (at v2 size, 2 threads: 7-9 ms per token on
# a Zen 4 EPYC, 4.9 on a Xeon with AMX, standalone) and degrades gently on a busy machine; bf16 packed reads half and
# needs both cores (bench/bench_gpt_decode.py measures all three).
FAST_PRECISION = "int8"


@lru_cache(maxsize=None)
def onednn_available() -> bool:
    """True when this torch build has oneDNN's packed linear ops (every x86 CPU wheel does)."""
    try:
        return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class PackedLinear:
    """y = [relu](x·Wᵀ + b) for fp32 x and y, with W prepared once. kind "rows": the fp32 W viewed as blocks of rows
    (see `rows_linear`); "onednn": W re-ordered for oneDNN's M=1 kernels (in `low` precision when set: x is cast to it
    and y back to fp32); "int8": an fbgemm packed per-channel int8 W (dynamic activations); "plain": F.linear on the
    fp32 W."""

    kind: str
    weight: object  # a oneDNN-ordered tensor, fbgemm packed params, or the plain fp32 weight
    bias: torch.Tensor | None
    relu: bool
    low: torch.dtype | None = None

    def __deepcopy__(self, memo: dict) -> "PackedLinear":
        return self  # immutable and shared (as a closure would be); oneDNN's opaque tensors cannot be deep-copied

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "onednn":
            op, attr = torch.ops.mkldnn._linear_pointwise, "relu" if self.relu else "none"  # only built where it exists
            if self.low is None:
                return op(x, self.weight, self.bias, attr, [], "")
            return op(x.to(self.low), self.weight, self.bias, attr, [], "").float()
        if self.kind == "int8":
            op = torch.ops.quantized.linear_relu_dynamic if self.relu else torch.ops.quantized.linear_dynamic
            return op(x, self.weight, True)  # reduce_range=True, as torch's dynamic Linear on fbgemm
        if self.kind == "rows":
            return rows_linear(x, self.weight, self.bias, self.relu)
        y = F.linear(x, self.weight, self.bias)
        return F.relu(y) if self.relu else y



def row_blocks(n_rows: int, threads: int) -> int:
    """How many row blocks a weight of n_rows is split into for `rows_linear`: 4 up to 4 threads (measured best on a
    2-core EPYC: 1 block streams at 7-8 GB/s, 2-16 blocks at 14-16 GB/s on one core and 23-29 GB/s on two), else one
    block per thread up to 16; the divisor of n_rows nearest that target, 1 when there is none up to twice it."""
    target = 4 if threads <= 4 else min(16, threads)
    divisors = [d for d in range(2, 2 * target + 1) if n_rows % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d)) if divisors else 1


def rows_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False) -> torch.Tensor:
    """[relu](x [T, K] · Wᵀ + b) with W [P, N/P, K] (a view of the [N, K] weight) and b [P, N/P, 1] → [T, N].

    One row (every decode step) is P matrix-vector products in one batched call: PyTorch runs a batch's members on
    its threads, each through MKL's GEMV, which streams a block of rows at about the memory's speed where one
    [N, K] product through F.linear reaches half of it and uses one thread. More rows (the prefill) go through
    oneDNN's linear on the same unpacked weight (20-25 % faster than F.linear's MKL GEMM at 215 rows, measured;
    F.linear where oneDNN is missing)."""
    if x.size(0) != 1:
        n = weight.size(0) * weight.size(1)
        w, b = weight.view(n, -1), None if bias is None else bias.view(n)
        if onednn_available():
            return torch.ops.mkldnn._linear_pointwise(x, w, b, "relu" if relu else "none", [], "")
        y = F.linear(x, w, b)
    else:
        column = x.t().unsqueeze(0).expand(weight.size(0), -1, -1)  # [P, K, 1]
        y = (torch.bmm(weight, column) if bias is None else torch.baddbmm(bias, weight, column)).view(1, -1)
    return F.relu(y) if relu else y


def _rows_linear(weight: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> PackedLinear:
    """The fp32 W and b as row-block views (no copy); `rows_linear` computes with them."""
    n, k = weight.shape
    blocks = row_blocks(n, torch.get_num_threads())
    w = weight.detach().contiguous().view(blocks, n // blocks, k)
    b = None if bias is None else bias.detach().contiguous().view(blocks, n // blocks, 1)
    return PackedLinear("rows", w, b, relu)


def _onednn_linear(weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, relu: bool) -> PackedLinear:
    """W re-ordered once for oneDNN's M=1 kernels; x and y keep fp32 outside."""
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().to(dtype).contiguous(), 1)
    b = None if bias is None else bias.detach().to(dtype).contiguous()
    return PackedLinear("onednn", packed, b, relu, None if dtype == torch.float32 else dtype)


def _int8_linear(weight: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> PackedLinear:
    """fbgemm dynamic int8 with torch's default per-channel symmetric weight observer (as `quantize_dynamic`)."""
    from torch.ao.quantization.observer import default_per_channel_weight_observer

    w = weight.detach().float().contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao; it works in 2.13
        observer = default_per_channel_weight_observer()
        observer(w)
        scale, zero_point = observer.calculate_qparams()
        qweight = torch.quantize_per_channel(w, scale.double(), zero_point.long(), 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(qweight, None if bias is None else bias.detach().float())
    return PackedLinear("int8", packed, None, relu)  # the bias lives in the packed params


def _plain_linear(weight: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> PackedLinear:
    """F.linear on (detached) fp32 weights: the fallback where oneDNN is missing."""
    return PackedLinear("plain", weight.detach(), None if bias is None else bias.detach(), relu)


def make_linear(weight: torch.Tensor, bias: torch.Tensor | None, precision: str, relu: bool = False,
                fp32_kind: str = "rows") -> PackedLinear:
    """A prepared projection for `precision` (see the module docstring); input and output are fp32. fp32_kind: how
    fp32 runs (FP32_KINDS; both compute on views of `weight`, no copy)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8":
        return _int8_linear(weight, bias, relu)
    if precision == "fp32":
        if fp32_kind not in FP32_KINDS:
            raise ValueError(f"fp32_kind must be one of {FP32_KINDS}, got {fp32_kind!r}")
        return _rows_linear(weight, bias, relu) if fp32_kind == "rows" else _plain_linear(weight, bias, relu)
    if not onednn_available():
        return _plain_linear(weight, bias, relu)
    try:
        return _onednn_linear(weight, bias, torch.float32 if precision == "fp32" else torch.bfloat16, relu)
    except RuntimeError:  # a build or CPU whose oneDNN cannot pack this dtype: the plain fp32 op
        return _plain_linear(weight, bias, relu)


def _layer_linears(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor | None, bool]]:
    """(weight, bias, relu) of every linear one decode step runs, in order."""
    out = []
    for layer in model.h.layers:
        attn = layer.self_attn
        out += [(attn.in_proj_weight, attn.in_proj_bias, False), (attn.out_proj.weight, attn.out_proj.bias, False),
                (layer.linear1.weight, layer.linear1.bias, True), (layer.linear2.weight, layer.linear2.bias, False)]
    return out


_FP32_KIND_CHOICES: dict[tuple, str] = {}  # (weight shapes, threads) → the measured kind: a fact of this machine


def measure_fp32_kind(model: nn.Module, repeats: int = 3) -> str:
    """The faster of FP32_KINDS for `model`'s one-row decode linears at the current torch thread count, measured: a
    few passes over all the layers' linears with each kind, alternating, on views of the weights (no copy; ~0.1 s at
    v2 size). Remembered per process for each set of shapes and thread count."""
    linears = [(w.detach(), None if b is None else b.detach(), relu) for w, b, relu in _layer_linears(model)]
    key = (tuple(tuple(w.shape) for w, _, _ in linears), torch.get_num_threads())
    if key not in _FP32_KIND_CHOICES:
        g = torch.Generator().manual_seed(0)
        inputs = {k: torch.randn(1, k, generator=g) for k in {w.size(1) for w, _, _ in linears}}
        candidates = {kind: [(make_linear(w, b, "fp32", relu, kind), inputs[w.size(1)]) for w, b, relu in linears]
                      for kind in FP32_KINDS}
        best = dict.fromkeys(FP32_KINDS, float("inf"))
        with torch.no_grad():
            for calls in candidates.values():  # first calls pay one-time set-up
                calls[0][0](calls[0][1])
            for _ in range(repeats):
                for kind, calls in candidates.items():
                    start = time.perf_counter()
                    for lin, x in calls:
                        lin(x)
                    best[kind] = min(best[kind], time.perf_counter() - start)
        _FP32_KIND_CHOICES[key] = min(FP32_KINDS, key=best.__getitem__)
    return _FP32_KIND_CHOICES[key]


@dataclass(frozen=True)
class FlatLayer:
    """One post-LN layer as plain callables and tensors."""

    qkv: PackedLinear
    out: PackedLinear
    ffn_in: PackedLinear  # linear1 with the ReLU fused
    ffn_out: PackedLinear
    norm1: tuple[torch.Tensor, torch.Tensor, float]  # weight, bias, eps
    norm2: tuple[torch.Tensor, torch.Tensor, float]


class FlatKV:
    """Keys and values per layer in one contiguous [2, heads, capacity, head_dim] buffer (0 = keys, 1 = values), so
    a step writes both with one copy and each head's rows stay contiguous; grows by doubling."""

    def __init__(self, n_layers: int, heads: int, head_dim: int, capacity: int) -> None:
        shape = (2, heads, max(capacity, 1), head_dim)
        self.kv = [torch.empty(shape) for _ in range(n_layers)]  # only [:, :, :length] is ever read
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.kv[0].size(2)

    def reserve(self, n_new: int) -> None:
        need = self.length + n_new
        if need <= self.capacity:
            return
        cap = max(need, 2 * self.capacity)
        for i, old in enumerate(self.kv):
            grown = old.new_empty(2, old.size(1), cap, old.size(3))
            grown[:, :, : self.length] = old[:, :, : self.length]
            self.kv[i] = grown


def _release(weight: nn.Parameter) -> None:
    """Detach a parameter from its storage (a packed copy or a row-block view holds the values now); shape [0]
    marks it as released."""
    weight.data = torch.empty(0, dtype=weight.dtype, device=weight.device)


def _fingerprint(model: nn.Module) -> tuple:
    """What identifies the weights a FlatDecoder was built from: each parameter's storage, version, dtype, device."""
    return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in model.parameters())


class FlatDecoder:
    """The decode path of one `Text2SemanticDecoder` at one precision (CPU, fp32 model, eval only)."""

    def __init__(self, model: nn.Module, precision: str = "fp32", keep_weights: bool = True,
                 fp32_kind: str | None = None) -> None:
        """keep_weights=False empties the module's linear weights once each is packed (peak memory +1 layer, the
        model afterwards serves only this path: an inference-only copy, e.g. the pipeline's). fp32_kind: how fp32
        linears run (FP32_KINDS); None measures which is faster here (`measure_fp32_kind`)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.heads = model.num_head
        self.dim = model.model_dim
        self.head_dim = self.dim // self.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.layers: list[FlatLayer] = []
        # how fp32 linears run: exact mode's layers, and the logits projection in every mode
        fp32_kind = measure_fp32_kind(model) if fp32_kind is None else fp32_kind
        self.fp32_kind = fp32_kind
        for layer in model.h.layers:
            attn = layer.self_attn
            self.layers.append(FlatLayer(
                qkv=make_linear(attn.in_proj_weight, attn.in_proj_bias, precision, fp32_kind=fp32_kind),
                out=make_linear(attn.out_proj.weight, attn.out_proj.bias, precision, fp32_kind=fp32_kind),
                ffn_in=make_linear(layer.linear1.weight, layer.linear1.bias, precision, relu=True,
                                   fp32_kind=fp32_kind),
                ffn_out=make_linear(layer.linear2.weight, layer.linear2.bias, precision, fp32_kind=fp32_kind),
                norm1=(layer.norm1.weight.detach(), layer.norm1.bias.detach(), layer.norm1.eps),
                norm2=(layer.norm2.weight.detach(), layer.norm2.bias.detach(), layer.norm2.eps),
            ))
            if not keep_weights:
                for weight in (attn.in_proj_weight, attn.out_proj.weight, layer.linear1.weight, layer.linear2.weight):
                    _release(weight)
        # The logits projection is 1/100 of the weights and decides the tokens: fp32 in every mode.
        self.predict = make_linear(model.ar_predict_layer.weight, None, "fp32", fp32_kind=fp32_kind)
        if not keep_weights:
            _release(model.ar_predict_layer.weight)
        self.kept_weights = keep_weights
        # one new position (every decode step after the prefill): all layers in one TorchScript call, or None
        self._one_position = one_position_step(self.layers, self.scale, self.heads, self.head_dim)
        self.audio_table = model.ar_audio_embedding.word_embeddings.weight.detach()
        self.audio_position = model.ar_audio_position
        self.fingerprint = _fingerprint(model)

    def matches(self, model: nn.Module) -> bool:
        """Still built from `model`'s current weights (none reloaded, moved, retyped or edited in place)."""
        return self.fingerprint == _fingerprint(model)

    def new_cache(self, capacity: int) -> FlatKV:
        return FlatKV(len(self.layers), self.heads, self.head_dim, capacity)

    def embed_audio(self, token: torch.Tensor, position: int) -> torch.Tensor:
        """One semantic token [1, 1] at audio position `position` → [1, 1, C] (embedding + alpha·PE, no dropout)."""
        pe = self.audio_position.table(position + 1)[position : position + 1]
        return (self.audio_table[token[0]] + self.audio_position.alpha * pe)[None]

    def forward(self, x: torch.Tensor, cache: FlatKV, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [1, T, C] new positions → hidden [T, C]; writes their keys/values and advances the cache.

        mask: bool [T, S] (True = may attend) over the S = cached + T positions, or None (every key visible).
        """
        h = x[0]
        T = h.size(0)
        cache.reserve(T)
        start, end = cache.length, cache.length + T
        if T == 1 and mask is None and self._one_position is not None:
            h = self._one_position(h, cache.kv, start)  # the same ops as the loop below, without Python between
            cache.length = end
            return h
        heads, head_dim, dim = self.heads, self.head_dim, self.dim
        # many queries (the prefill): the mask as an additive -inf table, built once for all layers
        blocked = None if mask is None else torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))
        for i, layer in enumerate(self.layers):
            qkv = layer.qkv(h).view(T, 3, heads, head_dim).permute(1, 2, 0, 3)  # [3, H, T, D] (a view)
            buf = cache.kv[i]
            buf[:, :, start:end] = qkv[1:]  # keys and values in one copy
            keys, values = buf[0, :, :end], buf[1, :, :end]  # [H, S, D], rows of a head contiguous
            q = qkv[0]  # [H, T, D]
            # two matmuls and a softmax: for one query they beat SDPA's dispatch; for the prefill SDPA's CPU math path
            # spends a third of its time guarding against fully masked rows, which a prefix-LM mask never has
            scores = torch.bmm(q * self.scale, keys.transpose(1, 2))  # [H, T, S]
            if blocked is not None:
                scores.add_(blocked)
            attended = torch.bmm(torch.softmax(scores, dim=-1), values)  # [H, T, D]
            a = layer.out(attended.transpose(0, 1).reshape(T, dim))
            w1, b1, eps1 = layer.norm1
            h = F.layer_norm(h + a, (dim,), w1, b1, eps1)
            w2, b2, eps2 = layer.norm2
            h = F.layer_norm(h + layer.ffn_out(layer.ffn_in(h)), (dim,), w2, b2, eps2)
        cache.length = end
        return h

    def logits(self, hidden_last: torch.Tensor) -> torch.Tensor:
        """[1, C] → [1, V] fp32."""
        return self.predict(hidden_last)


class FlatSteps:
    """The decode steps of one sentence on a FlatDecoder (same interface as t2s.ModuleSteps)."""

    def __init__(self, decoder: FlatDecoder, capacity: int) -> None:
        self.decoder = decoder
        self.cache = decoder.new_cache(capacity)

    def logits(self, xy: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """xy [1, T, C] new positions, mask [1, 1, T, S] or None → logits [1, V] of the last position."""
        h = self.decoder.forward(xy, self.cache, None if mask is None else mask[0, 0])
        return self.decoder.logits(h[-1:])

    def embed(self, token: torch.Tensor, position: int) -> torch.Tensor:
        """token [1, 1] at audio position `position` → [1, 1, C]."""
        return self.decoder.embed_audio(token, position)
