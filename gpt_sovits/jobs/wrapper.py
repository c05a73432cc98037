"""Runs one job's real command and records its exit code in the job folder.

`python -m gpt_sovits.jobs.wrapper <job dir> -- <argv...>`

The job runner starts this wrapper (in a new session, stdout/stderr going to the job's log) instead of the stage
itself, so the exit code is written to `<job dir>/exit_code.json` even when no WebUI is watching (the WebUI may
have been restarted while the job ran). Termination signals are passed on to the stage; the wrapper itself stays
until the stage has ended, so it can write down how it ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpt_sovits.jobs.layout import EXIT_CODE_FILE


def write_exit_code(job_dir: Path, code: int) -> None:
    """Atomically write {"exit_code", "end_time"} to the job folder."""
    data = json.dumps({"exit_code": code, "end_time": time.time()})
    fd, tmp = tempfile.mkstemp(dir=job_dir, prefix=".exit_code.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, job_dir / EXIT_CODE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m gpt_sovits.jobs.wrapper <job dir> -- <command...>", file=sys.stderr)
        return 2
    job_dir, command = Path(args[0]), args[2:]
    try:
        child = subprocess.Popen(command)  # same session and process group as the wrapper; env inherited
    except OSError as e:
        print(f"[job] could not start {command[0]!r}: {e}", file=sys.stderr, flush=True)
        write_exit_code(job_dir, 127)
        return 127

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    code = child.wait()
    write_exit_code(job_dir, code)
    if code < 0:
        print(f"\n[job] the command ended by signal {-code}", file=sys.stderr, flush=True)
    return code if 0 <= code < 256 else 1


if __name__ == "__main__":
    sys.exit(main())
