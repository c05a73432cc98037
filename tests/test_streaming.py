"""Token-chunk streaming (streaming_mode 2/3) on the tiny models: join quality against a whole-sentence decode of the
same tokens, the pipeline's chunks, mode 1 unchanged, cancellation and closing mid-sentence."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gpt_sovits.infer.cancel import CancelToken, Cancelled
from gpt_sovits.infer.chunked import ChunkedDecoder, ChunkPlan, FrameNoise, interleave, plan_for_mode
from gpt_sovits.infer.request import TTSRequest
from infer_helpers import REF_TEXT

TEXT = "今天天气很好，我们一起出去走走吧。"


def _req(ref_wav, **extra) -> TTSRequest:
    extra.setdefault("text", TEXT)
    return TTSRequest(text_lang="zh", ref_audio_path=str(ref_wav), prompt_text=REF_TEXT, prompt_lang="zh",
                      seed=7, **extra)


def _streamed(model, phones, spec, tokens, plan, noise) -> tuple[np.ndarray, int]:
    """Push the tokens one at a time, as the GPT produces them; → (audio, number of chunks)."""
    decoder = ChunkedDecoder(model, phones, [spec], plan, noise, noise_scale=0.5)
    pieces = [decoder.push(tokens[:n]) for n in range(1, len(tokens) + 1)]
    pieces.append(decoder.push(tokens, final=True))
    return np.concatenate(pieces), decoder.chunks


@pytest.fixture(scope="module")
def decode_case(pipeline, ref_wav):
    """The tiny SoVITS, a reference spectrogram, 90 random tokens, 30 phones and their whole-sentence decode with
    the same frame-indexed noise."""
    torch.manual_seed(0)
    model = pipeline.sovits.model
    spec = pipeline.reference_spec(ref_wav)
    tokens = torch.randint(0, 1024, (90,))
    phones = torch.randint(1, 700, (1, 30))
    noise = FrameNoise(model.inter_channels, seed=5)
    whole = pipeline.decode_semantic(tokens[None, None], phones, [spec], 0.5, 1.0, seed=0,
                                     noise=noise.upto(2 * len(tokens)))
    return model, spec, tokens, phones, noise, whole


@pytest.mark.parametrize("mode", [2, 3])
def test_streamed_decode_equals_whole_decode_up_to_a_small_error(decode_case, mode):
    model, spec, tokens, phones, noise, whole = decode_case
    plan = plan_for_mode(mode)
    audio, chunks = _streamed(model, phones, spec, tokens, plan, noise)
    assert chunks >= 4  # it really was cut
    assert audio.shape == whole.shape  # every sample of the sentence, once, in place
    err = np.abs(audio - whole)
    # Measured on these models (modes 2/3): max |Δ| 0.10/0.19 % of the peak, RMS of Δ 0.012/0.020 % of the signal's
    # RMS; with v2-size random weights 0.75/1.4 % and 0.11/0.16 %. Naive chunks without context: 53 % of the peak
    # (next test). What remains comes from enc_p seeing only a prefix of the tokens.
    assert err.max() < 0.01 * np.abs(whole).max()
    assert np.sqrt((err ** 2).mean()) < 0.002 * np.sqrt((whole ** 2).mean())


def test_chunks_without_context_click_at_the_joins(decode_case):
    """The same cut without left context, lookahead or cross-fade: the joins stand out, so the bound above means
    something."""
    model, spec, tokens, phones, noise, whole = decode_case
    naive = ChunkPlan(first=6, size=16, context=0, lookahead=0, crossfade_tokens=0, grow=False)
    good = plan_for_mode(3)
    bad_audio, _ = _streamed(model, phones, spec, tokens, naive, noise)
    good_audio, _ = _streamed(model, phones, spec, tokens, good, noise)
    assert np.abs(bad_audio - whole).max() > 10 * np.abs(good_audio - whole).max()


def test_the_gpt_waits_while_the_first_chunk_is_decoded_with_every_thread(decode_case):
    """First audio = GPT time to the first chunk + that chunk's decode: the decode gets the cores to itself (the GPT
    pauses right after the chunk's last token, before its next step's work) and runs on the GPT's own thread (one
    OpenMP team, compute.py); later chunks share the cores with the GPT, on a helper thread with one torch thread."""
    import threading

    model, spec, tokens, phones, noise, _ = decode_case
    plan = plan_for_mode(3)
    real = ChunkedDecoder(model, phones, [spec], plan, noise, noise_scale=0.5)
    log: list[tuple] = []
    here = threading.get_ident()

    class Logged:  # the real decoder, with its pushes written into the shared log
        def __init__(self, inner):
            self.inner, self.plan = inner, inner.plan

        def ready(self, n):
            return self.inner.ready(n)

        def push(self, toks, final=False):
            log.append(("push", len(toks), torch.get_num_threads(), threading.get_ident() == here, final))
            return self.inner.push(toks, final)

    def run_gpt(on_token, on_step, threads_taken):
        for step, token in enumerate(tokens[:40].tolist()):
            log.append(("step", step, torch.get_num_threads(), threads_taken()))  # the step's work comes first
            on_step(step)
            on_token(token)
            time.sleep(0.01)  # a step takes time: the helper decodes meanwhile
        return "done"

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    pieces: list = []
    try:
        assert interleave(run_gpt, Logged(real), lambda audio, last: pieces.append((audio, last))) == "done"
        assert torch.get_num_threads() == 2  # the caller's count is back
    finally:
        torch.set_num_threads(before)
    assert pieces[-1][1] and sum(len(p) for p, _ in pieces) == 40 * real.samples_per_token
    assert [last for _, last in pieces].count(True) == 1
    pushes = [e for e in log if e[0] == "push"]
    first_push = log.index(pushes[0])
    waited_at = plan.first + plan.lookahead
    assert pushes[0][1:4] == (waited_at, 2, True)  # the first chunk, with both threads, on the GPT's thread
    before = [e for e in log[:first_push] if e[0] == "step"]
    assert all(e[1] < waited_at for e in before)  # no GPT step ran during it
    assert not any(e[3] for e in before)  # until then the GPT's own thread policy decides
    later = [e for e in log[first_push + 1:] if e[0] == "step"]
    assert later and all(e[2] == 1 and e[3] for e in later)  # then one thread beside the decoder, set by interleave
    helper = [e for e in pushes[1:] if not e[4] and not e[3]]
    assert helper and all(e[2] == 1 for e in helper)  # later chunks: the helper thread, one torch thread
    assert pushes[-1][4] and pushes[-1][3] and pushes[-1][2] == 2  # the end: back here with both threads


def test_an_error_in_the_chunk_decoder_stops_the_gpt(decode_case):
    """A reader that left makes `emit` raise in the helper thread: the GPT stops at its next step with that error."""
    model, spec, tokens, phones, noise, _ = decode_case
    decoder = ChunkedDecoder(model, phones, [spec], plan_for_mode(3), noise, noise_scale=0.5)
    steps: list[int] = []

    class Gone(Exception):
        pass

    def emit(audio, last):
        if decoder.chunks > 1:  # the first piece went out (on the GPT's thread); the next one fails
            raise Gone()

    def run_gpt(on_token, on_step, threads_taken):
        for step, token in enumerate(tokens.tolist() * 10):
            on_step(step)
            steps.append(step)
            on_token(token)
            time.sleep(0.002)  # a GPT step takes time: the helper decodes meanwhile
        return "done"

    with pytest.raises(Gone):
        interleave(run_gpt, decoder, emit)
    assert len(steps) < len(tokens) * 10  # stopped early


def test_plans_for_modes():
    assert plan_for_mode(0) is None and plan_for_mode(1) is None
    medium, fast = plan_for_mode(2), plan_for_mode(3)
    assert fast.first + fast.lookahead < medium.first + medium.lookahead  # mode 3 speaks first
    assert medium.grow and not fast.grow and not plan_for_mode(2, fixed_length_chunk=True).grow
    assert plan_for_mode(3, min_chunk_length=5).size == 5
    with pytest.raises(ValueError):
        plan_for_mode(4)
    with pytest.raises(ValueError):
        ChunkPlan(first=4, size=8, context=1, lookahead=1, crossfade_tokens=2, grow=False)


@pytest.mark.parametrize("mode", [2, 3])
def test_pipeline_modes_2_and_3_stream_chunks_of_the_same_sentence(pipeline, ref_wav, mode):
    """Without prior noise (noise_scale 0) a mode-2/3 stream and the sentence-level stream decode the same tokens
    (same seed, same GPT draws), so the chunked audio must match the whole decode within the join bound."""
    whole = list(pipeline.stream(_req(ref_wav, streaming_mode=1, noise_scale=0.0)))
    chunks = list(pipeline.stream(_req(ref_wav, streaming_mode=mode, noise_scale=0.0)))
    assert len(whole) == 1 and len(chunks) >= 3
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert sum(c.tokens for c in chunks) == whole[0].tokens
    assert len(chunks[0].audio) == plan_for_mode(mode).first * 1280  # the first piece is small: early audio
    a = np.concatenate([c.audio for c in chunks]).astype(np.float64)
    b = whole[0].audio.astype(np.float64)
    assert a.shape == b.shape  # pause included, once, at the end
    assert np.abs(a - b).max() < 0.05 * np.abs(b).max()


def test_mode_1_is_byte_identical_to_no_streaming(pipeline, ref_wav):
    whole = pipeline.synthesize(_req(ref_wav)).audio
    streamed = np.concatenate([s.audio for s in pipeline.stream(_req(ref_wav, streaming_mode=1))])
    assert whole.tobytes() == streamed.tobytes()


def test_cancel_and_close_mid_sentence_free_the_pipeline(pipeline, ref_wav):
    token = CancelToken()
    stream = pipeline.stream(_req(ref_wav, streaming_mode=3), cancel=token)
    next(stream)  # the first chunk is out, the GPT is still running
    token.cancel("stop")
    with pytest.raises(Cancelled):
        for _ in stream:
            pass
    assert not pipeline.lock.locked()

    stream = pipeline.stream(_req(ref_wav, streaming_mode=2))
    next(stream)
    stream.close()  # a client that left: the GPT thread is stopped and joined before close() returns
    assert not pipeline.lock.locked()
    assert len(pipeline.synthesize(_req(ref_wav, streaming_mode=3)).audio) > 0  # and the next request works


def test_fast_mode_streams_through_the_prepared_bf16_decoder(root, ref_wav):
    """--fast-cpu prepares the decoder in bf16 once; token chunks go through that same model and match the
    fast mode's own sentence-level stream within the join bound."""
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.paths import ProjectPaths

    paths = ProjectPaths(root)
    fast = TTSPipeline(paths, device="cpu", fast_cpu=True)
    fast.load_gpt(paths.pretrained_gpt("v2"))
    fast.load_sovits(paths.pretrained_sovits_g("v2"))
    whole = list(fast.stream(_req(ref_wav, streaming_mode=1, noise_scale=0.0)))
    chunks = list(fast.stream(_req(ref_wav, streaming_mode=3, noise_scale=0.0)))
    assert len(chunks) >= 3 and sum(c.tokens for c in chunks) == whole[0].tokens
    a = np.concatenate([c.audio for c in chunks]).astype(np.float64)
    b = whole[0].audio.astype(np.float64)
    assert a.shape == b.shape and np.abs(a - b).max() < 0.05 * np.abs(b).max()
