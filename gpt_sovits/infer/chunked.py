"""Token-chunk streaming: the SoVITS decoder runs on chunks of semantic tokens while the GPT is still producing them.

Why: waiting for a whole sentence's tokens before decoding puts the GPT's full sentence time in front of the first
sound. Decoding every few tokens brings the first audio down to the GPT time of one small chunk plus its decode.

How a chunk is decoded (upstream's streaming modes 2/3 do the same in spirit; the details here are our own):

- The prior encoder ``enc_p`` runs over the tokens so far (the prefix, from `encoder_context` = 64 tokens before the
  window: far tokens barely matter and the whole prefix would cost the square of its length) with the sentence's
  full phones, so every frame sees the same text and the token context that exists; it is cheap next to the flow
  and HiFi-GAN.
- The flow and the HiFi-GAN decoder, which are convolutional with a finite reach, run only over a window: the new
  tokens, plus ``context`` tokens on the left (already emitted, decoded again so the convolutions there see real
  neighbours) and, until the sentence ends, ``lookahead`` tokens on the right that are *not* emitted yet (their
  audio lacks right context; the next chunk re-decodes them).
- The prior noise is indexed by frame (drawn time-major from one generator), so a frame gets the same noise in
  every chunk that decodes it and in a whole-sentence decode driven by the same `FrameNoise`.
- Consecutive chunks overlap by ``crossfade`` samples past each emit point; the join is a raised-cosine cross-fade
  of the two decodes of those samples (no search is needed: both decodes are sample-aligned by construction).

What differs from decoding the whole sentence at once: only ``enc_p``'s view of the future (its attention is global,
a prefix cannot see tokens the GPT has not produced yet) and the convolutions' reach beyond the window. Both fade with
distance from the chunk's edges; tests/test_streaming.py bounds the difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# api_v2's streaming_mode values
MODE_OFF = 0  # one whole file
MODE_SENTENCES = 1  # a fragment per sentence (what the pipeline always did)
MODE_MEDIUM = 2  # token chunks, more context, chunks grow when the decoder falls behind
MODE_FAST = 3  # token chunks of a fixed size, less context: the earliest first audio


@dataclass(frozen=True)
class ChunkPlan:
    """How a sentence's tokens are cut into decoder chunks (all sizes in 25 Hz tokens unless said otherwise)."""

    first: int  # new tokens in the first chunk (small: it sets the first-audio latency)
    size: int  # new tokens in each later chunk (at least; `grow` lets a chunk take all tokens waiting)
    context: int  # already-emitted tokens decoded again on the left of a chunk
    lookahead: int  # tokens decoded at the right end but held back until the next chunk (not at the sentence end)
    crossfade_tokens: int  # length of the cross-fade at each join
    grow: bool  # True: a chunk takes every token produced so far (fewer, larger chunks when the decoder lags)
    # tokens before the window that enc_p also reads (its attention is global, but far tokens barely matter and the
    # cost of reading the whole prefix grows with the square of the sentence); None: the whole prefix
    encoder_context: int | None = 64

    def __post_init__(self) -> None:
        if self.first < 1 or self.size < 1:
            raise ValueError("chunks need at least one token")
        if self.context < 0 or self.lookahead < 0 or self.crossfade_tokens < 0:
            raise ValueError("context, lookahead and cross-fade cannot be negative")
        if self.crossfade_tokens > self.lookahead:
            raise ValueError("the cross-fade must lie within the lookahead (it mixes two decodes of those samples)")
        if self.crossfade_tokens > self.context:
            raise ValueError("the cross-fade must lie within the next chunk's left context")


def plan_for_mode(mode: int, overlap_length: int = 2, min_chunk_length: int = 16,
                  fixed_length_chunk: bool = False) -> ChunkPlan | None:
    """The chunk plan of an api_v2 `streaming_mode` (None: sentence by sentence, modes 0 and 1).

    `overlap_length` (tokens, api_v2's default 2) is the cross-fade at each join; `min_chunk_length` (api_v2's 16)
    the size of the chunks after the first. Mode 2 ("medium quality") decodes with 8 tokens of context on each side
    and lets chunks grow; mode 3 ("lower quality, fastest") starts after 6 tokens and uses fixed chunks with
    4 tokens of context; `fixed_length_chunk` makes mode 2's chunks fixed too, as upstream's flag does.
    """
    mode = int(mode)
    if mode in (MODE_OFF, MODE_SENTENCES):
        return None
    if mode not in (MODE_MEDIUM, MODE_FAST):
        raise ValueError(f"streaming_mode must be 0-3, not {mode}")
    size = max(1, int(min_chunk_length))
    if mode == MODE_MEDIUM:
        margin = max(8, int(overlap_length))
        return ChunkPlan(first=10, size=size, context=margin, lookahead=margin,
                         crossfade_tokens=max(0, min(int(overlap_length), margin)), grow=not fixed_length_chunk)
    margin = max(4, int(overlap_length))
    return ChunkPlan(first=6, size=size, context=margin, lookahead=margin,
                     crossfade_tokens=max(0, min(int(overlap_length), margin)), grow=False)


