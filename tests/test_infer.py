"""Inference pipeline and CLI on the tiny models, plus stage parity with the upstream bundle."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from gpt_sovits.cli import main as cli_main
from gpt_sovits.infer.pipeline import ModelMissingError, TTSPipeline
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.text.errors import TextFrontendError
from infer_helpers import REF_TEXT


def _run_cli(root: Path, ref: Path, out: Path, seed: int, text: str = "今天我们一起去公园散步。明天我们再去图书馆看书。") -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli_main(["infer", "--root", str(root), "--ref", str(ref), "--ref-text", REF_TEXT, "--ref-lang",
                         "all_zh", "--text", text, "--text-lang", "all_zh", "--cut", "cut5", "--out", str(out),
                         "--seed", str(seed), "--pause", "0.3"])
    assert code == 0, buf.getvalue()
    return buf.getvalue()


@pytest.mark.slow
def test_cli_writes_wav_of_expected_length_and_seed_is_repeatable(root, ref_wav, tmp_path):
    out1, out2, out3 = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    log = _run_cli(root, ref_wav, out1, seed=7)
    _run_cli(root, ref_wav, out2, seed=7)
    _run_cli(root, ref_wav, out3, seed=8)
    info = sf.info(str(out1))
    assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "PCM_16")
    tokens = int(re.search(r"(\d+) tokens", log).group(1))
    sentences = int(re.search(r"(\d+) sentence", log).group(1))
    assert sentences == 2
    assert info.frames == tokens * 1280 + sentences * int(0.3 * 32000)
    assert out1.read_bytes() == out2.read_bytes()
    assert out1.read_bytes() != out3.read_bytes()


def test_stream_yields_each_sentence_and_matches_synthesize(pipeline, ref_wav):
    req = dict(text="第一句话。第二句话！", text_lang="all_zh", ref_audio_path=ref_wav, prompt_text=REF_TEXT,
               prompt_lang="all_zh", text_split_method="cut5", seed=3)
    streamed = list(pipeline.stream(TTSRequest(**req)))
    whole = pipeline.synthesize(TTSRequest(**req))
    assert len(streamed) == 2 == len(whole.sentences)
    assert np.array_equal(np.concatenate([s.audio for s in streamed]), whole.audio)
    assert whole.seed == 3


def test_reference_free_and_several_references(pipeline, ref_wav, tmp_path):
    other = tmp_path / "other.wav"
    sf.write(other, (np.sin(np.arange(32000 * 4) * 0.05) * 0.3).astype(np.float32), 32000)
    free = pipeline.synthesize(TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref_wav, seed=1))
    assert free.audio.dtype == np.int16 and len(free.audio) > 0
    two = pipeline.synthesize(TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref_wav,
                                         prompt_text=REF_TEXT, aux_ref_audio_paths=[ref_wav, other], seed=1))
    one = pipeline.synthesize(TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref_wav,
                                         prompt_text=REF_TEXT, seed=1))
    assert len(two.audio) == len(one.audio)  # same tokens (same seed), different timbre
    assert not np.array_equal(two.audio, one.audio)


def test_reference_cache_reused_and_refreshed_when_content_changes(pipeline, ref_wav, tmp_path):
    ref = tmp_path / "ref.wav"
    ref.write_bytes(ref_wav.read_bytes())
    req = TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref, prompt_text=REF_TEXT, seed=2)
    pipeline.synthesize(req)
    cached = len(pipeline._prompt_tokens)
    pipeline.synthesize(req)
    assert len(pipeline._prompt_tokens) == cached  # same path + content: reused
    audio, sr = sf.read(ref)
    sf.write(ref, audio[::-1].copy(), sr)  # same path, new content
    pipeline.synthesize(req)
    assert len(pipeline._prompt_tokens) == cached + 1


def test_clear_errors(pipeline, ref_wav, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(32000, np.float32), 32000)
    with pytest.raises(RequestError, match="3-10 seconds"):
        pipeline.synthesize(TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=short, prompt_text="你好"))
    with pytest.raises(RequestError, match="text_lang"):
        pipeline.synthesize(TTSRequest(text="hi", text_lang="xx", ref_audio_path=ref_wav))
    with pytest.raises((RequestError, TextFrontendError), match="nothing"):
        pipeline.synthesize(TTSRequest(text="。。。", text_lang="all_zh", ref_audio_path=ref_wav,
                                       text_split_method="cut5"))
    empty = TTSPipeline(ProjectPaths(tmp_path), device="cpu")
    with pytest.raises(ModelMissingError, match="GPT"):
        empty.synthesize(TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref_wav))
    with pytest.raises(ModelMissingError, match="not found"):
        empty.load_gpt(tmp_path / "missing.ckpt")


def test_fast_cpu_mode_quantizes_the_gpt_and_still_speaks(root, ref_wav):
    from gpt_sovits.models.gpt.decode import FAST_PRECISION

    paths = ProjectPaths(root)
    fast = TTSPipeline(paths, device="cpu", fast_cpu=True)
    fast.load_gpt(paths.pretrained_gpt("v2"))
    fast.load_sovits(paths.pretrained_sovits_g("v2"))
    assert fast.gpt.model.inference_precision == FAST_PRECISION != "fp32"
    result = fast.synthesize(TTSRequest(text="你好，今天天气很好。", text_lang="all_zh", ref_audio_path=ref_wav,
                                        prompt_text=REF_TEXT, seed=5))
    assert result.audio.dtype == np.int16 and len(result.audio) > 0
    fast.set_fast_cpu(False)  # back to the exact fp32 model
    assert fast.gpt.model.inference_precision == "fp32"


# ---- stage parity with the upstream bundle -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle_pipeline(reference_bundle) -> tuple[TTSPipeline, dict, dict]:
    pipe = TTSPipeline(ProjectPaths(reference_bundle), device="cpu")
    pipe.load_gpt(reference_bundle / "gpt_tiny_weights.ckpt")
    pipe.load_sovits(reference_bundle / "sovits_tiny_weights.pth")
    cases = load_file(str(reference_bundle / "cases.safetensors"))
    index = json.loads((reference_bundle / "cases_index.json").read_text())
    return pipe, cases, index


def _params(index: dict, case: str) -> dict:
    return index[case].get("params", {})


def _tensor(cases: dict, index: dict, key: str) -> torch.Tensor:
    """A case tensor by key, following the index's `same_as` links (entries not stored twice)."""
    if key in cases:
        return cases[key]
    case = key.split(".")[0]
    for entry in index[case].get("inputs", []) + index[case].get("outputs", []):
        if entry["name"] == key and entry.get("same_as"):
            return _tensor(cases, index, entry["same_as"])
    raise KeyError(key)


