"""An int8 copy of the GPT for fast CPU inference (opt-in; not bit-exact with upstream).

Generating one token reads every weight matrix once: at batch 1 the fp32 model is bound by memory bandwidth
(~300 MB per token). Dynamic int8 quantisation with per-output-channel scales reads a quarter of that; activations
stay fp32 and are quantised on the fly. Token choices can differ from the fp32 model's, so the parity tests and the
default path use fp32.

The pipeline's fast mode now runs the same int8 numerics without the module overhead through decode.py
(`prepare_inference("int8")`); `quantize_int8` stays as the module-level version (bench/ compares the two).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from gpt_sovits.models.gpt.layers import FusedSelfAttention


def quantize_int8(model: nn.Module) -> nn.Module:
    """A CPU copy of `model` whose Linear layers (the fused QKV projection included) run in int8."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    q = copy.deepcopy(model).float().cpu().eval()
    for module in q.modules():
        if isinstance(module, FusedSelfAttention):
            proj = nn.Linear(module.dim, 3 * module.dim)
            with torch.no_grad():
                proj.weight.copy_(module.in_proj_weight)
                proj.bias.copy_(module.in_proj_bias)
            module.qkv = proj
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao; it works in 2.13
        return quantize_dynamic(q, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 is a speed-up."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False
