"""Core never imports the UI or the HTTP stack: every module outside ui/ and api/ imports with gradio and fastapi
made unimportable (in a fresh interpreter, so nothing is cached)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import importlib, pkgutil, sys
sys.modules["gradio"] = None
sys.modules["fastapi"] = None
import gpt_sovits
failed = []
for info in pkgutil.walk_packages(gpt_sovits.__path__, "gpt_sovits."):
    name = info.name
    if name.startswith(("gpt_sovits.ui", "gpt_sovits.api")) or name == "gpt_sovits.__main__":
        continue
    try:
        importlib.import_module(name)
    except ImportError as e:
        failed.append(f"{name}: {e}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_core_modules_import_without_gradio_or_fastapi():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
