"""A tiny v2Pro experiment end to end on CPU: formatting writes 7-sv_cn/ (incrementally, and not for v2), a v2Pro
weight file with upstream's header is picked up by the weight list and synthesises through the inference pipeline.

SoVITS training of a v2Pro experiment is not covered here: the trainer lives elsewhere; the weight file below is
the tiny pretrained G saved the way a finetuned file is saved.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_helpers import CLIPS, make_clips, write_list
from gpt_sovits.dataset.format import FormatOptions, format_dataset
from gpt_sovits.dataset.steps import SV
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.infer.weights import list_sovits_weights
from gpt_sovits.models.checkpoints import load_sovits, save_sovits_weights
from gpt_sovits.paths import HUBERT_DIR, BERT_DIR, ProjectPaths
from gpt_sovits.tiny import write_tiny_pro
from infer_helpers import espeak_reference

EN = [c for c in CLIPS if c.lang.lower() == "en"][:2]


@pytest.fixture(scope="module")
def pro_root(tiny_pretrained, tmp_path_factory) -> Path:
    """A data root with the shared tiny HuBERT/BERT and the tiny v2Pro files (G/D, s1v3 GPT, SV model)."""
    root = tmp_path_factory.mktemp("pro_root")
    models = root / "pretrained_models"
    models.mkdir()
    for name in (HUBERT_DIR, BERT_DIR):
        (models / name).symlink_to(tiny_pretrained / "pretrained_models" / name)
    write_tiny_pro(models, "v2Pro")
    return root


@pytest.mark.slow  # espeak clips, tiny HuBERT and the full-size SV network on CPU
def test_formatting_writes_sv_embeddings_incrementally(pro_root, tmp_path):
    clips = tmp_path / "clips"
    make_clips(clips, EN)
    list_path = write_list(tmp_path / "pro.list", clips, EN)
    options = FormatOptions(list_path=list_path, exp_name="pro", root=pro_root, version="v2Pro")
    report = format_dataset(options)
    assert report.succeeded, report.summary()
    exp = ProjectPaths(pro_root).experiment("pro")
    assert sorted(report.step(SV).computed) == sorted(c.name for c in EN)
    for clip in EN:
        emb = torch.load(exp.sv_dir / f"{clip.name}.pt", map_location="cpu", weights_only=True)
        assert emb.shape == (1, 20480) and emb.dtype == torch.float32 and torch.isfinite(emb).all()
    assert exp.name2semantic.is_file()

    again = format_dataset(options)  # unchanged list: nothing recomputed
    assert again.step(SV).reused == len(EN) and not again.step(SV).computed

    write_list(list_path, clips, EN[:1])  # a line leaves the list: its embedding goes with it
    format_dataset(options)
    assert not (exp.sv_dir / f"{EN[1].name}.pt").exists() and (exp.sv_dir / f"{EN[0].name}.pt").exists()

    v2 = format_dataset(FormatOptions(list_path=list_path, exp_name="plain", root=pro_root, version="v2",
                                      steps=("hubert", "sv"), pretrained_s2g=ProjectPaths(pro_root)
                                      .pretrained_sovits_g("v2Pro")))
    assert [s.step for s in v2.steps] == ["hubert"]  # the SV step is skipped for v1/v2 experiments
    assert not ProjectPaths(pro_root).experiment("plain").sv_dir.exists()


@pytest.mark.slow
def test_v2pro_weights_synthesise_through_the_pipeline(pro_root, tmp_path):
    paths = ProjectPaths(pro_root)
    pretrained = load_sovits(paths.pretrained_sovits_g("v2Pro"))
    finetuned = save_sovits_weights(pretrained.model, pretrained.hps,
                                    paths.sovits_weights_dir("v2Pro") / "tiny_e1_s1.pth", "1epoch_1iteration")
    assert finetuned.read_bytes()[:2] == b"05" and finetuned in list_sovits_weights(paths)

    ref = espeak_reference(tmp_path / "ref.wav", seconds=3.5)
    pipeline = TTSPipeline(paths, device="cpu")
    pipeline.load_gpt(paths.pretrained_gpt("v2Pro"))
    pipeline.load_sovits(finetuned)
    assert pipeline.version == "v2Pro"
    req = TTSRequest(text="Hello there.", text_lang="en", ref_audio_path=ref, prompt_text="ni hao.",
                     prompt_lang="en", seed=3, top_k=5)
    result = pipeline.synthesize(req)
    assert result.audio.dtype == np.int16 and result.audio.size > 0 and np.abs(result.audio).max() > 0
    spec, emb = pipeline.reference(ref)
    assert emb is not None and emb.shape == (1, 20480)  # the reference's SV embedding, cached with it

    two = pipeline.synthesize(TTSRequest(**{**req.__dict__, "aux_ref_audio_paths": [ref, ref]}))
    assert two.audio.size > 0
