"""The inference-prepared SoVITS decoder and the fast CPU mode: what is exact stays exact, what is not has a stated,
measured error bound.

Bounds (README, speed section): exact mode only folds weight norm (bit-identical); the optional fp32 channels-last
decoder is within 1e-5 relative L2 of the module decoder (measured ~5e-7). The bf16 decoder's error against the exact one
is roughly constant in absolute terms (it comes from the last, narrow upsampling stages): its rms must stay below
-65 dBFS (measured -74 to -77 dBFS on v2-size random weights, i.e. ~5 LSB of 16-bit audio), and the SNR above 25 dB
even on a random model whose output is as quiet as -45 dBFS (measured 28.6 dB there, 43-54 dB on louder ones).
bf16 BERT features are within 3 % relative L2 of fp32 (measured ~1.3 % on a v2-size random BERT).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_sovits.models.sovits import build_synthesizer
from gpt_sovits.models.sovits.generator import Generator
from gpt_sovits.models.sovits.inference import InferenceGenerator, prepare_for_inference
from gpt_sovits.models.sovits.weight_norm import fold_weight_norm

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BF16_MIN_SNR_DB = 25.0
BF16_MAX_ERROR_DBFS = -65.0
FP32_MAX_REL = 1e-5
BERT_BF16_MAX_REL = 0.03


def snr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Signal-to-error ratio of `other` against `reference` in dB."""
    reference, other = reference.double(), other.double()
    return 20 * math.log10(float(reference.norm()) / max(float((other - reference).norm()), 1e-300))


def error_dbfs(reference: torch.Tensor, other: torch.Tensor) -> float:
    """rms of the difference relative to full scale (1.0), in dB."""
    rms = float((other.double() - reference.double()).pow(2).mean().sqrt())
    return 20 * math.log10(max(rms, 1e-300))


def _tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    hps = json.loads((CONFIGS / "tiny_s2.json").read_text())
    model = build_synthesizer(hps, "v2").eval()
    model.enc_q = None
    # the flows' output layers are zero-initialised (identity); random values make them count in the comparison
    with torch.no_grad():
        for flow in model.flow.flows[::2]:
            flow.post.weight.normal_(0, 0.02)
    return model


def _decode_inputs(model, frames: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 1024, (1, 1, frames), generator=g)
    phones = torch.randint(1, 300, (1, 10), generator=g)
    refer = torch.rand(1, model.spec_channels, 60, generator=g)
    noise = torch.randn(1, model.inter_channels, 2 * frames, generator=g)
    return codes, phones, [refer], noise


def _v2_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    model = json.loads((CONFIGS / "s2.json").read_text())["model"]
    keys = ("resblock", "resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates",
            "upsample_initial_channel", "upsample_kernel_sizes")
    return Generator(model["inter_channels"], *(model[k] for k in keys), gin_channels=model["gin_channels"]).eval()


def test_folding_weight_norm_leaves_decode_bit_identical():
    model = _tiny_model()
    codes, phones, refers, noise = _decode_inputs(model)
    expected = model.decode(codes, phones, refers, noise=noise)
    folded = copy.deepcopy(model)
    assert fold_weight_norm(folded) > 20
    assert not any(name.endswith(("weight_g", "weight_v")) for name, _ in folded.named_parameters())
    assert torch.equal(folded.decode(codes, phones, refers, noise=noise), expected)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fp32_inference_decoder_matches_the_module_decoder(channels_last):
    dec = _v2_generator()
    z, ge = torch.randn(1, 192, 6), torch.randn(1, 512, 1)
    with torch.no_grad():
        expected = dec(z, ge)
        prepared = InferenceGenerator(copy.deepcopy(dec), "fp32", channels_last=channels_last)
        got = prepared(z, ge)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) <= FP32_MAX_REL


