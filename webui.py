"""Start the GPT-SoVITS WebUI: `python webui.py [--host 127.0.0.1] [--port 9874] [--lang en|zh_CN] [--root DIR]`.

Same as `python -m gpt_sovits webui`; see `gpt_sovits/ui/cli.py` for the flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    # Belt and braces: the app also passes analytics_enabled=False to Gradio; this covers anything Gradio
    # creates on its own. Set before gradio is imported, in this launcher only.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gpt_sovits.paths import PROJECT_DIR
    from gpt_sovits.ui import cli as ui_cli

    parser = argparse.ArgumentParser(prog="webui.py", description="Start the GPT-SoVITS WebUI.")
    parser.add_argument("--root", type=Path, default=PROJECT_DIR,
                        help="folder holding pretrained_models/, weights/, datasets/, logs/ (default: project folder)")
    ui_cli.configure(parser)
    return ui_cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
