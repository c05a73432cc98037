"""What the 1B tab offers before a run: formatted experiments, upstream's default settings, the weights written.

Plain functions over the data root, so the tab, the CLI and tests see the same answers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from gpt_sovits.devices import DeviceInfo
from gpt_sovits.dataset.readers import formatted_version, read_name2text
from gpt_sovits.infer.weights import natural_key
from gpt_sovits.paths import ProjectPaths, validate_name, PathError
from gpt_sovits.pretrained import pretrained_status
from gpt_sovits.train.versions import GPT_VERSIONS, SOVITS_VERSIONS

SOVITS_EPOCHS = (8, 25)  # (default, maximum) for v1/v2/v2Pro*, as upstream's tab
SOVITS_SAVE_EVERY = (4, 25)
GPT_EPOCHS = (15, 50)
GPT_SAVE_EVERY = (5, 50)
GPT_BATCH_MAX = 40
TAB_VERSIONS = ("v2", "v1", "v2Pro", "v2ProPlus")  # what the 1B tab offers (both trainers train all four)


@dataclass(frozen=True)
class TrainDefaults:
    """Upstream's defaults from device memory (PIPELINE §1.3), halved for fp32 as upstream does at launch."""

    sovits_batch: int
    sovits_batch_max: int
    gpt_batch: int
    gpt_batch_max: int = GPT_BATCH_MAX
    sovits_epochs: int = SOVITS_EPOCHS[0]
    sovits_epochs_max: int = SOVITS_EPOCHS[1]
    sovits_save_every: int = SOVITS_SAVE_EVERY[0]
    gpt_epochs: int = GPT_EPOCHS[0]
    gpt_epochs_max: int = GPT_EPOCHS[1]
    gpt_save_every: int = GPT_SAVE_EVERY[0]


