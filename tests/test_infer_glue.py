"""Upstream `get_tts_wav` glue rules the recorded e2e cases do not reach: prompt text edge cases, the HuBERT pad per
pipeline variant, unreadable extra references, and injected decode noise."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from gpt_sovits.infer.hooks import RunHooks
from gpt_sovits.infer.pipeline import PROMPT_SILENCE_SAMPLES, TTSPipeline, prompt_silence_samples
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.paths import ProjectPaths


def _req(**kw) -> TTSRequest:
    return TTSRequest(**{"text": "你好。", "text_lang": "all_zh", "ref_audio_path": "ref.wav", **kw})


def test_prompt_text_as_upstream_feeds_it():
    prompt = TTSPipeline.prompt_text_for
    assert prompt(_req(prompt_text="")) is None  # empty: reference-free
    assert prompt(_req(prompt_text="你好", ref_free=True)) is None
    assert prompt(_req(prompt_text="\n你好\n")) == "你好。"
    assert prompt(_req(prompt_text="你好\n再见")) == "你好\n再见。"  # inner newlines stay (upstream strips ends only)
    assert prompt(_req(prompt_text="hello", prompt_lang="en")) == "hello."
    assert prompt(_req(prompt_text="你好！")) == "你好！"
    assert prompt(_req(prompt_text="  ")) == "  。"  # upstream quirk kept: spaces are a (bad) prompt, not empty
    assert prompt(_req(prompt_text="\n\n")) is None  # upstream raises IndexError here; we go reference-free


def test_hubert_pad_is_the_pause_in_the_webui_and_fixed_in_the_api():
    assert prompt_silence_samples(_req(fragment_interval=0.5)) == 16000
    assert prompt_silence_samples(_req(fragment_interval=0.3)) == 9600
    assert prompt_silence_samples(_req(fragment_interval=0.5, split_variant="tts_infer_pack")) == PROMPT_SILENCE_SAMPLES


@pytest.fixture(scope="module")
def pipe(reference_bundle, tmp_path_factory) -> TTSPipeline:
    p = TTSPipeline(ProjectPaths(tmp_path_factory.mktemp("root")), device="cpu", half=False)
    p.load_sovits(reference_bundle / "sovits_tiny_weights.pth")
    return p


def test_unreadable_extra_references_are_skipped_like_upstream(pipe, tmp_path):
    good, main, corrupt = tmp_path / "good.wav", tmp_path / "main.wav", tmp_path / "corrupt.wav"
    rng = np.random.default_rng(0)
    sf.write(good, (rng.standard_normal(64000) * 0.1).astype(np.float32), 32000)
    sf.write(main, (rng.standard_normal(96000) * 0.1).astype(np.float32), 32000)
    corrupt.write_bytes(b"not a wav")
    specs = pipe.timbre_specs(_req(ref_audio_path=main, aux_ref_audio_paths=[tmp_path / "missing.wav", corrupt, good]))
    assert len(specs) == 1 and torch.equal(specs[0], pipe.reference_spec(good))
    fallback = pipe.timbre_specs(_req(ref_audio_path=main, aux_ref_audio_paths=[corrupt]))
    assert len(fallback) == 1 and torch.equal(fallback[0], pipe.reference_spec(main))
    with pytest.raises(RequestError, match="not found"):
        pipe.timbre_specs(_req(ref_audio_path=tmp_path / "nothing.wav", aux_ref_audio_paths=[corrupt]))


def test_injected_decode_noise_replaces_the_draw(pipe, tmp_path):
    wav = tmp_path / "ref.wav"
    sf.write(wav, (np.random.default_rng(1).standard_normal(64000) * 0.1).astype(np.float32), 32000)
    refer = [pipe.reference_spec(wav)]
    tokens = torch.randint(0, 1024, (1, 1, 10), generator=torch.Generator().manual_seed(0))
    phones = torch.randint(1, 300, (1, 8), generator=torch.Generator().manual_seed(1))
    silent_prior = pipe.decode_semantic(tokens, phones, refer, noise_scale=0.0, speed=1.0, seed=0)
    seeded = pipe.decode_semantic(tokens, phones, refer, noise_scale=0.5, speed=1.0, seed=0)
    prior_shape = (1, int(pipe.sovits.hps["model"]["inter_channels"]), 20)
    zeros = pipe.decode_semantic(tokens, phones, refer, noise_scale=0.5, speed=1.0, seed=0,
                                 noise=torch.zeros(prior_shape))
    assert np.array_equal(zeros, silent_prior) and not np.array_equal(seeded, silent_prior)
    with pytest.raises(ValueError, match="shape"):
        pipe.decode_semantic(tokens, phones, refer, 0.5, 1.0, 0, noise=torch.zeros(1, 3, 20))
    with pytest.raises(ValueError, match="sentence 1 has none"):
        RunHooks(decode_noise=[torch.zeros(prior_shape)]).noise_for(1)
    assert RunHooks().noise_for(5) is None