class FrameNoise:
    """The prior's standard-normal noise, indexed by frame: frame f always gets the same `channels` values.

    Drawn time-major from one seeded generator as frames are first needed, so chunks that decode a frame twice (or a
    whole-sentence decode given `upto(n)`) see the same draw.
    """

    def __init__(self, channels: int, seed: int, device: torch.device | str = "cpu"):
        self.channels = int(channels)
        self.device = torch.device(device)
        self._generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self._frames = torch.zeros(0, self.channels, device=self.device)  # [F, C]

    def _ensure(self, frames: int) -> None:
        missing = frames - self._frames.shape[0]
        if missing > 0:
            more = torch.randn(missing, self.channels, generator=self._generator, device=self.device)
            self._frames = torch.cat([self._frames, more])

    def window(self, start: int, end: int) -> torch.Tensor:
        """Noise of frames [start, end) → [1, C, end - start]."""
        self._ensure(end)
        return self._frames[start:end].T[None].contiguous()

    def upto(self, frames: int) -> torch.Tensor:
        return self.window(0, frames)


def _fade(n: int) -> np.ndarray:
    """Raised-cosine fade-in of n samples (its complement 1 - w is the fade-out: the two sum to one)."""
    if n <= 0:
        return np.zeros(0, np.float32)
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n)).astype(np.float32)


class ChunkedDecoder:
    """Decodes one sentence's tokens chunk by chunk; `push` returns the audio that became final (float32, 32 kHz).

    Holds the sentence's phones, its timbre vector (computed once) and the emit position. Not thread-safe: one
    sentence, one caller at a time (`interleave` hands it from thread to thread, never to two at once).
    """

    def __init__(self, model, phones: torch.Tensor, refer_specs: list[torch.Tensor], plan: ChunkPlan,
                 noise: FrameNoise, noise_scale: float, sv_embs: list[torch.Tensor] | None = None,
                 bf16: bool = False):
        self.model = model
        self.plan = plan
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.bf16 = bool(bf16)
        self.device = next(model.parameters()).device
        self.phones = phones.to(self.device)
        self.frames_per_token = 2 if model.semantic_frame_rate == "25hz" else 1
        self.samples_per_frame = math.prod(int(up.stride[-1]) for up in model.dec.ups)  # 1-D or [1, r] 2-D convs
        self.samples_per_token = self.frames_per_token * self.samples_per_frame
        self.crossfade = plan.crossfade_tokens * self.samples_per_token
        self._fade_in = _fade(self.crossfade)
        with torch.no_grad(), self._autocast():
            embs = list(sv_embs) if sv_embs is not None else [None] * len(refer_specs)
            self.ge = torch.stack([model.reference_embedding(r, sv_emb=e) for r, e in zip(refer_specs, embs)],
                                  0).mean(0)
        self.emitted = 0  # tokens whose audio is out
        self._tail: np.ndarray | None = None  # the last decode's samples just past the emit point (to cross-fade)
        self.chunks = 0

    def _autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)

    def ready(self, available: int) -> bool:
        """Whether `available` tokens are enough for the next (non-final) chunk."""
        need = self.plan.first if self.chunks == 0 else self.plan.size
        return available - self.plan.lookahead - self.emitted >= need

    def push(self, tokens: list[int] | torch.Tensor, final: bool = False) -> np.ndarray:
        """Decode what `tokens` (every token of the sentence so far) allow; returns the new final audio, possibly
        empty. `final=True` flushes the rest (the sentence has ended)."""
        tokens = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
        n = int(tokens.numel())
        if not final and not self.ready(n):
            return np.zeros(0, np.float32)
        if final:
            end = n
        elif self.chunks == 0:
            end = self.plan.first  # always small, even when more tokens wait: it sets the first-audio latency
        elif self.plan.grow:
            end = n - self.plan.lookahead
        else:
            end = self.emitted + self.plan.size
        if end <= self.emitted:
            return np.zeros(0, np.float32)
        decode_end = n if final else min(n, end + self.plan.lookahead)
        start = max(0, self.emitted - self.plan.context)
        wave = self._decode_window(tokens[:decode_end], start)  # samples of tokens [start, decode_end)
        spt = self.samples_per_token
        offset = (self.emitted - start) * spt
        out = wave[offset: offset + (end - self.emitted) * spt].copy()
        if self._tail is not None and out.size:
            k = min(self._tail.size, out.size)
            out[:k] = self._tail[:k] * (1.0 - self._fade_in[:k]) + out[:k] * self._fade_in[:k]
        tail_at = offset + (end - self.emitted) * spt
        self._tail = None if final else wave[tail_at: tail_at + self.crossfade].copy()
        self.emitted = end
        self.chunks += 1
        return out

    @torch.no_grad()
    def _decode_window(self, tokens: torch.Tensor, start: int) -> np.ndarray:
        """enc_p over `tokens` from `encoder_context` tokens before `start` (all of them when None); flow + HiFi-GAN
        over the frames of tokens [start, len)."""
        m = self.model
        fpt = self.frames_per_token
        first = 0 if self.plan.encoder_context is None else max(0, start - self.plan.encoder_context)
        with self._autocast():
            codes = tokens[first:].to(self.device)[None, None]  # [1, 1, n - first]
            quantized = m._upsample_codes(m.quantizer.decode(codes))  # [1, 768, n·fpt]
            frames = quantized.shape[-1]
            y_lengths = torch.tensor([frames], dtype=torch.long, device=self.device)
            text_lengths = torch.tensor([self.phones.shape[-1]], dtype=torch.long, device=self.device)
            _x, m_p, logs_p, _mask = m.enc_p(quantized, y_lengths, self.phones, text_lengths,
                                             m.mrte_condition(self.ge))
            f0 = (start - first) * fpt  # the window's first frame within the encoded span
            noise = self.noise.window(start * fpt, (first * fpt) + frames).to(m_p.dtype)
            z_p = m_p[:, :, f0:] + noise * torch.exp(logs_p[:, :, f0:]) * self.noise_scale
            mask = torch.ones(1, 1, z_p.shape[-1], dtype=z_p.dtype, device=self.device)
            z = m.flow(z_p, mask, g=self.ge, reverse=True)
            wave = m.dec(z, g=self.ge)
        return wave[0, 0].float().cpu().numpy()


