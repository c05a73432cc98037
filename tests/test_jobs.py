"""Job runner with real child processes: progress, stop of a process tree, failures, re-attach, conflicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpt_sovits.jobs import FAILED, RUNNING, STOPPED, SUCCEEDED, JobConflict, JobError, JobRunner, procs

PROJECT = Path(__file__).resolve().parent.parent


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_progress_events_come_through_in_order(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    go = tmp_path / "go"
    # The child reports one step each time the test creates the next go file, so the test sees every step.
    job = runner.start("demo", "exp", py(f"""
        import os, time
        from gpt_sovits.progress import Progress
        with Progress(4, "demo") as p:
            for i in range(4):
                while not os.path.exists({str(go)!r} + str(i)):
                    time.sleep(0.02)
                p.update(1, loss={{"total": 4.0 - i}}, epoch=1)
            p.message("all done")
    """))
    seen = []
    for i in range(4):
        Path(f"{go}{i}").touch()
        step = wait_for(lambda want=i + 1: runner.progress(job.id).step == want and want, what=f"step {i + 1}")
        seen.append(step)
    assert seen == [1, 2, 3, 4]
    job = runner.wait(job.id, timeout=30)
    assert job.status == SUCCEEDED and job.exit_code == 0
    prog = runner.progress(job.id)
    assert (prog.stage, prog.step, prog.total, prog.epoch, prog.message) == ("demo", 4, 4, 1, "all done")
    assert [p["total"] for p in prog.losses] == [4.0, 3.0, 2.0, 1.0]
    assert prog.fraction == 1.0
    events = [json.loads(line) for line in job.events_path.read_text(encoding="utf-8").splitlines()]
    steps = [e["step"] for e in events]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 4
    assert "demo" in runner.log_tail(job.id)


def test_stop_kills_child_and_grandchild(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    pids = tmp_path / "pids.json"
    # The grandchild ignores SIGTERM, so stopping must escalate to SIGKILL after the grace period.
    job = runner.start("train", "exp", py(f"""
        import json, os, subprocess, sys, time
        grand = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
        with open({str(pids)!r} + ".tmp", "w") as f:
            json.dump({{"child": os.getpid(), "grandchild": grand.pid}}, f)
        os.replace({str(pids)!r} + ".tmp", {str(pids)!r})
        time.sleep(120)
    """))
    wait_for(pids.exists, what="the child to report its pids")
    ids = json.loads(pids.read_text())
    assert procs.is_alive(ids["child"]) and procs.is_alive(ids["grandchild"])
    stopped = runner.stop(job.id, grace_s=1.0)
    assert stopped.status == STOPPED
    assert not procs.is_alive(ids["child"])
    assert not procs.is_alive(ids["grandchild"])
    assert not procs.is_alive(job.pid, job.proc_token)
    assert JobRunner(tmp_path / "jobs").get(job.id).status == STOPPED  # persisted


def test_exit_1_is_failed_with_last_log_lines(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    job = runner.start("format", "exp", py("""
        import sys
        for i in range(50):
            print(f"working on item {i}")
        print("error: the .list file names a missing wav", file=sys.stderr)
        sys.exit(1)
    """))
    job = runner.wait(job.id, timeout=30)
    assert job.status == FAILED and job.exit_code == 1
    assert "error: the .list file names a missing wav" in job.reason
    assert "working on item 49" in job.reason
    assert "working on item 0\n" not in job.reason  # only the tail


def test_zero_exit_with_missing_declared_output_is_failed(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    made, never = tmp_path / "out" / "model_e8_s100.pth", tmp_path / "out" / "missing.ckpt"
    job = runner.start("train", "a", py(f"""
        import os
        os.makedirs({str(made.parent)!r}, exist_ok=True)
        open({str(made)!r}, "wb").write(b"x")
        print("finished training")
    """), outputs=[made, never])
    job = runner.wait(job.id, timeout=30)
    assert job.exit_code == 0 and job.status == FAILED
    assert str(never) in job.reason and str(made) not in job.reason.split("\n")[0]

    ok = runner.start("train", "b", py("print('nothing to do')"), outputs=[str(made.parent / "model_e8_s*.pth")])
    assert runner.wait(ok.id, timeout=30).status == SUCCEEDED
    none = runner.start("train", "c", py("print('nothing')"), outputs=[str(made.parent / "*.ckpt")])
    assert runner.wait(none.id, timeout=30).status == FAILED


def test_fresh_runner_sees_running_and_finished_jobs(tmp_path):
    jobs_dir = tmp_path / "jobs"
    release = tmp_path / "release"
    # A separate process plays the WebUI that started the jobs and then went away.
    starter = textwrap.dedent(f"""
        import sys
        from gpt_sovits.jobs import JobRunner
        r = JobRunner({str(jobs_dir)!r})
        long = r.start("train", "exp1", [sys.executable, "-c",
            "import os, sys, time\\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)\\nsys.exit(3)"])
        short = r.start("asr", "exp1", [sys.executable, "-c", "print('transcribed')"])
        r.wait(short.id, timeout=30)
        print(long.id, short.id)
    """)
    out = subprocess.run([sys.executable, "-c", starter], check=False, capture_output=True, text=True, timeout=60,
                         cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert out.returncode == 0, out.stderr
    long_id, short_id = out.stdout.split()

    runner = JobRunner(jobs_dir)
    assert runner.get(long_id).status == RUNNING
    assert runner.get(short_id).status == SUCCEEDED
    assert {j.id for j in runner.list()} == {long_id, short_id}
    assert runner.active("train", "exp1").id == long_id
    assert runner.active("asr", "exp1") is None
    with pytest.raises(JobConflict):
        runner.start("train", "exp1", py("print(1)"))

    release.touch()  # the job ends while no runner is its parent: the wrapper records the exit code
    done = runner.wait(long_id, timeout=30)
    assert done.status == FAILED and done.exit_code == 3


def test_second_start_of_same_kind_and_exp_is_refused(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    first = runner.start("format", "我的实验", py("import time; time.sleep(60)"))
    try:
        with pytest.raises(JobConflict, match="format job is already running for experiment '我的实验'"):
            runner.start("format", "我的实验", py("print(1)"))
        other = runner.start("format", "another", py("print(1)"))  # other experiment: fine
        assert runner.wait(other.id, timeout=30).status == SUCCEEDED
    finally:
        runner.stop(first.id, grace_s=1.0)
    again = runner.start("format", "我的实验", py("print(1)"))  # allowed once the first has ended
    assert runner.wait(again.id, timeout=30).status == SUCCEEDED


def test_recycled_pid_is_not_mistaken_for_a_running_job(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    job = runner.start("asr", "x", py("print(1)"))
    runner.wait(job.id, timeout=30)
    # Rewrite the state as if the job were running under a pid now used by another process (this test process).
    state = json.loads((job.path / "state.json").read_text())
    state.update(status=RUNNING, exit_code=None, pid=os.getpid(), proc_token=(state["proc_token"] or 0) + 12345)
    (job.path / "state.json").write_text(json.dumps(state))
    (job.path / "exit_code.json").unlink()
    seen = JobRunner(tmp_path / "jobs").get(job.id)
    assert seen.status == FAILED and "without recording an exit code" in seen.reason


def test_bad_requests_are_refused(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    with pytest.raises(JobError):
        runner.start("bad kind/../x", "e", py("print(1)"))
    with pytest.raises(JobError):
        runner.start("k", "e", [])
    with pytest.raises(JobError):
        runner.get("../etc")
    missing = runner.start("k", "e", ["/nonexistent/program"])
    job = runner.wait(missing.id, timeout=30)
    assert job.status == FAILED and job.exit_code == 127 and "could not start" in job.reason


def test_names_with_glob_characters_and_umask_permissions(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    exp_dir = tmp_path / "logs" / "a[1]"
    made, feature = exp_dir / "2-name2text.txt", exp_dir / "4-cnhubert" / "x[y].wav.pt"
    job = runner.start("format", "a[1]", py(f"""
        import os
        os.makedirs({str(feature.parent)!r}, exist_ok=True)
        open({str(made)!r}, "w").write("x")
        open({str(feature)!r}, "w").write("x")
    """), outputs=[made, str(feature.parent / "*.pt")])
    job = runner.wait(job.id, timeout=30)
    assert job.status == SUCCEEDED, job.reason  # `[1]` is part of the name, not a glob character class
    state = runner.jobs_dir / job.id / "state.json"
    assert oct(state.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
