"""The packed GPT's one-position decode step as a TorchScript function (the CPU decode loop's hot path).

Why: after the weights were packed, a quarter (exact fp32) to a third (int8 fast mode) of a decode step was Python
calling ~20 small ops per layer — argument parsing, and for fbgemm's packed params boxing a script object on every
call. The same ops in one scripted function over all layers run without that: measured at v2 size on a 2-core EPYC,
int8 10.4 → 7.4–8.4 ms per token; fp32 20.9 → 18.9 in one in-process comparison, within noise across processes.
Hidden states are bit-identical (the ops are the same, only who calls them changes; `tests/test_gpt_decode.py` checks
identity and upstream's greedy tokens).

`torch.jit.script` is deprecated in favour of `torch.compile`, which needs a C++ toolchain at run time; it works in
the pinned torch. Where it fails (a future torch, an unusual build) `one_position_step` returns None and the caller
keeps its Python loop, which computes the same thing.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import List, Optional, Union

import torch

log = logging.getLogger(__name__)

Step = Callable[[torch.Tensor, List[torch.Tensor], int], torch.Tensor]


def _onednn(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor], attr: str, low: bool) -> torch.Tensor:
    no_scalars: List[Optional[Union[int, float, complex]]] = []
    if low:
        return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), w, b, attr, no_scalars, "").float()
    return torch.ops.mkldnn._linear_pointwise(x, w, b, attr, no_scalars, "")


def _attend(qkv: torch.Tensor, buf: torch.Tensor, start: int, scale: torch.Tensor, heads: int,
            head_dim: int) -> torch.Tensor:
    """qkv [1, 3·C] of the new position → its attention output [1, C]; writes its key and value into buf at start.

    Written for few dispatched ops (each costs microseconds, ×24 layers): narrow instead of `:` slices, the scale
    as a 0-dim tensor (a Python float is wrapped into a tensor on every call), and the [H, 1, D] result read as
    [1, C] without a copy. The values are those of `FlatDecoder.forward`'s loop."""
    parts = qkv.view(1, 3, heads, head_dim).permute(1, 2, 0, 3)  # [3, H, 1, D]
    buf.narrow(2, start, 1).copy_(parts.narrow(0, 1, 2))
    keys, values = buf[0].narrow(1, 0, start + 1), buf[1].narrow(1, 0, start + 1)  # [H, S, D]
    weights = torch.softmax(torch.bmm(parts[0] * scale, keys.transpose(1, 2)), dim=-1)
    return torch.bmm(weights, values).view(1, heads * head_dim)


def _onednn_step(h: torch.Tensor, kv: List[torch.Tensor], start: int,
                 qkv_w: List[torch.Tensor], qkv_b: List[Optional[torch.Tensor]],
                 out_w: List[torch.Tensor], out_b: List[Optional[torch.Tensor]],
                 in_w: List[torch.Tensor], in_b: List[Optional[torch.Tensor]],
                 ffo_w: List[torch.Tensor], ffo_b: List[Optional[torch.Tensor]],
                 norm1: List[List[torch.Tensor]], eps1: List[float],
                 norm2: List[List[torch.Tensor]], eps2: List[float],
                 scale: torch.Tensor, heads: int, head_dim: int, low: bool) -> torch.Tensor:
    dim = heads * head_dim
    for i in range(len(qkv_w)):
        a = _attend(_onednn(h, qkv_w[i], qkv_b[i], "none", low), kv[i], start, scale, heads, head_dim)
        h = torch.layer_norm(h + _onednn(a, out_w[i], out_b[i], "none", low), [dim], norm1[i][0], norm1[i][1],
                             eps1[i])
        f = _onednn(_onednn(h, in_w[i], in_b[i], "relu", low), ffo_w[i], ffo_b[i], "none", low)
        h = torch.layer_norm(h + f, [dim], norm2[i][0], norm2[i][1], eps2[i])
    return h


def _rows(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
    column = x.t().unsqueeze(0).expand(w.size(0), -1, -1)  # decode.rows_linear for one row
    if b is None:
        return torch.bmm(w, column).view(1, -1)
    return torch.baddbmm(b, w, column).view(1, -1)


def _fp32(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor], plain: bool) -> torch.Tensor:
    """One row through an fp32 linear of either kind (decode.FP32_KINDS): F.linear, or row blocks."""
    return torch.nn.functional.linear(x, w, b) if plain else _rows(x, w, b)


