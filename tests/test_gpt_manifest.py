"""GPT state-dict keys and shapes equal upstream's manifests at full size (v2 plain and "model."-prefixed, v1)."""

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from gpt_sovits.models.checkpoints import GPT_PREFIX
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _manifest(fixtures_dir: Path, name: str) -> dict[str, tuple[list[int], str]]:
    data = json.loads((fixtures_dir / "manifests" / f"{name}.json").read_text())
    return {k: (v["shape"], v["dtype"]) for k, v in data["state_dict"].items()}


def _ours(config: dict, prefix: str = "") -> dict[str, tuple[list[int], str]]:
    with torch.device("meta"):  # shapes only, no 77 M-parameter allocation
        model = Text2SemanticDecoder(config)
    return {prefix + k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def v2_config() -> dict:
    return yaml.safe_load((CONFIGS / "s1longer-v2.yaml").read_text())


def test_gpt_v2_keys_and_shapes(fixtures_dir, v2_config):
    expected = _manifest(fixtures_dir, "gpt_v2")
    ours = _ours(v2_config)
    assert list(ours) == list(expected)  # same keys in the same order
    assert ours == expected


def test_gpt_v2_lightning_prefixed(fixtures_dir, v2_config):
    expected = _manifest(fixtures_dir, "gpt_v2_lightning")
    assert _ours(v2_config, GPT_PREFIX) == expected
    assert len(expected) == 295


def test_gpt_v1_keys_and_shapes(fixtures_dir, v2_config):
    v1 = copy.deepcopy(v2_config)
    v1["model"]["phoneme_vocab_size"] = 512  # s1longer.yaml differs only here (and inference.top_k)
    assert _ours(v1) == _manifest(fixtures_dir, "gpt_v1")


def test_parameter_count_matches_upstream(fixtures_dir, v2_config):
    data = json.loads((fixtures_dir / "manifests" / "gpt_v2.json").read_text())
    with torch.device("meta"):
        model = Text2SemanticDecoder(v2_config)
    assert sum(p.numel() for p in model.parameters()) == data["summary"]["num_parameters"]
