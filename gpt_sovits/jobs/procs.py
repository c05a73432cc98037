"""Process facts the job runner needs, read from the OS without extra dependencies.

Linux: /proc gives each process's state, parent, process group and start time (the start time guards against a
recycled pid being mistaken for our job). Elsewhere we fall back to `os.kill(pid, 0)`, which cannot tell a
recycled pid apart; that is the best the standard library offers there.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str  # one letter: R S D Z T ...
    start_ticks: int  # clock ticks after boot; with the pid it identifies one process


def proc_info(pid: int) -> ProcInfo | None:
    """Facts about `pid` from /proc, or None if it does not exist (or /proc is unavailable)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    # "pid (comm) state ppid pgrp session ... starttime(22nd field)"; comm may contain spaces and ')'.
    rest = raw[raw.rindex(")") + 2:].split()
    return ProcInfo(pid=pid, ppid=int(rest[1]), pgid=int(rest[2]), state=rest[0], start_ticks=int(rest[19]))


def has_proc() -> bool:
    return (_PROC / "self" / "stat").exists()


def start_token(pid: int) -> int | None:
    """An identity token for a live process (its start time), or None if unknown."""
    info = proc_info(pid)
    return info.start_ticks if info else None


def is_alive(pid: int, token: int | None = None) -> bool:
    """True if `pid` runs (zombies count as dead) and, when `token` is given, is the same process as before."""
    if pid <= 0:
        return False
    if has_proc():
        info = proc_info(pid)
        if info is None or info.state in ("Z", "X"):
            return False
        return token is None or info.start_ticks == token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _all_procs() -> list[ProcInfo]:
    out = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name))
            if info is not None:
                out.append(info)
    return out


def tree_pids(root_pid: int, pgid: int | None = None) -> set[int]:
    """Live (non-zombie) pids of the process group `pgid` plus every descendant of `root_pid`.

    Descendants are included even if they moved to another process group or session, so a stage that
    daemonises a helper is still stopped.
    """
    if not has_proc():
        return {root_pid} if is_alive(root_pid) else set()
    procs = [p for p in _all_procs() if p.state not in ("Z", "X")]
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    found = {p.pid for p in procs if pgid is not None and p.pgid == pgid}
    stack = [root_pid, *found]
    alive = {p.pid for p in procs}
    while stack:
        pid = stack.pop()
        if pid in alive:
            found.add(pid)
        for child in children.get(pid, ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found & alive


def signal_tree(root_pid: int, pgid: int | None, sig: int) -> set[int]:
    """Send `sig` to the process group and to every descendant; returns the pids signalled."""
    pids = tree_pids(root_pid, pgid)
    if pgid is not None and hasattr(os, "killpg"):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def kill_tree(root_pid: int, pgid: int | None, grace_s: float = 5.0, poll_s: float = 0.1) -> bool:
    """Terminate a process tree, then kill whatever is left after `grace_s`. True if nothing is left."""
    term = signal.SIGTERM
    kill = getattr(signal, "SIGKILL", term)
    signal_tree(root_pid, pgid, term)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not tree_pids(root_pid, pgid):
            return True
        time.sleep(poll_s)
    signal_tree(root_pid, pgid, kill)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not tree_pids(root_pid, pgid):
            return True
        time.sleep(poll_s)
    return not tree_pids(root_pid, pgid)
