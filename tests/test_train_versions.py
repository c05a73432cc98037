"""Which version a training run trains, and the refusals that keep a v2Pro/v2ProPlus run from starting on the wrong
data or the wrong pretrained file (cheap: no training step runs here)."""

from __future__ import annotations

import json

import pytest
import torch

from gpt_sovits.dataset.readers import MissingFormattedData
from gpt_sovits.models.safe_load import CheckpointError
from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.tiny.models import tiny_s2_config
from gpt_sovits.train.control import TrainingError
from gpt_sovits.train.sovits import SoVITSTrainOptions, default_config, train_sovits
from gpt_sovits.train.sovits_init import initialise
from gpt_sovits.train.versions import GPT_VERSIONS, SOVITS_VERSIONS, training_version, version_note


def _formatted_looking(tmp_path, name="voice", version: str | None = None, sv: bool = False):
    """An experiment with one file in each of 1A's SoVITS outputs (enough for the checks made before loading)."""
    exp = ProjectPaths(tmp_path).experiment(name)
    for folder in (exp.hubert_dir, exp.wav32k_dir):
        folder.mkdir(parents=True)
    (exp.hubert_dir / "a.wav.pt").write_bytes(b"x")
    (exp.wav32k_dir / "a.wav").write_bytes(b"x")
    exp.name2text.write_text("a.wav\tAA1\t\tabc\n", encoding="utf-8")
    if sv:
        exp.sv_dir.mkdir()
        (exp.sv_dir / "a.wav.pt").write_bytes(b"x")
    if version is not None:
        exp.format_source.write_text(json.dumps({"list": "x.list", "version": version}))
    return exp


def test_version_comes_from_formatting_unless_asked_and_a_mismatch_is_warned(tmp_path):
    plain = _formatted_looking(tmp_path, "plain")
    assert training_version(plain, None, SOVITS_VERSIONS) == "v2"  # nothing recorded: v2
    pro = _formatted_looking(tmp_path, "pro", version="v2Pro", sv=True)
    assert training_version(pro, None, SOVITS_VERSIONS) == "v2Pro" and version_note(pro, "v2Pro", "sovits") is None
    assert training_version(pro, "v2ProPlus", SOVITS_VERSIONS) == "v2ProPlus"
    note = version_note(pro, "v2ProPlus", "gpt")
    assert "formatted (1A) for v2Pro" in note and "semantic tokens" in note

    unrecorded = _formatted_looking(tmp_path, "old", sv=True)  # embeddings, but v2Pro or v2ProPlus?
    with pytest.raises(TrainingError, match="--version v2Pro or --version v2ProPlus"):
        training_version(unrecorded, None, SOVITS_VERSIONS)
    assert training_version(plain, "v1", GPT_VERSIONS) == "v1"  # both trainers train v1 too
    with pytest.raises(TrainingError, match="not 'v4'"):
        training_version(plain, "v4", GPT_VERSIONS)
    assert default_config("v2ProPlus").name == "s2v2ProPlus.json" and default_config("v1").name == "s2.json"


def test_v2pro_run_on_data_without_speaker_embeddings_is_refused(tmp_path):
    _formatted_looking(tmp_path, "voice")
    with pytest.raises(MissingFormattedData, match="7-sv_cn"):
        train_sovits(SoVITSTrainOptions(root=tmp_path, exp="voice", version="v2Pro", device="cpu"))


def test_pretrained_g_of_another_version_is_refused_with_its_version(tiny_pretrained):
    paths = ProjectPaths(tiny_pretrained)
    hps = tiny_s2_config("v2Pro")
    net_g, net_d = build_synthesizer(hps, "v2Pro"), build_discriminator(hps, "v2Pro")
    with pytest.raises(CheckpointError, match=r"SoVITS v2 file; the experiment trains v2Pro"):
        initialise(net_g, net_d, paths.pretrained_sovits_g("v2"), None, "v2Pro")
    assert len(net_d.discriminators) == 8  # scale + periods 2, 3, 5, 7, 11, 17, 23
    # upstream trains v2Pro with the reference encoder's hard-coded dropouts on, though p_dropout is 0
    assert hps["model"]["p_dropout"] == 0.0
    ref_dropouts = [m.p for m in net_g.ref_enc.modules() if isinstance(m, torch.nn.Dropout)]
    assert ref_dropouts and all(p == 0.1 for p in ref_dropouts)
