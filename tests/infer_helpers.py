"""Shared by the inference and API tests: a reference clip spoken by espeak-ng."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from gpt_sovits.audio.io import load_audio, save_wav

REF_TEXT = "你好，今天天气很好。"
REF_PINYIN = "ni3 hao3, jin1 tian1 tian1 qi4 hen3 hao3."


def espeak_reference(out: Path, seconds: float = 4.0) -> Path:
    """A real-speech reference clip padded (or cut) to `seconds` at 32 kHz."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is required for the inference tests (tools/run_tests.sh installs it as root)")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "120", "-w", str(raw), REF_PINYIN], check=True,
                   capture_output=True)
    audio = load_audio(raw, 32000)
    n = int(seconds * 32000)
    audio = np.pad(audio, (0, max(0, n - len(audio))))[:n]
    raw.unlink()
    return save_wav(out, audio, 32000)