def interleave(run_gpt, decoder: ChunkedDecoder, emit, cancel=None, gpt_threads: int | None = None):
    """Run one sentence's GPT on this thread and decode its token chunks as they come; `emit(audio, last)` gets each
    piece of float32 audio in order, the sentence's last one always (possibly empty). Returns `run_gpt`'s result.

    `run_gpt(on_token, on_step, threads_taken)` runs the GPT decoding, calling `on_token(id)` for each kept token and
    `on_step(step)` every step; `threads_taken()` turns True once this function sets the GPT's thread count (the
    GPT's own thread policy must then stand aside). `cancel` (a CancelToken) is checked at every step and between
    chunks; an error in `emit` (a reader that left) stops the GPT within one step as well.

    Threads: until the first chunk's tokens exist the GPT has all of this thread's torch threads. The first chunk is
    decoded right here, inside the token callback that completes it, with all threads (the GPT is paused by
    construction): both set the first-audio latency. Then the GPT goes on with `gpt_threads` (default: half, at
    least one) while a helper thread decodes the later chunks with the rest, one thread in practice, which needs no
    OpenMP team of its own (see compute.py for why a second team costs every operator). When the GPT ends, the
    helper stops after the chunk in hand and the rest is decoded here with all threads again.
    """
    import threading

    total = torch.get_num_threads()
    gpt_n = max(1, total // 2) if gpt_threads is None else max(1, int(gpt_threads))
    dec_n = max(1, total - gpt_n)
    tokens: list[int] = []
    changed = threading.Condition()
    state = {"taken": False, "done": False, "error": None}
    helpers: list[threading.Thread] = []

    def decode_later_chunks() -> None:
        torch.get_num_threads()  # torch sets a new thread's count on its first query; ours comes after
        torch.set_num_threads(dec_n)
        try:
            while True:
                with changed:
                    while not state["done"] and not decoder.ready(len(tokens)):
                        changed.wait()
                    if state["done"]:
                        return  # the caller decodes the rest with every thread
                    so_far = list(tokens)
                if cancel is not None:
                    cancel.check()
                audio = decoder.push(so_far)
                if audio.size:
                    emit(audio, False)
        except BaseException as e:  # noqa: BLE001 - raised in the GPT's next step
            state["error"] = e

    def on_token(token: int) -> None:
        with changed:
            tokens.append(token)
            changed.notify()
        if not helpers and decoder.ready(len(tokens)):  # the first chunk: the GPT waits while it is decoded
            state["taken"] = True
            torch.set_num_threads(total)
            audio = decoder.push(tokens)
            if audio.size:
                emit(audio, False)
            torch.set_num_threads(gpt_n)  # from now on the GPT and the helper share the cores
            helper = threading.Thread(target=decode_later_chunks, name="chunk-decoder", daemon=True)
            helpers.append(helper)
            helper.start()

    def on_step(step: int) -> None:
        if state["error"] is not None:
            raise state["error"]
        if cancel is not None:
            cancel.check()

    try:
        result = run_gpt(on_token, on_step, lambda: state["taken"])
    finally:
        with changed:
            state["done"] = True
            changed.notify()
        for helper in helpers:
            helper.join()
        torch.set_num_threads(total)
    if state["error"] is not None:
        raise state["error"]
    while decoder.ready(len(tokens)):  # chunks the helper had not reached, then the end
        if cancel is not None:
            cancel.check()
        audio = decoder.push(tokens)
        if audio.size:
            emit(audio, False)
    emit(decoder.push(tokens, final=True), True)
    return result