@pytest.mark.parametrize("channels_last", [False, True])
def test_bf16_inference_decoder_error_is_within_the_stated_bound(channels_last):
    dec = _v2_generator()
    z, ge = torch.randn(1, 192, 10), torch.randn(1, 512, 1) * 0.1
    with torch.no_grad():
        expected = dec(z, ge)
        fast = InferenceGenerator(copy.deepcopy(dec), "bf16", channels_last=channels_last)
        got = fast(z, ge)
    assert fast.conv_pre.weight.dtype == torch.bfloat16 and fast.conv_post.weight.dtype == torch.float32
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert snr_db(expected, got) >= BF16_MIN_SNR_DB
    assert error_dbfs(expected, got) <= BF16_MAX_ERROR_DBFS
    # the measures themselves are not vacuous
    assert snr_db(expected, torch.zeros_like(expected)) == pytest.approx(0.0)
    assert error_dbfs(expected, got + 1e-3) > BF16_MAX_ERROR_DBFS


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_windowed_decoder_core_is_the_whole_decode(precision):
    # Each window reads `context` frames of its neighbours and zeroes every convolution's output past its valid
    # frames, so its core is the same function of the input as decoding in one piece: bf16 bit for bit here, fp32 to
    # rounding. Lengths below, at and above a window, and one window apart; a too-small context would fail this.
    dec = _v2_generator()
    whole = InferenceGenerator(copy.deepcopy(dec), precision, window=None)
    windowed = InferenceGenerator(copy.deepcopy(dec), precision, window=40)
    assert 12 < windowed.receptive_radius() < windowed.context < 20  # v2: 12.3 frames measured by an impulse
    assert InferenceGenerator(copy.deepcopy(dec), precision).window == (None if precision == "fp32" else 128)
    g = torch.Generator().manual_seed(1)
    for frames in (7, 40, 61, 100):
        z, ge = torch.randn(1, 192, frames, generator=g), torch.randn(1, 512, 1, generator=g) * 0.1
        with torch.no_grad():
            a, b = whole(z, ge), windowed(z, ge)
        assert a.shape == b.shape == (1, 1, frames * windowed.upsampling)
        torch.testing.assert_close(b, a, rtol=0, atol=0 if precision == "bf16" else 1e-6)
    too_small = InferenceGenerator(copy.deepcopy(dec), precision, window=40)
    too_small.context = 3
    with torch.no_grad():
        assert not torch.allclose(too_small(z, ge), a, rtol=0, atol=1e-5)


def test_prepared_synthesizer_releases_the_fp32_decoder_and_decodes_like_the_original():
    model = _tiny_model()
    codes, phones, refers, noise = _decode_inputs(model)
    expected = model.decode(codes, phones, refers, noise=noise)
    exact = prepare_for_inference(copy.deepcopy(model), "fp32")
    fast = prepare_for_inference(copy.deepcopy(model), "bf16")
    assert isinstance(exact.dec, Generator) and exact.inference_precision == "fp32"  # the module itself, folded
    assert isinstance(fast.dec, InferenceGenerator) and fast.inference_precision == "bf16"
    sizes = {dtype: sum(b.numel() for b in fast.dec.buffers() if b.dtype == dtype)
             for dtype in (torch.float32, torch.bfloat16)}
    assert sizes[torch.float32] < 0.01 * sizes[torch.bfloat16]  # only the one-channel output conv stays fp32
    assert not list(fast.dec.parameters())  # buffers only: no fp32 copy kept beside the bf16 weights
    assert torch.equal(exact.decode(codes, phones, refers, noise=noise), expected)
    fast_out = fast.decode(codes, phones, refers, noise=noise)
    assert snr_db(expected, fast_out) >= BF16_MIN_SNR_DB and error_dbfs(expected, fast_out) <= BF16_MAX_ERROR_DBFS


