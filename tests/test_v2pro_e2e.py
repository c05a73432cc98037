"""A tiny v2Pro experiment end to end on CPU: formatting writes 7-sv_cn/ (incrementally, and not for v2), one epoch
of SoVITS training reads those embeddings and writes v2Pro weights with upstream's header, one GPT epoch starts from
s1v3.ckpt, and the trained pair synthesises through the inference pipeline.

v2ProPlus is not trained here: it is the same code path with another config and header, and a SoVITS step with the
full-size discriminator costs ~10 s of CPU (tests/test_train_versions.py checks the version rules, the header is
test_v2pro_checkpoints.py's).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_helpers import CLIPS, make_clips, write_list
from gpt_sovits.dataset.format import FormatOptions, format_dataset
from gpt_sovits.dataset.readers import formatted_version
from gpt_sovits.dataset.steps import HUBERT, SEMANTIC, SV, TEXT
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.infer.weights import list_sovits_weights
from gpt_sovits.models.checkpoints import load_sovits, read_sovits_state
from gpt_sovits.models.safe_load import load_checkpoint
from gpt_sovits.paths import HUBERT_DIR, BERT_DIR, ProjectPaths
from gpt_sovits.tiny import write_tiny_pro
from gpt_sovits.tiny.models import TINY_S2_BY_VERSION
from gpt_sovits.train.gpt import GPTTrainOptions, train as train_gpt
from gpt_sovits.train.sovits import SoVITSTrainOptions, train_sovits
from infer_helpers import espeak_reference

EN = [c for c in CLIPS if c.lang.lower() == "en"][:2]
SEGMENT_FRAMES = 4  # a short training segment: the full-size discriminator is the cost of a step


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


@pytest.fixture(scope="module")
def pro_trained(pro_root, tmp_path_factory) -> dict[str, Path]:
    """The experiment "protrain" formatted as v2Pro (the SV step comes with the audio step) and trained one epoch by
    the SoVITS trainer (one step) and by the GPT trainer, neither told the version (it comes from the formatting)."""
    work = tmp_path_factory.mktemp("pro_train")
    make_clips(work / "clips", EN)
    options = FormatOptions(list_path=write_list(work / "protrain.list", work / "clips", EN), exp_name="protrain",
                            root=pro_root, version="v2Pro", steps=(TEXT, HUBERT, SEMANTIC))
    report = format_dataset(options)
    assert report.succeeded and len(report.step(SV).computed) == len(EN), report.summary()
    assert formatted_version(ProjectPaths(pro_root).experiment("protrain")) == "v2Pro"  # what the trainers default to
    hps = json.loads(TINY_S2_BY_VERSION["v2Pro"].read_text())
    hps["train"]["segment_size"] = SEGMENT_FRAMES * hps["data"]["hop_length"]
    config = work / "s2_v2Pro.json"
    config.write_text(json.dumps(hps))
    log: list[str] = []
    outcome = train_sovits(SoVITSTrainOptions(root=pro_root, exp="protrain", epochs=1, batch_size=2, save_every=1,
                                              device="cpu", config=config, min_items=0, threads=1),
                           reporter_log=log.append)
    assert outcome.status == "finished" and len(outcome.weights) == 1, "\n".join(log)
    out = {"v2Pro": Path(outcome.weights[0]), "log": "\n".join(log)}
    gpt = train_gpt(GPTTrainOptions(root=pro_root, exp="protrain", epochs=1, batch_size=2, save_every=1,
                                    device="cpu", min_items=0))
    assert gpt.status == "finished" and len(gpt.weights) == 1
    out["gpt"] = Path(gpt.weights[0])
    return out


@pytest.mark.slow
def test_v2pro_experiment_trains_and_writes_upstreams_weight_files(pro_root, pro_trained):
    paths = ProjectPaths(pro_root)
    weights = pro_trained["v2Pro"]
    assert weights == paths.sovits_weights_dir("v2Pro") / "protrain_e1_s1.pth"
    assert weights.read_bytes()[:2] == b"05" and weights in list_sovits_weights(paths)
    loaded = load_sovits(weights)
    assert loaded.version == "v2Pro" and loaded.hps["model"]["version"] == "v2Pro"
    # the stored embeddings reached the SV projection: AdamW's first step moves every weight with a gradient by ~lr,
    # visible in the fp16 file (zero embeddings would give a zero gradient, and weight decay alone stays below fp16)
    pretrained, _, _ = read_sovits_state(paths.pretrained_sovits_g("v2Pro"))
    trained = loaded.model.state_dict()["sv_emb.weight"]
    assert (trained.half() != pretrained["sv_emb.weight"].half()).float().mean() > 0.5
    # upstream's v2Pro discriminator (scale + 7 periods) was trained and saved for resuming
    d_state = load_checkpoint(paths.experiment("protrain").sovits_logs("v2Pro") / "D_1.pth").data["model"]
    assert {k.split(".")[1] for k in d_state} == {str(i) for i in range(8)}
    assert "skipped" not in pro_trained["log"] and "formatted (1A)" not in pro_trained["log"]
    assert pro_trained["gpt"] == paths.gpt_weights_dir("v2Pro") / "protrain-e1.ckpt"  # from s1v3.ckpt, v2's GPT


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
def test_trained_v2pro_weights_synthesise_through_the_pipeline(pro_root, pro_trained, tmp_path):
    paths = ProjectPaths(pro_root)
    finetuned = pro_trained["v2Pro"]
    ref = espeak_reference(tmp_path / "ref.wav", seconds=3.5)
    pipeline = TTSPipeline(paths, device="cpu")
    pipeline.load_gpt(pro_trained["gpt"])
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
