"""The tiny random pretrained_models/: upstream names, real loaders, the pipeline's fixed widths, determinism."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_sovits.models.checkpoints import load_gpt, load_sovits, load_sovits_pretrained_d
from gpt_sovits.paths import ProjectPaths

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paths(tiny_pretrained) -> ProjectPaths:
    return ProjectPaths(tiny_pretrained)


def test_files_under_upstream_names(paths):
    for folder in (paths.hubert_dir(), paths.bert_dir()):
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert (paths.bert_dir() / "tokenizer.json").is_file() or (paths.bert_dir() / "vocab.txt").is_file()
    for f in (paths.pretrained_sovits_g("v2"), paths.pretrained_sovits_d("v2"), paths.pretrained_gpt("v2")):
        assert f.is_file() and f.stat().st_size > 0
    whisper = paths.whisper_dirs("tiny")[0]
    assert (whisper / "model.bin").is_file() and (whisper / "config.json").is_file()


def test_checkpoints_load_with_our_loaders(paths):
    g = load_sovits(paths.pretrained_sovits_g("v2"))
    assert g.version == "v2" and g.model.enc_q is not None  # pretrained G keeps enc_q
    load_sovits_pretrained_d(paths.pretrained_sovits_d("v2"))
    gpt = load_gpt(paths.pretrained_gpt("v2"))
    assert gpt.version == "v2" and gpt.model.bert_proj.in_features == 1024


@pytest.mark.slow  # loads transformers
def test_feature_extractors_have_pipeline_widths(paths):
    from gpt_sovits.models.bert import BertFeatureExtractor
    from gpt_sovits.models.hubert import HubertFeatureExtractor

    hubert = HubertFeatureExtractor.from_pretrained(paths.hubert_dir())
    wav = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    ssl = hubert.features(wav)
    assert ssl.shape[:2] == (1, 768) and abs(ssl.shape[2] - 50) <= 1  # 50 Hz
    bert = BertFeatureExtractor.from_pretrained(paths.bert_dir())
    text = "今天天气真不错,我们去公园吧!"
    feats = bert.phone_features(text, [2] * len(text))
    assert feats.shape == (1024, 2 * len(text)) and torch.isfinite(feats).all()


@pytest.mark.slow
def test_tiny_pipeline_runs_end_to_end(paths):
    from gpt_sovits.audio.spectrogram import spectrogram
    from gpt_sovits.models.hubert import HubertFeatureExtractor

    hubert = HubertFeatureExtractor.from_pretrained(paths.hubert_dir())
    sovits = load_sovits(paths.pretrained_sovits_g("v2")).model
    gpt = load_gpt(paths.pretrained_gpt("v2")).model
    wav16 = np.random.default_rng(1).standard_normal(16000 * 3).astype(np.float32) * 0.1
    codes = sovits.extract_latent(hubert.reference_features(wav16))  # [1, 1, T25]
    assert codes.min() >= 0 and codes.max() < 1024
    phones = torch.randint(1, 700, (1, 12), generator=torch.Generator().manual_seed(0))
    res = gpt.infer(phones, torch.zeros(1, 1024, 12), codes[0, 0][None], top_k=15, max_steps=30,
                    generator=torch.Generator().manual_seed(0))
    wav32 = torch.from_numpy(np.random.default_rng(2).standard_normal(32000).astype(np.float32) * 0.1)
    refer = spectrogram(wav32[None], 2048, 640, 2048)
    audio = sovits.decode(res.pred_semantic[None], phones[:, 6:], [refer], noise_scale=0.5)
    assert audio.shape[:2] == (1, 1) and audio.shape[2] == res.pred_semantic.shape[1] * 1280
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


def test_same_seed_writes_same_bytes(tmp_path):
    from gpt_sovits.tiny.models import write_tiny_gpt

    a = write_tiny_gpt(tmp_path / "a.ckpt", seed=5).read_bytes()
    b = write_tiny_gpt(tmp_path / "b.ckpt", seed=5).read_bytes()
    c = write_tiny_gpt(tmp_path / "c.ckpt", seed=6).read_bytes()
    assert a == b and a != c


def test_writer_leaves_global_rng_alone(tmp_path):
    from gpt_sovits.tiny.models import write_tiny_gpt

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    write_tiny_gpt(tmp_path / "x.ckpt", seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_cli_help():
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "make_tiny_models.py"), "--help"], check=False,
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.returncode == 0 and "OUT_DIR" in proc.stdout.upper()
