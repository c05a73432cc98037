"""v1 models finetune like upstream's v1: an experiment 1A formatted with the v1 symbols trains upstream's v1 SoVITS
(s2G488k/s2D488k) and v1 GPT (a 512-phone table) into weights/SoVITS_weights/ and weights/GPT_weights/ (no version
suffix, as upstream), and the pair speaks through the inference CLI. Tiny random models; 4 espeak-ng clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from dataset_helpers import CLIPS, make_clips, write_list
from infer_helpers import REF_TEXT, espeak_reference

from gpt_sovits.audio.io import load_audio
from gpt_sovits.dataset.format import FormatOptions, format_dataset
from gpt_sovits.dataset.readers import formatted_version, read_name2text
from gpt_sovits.models.checkpoints import load_gpt, load_sovits, save_gpt_weights
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.paths import PRETRAINED_GPT, PRETRAINED_SOVITS_D, PRETRAINED_SOVITS_G, ProjectPaths
from gpt_sovits.text.cleaner import cleaned_text_to_sequence
from gpt_sovits.tiny.models import TINY_S2, tiny_s1_config, write_tiny_sovits
from gpt_sovits.train.control import TrainingError
from gpt_sovits.train.gpt import GPTTrainOptions, train
from gpt_sovits.train.plan import TrainerSettings, default_version, version_files
from gpt_sovits.train.sovits import SoVITSTrainOptions, train_sovits

EXP = "old"
FOUR = [c for c in CLIPS if c.lang.lower() == "zh"][:2] + [c for c in CLIPS if c.lang.lower() == "en"][:2]
SEGMENT_FRAMES = 4  # a short training segment: the full-size discriminator is the cost of a step


@pytest.fixture(scope="module")
def root(tiny_pretrained, tmp_path_factory) -> Path:
    """The tiny models plus tiny v1 SoVITS G/D and a v1 GPT (no inference section: the v1 defaults fill it), and
    `old` formatted by 1A for v1."""
    work = tmp_path_factory.mktemp("v1")
    root = work / "root"
    models = root / "pretrained_models"
    models.mkdir(parents=True)
    for item in (Path(tiny_pretrained) / "pretrained_models").iterdir():
        (models / item.name).symlink_to(item, target_is_directory=item.is_dir())
    write_tiny_sovits(models / PRETRAINED_SOVITS_G["v1"], models / PRETRAINED_SOVITS_D["v1"], 20, version="v1")
    config = tiny_s1_config()
    config["model"]["phoneme_vocab_size"] = 512
    config["data"]["max_sec"] = 6  # the clips are shorter; inference stops the random GPT after 6 s of tokens
    del config["inference"]
    torch.manual_seed(7)
    save_gpt_weights(Text2SemanticDecoder(config), config, models / PRETRAINED_GPT["v1"], "GPT-tiny-v1")
    make_clips(work / "clips", FOUR)
    report = format_dataset(FormatOptions(list_path=write_list(work / f"{EXP}.list", work / "clips", FOUR),
                                          exp_name=EXP, root=root, threads=1, version="v1"))
    assert report.succeeded, report.summary()
    hps = json.loads(TINY_S2.read_text())
    hps["train"]["segment_size"] = SEGMENT_FRAMES * hps["data"]["hop_length"]
    (work / "s2_v1_test.json").write_text(json.dumps(hps))
    return root


@pytest.mark.slow
def test_v1_experiment_trains_both_models_into_upstreams_v1_folders_and_they_speak(root, tmp_path):
    paths = ProjectPaths(root)
    exp = paths.experiment(EXP)
    assert formatted_version(exp) == "v1"
    assert max(i for row in read_name2text(exp.name2text).values()
               for i in cleaned_text_to_sequence(row.phones, "v1")) < 512

    # no --version: both trainers take the one 1A recorded
    sovits = train_sovits(SoVITSTrainOptions(root=root, exp=EXP, epochs=1, batch_size=2, device="cpu", min_items=0,
                                             config=root.parent / "s2_v1_test.json"), reporter_log=lambda *a: None)
    assert sovits.status == "finished" and len(sovits.weights) == 1
    sovits_file = Path(sovits.weights[0])
    assert sovits_file.parent == paths.sovits_weights_dir("v1") and sovits_file.parent.name == "SoVITS_weights"
    assert load_sovits(sovits_file).version == "v1"

    gpt = train(GPTTrainOptions(root=root, exp=EXP, epochs=1, save_every=1, batch_size=2, device="cpu", min_items=0))
    gpt_file = paths.gpt_weights_dir("v1") / f"{EXP}-e1.ckpt"
    assert gpt.status == "finished" and gpt.items == 4 and not gpt.dropped and gpt.weights == [str(gpt_file)]
    assert gpt_file.parent.name == "GPT_weights" and (exp.gpt_logs("v1") / "ckpt").is_dir()
    loaded = load_gpt(gpt_file)
    assert loaded.version == "v1" and loaded.config["inference"]["top_k"] == 5  # s1longer.yaml's
    assert loaded.model.ar_text_embedding.word_embeddings.weight.shape[0] == 512

    ref = espeak_reference(tmp_path / "ref.wav")
    out = tmp_path / "out.wav"
    done = subprocess.run([sys.executable, "-m", "gpt_sovits", "infer", "--root", str(root), "--gpt", str(gpt_file),
                           "--sovits", str(sovits_file), "--ref", str(ref), "--ref-text", REF_TEXT, "--ref-lang",
                           "all_zh", "--text", "你好世界。", "--text-lang", "all_zh", "--out", str(out), "--seed", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    audio = load_audio(out, 32000)
    assert audio.size > 0 and float(abs(audio).max()) > 0


def test_a_v1_run_refuses_a_v2_gpt_with_a_sentence(root):
    with pytest.raises(TrainingError, match="is a v2 GPT .* trains v1"):
        train(GPTTrainOptions(root=root, exp=EXP, epochs=1, batch_size=2, device="cpu", min_items=0,
                              pretrained=ProjectPaths(root).pretrained_gpt("v2")))


def test_the_train_tab_offers_v1_for_a_v1_experiment(root, tmp_path):
    from gpt_sovits.ui.context import UiContext
    from gpt_sovits.ui.tabs.train import VERSIONS, version_markdown

    paths = ProjectPaths(root)
    assert "v1" in VERSIONS and default_version(paths, EXP) == "v1" and version_files(paths, "v1").ready
    assert version_markdown(UiContext.create(str(root)), "v1") == ""  # nothing missing
    note = version_markdown(UiContext.create(str(tmp_path)), "v1")  # an empty root: which file goes where
    assert all(name in note for name in ("s2G488k.pth", "s2D488k.pth", PRETRAINED_GPT["v1"]))
    settings = TrainerSettings(epochs=1, batch_size=2, save_every=1, version="v1")
    for trainer in ("sovits", "gpt"):
        args = settings.args(trainer)
        assert args[args.index("--version") + 1] == "v1"