def train_defaults(info: DeviceInfo) -> TrainDefaults:
    """GPU: floor(min GPU memory / 2) for both trainers (halved without fp16); CPU: floor(RAM / 4), halved (fp32)."""
    mem = info.min_gpu_memory_gb
    if mem is not None:
        base = max(1, math.floor(mem / 2))
        if not info.is_half:
            base = max(1, base // 2)
    else:
        base = max(1, math.floor((info.ram_gb or 8.0) / 4) // 2)
    return TrainDefaults(sovits_batch=base, sovits_batch_max=max(3 * base, 1), gpt_batch=min(base, GPT_BATCH_MAX))


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    clips: int           # lines in 2-name2text.txt
    seconds: float       # total duration of the 32 kHz wavs
    has_audio: bool      # 4-cnhubert/ + 5-wav32k/ present (SoVITS can train)
    has_semantic: bool   # 6-name2semantic.tsv present (GPT can train)

    @property
    def label(self) -> str:
        minutes, secs = divmod(int(round(self.seconds)), 60)
        missing = []
        if not self.has_audio:
            missing.append("no audio features")
        if not self.has_semantic:
            missing.append("no semantic tokens")
        extra = f" — {', '.join(missing)}" if missing else ""
        return f"{self.name} ({self.clips} clips, {minutes}:{secs:02d}){extra}"


def _wav_seconds(folder: Path) -> float:
    total = 0.0
    if not folder.is_dir():
        return total
    for wav in folder.glob("*.wav"):
        try:
            info = sf.info(str(wav))
        except (RuntimeError, OSError):  # sf raises LibsndfileError (a RuntimeError) for a broken file
            continue
        total += info.frames / float(info.samplerate or 1)
    return total


def summarize_experiment(paths: ProjectPaths, name: str) -> ExperimentSummary | None:
    """The summary of a formatted experiment, or None if it has no 2-name2text.txt."""
    exp = paths.experiment(name)
    if not exp.name2text.is_file():
        return None
    try:
        clips = len(read_name2text(exp.name2text))
    except (OSError, UnicodeDecodeError):
        clips = 0
    has_audio = exp.hubert_dir.is_dir() and any(exp.hubert_dir.glob("*.pt")) and exp.wav32k_dir.is_dir()
    return ExperimentSummary(
        name=exp.name, clips=clips, seconds=_wav_seconds(exp.wav32k_dir), has_audio=has_audio,
        has_semantic=exp.name2semantic.is_file() and exp.name2semantic.stat().st_size > 0,
    )


def formatted_experiments(paths: ProjectPaths) -> list[ExperimentSummary]:
    """Every experiment under logs/ that 1A formatted (newest first)."""
    if not paths.logs.is_dir():
        return []
    found = []
    for folder in sorted(paths.logs.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            validate_name(folder.name)
        except PathError:
            continue
        summary = summarize_experiment(paths, folder.name)
        if summary is not None:
            found.append(summary)
    return found


_SOVITS_NAME = re.compile(r"^(?P<exp>.+)_e(?P<epoch>\d+)_s(?P<step>\d+)(?:_l\d+)?\.pth$")
_GPT_NAME = re.compile(r"^(?P<exp>.+)-e(?P<epoch>\d+)\.ckpt$")


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    kind: str   # "sovits" or "gpt"
    epoch: int
    version: str = "v2"  # from the folder: SoVITS_weights_<version>/, GPT_weights_<version>/ (no suffix: v1)


def _folder_version(folder: str, prefix: str) -> str:
    return folder[len(prefix) + 1:] if folder.startswith(prefix + "_") else "v1"


def experiment_weights(paths: ProjectPaths, exp: str) -> list[WeightsFile]:
    """The weights files the trainers wrote for `exp` (both kinds, every version folder), oldest epoch first."""
    found = []
    if not paths.weights.is_dir():
        return found
    for folder in paths.weights.iterdir():
        if not folder.is_dir():
            continue
        if folder.name.startswith("SoVITS_weights"):
            kind, pattern, glob = "sovits", _SOVITS_NAME, "*.pth"
        elif folder.name.startswith("GPT_weights"):
            kind, pattern, glob = "gpt", _GPT_NAME, "*.ckpt"
        else:
            continue
        for f in folder.glob(glob):
            m = pattern.match(f.name)
            if m and m.group("exp") == exp:
                prefix = "SoVITS_weights" if kind == "sovits" else "GPT_weights"
                found.append(WeightsFile(f, kind, int(m.group("epoch")), _folder_version(folder.name, prefix)))
    return sorted(found, key=lambda w: (w.kind != "sovits", natural_key(w.path)))


@dataclass(frozen=True)
class TrainerSettings:
    """One trainer's options as the 1B tab collects them; `args()` is the trainer CLI's spelling of them."""

    epochs: int
    batch_size: int
    save_every: int
    keep_latest: bool = True
    save_every_weights: bool = True
    device: str = "cpu"
    precision: str = "auto"
    version: str = "v2"
    pretrained: tuple[str, ...] = ()  # SoVITS: (G, D); GPT: (ckpt,) — empty: the version's default files
    continue_from: str = ""           # a finetuned weights file to start from instead of the pretrained one
    text_low_lr_rate: float | None = None  # SoVITS only
    dpo: bool = False                      # GPT only
    min_items: int | None = None  # repeat a small set to about this many items per epoch (None: upstream's 100)

    def args(self, trainer: str) -> list[str]:
        if trainer not in ("sovits", "gpt"):
            raise ValueError(f"unknown trainer {trainer!r}")
        a = ["--epochs", str(int(self.epochs)), "--batch-size", str(int(self.batch_size)),
             "--save-every", str(int(self.save_every)), "--device", self.device, "--precision", self.precision,
             "--version", self.version]
        a += ["--keep-latest", "1" if self.keep_latest else "0"]  # 0: keep every resume checkpoint
        if not self.save_every_weights:
            a.append("--final-weights-only")
        names = ("--pretrained-g", "--pretrained-d") if trainer == "sovits" else ("--pretrained",)
        for flag, value in zip(names, self.pretrained):
            if value:
                a += [flag, value]
        if self.continue_from:
            a += ["--continue-from", self.continue_from]
        if trainer == "sovits" and self.text_low_lr_rate is not None:
            a += ["--text-low-lr-rate", f"{float(self.text_low_lr_rate):g}"]
        if self.version not in (SOVITS_VERSIONS if trainer == "sovits" else GPT_VERSIONS):
            raise ValueError(f"{trainer} training of {self.version} models is not available in this version.")
        if self.min_items is not None:
            a += ["--min-items", str(int(self.min_items))]
        if trainer == "gpt" and self.dpo:
            a.append("--dpo")
        return a


@dataclass(frozen=True)
class VersionFiles:
    """The pretrained files a version's finetune starts from, and which of them are not (really) there."""

    version: str
    missing: tuple[tuple[str, Path, str], ...]  # (what, where it belongs, why it does not count)

    @property
    def ready(self) -> bool:
        """G and GPT present (a missing D only means the discriminator starts from random weights)."""
        return not any(what != "SoVITS D" for what, _, _ in self.missing)

    def note(self) -> str:
        """One line per missing file: which file goes where (empty when nothing is missing)."""
        return "\n".join(f"- {self.version}: {what} `{path.name}` is {why}; it belongs in `{path.parent}`"
                         + (" (without it the discriminator starts from random weights)" if what == "SoVITS D" else "")
                         for what, path, why in self.missing)


def version_files(paths: ProjectPaths, version: str) -> VersionFiles:
    """Which of ``version``'s pretrained SoVITS G/D and GPT files are missing (checked by content, as 0 shows)."""
    missing = []
    for item in pretrained_status(paths):
        what, _, item_version = item.name.rpartition(" ")
        if item_version == version and what in ("SoVITS G", "SoVITS D", "GPT") and not item.present:
            missing.append((what, item.path, item.problem))
    return VersionFiles(version, tuple(missing))


def default_version(paths: ProjectPaths, exp: str | None) -> str:
    """The version the 1B tab proposes: the one 1A formatted ``exp`` for; else (older formatting, or no experiment)
    a v2Pro-family one when the experiment has speaker embeddings, else v2 — each only if its pretrained files are
    there, falling back to the first version whose files are (v2 when none has them)."""
    recorded = None
    has_sv = False
    if exp:
        try:
            e = paths.experiment(exp)
        except PathError:
            e = None
        if e is not None:
            recorded = formatted_version(e)
            has_sv = e.sv_dir.is_dir() and any(e.sv_dir.glob("*.pt"))
    if recorded in TAB_VERSIONS:
        return recorded
    preferred = ("v2Pro", "v2ProPlus", "v2") if has_sv else ("v2", "v2Pro", "v2ProPlus")
    return next((v for v in preferred if version_files(paths, v).ready), "v2")


SETTINGS_FILE = "train_settings.json"


def save_form_settings(paths: ProjectPaths, exp: str, values: dict) -> None:
    """Remember the 1B form's values for `exp`, so a page reload or a restart shows what the last run used."""
    from gpt_sovits.audio.io import atomic_write_bytes

    data = {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool)) or v is None}
    atomic_write_bytes(paths.experiment(exp).dir / SETTINGS_FILE,
                       (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def load_form_settings(paths: ProjectPaths, exp: str) -> dict:
    """The values saved by `save_form_settings` ({} when none or unreadable)."""
    try:
        data = json.loads((paths.experiment(exp).dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, PathError):
        return {}
    return data if isinstance(data, dict) else {}
