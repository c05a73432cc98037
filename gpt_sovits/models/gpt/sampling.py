"""Turning one step's logits into the next semantic token, in upstream's order.

Order (ARCHITECTURE §3.4.6): repetition penalty over every previous token (prompt included) applied *in place* on the
logits tensor the caller holds (so the caller's "argmax is EOS" test sees penalised logits), then top-p on the
un-tempered logits, then temperature, then top-k, softmax, and one draw as `argmax(p / Exp(1))` — the "exponential
race", equivalent to a multinomial draw. The Exp(1) noise comes from a caller-supplied `torch.Generator` (or torch's
global generator when None), so a fixed seed gives fixed tokens.
"""

from __future__ import annotations

import torch


def apply_repetition_penalty_(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """In place: for every id in `previous` (duplicates count once), logit < 0 → ·penalty, logit ≥ 0 → /penalty.

    logits [B, V] (may be a view), previous [B, T] integer ids < V.
    """
    if penalty == 1.0 or previous.numel() == 0:
        return logits
    previous = previous.long()
    score = torch.gather(logits, 1, previous)  # [B, T]
    score = torch.where(score < 0, score * penalty, score / penalty)
    logits.scatter_(1, previous, score)
    return logits


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest prefix of the sorted vocabulary whose cumulative softmax reaches top_p (≥ 1 token)."""
    if top_p is None or top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)  # [B, V]
    cum_probs = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    remove_sorted = cum_probs > top_p
    remove_sorted[:, 0] = False  # always keep the best token
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep logits ≥ the k-th largest (ties at the pivot survive, as upstream)."""
    if top_k is None or top_k <= 0:
        return logits
    values, _ = torch.topk(logits, min(int(top_k), logits.size(-1)), dim=-1)
    pivot = values[:, -1:]  # [B, 1]
    return torch.where(logits < pivot, torch.full_like(logits, float("-inf")), logits)


def logits_to_probs(
    logits: torch.Tensor,
    previous: torch.Tensor | None,
    top_k: int | None = None,
    top_p: float | None = None,
    temperature: float = 1.0,
    repetition_penalty: float = 1.0,
) -> torch.Tensor:
    """[B, V] logits → [B, V] probabilities. NOTE: the repetition penalty modifies `logits` in place."""
    if previous is not None:
        apply_repetition_penalty_(logits, previous, repetition_penalty)
    filtered = top_p_filter(logits, top_p)
    filtered = filtered / max(float(temperature), 1e-5)
    filtered = top_k_filter(filtered, top_k)
    return torch.softmax(filtered, dim=-1)


def exponential_race(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One categorical draw per row: argmax(p / q), q ~ Exp(1). [B, V] → [B, 1] int64.

    Draws exactly `probs.numel()` numbers from the generator, like upstream, so with the same seed the same ids
    come out. The generator may live on another device than `probs` (e.g. a CPU generator for a GPU model).
    """
    if generator is not None and generator.device != probs.device:
        # a CPU generator driving a GPU model: draw on the generator's device, so a seed means the same noise
        q = torch.empty(probs.shape, dtype=probs.dtype, device=generator.device).exponential_(1.0, generator=generator)
        q = q.to(probs.device)
    else:
        q = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return torch.argmax(probs / q, dim=-1, keepdim=True)


def sample_next(
    logits: torch.Tensor,
    previous: torch.Tensor | None,
    top_k: int | None = None,
    top_p: float | None = None,
    temperature: float = 1.0,
    repetition_penalty: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token ids [B, 1] (int64) for logits [B, V]; see the module docstring for the order."""
    probs = logits_to_probs(logits, previous, top_k, top_p, temperature, repetition_penalty)
    return exponential_race(probs, generator)
