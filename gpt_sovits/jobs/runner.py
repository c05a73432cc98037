"""The job runner: long stages (ASR, formatting, training) as child processes the user can watch and stop.

Each job owns a folder `<jobs dir>/<job id>/`:

    state.json        who/what/when: id, kind, exp, argv, pid, start time, status, exit code, declared outputs
    log.txt           everything the stage printed (stdout and stderr)
    events.jsonl      progress events written by `gpt_sovits.progress` (path given in GSV_JOB_EVENTS)
    exit_code.json    written by `gpt_sovits.jobs.wrapper` when the stage ends, even if no runner watches

All state is in the folder, so a page reload or a WebUI restart finds running and finished jobs again: a new
`JobRunner` over the same folder reads it back. A job is `succeeded` only if it exited with 0 and every declared
output exists; otherwise it is `failed` (with the last log lines as the reason) or `stopped` (the user asked).
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from gpt_sovits.jobs import procs
from gpt_sovits.jobs.layout import EVENTS_FILE, EXIT_CODE_FILE, LOG_FILE, STATE_FILE
from gpt_sovits.filemode import mode_for
from gpt_sovits.paths import PROJECT_DIR
from gpt_sovits.progress import EVENTS_ENV

RUNNING, SUCCEEDED, FAILED, STOPPED = "running", "succeeded", "failed", "stopped"
_KIND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# Jobs of these kinds read or write the same experiment folder: only one of them runs per experiment at a time
# (formatting while training would change the data under the trainer's feet).
EXCLUSIVE_PER_EXPERIMENT = ("format", "train-sovits", "train-gpt", "train-chain", "train-estimate")


class JobError(RuntimeError):
    """A job could not be started, found or stopped; the message says why."""


class JobConflict(JobError):
    """A job of the same kind for the same experiment is already running."""


@dataclass
class Job:
    """One run of a stage. Persisted as `state.json`; `status` is one of running/succeeded/failed/stopped."""

    id: str
    kind: str
    exp: str
    argv: list[str]
    dir: str
    pid: int
    proc_token: int | None  # the process's start time (/proc), guards against a recycled pid
    start_time: float
    status: str = RUNNING
    exit_code: int | None = None
    end_time: float | None = None
    outputs: list[str] = field(default_factory=list)
    stop_requested: bool = False
    reason: str = ""  # why it failed, for people: the missing outputs and/or the last log lines

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def log_path(self) -> Path:
        return self.path / LOG_FILE

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def finished(self) -> bool:
        return self.status != RUNNING

    @property
    def elapsed(self) -> float:
        return (self.end_time or time.time()) - self.start_time

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class JobProgress:
    """What the UI shows about a job's progress, folded from its events."""

    stage: str | None = None
    step: int = 0
    total: int | None = None
    epoch: int | None = None
    loss: dict[str, float] | None = None
    message: str | None = None
    eta_s: float | None = None
    events: int = 0
    losses: list[dict[str, Any]] = field(default_factory=list)  # {"t", "step", "epoch", "stage", **loss}, for a plot
    items_per_s: float | None = None  # training speed, when the stage reports it
    chain: tuple[int, int] | None = None  # (stage number, stage count) of a chained job
    chain_later_s: float | None = None  # predicted seconds of the chain's stages after the running one (None: unknown)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.step / self.total))


