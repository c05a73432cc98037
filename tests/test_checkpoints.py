"""Reading and writing upstream weight files: round trips, file layout, version detection, refusal of unsafe files."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from gpt_sovits.models.checkpoints import (
    CheckpointError,
    detect_sovits_version,
    load_gpt,
    load_sovits,
    load_sovits_pretrained_d,
    save_gpt_weights,
    save_sovits_weights,
)
from gpt_sovits.models.safe_load import HParamsBag, load_checkpoint, load_checkpoint_dict, read_version_header


@pytest.fixture(scope="module")
def sovits(reference_bundle):
    return load_sovits(reference_bundle / "sovits_tiny_weights.pth")


@pytest.fixture(scope="module")
def gpt(reference_bundle):
    return load_gpt(reference_bundle / "gpt_tiny_weights.ckpt")


def _raw(path: Path) -> dict:
    """Load with torch's plain weights_only loader: no allow-list at all (what any reader can do)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _with_header(src: bytes, header: bytes) -> bytes:
    assert src[:2] == b"PK"
    return header + src[2:]


def _bytes_of(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- loading upstream files
def test_bundle_files_load_with_upstream_versions(sovits, gpt, reference_bundle):
    assert sovits.version == "v2" and gpt.version == "v2"
    assert not sovits.model.training and not gpt.model.training
    assert sovits.info and gpt.info
    assert getattr(sovits.model, "enc_q", None) is None  # finetuned file: no posterior encoder
    assert all(p.dtype == torch.float32 for p in sovits.model.parameters())
    assert isinstance(sovits.hps["train"], dict) and sovits.hps["model"]["version"] == "v2"
    pretrained = load_sovits(reference_bundle / "sovits_tiny_pretrained_G.pth")
    assert pretrained.model.enc_q is not None
    d = load_sovits_pretrained_d(reference_bundle / "sovits_tiny_pretrained_D.pth")
    assert len(d.state_dict()) == len(load_checkpoint_dict(reference_bundle / "sovits_tiny_pretrained_D.pth")["weight"])


def test_hparams_config_becomes_plain_dicts(reference_bundle):
    data = load_checkpoint_dict(reference_bundle / "sovits_tiny_weights.pth")
    assert type(data["config"]) is dict and type(data["config"]["model"]) is dict

    def no_bags(x):
        assert not isinstance(x, HParamsBag)
        if isinstance(x, dict):
            for v in x.values():
                no_bags(v)

    no_bags(data["config"])


# ------------------------------------------------------------------------------------------- round trips
def test_sovits_round_trip_and_file_layout(sovits, reference_bundle, tmp_path):
    out = save_sovits_weights(sovits.model, sovits.hps, tmp_path / "exp_e8_s96.pth", "8epoch_96iteration")
    assert [p.name for p in tmp_path.iterdir()] == ["exp_e8_s96.pth"]  # atomic write left no temp file
    raw = _raw(out)  # loads without any allow-list: config is a plain dict
    assert set(raw) == {"weight", "config", "info"}
    assert raw["info"] == "8epoch_96iteration"
    assert type(raw["config"]) is dict and type(raw["config"]["model"]) is dict
    assert all(v.dtype == torch.float16 for v in raw["weight"].values())
    assert not any("enc_q" in k for k in raw["weight"])
    upstream_keys = set(load_checkpoint_dict(reference_bundle / "sovits_tiny_weights.pth")["weight"])
    assert set(raw["weight"]) == upstream_keys
    back = load_sovits(out)
    assert back.version == "v2"
    ours, theirs = sovits.model.state_dict(), back.model.state_dict()
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), k


def test_sovits_writer_drops_enc_q_from_pretrained_g(reference_bundle, tmp_path):
    pretrained = load_sovits(reference_bundle / "sovits_tiny_pretrained_G.pth")
    out = save_sovits_weights(pretrained.model.state_dict(), pretrained.hps, tmp_path / "g.pth", "1epoch_1iteration")
    assert not any("enc_q" in k for k in _raw(out)["weight"])


