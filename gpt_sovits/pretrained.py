"""Which upstream pretrained files are in `pretrained_models/`, checked by content, not just by name.

A Hugging Face folder counts as present only with its config and weights (and, for BERT, a tokenizer); a
checkpoint file counts only if it is non-empty and not a Git LFS pointer (a common result of cloning a model
repository without git-lfs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.paths import WHISPER_SIZES, ProjectPaths

_LFS_MAGIC = b"version https://git-lfs"
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_CT2_FILES = ("model.bin", "config.json")
_G_PURPOSE = "SoVITS pretrained generator (finetune start, semantic tokens in 1A)"


@dataclass(frozen=True)
class PretrainedItem:
    name: str
    path: Path
    present: bool
    purpose: str
    required: bool  # needed for the default v2 workflow
    problem: str = ""  # why it does not count as present ("" when present)


def _check_file(path: Path) -> str:
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(_LFS_MAGIC))
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if size == 0:
        return "empty file"
    if head == _LFS_MAGIC:
        return "a Git LFS pointer, not the real file (run `git lfs pull` or download it again)"
    return ""


def _check_hf_folder(path: Path, needs_tokenizer: bool) -> str:
    if not path.is_dir():
        return "missing"
    problems = []
    if _check_file(path / "config.json"):
        problems.append("config.json")
    weights = [path / w for w in _HF_WEIGHTS if (path / w).exists()]
    if not weights or all(_check_file(w) for w in weights):
        problems.append(" or ".join(_HF_WEIGHTS))
    if needs_tokenizer and not any((path / f).is_file() for f in ("tokenizer.json", "vocab.txt")):
        problems.append("tokenizer.json or vocab.txt")
    return ("incomplete, lacks " + ", ".join(problems)) if problems else ""


def _check_ct2_folder(path: Path) -> str:
    if not path.is_dir():
        return "missing"
    lacking = [f for f in _CT2_FILES if _check_file(path / f)]
    return ("incomplete, lacks " + ", ".join(lacking)) if lacking else ""


def _item(name: str, path: Path, purpose: str, required: bool, problem: str) -> PretrainedItem:
    return PretrainedItem(name=name, path=path, present=not problem, purpose=purpose, required=required,
                          problem=problem)


def pretrained_status(paths: ProjectPaths) -> list[PretrainedItem]:
    """Every expected upstream file with where it belongs and whether it is really there.

    v2 files and the two feature extractors are `required`; v1, v2Pro and v2ProPlus files (and the
    speaker-verification model those two need) are optional. faster-whisper models are
    listed for every size found (in `pretrained_models/faster-whisper-<size>` or upstream's
    `tools/asr/models/`); if none is found, one optional "faster-whisper-<size>" row says where to put one.
    """
    items = [
        _item("chinese-hubert-base", paths.hubert_dir(), "HuBERT features (1A formatting, inference reference)",
              True, _check_hf_folder(paths.hubert_dir(), needs_tokenizer=False)),
        _item("chinese-roberta-wwm-ext-large", paths.bert_dir(), "BERT phone features for Chinese text",
              True, _check_hf_folder(paths.bert_dir(), needs_tokenizer=True)),
    ]
    for version, required in (("v2", True), ("v1", False), ("v2Pro", False), ("v2ProPlus", False)):
        for name, path, purpose in (
            ("SoVITS G", paths.pretrained_sovits_g(version), _G_PURPOSE),
            ("SoVITS D", paths.pretrained_sovits_d(version), "SoVITS pretrained discriminator (finetune start)"),
            ("GPT", paths.pretrained_gpt(version), "GPT pretrained model (finetune start)"),
        ):
            items.append(_item(f"{name} {version}", path, purpose, required, _check_file(path)))
    items.append(_item("speaker verification (ERes2NetV2)", paths.pretrained_sv(),
                       "v2Pro/v2ProPlus speaker embeddings (1A formatting, inference)", False,
                       _check_file(paths.pretrained_sv())))
    whisper_found = False
    for size in WHISPER_SIZES:
        for folder in paths.whisper_dirs(size):
            if folder.exists():
                whisper_found = True
                items.append(_item(f"faster-whisper-{size}", folder, "0 ASR (speech recognition)", False,
                                   _check_ct2_folder(folder)))
    if not whisper_found:
        folder = paths.pretrained_models / "faster-whisper-<size>"
        items.append(_item("faster-whisper (any size)", folder, "0 ASR (speech recognition), e.g. "
                           "faster-whisper-large-v3", False, "missing"))
    return items