def test_pipeline_gpt_stage_gives_upstream_greedy_tokens(bundle_pipeline):
    pipe, cases, index = bundle_pipeline
    p = _params(index, "e_gpt_greedy")
    req = TTSRequest(text="x", text_lang="all_zh", ref_audio_path="unused", top_k=p["top_k"], top_p=p["top_p"],
                     temperature=p["temperature"], repetition_penalty=p["repetition_penalty"])
    tokens = pipe.generate_semantic(_tensor(cases, index, "e_gpt_greedy.phoneme_ids"),
                                    _tensor(cases, index, "e_gpt_greedy.bert_feature"),
                                    _tensor(cases, index, "e_gpt_greedy.prompt"), req, torch.Generator().manual_seed(0),
                                    early_stop_num=p["early_stop_num"])
    assert torch.equal(tokens[0], cases["e_gpt_greedy.webui_pred_semantic"])


def test_pipeline_sovits_stage_gives_upstream_wav(bundle_pipeline):
    pipe, cases, index = bundle_pipeline
    p = _params(index, "c_decode")
    for out_name, speed in p["speeds"].items():
        refers = [_tensor(cases, index, f"c_decode.{r}") for r in p["refers"][out_name]]
        audio = pipe.decode_semantic(cases["c_decode.codes"], cases["c_decode.phones"], refers,
                                     noise_scale=p["noise_scale"],
                                     speed=speed, seed=0)
        expected = cases[f"c_decode.{out_name}"][0, 0].numpy()
        assert audio.shape == expected.shape, out_name
        assert np.all(np.abs(audio - expected) <= 1e-4 + 1e-4 * np.abs(expected)), out_name
