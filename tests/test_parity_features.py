"""HuBERT and BERT feature parity with upstream (bundle cases f_hubert_infer, f_hubert_prep, g_bert_feature).

Inputs, parameters and expected outputs come from $GSV_REFERENCE_BUNDLE; nothing here hard-codes shapes or values.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gpt_sovits.models.bert import BertFeatureExtractor
from gpt_sovits.models.hubert import (
    HubertFeatureExtractor,
    ModelFolderError,
    prep_hubert_input,
    prep_wav32_int16,
    reference_input,
)


def close(actual, expected) -> float:
    """CASES.md acceptance: |a-b| <= 1e-4 + 1e-4|b|; returns max |a-b|."""
    actual = torch.as_tensor(np.asarray(actual) if not torch.is_tensor(actual) else actual).float()
    expected = torch.as_tensor(np.asarray(expected) if not torch.is_tensor(expected) else expected).float()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual - expected).abs()
    assert bool((diff <= 1e-4 + 1e-4 * expected.abs()).all()), f"max |diff| {diff.max().item():.3g}"
    return diff.max().item()


@pytest.fixture(scope="module")
def cases(reference_bundle: Path) -> dict[str, torch.Tensor]:
    return load_file(str(reference_bundle / "cases.safetensors"))


@pytest.fixture(scope="module")
def index(reference_bundle: Path) -> dict:
    return json.loads((reference_bundle / "cases_index.json").read_text())


@pytest.fixture(scope="module")
def hubert(reference_bundle: Path) -> HubertFeatureExtractor:
    return HubertFeatureExtractor.from_pretrained(reference_bundle / "hubert_tiny")


def _value(index: dict, case: str, name: str):
    return next(e["value"] for e in index[case]["inputs"] if e["name"] == f"{case}.{name}")


@pytest.mark.slow  # loads transformers
def test_hubert_inference_path(hubert, cases, index):
    case = "f_hubert_infer"
    pause = index[case]["params"]["pause_second"]
    wav = cases[f"{case}.wav16k"]
    padded = reference_input(wav.numpy(), pause)
    assert padded.shape[1] == wav.numel() + int(32000 * pause)
    ssl = hubert.reference_features(wav.numpy(), pause)
    print("hubert infer max|diff|", close(ssl, cases[f"{case}.ssl"]))


@pytest.mark.slow  # loads transformers
def test_hubert_data_prep_path(hubert, cases):
    case = "f_hubert_prep"
    wav32 = cases[f"{case}.wav32"].numpy()
    assert np.array_equal(prep_wav32_int16(wav32), cases[f"{case}.wav32_int16"].numpy())
    print("16k input max|diff|", close(prep_hubert_input(wav32), cases[f"{case}.hubert_input_16k"]))
    print("hubert prep max|diff|", close(hubert.prep_features(wav32), cases[f"{case}.ssl"]))


@pytest.mark.slow  # loads transformers
def test_bert_phone_features(reference_bundle, cases, index):
    case = "g_bert_feature"
    bert = BertFeatureExtractor.from_pretrained(reference_bundle / "bert_tiny")
    norm_text = _value(index, case, "norm_text")
    ids = bert.tokenizer(norm_text, return_tensors="pt")["input_ids"]
    assert torch.equal(ids, cases[f"{case}.input_ids"])
    word2ph = cases[f"{case}.word2ph"].tolist()
    feature = bert.phone_features(norm_text, word2ph)
    assert feature.shape == (bert.hidden_size, sum(word2ph))
    print("bert max|diff|", close(feature, cases[f"{case}.feature"]))
    with pytest.raises(ValueError, match="word2ph"):
        bert.phone_features(norm_text, word2ph[:-1])


def test_missing_folders_name_the_expected_files(tmp_path):
    with pytest.raises(ModelFolderError, match="chinese-hubert-base.*config.json"):
        HubertFeatureExtractor.from_pretrained(tmp_path / "nope")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text("{}")
    with pytest.raises(ModelFolderError, match="missing .*pytorch_model.bin.*tokenizer.json or vocab.txt"):
        BertFeatureExtractor.from_pretrained(tmp_path / "bert")
