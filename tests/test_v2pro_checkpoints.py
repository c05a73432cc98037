"""v2Pro/v2ProPlus weight files: upstream's files from the v2Pro bundle load in ours, ours carry upstream's header
and load back, and the version is found from header, official md5, config or keys, never from the size."""

import hashlib
import io
import zipfile

import pytest
import torch

from gpt_sovits.models.checkpoints import (
    CheckpointError,
    detect_sovits_version,
    load_sovits,
    load_sovits_pretrained_d,
    save_sovits_weights,
)
from gpt_sovits.models.safe_load import load_checkpoint, load_checkpoint_dict

PRO = ("v2Pro", "v2ProPlus")
HEADERS = {"v2Pro": b"05", "v2ProPlus": b"06"}


def _files(bundle, version: str) -> dict:
    return {k: bundle / v for k, v in bundle_index_files(bundle)[version].items()}


def bundle_index_files(bundle) -> dict:
    import json

    return json.loads((bundle / "cases_index.json").read_text())["_meta"]["files"]


@pytest.mark.parametrize("version", PRO)
def test_upstream_files_load(v2pro_bundle, version):
    files = _files(v2pro_bundle, version)
    assert files["weights"].read_bytes()[:2] == HEADERS[version]
    finetuned = load_sovits(files["weights"])
    assert finetuned.version == version and finetuned.needs_sv
    assert finetuned.hps["model"]["version"] == version
    assert finetuned.model.is_pro and getattr(finetuned.model, "enc_q", None) is None
    pretrained = load_sovits(files["G"])  # plain zip, not in upstream's md5 table: found by its SV layers
    assert pretrained.version == version and pretrained.model.enc_q is not None
    d = load_sovits_pretrained_d(files["D"], version=version)
    assert len(d.discriminators) == 8  # scale + periods 2, 3, 5, 7, 11, 17, 23


@pytest.mark.parametrize("version", PRO)
def test_our_files_carry_upstream_header_and_load_back(v2pro_bundle, version, tmp_path):
    upstream_path = _files(v2pro_bundle, version)["weights"]
    loaded = load_sovits(upstream_path)
    out = save_sovits_weights(loaded.model, loaded.hps, tmp_path / "exp_e8_s96.pth", "8epoch_96iteration")
    raw = out.read_bytes()
    assert raw[:2] == HEADERS[version]
    with zipfile.ZipFile(io.BytesIO(b"PK" + raw[2:])) as z:  # upstream restores "PK" and torch.loads
        assert z.namelist()[0].startswith("archive/")
    ours, theirs = load_checkpoint_dict(out), load_checkpoint_dict(upstream_path)
    assert list(ours["weight"]) == list(theirs["weight"])
    for k, v in theirs["weight"].items():
        assert ours["weight"][k].dtype == torch.float16 and torch.equal(ours["weight"][k], v), k
    assert ours["info"] == "8epoch_96iteration" and type(ours["config"]) is dict
    back = load_sovits(out)
    assert back.version == version
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, back.model.state_dict()[k]), k


def test_version_detection_does_not_use_file_size(v2pro_bundle, tmp_path):
    # the same weights, re-tagged as a plain zip and padded far beyond any size rule: still found by keys/config
    padded = tmp_path / "plain.pth"
    data = load_checkpoint_dict(_files(v2pro_bundle, "v2ProPlus")["weights"])
    buf = io.BytesIO()
    torch.save({**data, "padding": torch.zeros(3_000_000, dtype=torch.uint8)}, buf)
    padded.write_bytes(buf.getvalue())
    assert detect_sovits_version(padded) == "v2ProPlus"
    # without a config naming it, the decoder's first kernel (ProPlus: 20 taps) tells the two apart
    for version in PRO:
        data = load_checkpoint_dict(_files(v2pro_bundle, version)["weights"])
        data["config"]["model"].pop("version", None)
        path = tmp_path / f"noversion_{version}.pth"
        torch.save(data, path)
        assert detect_sovits_version(path) == version


def test_official_md5_names_the_version(v2pro_bundle, tmp_path, monkeypatch):
    """A file whose first 8192 bytes hash to an official pretrained G is that version (upstream's first rule)."""
    from gpt_sovits.models import checkpoints

    path = _files(v2pro_bundle, "v2Pro")["G"]
    head = hashlib.md5(path.read_bytes()[:8192]).hexdigest()
    monkeypatch.setitem(checkpoints._PRETRAINED_HASHES, head, "v2ProPlus")
    assert detect_sovits_version(path) == "v2ProPlus"  # the table wins over the keys' guess
    monkeypatch.setitem(checkpoints._PRETRAINED_HASHES, head, "v3")
    with pytest.raises(CheckpointError, match="v3.*not supported yet"):
        detect_sovits_version(path)


def test_pro_header_is_written_only_for_pro_models(reference_bundle, tmp_path):
    v2 = load_sovits(reference_bundle / "sovits_tiny_weights.pth")
    out = save_sovits_weights(v2.model, v2.hps, tmp_path / "v2.pth", "1epoch_1iteration")
    assert out.read_bytes()[:2] == b"PK" and load_checkpoint(out).header is None
    with pytest.raises(CheckpointError, match="no sv_emb"):
        save_sovits_weights(v2.model, v2.hps, tmp_path / "fake.pth", "x", version="v2Pro")


def test_pro_model_refuses_a_reference_without_its_sv_embedding(v2pro_bundle):
    model = load_sovits(_files(v2pro_bundle, "v2Pro")["weights"]).model
    spec = torch.rand(1, 1025, 20)
    with pytest.raises(ValueError, match="speaker-verification embedding"):
        model.reference_embedding(spec)
    with pytest.raises(ValueError, match="2 reference spectrograms but 1 SV embeddings"):
        model.decode(torch.zeros(1, 1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long), [spec, spec],
                     sv_emb=[torch.zeros(1, 20480)])
    assert model.reference_embedding(spec, sv_emb=torch.zeros(1, 20480)).shape == (1, model.gin_channels, 1)
