"""`python -m gpt_sovits train-chain`: SoVITS then GPT as one job that can be stopped and started again.

Each stage runs as its own child process (the trainers' CLIs), so a stage's failure, its exit code and its progress
events are the trainer's own. The chain writes down which stages finished with which settings in
`logs/<exp>/train_chain.json`; started again with the same settings it skips those and continues with the next one
(the trainer of an interrupted stage resumes from its checkpoint by itself). Stop (SIGTERM) reaches the running
trainer too; the chain waits for it to save and then ends without starting the next stage.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gpt_sovits.audio.io import atomic_write_bytes
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.progress import EventWriter
from gpt_sovits.train.chain_eta import later_stages_seconds

STAGES = {"sovits": "train-sovits", "gpt": "train-gpt"}
STATE_FILE = "train_chain.json"


@dataclass(frozen=True)
class ChainStage:
    name: str             # "sovits" or "gpt"
    args: tuple[str, ...]  # the trainer's own options (without --root/--exp)

    def argv(self, python: str, root: Path, exp: str) -> list[str]:
        return [python, "-m", "gpt_sovits", STAGES[self.name], "--root", str(root), "--exp", exp, *self.args]


def _load_state(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _save_state(path: Path, state: dict) -> None:
    atomic_write_bytes(path, (json.dumps(state, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def run_chain(paths: ProjectPaths, exp: str, stages: Sequence[ChainStage], python: str = sys.executable,
              events: EventWriter | None = None, restart: bool = False) -> int:
    """Run the stages in order; returns 0 when all finished (or a Stop ended the chain cleanly), else the exit code
    of the stage that failed."""
    events = events if events is not None else EventWriter.from_env()
    exp_paths = paths.experiment(exp)
    state_path = exp_paths.dir / STATE_FILE
    state = {} if restart else _load_state(state_path)
    done: dict = dict(state.get("done") or {})
    stop = {"requested": False}
    child: dict[str, subprocess.Popen | None] = {"proc": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["requested"] = True
        proc = child["proc"]
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signum)  # a job Stop reaches the trainer anyway; a Ctrl+C by hand may not
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i, stage in enumerate(stages, 1):
            label = f"stage {i}/{len(stages)}: {STAGES[stage.name]}"
            if done.get(stage.name) == list(stage.args):
                print(f"[train-chain] {label} already finished with these settings: skipped", flush=True)
                events.emit(stage="train-chain", message=f"{label} already done", chain_stage=i,
                            chain_stages=len(stages))
                continue
            if stop["requested"]:
                break
            argv = stage.argv(python, paths.root, exp)
            print(f"[train-chain] {label}: {shlex.join(argv[1:])}", flush=True)
            later = later_stages_seconds(exp_paths.dir, [(s.name, s.args) for s in stages[i:]
                                                         if done.get(s.name) != list(s.args)])
            events.emit(stage="train-chain", message=f"{label} started", chain_stage=i, chain_stages=len(stages),
                        chain_later_s=later)
            child["proc"] = subprocess.Popen(argv)
            code = child["proc"].wait()
            child["proc"] = None
            if code != 0:
                print(f"[train-chain] {label} failed with exit code {code}; later stages were not started.",
                      flush=True)
                return code
            if stop["requested"]:
                print(f"[train-chain] stopped during {label}; start the chain again to continue.", flush=True)
                return 0
            done[stage.name] = list(stage.args)
            _save_state(state_path, {"done": done, "time": time.time()})
        else:
            print("[train-chain] all stages finished.", flush=True)
            return 0
        print("[train-chain] stopped before the next stage; start the chain again to continue.", flush=True)
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment name (logs/<exp>/ formatted by 1A)")
    parser.add_argument("--stages", default="sovits,gpt", help="which trainers, in order (default: sovits,gpt)")
    parser.add_argument("--sovits-args", default="", help='options for train-sovits, e.g. "--epochs 8 --batch-size 4"')
    parser.add_argument("--gpt-args", default="", help='options for train-gpt, e.g. "--epochs 15"')
    parser.add_argument("--restart", action="store_true",
                        help="forget which stages already finished (the trainers still resume their checkpoints)")


def parse_stages(text: str, sovits_args: str = "", gpt_args: str = "") -> list[ChainStage]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown or not names:
        raise ValueError(f"--stages takes a comma-separated list of {', '.join(STAGES)}; got {text!r}")
    args = {"sovits": tuple(shlex.split(sovits_args)), "gpt": tuple(shlex.split(gpt_args))}
    return [ChainStage(n, args[n]) for n in names]


def run(args: argparse.Namespace) -> int:
    paths = ProjectPaths(args.root)
    try:
        stages = parse_stages(args.stages, args.sovits_args, args.gpt_args)
        paths.experiment(args.exp)
    except ValueError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    return run_chain(paths, args.exp, stages, restart=args.restart)
