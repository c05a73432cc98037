"""`python -m gpt_sovits dry-run --real` names the stage that fails when a pretrained file is corrupt.

(The whole tiny path passing is what the browser test of the whole path shows; this test stays short.)
"""

import os
import shutil
import subprocess
import sys

import pytest

from browser_helpers import PROJECT

pytestmark = pytest.mark.slow


def test_dry_run_names_the_stage_of_a_corrupt_pretrained_file(tiny_pretrained, tmp_path):
    user_root = tmp_path / "user"
    shutil.copytree(tiny_pretrained / "pretrained_models", user_root / "pretrained_models")
    whisper = user_root / "pretrained_models" / "faster-whisper-tiny" / "model.bin"
    whisper.write_bytes(b"\x00garbage, not a CTranslate2 model" * 64)  # present by size, broken by content
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "gpt_sovits", "dry-run", "--real", "--root", str(user_root)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "ok    slice" in out and "FAILED asr" in out and "stopped at stage 'asr'" in out, out
    assert not (user_root / "logs").exists() and not (user_root / "weights").exists()  # the user's root untouched


def test_dry_run_real_without_models_says_where_they_go(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    (tmp_path / "pretrained_models").mkdir()
    proc = subprocess.run([sys.executable, "-m", "gpt_sovits", "dry-run", "--real", "--root", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1
    assert "FAILED models: missing pretrained files" in proc.stdout and "s2G2333k.pth" in proc.stdout, proc.stdout
