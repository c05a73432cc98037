"""Small tensor helpers shared by the SoVITS networks (masks, segment slicing, padding)."""

from __future__ import annotations

import torch


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd-kernel dilated convolution."""
    return int((kernel_size * dilation - dilation) / 2)


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """``lengths [B]`` → boolean mask ``[B, max_length]`` (True on valid positions)."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def time_mask(lengths: torch.Tensor, max_length: int, dtype: torch.dtype) -> torch.Tensor:
    """Float mask ``[B, 1, T]`` of the valid frames (upstream's ``unsqueeze(sequence_mask(...), 1)``)."""
    return sequence_mask(lengths, max_length).unsqueeze(1).to(dtype)


def slice_segments(x: torch.Tensor, ids_start: torch.Tensor, segment_size: int) -> torch.Tensor:
    """Cut ``x [B, C, T]`` to ``[B, C, segment_size]`` starting at ``ids_start[b]`` for each item.

    Upstream fails with a shape error when a window runs past the end of ``x``; here the missing tail stays zero
    (only reachable for utterances shorter than one segment, which upstream cannot train on at all).
    """
    out = torch.zeros_like(x[:, :, :segment_size])
    if out.shape[-1] < segment_size:
        out = x.new_zeros(x.shape[0], x.shape[1], segment_size)
    for b in range(x.size(0)):
        start = int(ids_start[b])
        piece = x[b, :, start : start + segment_size]
        out[b, :, : piece.shape[-1]] = piece
    return out


def rand_slice_segments(
    x: torch.Tensor,
    lengths: torch.Tensor | None,
    segment_size: int,
    generator: torch.Generator | None = None,
    rand: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``segment_size`` window per item: start = floor(U[0,1) · (len − segment_size + 1)).

    Same draw as upstream (one ``torch.rand([B])`` on the CPU generator, moved to ``x.device``). A negative range
    (utterance shorter than a segment) truncates to start 0, as upstream's ``.long()`` cast does. ``rand`` ([B]
    uniforms) replaces the draw, so a test can inject a recorded one.
    """
    b, _, t = x.size()
    if lengths is None:
        lengths = torch.full((b,), t, dtype=torch.long, device=x.device)
    ids_start_max = lengths - segment_size + 1
    if rand is None:
        rand = torch.rand([b], generator=generator)
    rand = rand.to(device=x.device, dtype=torch.float32)
    ids_start = (rand * ids_start_max).to(dtype=torch.long)
    return slice_segments(x, ids_start, segment_size), ids_start


def fused_add_tanh_sigmoid_multiply(a: torch.Tensor, b: torch.Tensor, n_channels: int) -> torch.Tensor:
    """WaveNet gate: ``tanh(x[:, :n]) · sigmoid(x[:, n:])`` with ``x = a + b``."""
    x = a + b
    return torch.tanh(x[:, :n_channels, :]) * torch.sigmoid(x[:, n_channels:, :])