class _EventsFold:
    """Reads a job's events.jsonl incrementally (from the last offset) and keeps the running summary."""

    MAX_LOSS_POINTS = 5000

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.progress = JobProgress()
        self._rate_origin: tuple[float, int] | None = None  # (time, step) of the first event of the current stage
        self._last_t: float | None = None

    def read(self) -> JobProgress:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return self.progress
        end = chunk.rfind(b"\n")
        if end < 0:
            return self.progress  # nothing complete yet
        self.offset += end + 1
        for raw in chunk[: end + 1].splitlines():
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(event, dict):
                self._fold(event)
        self._update_eta()
        return self.progress

    def _fold(self, e: dict[str, Any]) -> None:
        p = self.progress
        p.events += 1
        t = float(e.get("t", time.time()))
        stage = e.get("stage", p.stage)
        total = e.get("total", p.total if stage == p.stage else None)
        if stage != p.stage or total != p.total:
            self._rate_origin = None
        p.stage, p.total = stage, total
        if isinstance(e.get("step"), (int, float)):
            p.step = int(e["step"])
        if self._rate_origin is None:
            self._rate_origin = (t, p.step)
        if e.get("epoch") is not None:
            p.epoch = e["epoch"]
        if isinstance(e.get("loss"), dict):
            p.loss = e["loss"]
            p.losses.append({"t": t, "step": p.step, "epoch": p.epoch, "stage": p.stage, **e["loss"]})
            if len(p.losses) > self.MAX_LOSS_POINTS:
                del p.losses[: len(p.losses) - self.MAX_LOSS_POINTS]
        if isinstance(e.get("items_per_s"), (int, float)):
            p.items_per_s = float(e["items_per_s"])
        if isinstance(e.get("chain_stage"), int) and isinstance(e.get("chain_stages"), int):
            p.chain = (e["chain_stage"], e["chain_stages"])
            later = e.get("chain_later_s")
            p.chain_later_s = float(later) if isinstance(later, (int, float)) else None
        if e.get("message"):
            p.message = str(e["message"])
        self._last_t = t

    def _update_eta(self) -> None:
        p = self.progress
        p.eta_s = None
        if not p.total or self._rate_origin is None or self._last_t is None:
            return
        t0, s0 = self._rate_origin
        done = p.step - s0
        if done > 0 and self._last_t > t0:
            p.eta_s = max(0.0, (p.total - p.step) * (self._last_t - t0) / done)


