"""A recording named `a|b.wav` goes through slicing, ASR and formatting (into an experiment named with `[`) and
comes out as a complete `.list` and complete features: no step may lose it over its name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gpt_sovits.asr.listfile import read_list
from gpt_sovits.audio.io import load_audio, save_wav
from gpt_sovits.cli import main as cli_main
from gpt_sovits.paths import ProjectPaths

pytestmark = pytest.mark.slow

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore."]


def recording(path: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt install espeak-ng; tools/run_tests.sh does it as root)")
    sr = 32000
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [np.zeros(sr // 2, np.float32)]
    for i, sentence in enumerate(SENTENCES):
        raw = path.with_name(f"_s{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(raw), sentence], check=True, capture_output=True)
        parts += [load_audio(raw, sr), np.zeros(sr, np.float32)]
        raw.unlink()
    return save_wav(path, np.concatenate(parts), sr)


def test_pipe_in_a_recording_name_survives_slice_asr_and_format(tiny_pretrained, tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    (root / "pretrained_models").symlink_to(Path(tiny_pretrained) / "pretrained_models", target_is_directory=True)
    source = recording(root / "datasets" / "odd" / "raw" / "a|b.wav")
    clips = root / "datasets" / "odd" / "sliced"
    assert cli_main(["slice", str(source), str(clips), "--root", str(root), "--min-length", "1000",
                     "--workers", "1"]) == 0
    names = sorted(p.name for p in clips.glob("*.wav"))
    assert len(names) == len(SENTENCES) and all(n.startswith("a_b.wav_") for n in names), names

    list_path = root / "datasets" / "odd" / "odd.list"
    assert cli_main(["asr", str(clips), "--output", str(list_path), "--root", str(root), "--model-size", "tiny",
                     "--language", "en", "--beam-size", "1", "--no-temperature-fallback", "--threads", "1"]) == 0
    entries = read_list(list_path)
    assert sorted(Path(e.path).name for e in entries) == names

    exp = "odd[1]"
    assert cli_main(["format", "--root", str(root), "--list", str(list_path), "--exp", exp, "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{len(names)}/{len(names)} lines ready" in out
    paths = ProjectPaths(root).experiment(exp)
    assert sorted(line.split("\t")[0] for line in paths.name2text.read_text(encoding="utf-8").splitlines()) == names
    assert sorted(p.name for p in paths.hubert_dir.iterdir()) == [f"{n}.pt" for n in names]
    semantic = paths.name2semantic.read_text(encoding="utf-8").splitlines()[1:]
    assert sorted(line.split("\t")[0] for line in semantic) == names
