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