def read_log_tail(path: Path, lines: int = 40, max_bytes: int = 256 * 1024) -> str:
    """The last `lines` lines of a log, with tqdm's carriage-return redraws collapsed to their final state."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    out = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        out.append(parts[-1] if parts else line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out[-lines:])


def _missing_outputs(outputs: Sequence[str]) -> list[str]:
    """Declared outputs that do not exist. A file name with * or ? is a pattern that needs at least one match;
    everything else (`[`, and the folders above the name) is literal, so experiments named `a[1]` work."""
    missing = []
    for out in outputs:
        path = Path(out)
        if path.exists():
            continue
        if any(c in path.name for c in "*?"):
            literal = glob.escape(str(path.parent))
            pattern = path.name.replace("[", "[[]")
            if glob.glob(os.path.join(literal, pattern)):
                continue
        missing.append(out)
    return missing


def _atomic_write_json(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode_for(path))  # not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobRunner:
    """Starts, finds, watches and stops jobs kept in `jobs_dir` (normally `ProjectPaths.jobs`).

    Several runners (a restarted WebUI, a test) may look at the same folder; all they share is the folder.
    """

    def __init__(self, jobs_dir: Path | str, log_lines_on_failure: int = 20):
        self.jobs_dir = Path(jobs_dir)
        self.log_lines_on_failure = log_lines_on_failure
        self._children: dict[str, subprocess.Popen] = {}  # jobs this runner started: reaped here
        self._folds: dict[str, _EventsFold] = {}
        self._lock = threading.Lock()
        self._folds_lock = threading.Lock()

    # ---- starting -------------------------------------------------------------------------------------------
    def start(
        self,
        kind: str,
        exp: str,
        argv: Sequence[str],
        outputs: Sequence[str | Path] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> Job:
        """Start `argv` (a list, no shell) as a job of `kind` for experiment `exp` and return it at once.

        `env` entries are added to a copy of this process's environment (which is never changed). The child also
        gets GSV_JOB_EVENTS (its progress events file) and PYTHONPATH with the project folder first, so
        `python -m gpt_sovits ...` works without installing. `outputs` are files (or glob patterns) the job must
        leave behind to count as succeeded. Raises `JobConflict` if a job of this kind for `exp` still runs.
        """
        if not _KIND.match(kind):
            raise JobError(f"Job kind {kind!r} must be letters, digits, '.', '_' or '-'.")
        argv = [str(a) for a in argv]
        if not argv:
            raise JobError("A job needs a command to run.")
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, _FolderLock(self.jobs_dir / ".start.lock"):
            running = self.active(kind, exp)
            if running is None and exp and kind in EXCLUSIVE_PER_EXPERIMENT:
                running = next((j for k in EXCLUSIVE_PER_EXPERIMENT if k != kind
                                for j in [self.active(k, exp)] if j is not None), None)
            if running is not None:
                what = f"for experiment {exp!r}" if exp else "right now"
                raise JobConflict(
                    f"A {running.kind} job is already running {what} (job {running.id}, pid {running.pid}, started "
                    f"{time.strftime('%H:%M:%S', time.localtime(running.start_time))}). Stop it or wait for it to "
                    f"finish before starting {'another' if running.kind == kind else 'a ' + kind + ' job'}."
                )
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"
            job_dir = self.jobs_dir / job_id
            job_dir.mkdir()
            child_env = dict(os.environ)
            child_env.update({str(k): str(v) for k, v in (env or {}).items()})
            child_env[EVENTS_ENV] = str(job_dir / EVENTS_FILE)
            child_env["PYTHONUNBUFFERED"] = "1"
            child_env.setdefault("PYTHONIOENCODING", "utf-8")
            child_env["PYTHONPATH"] = os.pathsep.join(
                [str(PROJECT_DIR), *[p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p]]
            )
            command = [sys.executable, "-m", "gpt_sovits.jobs.wrapper", str(job_dir), "--", *argv]
            with open(job_dir / LOG_FILE, "ab") as log:
                log.write(f"[job] {job_id}: {subprocess.list2cmdline(argv)}\n".encode())
                log.flush()
                popen_kw: dict[str, Any] = {}
                if os.name == "posix":
                    popen_kw["start_new_session"] = True
                else:
                    popen_kw["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                try:
                    proc = subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        env=child_env, cwd=str(cwd or PROJECT_DIR), **popen_kw,
                    )
                except OSError as e:
                    raise JobError(f"Could not start the {kind} job: {e}") from e
            job = Job(
                id=job_id, kind=kind, exp=exp, argv=argv, dir=str(job_dir), pid=proc.pid,
                proc_token=procs.start_token(proc.pid), start_time=time.time(),
                outputs=[str(o) for o in outputs],
            )
            self._children[job_id] = proc
            self._save(job)
            return job

    # ---- finding --------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job with this id, its status brought up to date. Raises JobError if there is none."""
        if not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
            raise JobError(f"There is no job {job_id!r}.")
        state = self.jobs_dir / job_id / STATE_FILE
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobError(f"There is no job {job_id!r} in {self.jobs_dir}.") from None
        except json.JSONDecodeError as e:
            raise JobError(f"The state file of job {job_id!r} is damaged: {e}") from None
        job = Job.from_json(data)
        job.dir = str(self.jobs_dir / job_id)  # the folder may have moved with the data root
        return self._refresh(job)

    def list(self) -> list[Job]:
        """All jobs in the folder, newest first."""
        jobs = []
        for job_id in self._job_ids():
            try:
                jobs.append(self.get(job_id))
            except JobError:
                continue
        jobs.sort(key=lambda j: j.start_time, reverse=True)
        return jobs

    def latest(self, kind: str, exp: str) -> Job | None:
        """The most recent job of this kind for this experiment, running or not (what a job panel shows)."""
        for job in self.list():
            if job.kind == kind and job.exp == exp:
                return job
        return None

    def active(self, kind: str, exp: str) -> Job | None:
        """The running job of this kind for this experiment, if any."""
        for job in self.list():
            if job.kind == kind and job.exp == exp and job.status == RUNNING:
                return job
        return None

    # ---- watching -------------------------------------------------------------------------------------------
    def progress(self, job_id: str) -> JobProgress:
        """Progress folded from the job's events so far (step, total, epoch, loss, ETA, last message)."""
        with self._folds_lock:  # UI sessions poll from several threads; each event must be folded once
            fold = self._folds.get(job_id)
            if fold is None:
                job = self.get(job_id)
                fold = self._folds[job_id] = _EventsFold(job.events_path)
            return fold.read()

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        return read_log_tail(self.get(job_id).log_path, lines)

    def wait(self, job_id: str, timeout: float | None = None, poll_s: float = 0.1) -> Job:
        """Block until the job has finished (or `timeout` seconds passed); returns its latest state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.finished or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll_s)

    # ---- stopping -------------------------------------------------------------------------------------------
    def stop(self, job_id: str, grace_s: float = 5.0) -> Job:
        """Stop a running job and everything it started: SIGTERM, then SIGKILL after `grace_s` seconds."""
        job = self.get(job_id)
        if job.finished:
            return job
        job.stop_requested = True
        self._save(job)
        gone = procs.kill_tree(job.pid, job.pid if os.name == "posix" else None, grace_s)
        proc = self._children.get(job_id)
        if proc is not None:
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        job = self.get(job_id)
        if not gone:
            raise JobError(f"Job {job_id}: some of its processes could not be stopped (pid {job.pid}).")
        return job

    # ---- internals ------------------------------------------------------------------------------------------
    def _job_ids(self) -> Iterator[str]:
        if not self.jobs_dir.is_dir():
            return iter(())
        return (p.name for p in self.jobs_dir.iterdir() if (p / STATE_FILE).is_file())

    def _save(self, job: Job) -> None:
        _atomic_write_json(job.path / STATE_FILE, job.to_json())

    def _refresh(self, job: Job) -> Job:
        """Bring a running job's status up to date from the OS and the job folder; persist a change."""
        if job.finished:
            return job
        exit_code, end_time = self._recorded_exit(job)
        if exit_code is None:
            proc = self._children.get(job.id)
            if proc is not None:
                if proc.poll() is None:
                    return job
                exit_code, end_time = self._recorded_exit(job)
                if exit_code is None:  # the wrapper itself was killed before it could write
                    exit_code, end_time = proc.returncode, time.time()
            elif procs.is_alive(job.pid, job.proc_token):
                return job
            else:
                end_time = time.time()
        self._finish(job, exit_code, end_time)
        self._save(job)
        self._children.pop(job.id, None)
        return job

    @staticmethod
    def _recorded_exit(job: Job) -> tuple[int | None, float | None]:
        try:
            data = json.loads((job.path / EXIT_CODE_FILE).read_text(encoding="utf-8"))
            return int(data["exit_code"]), float(data.get("end_time") or time.time())
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None, None

    def _finish(self, job: Job, exit_code: int | None, end_time: float | None) -> None:
        job.exit_code, job.end_time = exit_code, end_time or time.time()
        tail = read_log_tail(job.log_path, self.log_lines_on_failure)
        if job.stop_requested:
            job.status, job.reason = STOPPED, "Stopped by the user."
            return
        if exit_code is None:
            job.status = FAILED
            job.reason = f"The process ended without recording an exit code (killed?).\n{tail}".rstrip()
            return
        if exit_code != 0:
            how = f"was killed by signal {-exit_code}" if exit_code < 0 else f"exited with code {exit_code}"
            job.status, job.reason = FAILED, f"The {job.kind} job {how}. Last log lines:\n{tail}".rstrip()
            return
        missing = _missing_outputs(job.outputs)
        if missing:
            job.status = FAILED
            job.reason = (
                "The process exited with code 0 but these expected outputs are missing: "
                + ", ".join(missing) + f"\nLast log lines:\n{tail}"
            ).rstrip()
            return
        job.status, job.reason = SUCCEEDED, ""


class _FolderLock:
    """An exclusive advisory lock (fcntl) so two runners cannot both start the same kind+experiment."""

    def __init__(self, path: Path):
        self.path = path
        self._f = None

    def __enter__(self) -> Self:
        try:
            import fcntl
        except ImportError:  # not POSIX: the in-process lock still applies
            return self
        self._f = open(self.path, "a+b")
        fcntl.flock(self._f.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._f is not None:
            import fcntl

            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None
