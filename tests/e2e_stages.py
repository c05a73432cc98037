"""What each stage of the path must have left on disk, checked so that a failure names the stage.

Used by the browser test of the whole path (tests/e2e/); `tests/test_e2e_stages.py` shows that breaking a stage (a formatting
that writes nothing, a trainer that writes no weights) is reported with that stage's name.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path


class StageFailure(AssertionError):
    def __init__(self, stage: str, message: str):
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage


def check_sliced(folder: Path, minimum: int) -> list[Path]:
    clips = sorted(folder.glob("*.wav"))
    if len(clips) < minimum:
        raise StageFailure("slice", f"expected at least {minimum} clips in {folder}, found {len(clips)}")
    for clip in clips:
        channels, rate, frames = wav_info(clip.read_bytes())
        if (channels, rate) != (1, 32000) or frames == 0:
            raise StageFailure("slice", f"{clip.name} is not a 32 kHz mono clip")
    return clips


def check_list(list_path: Path, clips: list[Path], texts: dict[str, str] | None = None) -> list:
    """The .list names exactly `clips` (and, when given, holds `texts` by clip name)."""
    from gpt_sovits.asr.listfile import read_list

    stage = "asr" if texts is None else "labels"
    if not list_path.is_file():
        raise StageFailure(stage, f"{list_path} was not written")
    entries = read_list(list_path)
    names = sorted(Path(e.path).name for e in entries)
    if names != sorted(c.name for c in clips):
        raise StageFailure(stage, f"{list_path.name} lists {names}, expected {sorted(c.name for c in clips)}")
    if texts is not None:
        wrong = [Path(e.path).name for e in entries if texts.get(Path(e.path).name) != e.text]
        if wrong:
            raise StageFailure(stage, f"the corrected texts did not reach {list_path.name}: {wrong}")
    return entries


def check_formatted(root: Path, exp: str, items: int) -> None:
    from gpt_sovits.paths import ProjectPaths

    ex = ProjectPaths(root).experiment(exp)
    lines = ex.name2text.read_text(encoding="utf-8").splitlines() if ex.name2text.is_file() else []
    semantic = ex.name2semantic.read_text(encoding="utf-8").splitlines()[1:] if ex.name2semantic.is_file() else []
    hubert = list(ex.hubert_dir.glob("*.pt")) if ex.hubert_dir.is_dir() else []
    if not (len(lines) == len(semantic) == len(hubert) == items):
        raise StageFailure("format", f"logs/{exp}/ holds {len(lines)} text lines, {len(hubert)} HuBERT files and "
                                     f"{len(semantic)} semantic rows; expected {items} of each")


def check_trained(root: Path, exp: str, epochs: int, log: str = "") -> list[Path]:
    """Both trainers wrote their last epoch's weights, and the files load as upstream-format weights."""
    from gpt_sovits.models.checkpoints import load_gpt, load_sovits
    from gpt_sovits.paths import ProjectPaths

    paths = ProjectPaths(root)
    sovits = sorted(paths.sovits_weights_dir("v2").glob(f"{exp}_e{epochs}_s*.pth"))
    gpt = sorted(paths.gpt_weights_dir("v2").glob(f"{exp}-e{epochs}.ckpt"))
    if not sovits:
        raise StageFailure("train-sovits", f"no weights {exp}_e{epochs}_s*.pth were written\n{log[-2000:]}")
    if not gpt:
        raise StageFailure("train-gpt", f"no weights {exp}-e{epochs}.ckpt were written\n{log[-2000:]}")
    try:
        load_sovits(sovits[-1])
    except Exception as e:  # noqa: BLE001 - any failure to load is the trainer's
        raise StageFailure("train-sovits", f"{sovits[-1].name} does not load: {e}") from e
    try:
        load_gpt(gpt[-1])
    except Exception as e:  # noqa: BLE001
        raise StageFailure("train-gpt", f"{gpt[-1].name} does not load: {e}") from e
    return [sovits[-1], gpt[-1]]


def wav_info(data: bytes) -> tuple[int, int, int]:
    """(channels, sample rate, frames) of WAV bytes."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getframerate(), w.getnframes()
