"""SoVITS training data: upstream's item rules with every skipped clip named, collate order/padding, bucket sampler."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from gpt_sovits.dataset.outputs import name2text_bytes, name2text_line, save_tensor
from gpt_sovits.dataset.sovits_data import BucketSampler, SoVITSDataset, collate, scan_items
from gpt_sovits.paths import ExperimentPaths
from gpt_sovits.train.sovits_step import epoch_lr

SR, HOP = 32000, 640
DATA_HPS = {"filter_length": 2048, "hop_length": HOP, "win_length": 2048, "sampling_rate": SR}


def _exp(tmp_path, clips: dict[str, float], hubert_short: set[str] = frozenset(), no_hubert=(), no_text=(),
         bad_phones=()) -> ExperimentPaths:
    """A formatted-looking experiment: clip name → seconds."""
    exp = ExperimentPaths(tmp_path / "exp")
    exp.hubert_dir.mkdir(parents=True)
    exp.wav32k_dir.mkdir(parents=True)
    lines = []
    rng = np.random.default_rng(0)
    for name, seconds in clips.items():
        n = int(seconds * SR)
        sf.write(exp.wav32k_dir / name, (rng.standard_normal(n) * 3000).astype(np.int16), SR, subtype="PCM_16")
        frames = n // HOP  # = spectrogram frames of this wave
        if name not in no_hubert:
            save_tensor(exp.hubert_dir / f"{name}.pt",
                        torch.randn(1, 768, frames - (1 if name in hubert_short else 0)).half())
        if name not in no_text:
            phones = ["XX_not_a_phone"] if name in bad_phones else ["AA1", "B", "IY1"]
            lines.append(name2text_line(name, phones, None, "abc"))
    exp.name2text.write_bytes(name2text_bytes(lines))
    return exp


def test_items_follow_upstream_rules_and_every_skip_is_named(tmp_path):
    exp = _exp(tmp_path, {"ok1.wav": 1.0, "ok2.wav": 2.0, "short.wav": 0.5, "edge.wav": 0.62, "long.wav": 39.0,
                          "nohub.wav": 1.0, "notext.wav": 1.0, "badph.wav": 1.0, "corrupt.wav": 1.0},
               no_hubert={"nohub.wav"}, no_text={"notext.wav"}, bad_phones={"badph.wav"})
    (exp.hubert_dir / "corrupt.wav.pt").write_bytes(b"not a tensor")
    data = scan_items(exp, SR, HOP)
    reasons = {s.name: s.reason for s in data.skipped}
    assert set(reasons) == {"short.wav", "edge.wav", "long.wav", "nohub.wav", "notext.wav", "badph.wav",
                            "corrupt.wav"}
    assert "unreadable" in reasons["corrupt.wav"]
    assert "duration" in reasons["short.wav"]
    assert "too short" in reasons["edge.wav"]  # passes upstream's 0.6 s filter, dropped by its buckets
    assert "too long" in reasons["long.wav"]
    assert "HuBERT" in reasons["nohub.wav"] and "text" in reasons["notext.wav"]
    assert "symbol table" in reasons["badph.wav"]
    assert data.unique == 2
    assert len(data.items) == 2 * 50  # upstream: repeated max(2, int(100 / n)) times
    assert {it.name for it in data.items} == {"ok1.wav", "ok2.wav"}
    assert len(scan_items(exp, SR, HOP, min_items=0).items) == 2


def test_dataset_pads_hubert_by_one_frame_and_collate_sorts_and_pads_even(tmp_path):
    exp = _exp(tmp_path, {"a.wav": 0.8, "b.wav": 1.3}, hubert_short={"b.wav"})
    data = scan_items(exp, SR, HOP, min_items=0)
    ds = SoVITSDataset(exp, sorted(data.items, key=lambda it: it.name), DATA_HPS)
    ssl_b, spec_b, wav_b = ds[1][:3]
    assert ds[1].sv_emb is None and collate([ds[0]]).sv_emb is None  # v2: no speaker embeddings
    assert ssl_b.shape[-1] == spec_b.shape[-1]
    assert torch.equal(ssl_b[..., -1], ssl_b[..., -2])  # replicated last frame
    batch = collate([ds[0], ds[1]])
    assert batch.names == ["b.wav", "a.wav"]  # longest first
    longest = int(batch.spec_lengths[0])
    assert batch.spec.shape[-1] == 2 * (longest // 2 + 1) == batch.ssl.shape[-1]
    assert batch.spec[1, :, int(batch.spec_lengths[1]):].abs().sum() == 0
    assert torch.equal(batch.wav[0, :, : wav_b.shape[-1]], wav_b)
    assert batch.text.dtype == torch.long and batch.text_lengths.tolist() == [3, 3]


def test_v2pro_items_need_a_speaker_embedding_and_collate_stacks_them(tmp_path):
    exp = _exp(tmp_path, {"a.wav": 0.8, "b.wav": 1.3, "nosv.wav": 1.0, "badsv.wav": 1.0})
    exp.sv_dir.mkdir()
    embs = {"a.wav": torch.randn(1, 20480), "b.wav": torch.randn(1, 20480).half()}  # fp16: 1A on a GPU with half
    for name, emb in embs.items():
        save_tensor(exp.sv_dir / f"{name}.pt", emb)
    save_tensor(exp.sv_dir / "badsv.wav.pt", torch.randn(1, 192))

    assert scan_items(exp, SR, HOP, "v2", min_items=0).unique == 4  # v2 does not read 7-sv_cn
    data = scan_items(exp, SR, HOP, "v2Pro", min_items=0)
    reasons = {s.name: s.reason for s in data.skipped}
    assert set(reasons) == {"nosv.wav", "badsv.wav"}
    assert "7-sv_cn" in reasons["nosv.wav"] and "speaker embedding" in reasons["badsv.wav"]

    ds = SoVITSDataset(exp, sorted(data.items, key=lambda it: it.name), DATA_HPS, "v2Pro")
    assert ds[0].sv_emb.shape == (1, 20480) and ds[1].sv_emb.dtype == torch.float32
    batch = collate([ds[0], ds[1]])
    assert batch.names == ["b.wav", "a.wav"] and batch.sv_emb.shape == (2, 20480)
    assert torch.equal(batch.sv_emb[0], embs["b.wav"][0].float()) and torch.equal(batch.sv_emb[1], embs["a.wav"][0])


def test_bucket_sampler_is_upstreams():
    lengths = [10, 40, 50, 60, 310, 320, 2000, 45, 55]
    sampler = BucketSampler(lengths, batch_size=2)
    assert sorted(i for b in sampler.buckets for i in b) == [1, 2, 3, 4, 5, 7, 8]  # ≤ 32 and > 1900 dropped
    sampler.set_epoch(3)
    first = list(sampler)
    assert len(first) == len(sampler) == 4  # bucket of 5 padded to 6, bucket of 2 stays 2
    for batch in first:
        assert len({lengths[i] > 300 for i in batch}) == 1  # one bucket per batch
    assert list(sampler) == first  # same epoch, same batches
    sampler.set_epoch(3, skip=1)
    assert list(sampler) == first[1:]
    ranks = [BucketSampler(lengths, 1, world_size=2, rank=r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 4


def test_epoch_lr_is_exponential_with_the_pre_step():
    assert epoch_lr(1e-4, 0.999875, 1) == 1e-4 * 0.999875
    assert epoch_lr(1e-4, 0.999875, 3) == pytest.approx(1e-4 * 0.999875 ** 3, rel=1e-15)
