"""A project root with v2-size random weights, for timing the real pipeline without upstream's files.

    python -m bench.v2_root DIR [--encoders full|tiny] [--tiny]

Writes, under upstream's names and in upstream's file formats (so `TTSPipeline` loads it like a user's root):
* `weights/GPT_weights_v2/bench-v2-random.ckpt`: the v2 GPT (configs/s1longer-v2.yaml, 77 M parameters) with the
  EOS row of its output layer zeroed — random weights would stop at a random step; with that row zero the EOS logit
  is 0 and never wins, so the pipeline's early-stop budget fixes the length;
* `weights/SoVITS_weights_v2/bench-v2-random.pth`: the v2 SoVITS G (configs/s2.json), codebook initialised;
* `pretrained_models/chinese-hubert-base` and `chinese-roberta-wwm-ext-large`: at full size (HuBERT base, BERT large
  with a 21128-entry vocabulary, fp32 as upstream ships them) with `--encoders full`, else the tests' tiny ones;
* `ref.wav`: a 5 s 32 kHz reference (tones and noise: the networks are random, only the length matters).
`--tiny` writes the tests' tiny GPT/SoVITS instead (for a smoke run). The root is reused when `root.json` says it was
written with the same settings; building the full-size encoders takes ~30 s on a quiet 2-core box.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FORMAT = 1  # bump when what is written changes, so old cached roots are rebuilt
REF_SECONDS = 5.0
REF_TEXT = "这是一段用来测试合成速度的参考音频，大约五秒钟。"
BERT_LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
              "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 21128}


@dataclass(frozen=True)
class BenchRoot:
    root: Path
    gpt: Path
    sovits: Path
    ref_wav: Path
    ref_text: str
    settings: dict


def _seeded(seed: int):
    ctx = torch.random.fork_rng(devices=[])
    ctx.__enter__()
    torch.manual_seed(seed)
    return ctx


def _write_gpt(path: Path, tiny: bool, seed: int) -> Path:
    from gpt_sovits.models.checkpoints import save_gpt_weights
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

    config = yaml.safe_load((CONFIGS / ("tiny_s1.yaml" if tiny else "s1longer-v2.yaml")).read_text())
    ctx = _seeded(seed)
    try:
        model = Text2SemanticDecoder(config)
    finally:
        ctx.__exit__(None, None, None)
    with torch.no_grad():
        model.ar_predict_layer.weight[model.EOS].zero_()
    return save_gpt_weights(model, config, path, "bench-v2-random")


def _write_sovits(path: Path, tiny: bool, seed: int) -> Path:
    from gpt_sovits.models.checkpoints import save_sovits_weights
    from gpt_sovits.models.sovits import build_synthesizer

    hps = json.loads((CONFIGS / ("tiny_s2.json" if tiny else "s2.json")).read_text())
    hps["model"]["version"] = "v2"
    ctx = _seeded(seed)
    try:
        model = build_synthesizer(copy.deepcopy(hps), "v2")
        for name, buf in model.named_buffers():  # an initialised codebook: no k-means on first use
            if name.endswith("_codebook.embed"):
                buf.copy_(torch.randn_like(buf))
            elif name.endswith("_codebook.inited"):
                buf.fill_(1)
    finally:
        ctx.__exit__(None, None, None)
    return save_sovits_weights(model, hps, path, "bench-v2-random", version="v2")


def _write_full_hubert(out_dir: Path, seed: int) -> None:
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    ctx = _seeded(seed)
    try:
        model = HubertModel(HubertConfig()).eval()  # the defaults are HuBERT base, chinese-hubert-base's shape
    finally:
        ctx.__exit__(None, None, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(str(out_dir))


def _write_full_bert(out_dir: Path, seed: int) -> None:
    from gpt_sovits.tiny.models import write_random_bert

    write_random_bert(out_dir, seed, BERT_LARGE, vocab_size=BERT_LARGE["vocab_size"])


def _write_reference(path: Path, seed: int) -> Path:
    from gpt_sovits.audio.io import save_wav

    sr = 32000
    t = np.arange(int(REF_SECONDS * sr)) / sr
    rng = np.random.default_rng(seed)
    wave = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (180.0, 360.0, 720.0)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    wave = (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    return save_wav(path, wave, sr)


def build_root(root: str | Path, encoders: str = "full", tiny: bool = False, seed: int = 0) -> BenchRoot:
    """Write (or reuse) a bench root under `root`; see the module docstring for what it holds."""
    from gpt_sovits.paths import BERT_DIR, HUBERT_DIR, ProjectPaths

    root = Path(root)
    settings = {"format": FORMAT, "encoders": "tiny" if tiny else encoders, "tiny": tiny, "seed": seed}
    paths = ProjectPaths(root)
    gpt = paths.gpt_weights_dir("v2") / "bench-v2-random.ckpt"
    sovits = paths.sovits_weights_dir("v2") / "bench-v2-random.pth"
    ref = root / "ref.wav"
    manifest = root / "root.json"
    done = BenchRoot(root, gpt, sovits, ref, REF_TEXT, settings)
    if manifest.is_file() and json.loads(manifest.read_text()) == settings and gpt.is_file() and sovits.is_file():
        return done
    pretrained = paths.pretrained_models
    for folder in (gpt.parent, sovits.parent, pretrained):
        folder.mkdir(parents=True, exist_ok=True)
    _write_gpt(gpt, tiny, seed)
    _write_sovits(sovits, tiny, seed + 1)
    if settings["encoders"] == "full":
        _write_full_hubert(pretrained / HUBERT_DIR, seed + 2)
        _write_full_bert(pretrained / BERT_DIR, seed + 3)
    else:
        from gpt_sovits.tiny.models import write_tiny_bert, write_tiny_hubert

        write_tiny_hubert(pretrained / HUBERT_DIR, seed + 2)
        write_tiny_bert(pretrained / BERT_DIR, seed + 3)
    _write_reference(ref, seed + 4)
    manifest.write_text(json.dumps(settings))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root")
    parser.add_argument("--encoders", choices=("full", "tiny"), default="full")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    print(build_root(args.root, args.encoders, args.tiny))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
