"""Test-wide settings: offline, quiet, single-threaded torch (2 threads on a busy 2-core box are far slower)."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch-free tests still run
    pass

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def reference_bundle() -> Path:
    """The upstream reference bundle: $GSV_REFERENCE_BUNDLE or the copy in tests/fixtures/bundle."""
    return Path(os.environ.get("GSV_REFERENCE_BUNDLE", FIXTURES / "bundle"))


@pytest.fixture(scope="session")
def v2pro_bundle() -> Path:
    """The upstream v2Pro/v2ProPlus reference bundle: $GSV_V2PRO_BUNDLE or the copy in tests/fixtures/bundle_v2pro."""
    return Path(os.environ.get("GSV_V2PRO_BUNDLE", FIXTURES / "bundle_v2pro"))


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory) -> Path:
    """A temp data root (pass it to `ProjectPaths(root)`) whose pretrained_models/ holds the tiny random models.

    Written once per session by `gpt_sovits.tiny.make_tiny_pretrained` (seeded, so deterministic): HuBERT, BERT,
    SoVITS G/D, GPT under upstream's names, and faster-whisper-tiny. Shared by all tests: treat it as read-only
    (write weights/logs under your own tmp_path).
    """
    from gpt_sovits.tiny import make_tiny_pretrained

    root = tmp_path_factory.mktemp("tiny_root")
    make_tiny_pretrained(root / "pretrained_models")
    return root


# ---- a tiny inference pipeline, shared by the inference and API test modules (each module gets its own) ----------

@pytest.fixture(scope="module")
def root(tiny_pretrained) -> Path:
    return Path(tiny_pretrained)


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    """A 4 s espeak-ng reference clip whose text is `infer_helpers.REF_TEXT`."""
    from infer_helpers import espeak_reference

    return espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav")


@pytest.fixture(scope="module")
def pipeline(root):
    """The tiny pretrained GPT and SoVITS loaded on the CPU."""
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.paths import ProjectPaths

    paths = ProjectPaths(root)
    pipe = TTSPipeline(paths, device="cpu")
    pipe.load_gpt(paths.pretrained_gpt("v2"))
    pipe.load_sovits(paths.pretrained_sovits_g("v2"))
    return pipe
