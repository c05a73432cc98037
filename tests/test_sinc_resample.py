"""torchaudio-compatible sinc resampling and the timbre reference spectrogram, against upstream's recorded numbers.

The v2Pro bundle stores what upstream's `torchaudio.transforms.Resample` and `get_spepc` produced for a 32 kHz mono
PCM16 file, a 44.1 kHz stereo one and a 32 kHz float file peaking at 1.6 (`d_infer_sv`), plus data prep's 32→16 kHz
resample (`c_prep_sv`). The spectrogram part is the same for v2, so the v2 pipeline's `reference_spec` must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpt_sovits.audio.sinc_resample import sinc_resample
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.paths import ProjectPaths

V2PRO = Path(__file__).parent / "fixtures" / "bundle_v2pro"
REFS = {"ref_a": "ref_a_32k_mono_pcm16.wav", "ref_b": "ref_b_44k1_stereo_pcm16.wav",
        "ref_c": "ref_c_32k_mono_float_peak1.6.wav"}
ATOL = RTOL = 1e-4  # the bundle's suggested rule; the resampler itself is expected to be exact


@pytest.fixture(scope="module")
def cases() -> dict[str, torch.Tensor]:
    return load_file(str(V2PRO / "cases.safetensors"))


def test_resample_matches_torchaudio_kernel(cases):
    mono_b = cases["d_infer_sv.ref_b_file_samples"].mean(0, keepdim=True)
    checks = [
        (sinc_resample(mono_b, 44100, 32000), cases["d_infer_sv.ref_b_audio32k"]),
        (sinc_resample(cases["c_prep_sv.wav32k_int16"].float()[None] / 32768, 32000, 16000),
         cases["c_prep_sv.wav16k"]),
        (sinc_resample(cases["d_infer_sv.ref_a_file_samples"], 32000, 16000), cases["d_infer_sv.ref_a_audio16k"]),
    ]
    for ours, expected in checks:
        assert ours.shape == expected.shape
        assert float((ours - expected).abs().max()) <= 1e-6


def test_same_rate_is_identity_and_lengths_round_up():
    wave = torch.randn(2, 1001, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sinc_resample(wave, 32000, 32000), wave)
    assert sinc_resample(wave, 48000, 32000).shape == (2, 668)  # ceil(1001 * 2 / 3)


def test_reference_spectrogram_matches_upstream_get_spepc(cases, reference_bundle, tmp_path):
    pipe = TTSPipeline(ProjectPaths(tmp_path), device="cpu", half=False)
    pipe.load_sovits(reference_bundle / "sovits_tiny_weights.pth")
    for name, file in REFS.items():
        ours = pipe.reference_spec(V2PRO / "refs" / file)
        expected = cases[f"d_infer_sv.{name}_spec"]
        assert ours.shape == expected.shape, name
        assert bool(((ours - expected).abs() <= ATOL + RTOL * expected.abs()).all()), name