def _fp32_step(h: torch.Tensor, kv: List[torch.Tensor], start: int,
               qkv_w: List[torch.Tensor], qkv_b: List[Optional[torch.Tensor]],
               out_w: List[torch.Tensor], out_b: List[Optional[torch.Tensor]],
               in_w: List[torch.Tensor], in_b: List[Optional[torch.Tensor]],
               ffo_w: List[torch.Tensor], ffo_b: List[Optional[torch.Tensor]],
               norm1: List[List[torch.Tensor]], eps1: List[float],
               norm2: List[List[torch.Tensor]], eps2: List[float],
               scale: torch.Tensor, heads: int, head_dim: int, plain: bool) -> torch.Tensor:
    dim = heads * head_dim
    for i in range(len(qkv_w)):
        a = _attend(_fp32(h, qkv_w[i], qkv_b[i], plain), kv[i], start, scale, heads, head_dim)
        h = torch.layer_norm(h + _fp32(a, out_w[i], out_b[i], plain), [dim], norm1[i][0], norm1[i][1], eps1[i])
        f = _fp32(torch.relu(_fp32(h, in_w[i], in_b[i], plain)), ffo_w[i], ffo_b[i], plain)
        h = torch.layer_norm(h + f, [dim], norm2[i][0], norm2[i][1], eps2[i])
    return h


def _int8_step(h: torch.Tensor, kv: List[torch.Tensor], start: int,
               qkv: List[torch.classes.quantized.LinearPackedParamsBase],
               out: List[torch.classes.quantized.LinearPackedParamsBase],
               ffn_in: List[torch.classes.quantized.LinearPackedParamsBase],
               ffn_out: List[torch.classes.quantized.LinearPackedParamsBase],
               norm1: List[List[torch.Tensor]], eps1: List[float],
               norm2: List[List[torch.Tensor]], eps2: List[float],
               scale: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    dim = heads * head_dim
    for i in range(len(qkv)):
        a = _attend(torch.ops.quantized.linear_dynamic(h, qkv[i], True), kv[i], start, scale, heads, head_dim)
        h = torch.layer_norm(h + torch.ops.quantized.linear_dynamic(a, out[i], True), [dim], norm1[i][0],
                             norm1[i][1], eps1[i])
        f = torch.ops.quantized.linear_dynamic(torch.ops.quantized.linear_relu_dynamic(h, ffn_in[i], True),
                                               ffn_out[i], True)
        h = torch.layer_norm(h + f, [dim], norm2[i][0], norm2[i][1], eps2[i])
    return h


@lru_cache(maxsize=None)
def _scripted(name: str):
    """The named step compiled once per process, or None where TorchScript cannot compile it."""
    fn = {"fp32": _fp32_step, "onednn": _onednn_step, "int8": _int8_step}[name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            return torch.jit.script(fn)
    except Exception as err:  # any failure only costs speed: the Python loop is used instead
        log.warning("GPT decode: TorchScript step %s unavailable (%s: %s); using the slower Python loop", name,
                 type(err).__name__, err)
        return None


def one_position_step(layers, scale: float, heads: int, head_dim: int) -> Step | None:
    """A function (h [1, C], per-layer K/V buffers, position) → h [1, C] running every layer for one new position,
    or None when the layers' linears are not all of one scriptable kind (fp32 row blocks, fp32 F.linear, oneDNN of
    one precision, or int8)."""
    linears = [lin for layer in layers for lin in (layer.qkv, layer.out, layer.ffn_in, layer.ffn_out)]
    kinds = {(lin.kind, lin.low) for lin in linears}
    if len(kinds) != 1 or not layers:
        return None
    kind, low = kinds.pop()
    if kind not in ("rows", "plain", "onednn", "int8") or low not in (None, torch.bfloat16):
        return None
    step = _scripted("fp32" if kind in ("rows", "plain") else kind)
    if step is None:
        return None
    scale = torch.tensor(scale, dtype=torch.float32)  # see _attend
    norm1 = [[layer.norm1[0], layer.norm1[1]] for layer in layers]
    norm2 = [[layer.norm2[0], layer.norm2[1]] for layer in layers]
    eps1 = [float(layer.norm1[2]) for layer in layers]
    eps2 = [float(layer.norm2[2]) for layer in layers]
    if kind == "int8":
        qkv, out = [ly.qkv.weight for ly in layers], [ly.out.weight for ly in layers]
        f_in, f_out = [ly.ffn_in.weight for ly in layers], [ly.ffn_out.weight for ly in layers]
        return lambda h, kv, start: step(h, kv, start, qkv, out, f_in, f_out, norm1, eps1, norm2, eps2,
                                         scale, heads, head_dim)
    args = []
    for name in ("qkv", "out", "ffn_in", "ffn_out"):
        args += [[getattr(ly, name).weight for ly in layers], [getattr(ly, name).bias for ly in layers]]
    flag = kind == "plain" if kind in ("rows", "plain") else low is not None  # F.linear, resp. bf16 oneDNN
    return lambda h, kv, start: step(h, kv, start, *args, norm1, eps1, norm2, eps2, scale, heads, head_dim, flag)