def test_fast_mode_pipeline_decodes_in_bf16_and_switches_back_to_exact(root):
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.models.gpt.quantize import cpu_supports_bf16
    from gpt_sovits.paths import ProjectPaths

    paths = ProjectPaths(root)
    exact = TTSPipeline(paths, device="cpu")
    exact.load_sovits(paths.pretrained_sovits_g("v2"))
    fast = TTSPipeline(paths, device="cpu", fast_cpu=True)
    fast.load_sovits(paths.pretrained_sovits_g("v2"))
    hps = exact.sovits.hps
    tokens = torch.randint(0, 1024, (1, 1, 15), generator=torch.Generator().manual_seed(3))
    phones = torch.randint(1, 300, (1, 12), generator=torch.Generator().manual_seed(4))
    spec = torch.rand(1, hps["data"]["filter_length"] // 2 + 1, 80, generator=torch.Generator().manual_seed(5))

    def decode(pipe):
        return torch.from_numpy(pipe.decode_semantic(tokens, phones, [spec], 0.5, 1.0, seed=7))

    want = "bf16" if cpu_supports_bf16() else "fp32"
    assert exact.sovits.model.inference_precision == "fp32"
    assert fast.sovits.model.inference_precision == want
    reference = decode(exact)
    fast_out = decode(fast)
    assert snr_db(reference, fast_out) >= BF16_MIN_SNR_DB and error_dbfs(reference, fast_out) <= BF16_MAX_ERROR_DBFS
    fast.set_fast_cpu(False)
    assert np.array_equal(decode(fast).numpy(), reference.numpy())  # re-read in fp32: the exact decoder again
    assert fast.sovits.model.inference_precision == "fp32"


def test_bf16_bert_features_are_close_and_exact_mode_is_unchanged(root):
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.models.bert import BertFeatureExtractor
    from gpt_sovits.models.gpt.quantize import cpu_supports_bf16
    from gpt_sovits.paths import ProjectPaths

    from gpt_sovits.tiny.models import TINY_BERT, write_random_bert

    paths = ProjectPaths(root)
    as_stored = BertFeatureExtractor.from_pretrained(paths.bert_dir()).dtype  # the tiny folder, like some upstream
    # ones, is fp16; the features below come from a 3-layer one, so that a layer still runs after the unused last two
    # are dropped
    folder = write_random_bert(root / "bert-3-layers", 7, {**TINY_BERT, "num_hidden_layers": 3}, half=True)
    fp32 = BertFeatureExtractor.from_pretrained(folder, dtype=torch.float32)
    bf16 = BertFeatureExtractor.from_pretrained(folder, dtype=torch.bfloat16)
    assert bf16.dtype == torch.bfloat16 and fp32.dtype == torch.float32
    text = "今天天气很好我们去公园散步吧"
    a, b = fp32.char_features(text), bf16.char_features(text)
    assert b.dtype == torch.float32 and a.shape == b.shape
    assert 0 < float((a - b).norm() / a.norm()) <= BERT_BF16_MAX_REL
    # the trimmed encoder gives what upstream's call of the whole masked-LM model gives
    from transformers import AutoModelForMaskedLM

    whole = {dt: AutoModelForMaskedLM.from_pretrained(str(folder), local_files_only=True, dtype=dt).eval()
             for dt in (torch.float32, torch.bfloat16)}
    assert len(fp32.model.base_model.encoder.layer) == whole[torch.float32].config.num_hidden_layers - 2
    with torch.no_grad():
        inputs = fp32.tokenizer(text, return_tensors="pt")
        full = {dt: m(**inputs, output_hidden_states=True).hidden_states[-3][0, 1:-1].float()
                for dt, m in whole.items()}
    assert torch.equal(a, full[torch.float32])
    # bf16: the encoder's linears on oneDNN-packed weights compute the same bf16 products as F.linear
    if cpu_supports_bf16():
        from gpt_sovits.models.bert import _PackedLinear

        assert any(isinstance(m, _PackedLinear) for m in bf16.model.modules())
        assert not any(isinstance(m, torch.nn.Linear) for m in bf16.model.base_model.encoder.modules())
    assert torch.equal(b, full[torch.bfloat16])

    pipe = TTSPipeline(paths, device="cpu", fast_cpu=True)
    assert pipe.bert().dtype == (torch.bfloat16 if cpu_supports_bf16() else torch.float32)
    pipe.set_fast_cpu(False)
    assert pipe.bert().dtype == as_stored  # exact mode: as upstream loads it