def test_gpt_round_trip_and_prefix(gpt, reference_bundle, tmp_path):
    out = save_gpt_weights(gpt.model, gpt.config, tmp_path / "exp-e15.ckpt", "GPT-e15")
    raw = _raw(out)
    assert raw["info"] == "GPT-e15" and type(raw["config"]) is dict
    upstream = load_checkpoint_dict(reference_bundle / "gpt_tiny_weights.ckpt")["weight"]
    assert list(raw["weight"]) == list(upstream)  # "model." prefix, same keys, same order
    assert all(v.dtype == torch.float16 for v in raw["weight"].values())
    for k, v in raw["weight"].items():
        assert torch.equal(v, upstream[k]), k
    back = load_gpt(out)
    for k, v in gpt.model.state_dict().items():
        assert torch.equal(v, back.model.state_dict()[k]), k

    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(11)

    phones = torch.randint(0, 700, (1, 9), generator=torch.Generator().manual_seed(0))
    bert = torch.zeros(1, 1024, 9)
    a = gpt.model.infer(phones, bert, None, top_k=15, generator=gen(), max_steps=20).y
    b = back.model.infer(phones, bert, None, top_k=15, generator=gen(), max_steps=20).y
    assert torch.equal(a, b)  # same seed → same sampled tokens


# ------------------------------------------------------------------------------------------- versions
def test_version_headers(reference_bundle, tmp_path):
    src = (reference_bundle / "sovits_tiny_weights.pth").read_bytes()
    v2_tagged = tmp_path / "tagged_v2.pth"
    v2_tagged.write_bytes(_with_header(src, b"01"))
    assert read_version_header(v2_tagged) == "01"
    assert load_checkpoint(v2_tagged).header == "01"
    assert load_sovits(v2_tagged).version == "v2"
    for header, name in ((b"03", "v3"), (b"04", "v4")):
        path = tmp_path / f"h{header.decode()}.pth"
        path.write_bytes(_with_header(src, header))
        with pytest.raises(CheckpointError, match=f"{name}.*not supported yet"):
            load_sovits(path)
        with pytest.raises(CheckpointError, match="not supported yet"):
            detect_sovits_version(path)
    for header, name in ((b"05", "v2Pro"), (b"06", "v2ProPlus")):  # a Pro header on v2 weights: no SV layers
        path = tmp_path / f"h{header.decode()}.pth"
        path.write_bytes(_with_header(src, header))
        with pytest.raises(CheckpointError, match=f"marked as a {name} file but has no sv_emb"):
            load_sovits(path)


def test_v1_detected_by_text_embedding_rows(reference_bundle, tmp_path):
    data = load_checkpoint_dict(reference_bundle / "sovits_tiny_weights.pth")
    w = data["weight"]
    hidden = w["enc_p.text_embedding.weight"].shape[1]
    w["enc_p.text_embedding.weight"] = torch.randn(322, hidden).half()
    style = w["ref_enc.spectral.0.fc.weight"].shape[0]
    w["ref_enc.spectral.0.fc.weight"] = torch.randn(style, 1025).half() * 0.02  # v1 reads all 1025 bins
    path = tmp_path / "v1.pth"
    path.write_bytes(_bytes_of(data))
    loaded = load_sovits(path)
    assert loaded.version == "v1" and loaded.hps["model"]["version"] == "v1"
    assert loaded.model.state_dict()["enc_p.text_embedding.weight"].shape[0] == 322


def test_gpt_v1_detected_from_config(gpt, tmp_path):
    config = {**gpt.config, "model": {**gpt.config["model"], "phoneme_vocab_size": 512}}
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

    path = save_gpt_weights(Text2SemanticDecoder(config), config, tmp_path / "v1.ckpt", "GPT-e1")
    assert load_gpt(path).version == "v1"


# ------------------------------------------------------------------------------------------- bad files
class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": {"enc_p.text_embedding.weight": torch.zeros(732, 4)}, "config": _RunsCode(marker)}, evil)
    # sanity: the file really would run the command under an unrestricted unpickler
    with zipfile.ZipFile(evil) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert b"system" in pkl
    for loader in (load_checkpoint_dict, load_sovits, load_gpt):
        with pytest.raises(CheckpointError, match="refused.*Nothing from it was executed"):
            loader(evil)
    assert not marker.exists()


def test_plain_pickle_with_reduce_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps({"weight": _RunsCode(marker)}, protocol=2))
    with pytest.raises(CheckpointError):
        load_checkpoint_dict(path)
    assert not marker.exists()


def test_missing_corrupt_and_wrong_kind_files(reference_bundle, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_sovits(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_gpt(junk)
    with pytest.raises(CheckpointError, match="SoVITS file, not a GPT"):
        load_gpt(reference_bundle / "sovits_tiny_weights.pth")
    with pytest.raises(CheckpointError, match="text_embedding"):
        load_sovits(reference_bundle / "gpt_tiny_weights.ckpt")
    noconf = tmp_path / "noconf.pth"
    noconf.write_bytes(_bytes_of({"weight": load_checkpoint_dict(reference_bundle / "sovits_tiny_weights.pth")["weight"]}))
    with pytest.raises(CheckpointError, match="no 'config'"):
        load_sovits(noconf)
