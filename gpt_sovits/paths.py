"""Where things live on disk: the one module that spells folder and file names.

Everything a stage reads or writes under the data root (pretrained_models/, weights/, datasets/, logs/) is named
here, so the WebUI, the CLI and the child processes agree on the layout and the layout matches upstream's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Pretrained files under upstream's names, relative to pretrained_models/.
HUBERT_DIR = "chinese-hubert-base"
BERT_DIR = "chinese-roberta-wwm-ext-large"
PRETRAINED_SOVITS_G = {
    "v1": "s2G488k.pth",
    "v2": "gsv-v2final-pretrained/s2G2333k.pth",
    "v2Pro": "v2Pro/s2Gv2Pro.pth",
    "v2ProPlus": "v2Pro/s2Gv2ProPlus.pth",
}
PRETRAINED_SOVITS_D = {  # upstream derives the D path by replacing "s2G" with "s2D"
    "v1": "s2D488k.pth",
    "v2": "gsv-v2final-pretrained/s2D2333k.pth",
    "v2Pro": "v2Pro/s2Dv2Pro.pth",
    "v2ProPlus": "v2Pro/s2Dv2ProPlus.pth",
}
PRETRAINED_GPT = {  # v2Pro/v2ProPlus use the v2 GPT architecture with upstream's s1v3.ckpt
    "v1": "s1bert25hz-2kh-longer-epoch=68e-step=50232.ckpt",
    "v2": "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
    "v2Pro": "s1v3.ckpt",
    "v2ProPlus": "s1v3.ckpt",
}
# The speaker-verification model (ERes2NetV2) v2Pro/v2ProPlus need for formatting and inference.
PRETRAINED_SV = "sv/pretrained_eres2netv2w24s4ep4.ckpt"
LEXICON_FILE = "lexicon.tsv"
WHISPER_SIZES = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large-v3-turbo",
)


class PathError(ValueError):
    """A user-given name or path is not allowed (escapes the allowed roots, bad characters...)."""


_BAD_NAME = re.compile(r"[\\/\x00-\x1f:*?\"<>|]")


def validate_name(name: str, what: str = "experiment name") -> str:
    """Check a user-given folder name (experiment, dataset). Any script is fine; separators and `..` are not."""
    name = name.strip()
    if not name:
        raise PathError(f"The {what} is empty.")
    if name in (".", "..") or ".." in name:
        raise PathError(f"The {what} {name!r} may not contain '..'.")
    if _BAD_NAME.search(name):
        raise PathError(f"The {what} {name!r} may not contain path separators or any of : * ? \" < > |")
    if len(name.encode("utf-8")) > 200:
        raise PathError(f"The {what} is too long (over 200 bytes).")
    return name


_UNLISTABLE = re.compile(r"[|\\/\x00-\x1f\x7f]")


def safe_file_name(name: str) -> str:
    """A file name a `.list` line can hold: `|`, control characters and path separators become `_`; any script
    and everything else is kept."""
    return _UNLISTABLE.sub("_", name)


def resolve_inside(path: str | Path, roots: list[Path] | tuple[Path, ...], what: str = "path") -> Path:
    """Resolve `path` (following symlinks) and require it to lie inside one of `roots`.

    A relative path is taken from the first root (the data root), never from the process's working folder: the
    same rule as the HTTP API, so `datasets/me/me.list` means the same file wherever the WebUI was started."""
    if isinstance(path, str) and not path.strip():
        raise PathError(f"The {what} is empty.")
    given = Path(path.strip() if isinstance(path, str) else path).expanduser()
    if not given.is_absolute() and roots:
        given = Path(roots[0]) / given
    resolved = given.resolve()
    for root in roots:
        root = Path(root).resolve()
        if resolved == root or root in resolved.parents:
            return resolved
    allowed = ", ".join(str(Path(r).resolve()) for r in roots)
    raise PathError(f"The {what} {str(path)!r} is outside the allowed folders ({allowed}).")


@dataclass(frozen=True)
class ProjectPaths:
    """The data root: pretrained models, exported weights, datasets, experiment logs."""

    root: Path = PROJECT_DIR

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @property
    def pretrained_models(self) -> Path:
        return self.root / "pretrained_models"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def jobs(self) -> Path:
        return self.logs / ".jobs"

    @property
    def lexicon(self) -> Path:
        """The global user lexicon (every experiment and inference may use it; see gpt_sovits.text.lexicon)."""
        return self.root / LEXICON_FILE

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        return (self.root,)

    def sovits_weights_dir(self, version: str = "v2") -> Path:
        return self.weights / ("SoVITS_weights" if version == "v1" else f"SoVITS_weights_{version}")

    def gpt_weights_dir(self, version: str = "v2") -> Path:
        return self.weights / ("GPT_weights" if version == "v1" else f"GPT_weights_{version}")

    def hubert_dir(self) -> Path:
        return self.pretrained_models / HUBERT_DIR

    def bert_dir(self) -> Path:
        return self.pretrained_models / BERT_DIR

    def pretrained_sovits_g(self, version: str = "v2") -> Path:
        return self.pretrained_models / PRETRAINED_SOVITS_G[version]

    def pretrained_sovits_d(self, version: str = "v2") -> Path:
        return self.pretrained_models / PRETRAINED_SOVITS_D[version]

    def pretrained_gpt(self, version: str = "v2") -> Path:
        return self.pretrained_models / PRETRAINED_GPT[version]

    def pretrained_sv(self) -> Path:
        return self.pretrained_models / PRETRAINED_SV

    def whisper_dirs(self, size: str) -> list[Path]:
        """Candidate folders for a faster-whisper model, ours first, then upstream's tools/asr/models."""
        return [
            self.pretrained_models / f"faster-whisper-{size}",
            self.root / "tools" / "asr" / "models" / f"faster-whisper-{size}",
        ]

    def experiment(self, name: str) -> "ExperimentPaths":
        return ExperimentPaths(self.logs / validate_name(name))

    def dataset(self, name: str) -> Path:
        return self.datasets / validate_name(name, "dataset name")


@dataclass(frozen=True)
class ExperimentPaths:
    """logs/<exp>/: the formatted dataset and training state, in upstream's layout."""

    dir: Path

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def name2text(self) -> Path:
        return self.dir / "2-name2text.txt"

    @property
    def bert_dir(self) -> Path:
        return self.dir / "3-bert"

    @property
    def hubert_dir(self) -> Path:
        return self.dir / "4-cnhubert"

    @property
    def wav32k_dir(self) -> Path:
        return self.dir / "5-wav32k"

    @property
    def name2semantic(self) -> Path:
        return self.dir / "6-name2semantic.tsv"

    @property
    def sv_dir(self) -> Path:
        """v2Pro/v2ProPlus: one speaker-verification embedding per clip, ``<wav name>.pt``."""
        return self.dir / "7-sv_cn"

    @property
    def format_manifest(self) -> Path:
        return self.dir / "format_manifest.json"

    @property
    def lexicon(self) -> Path:
        """This experiment's user lexicon; its entries override the global one's."""
        return self.dir / LEXICON_FILE

    @property
    def format_source(self) -> Path:
        """Which `.list` the features were formatted from (formatting another list into them needs "replace")."""
        return self.dir / "format_source.json"

    def sovits_logs(self, version: str = "v2") -> Path:
        return self.dir / f"logs_s2_{version}"

    def gpt_logs(self, version: str = "v2") -> Path:
        return self.dir / f"logs_s1_{version}"
