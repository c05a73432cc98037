"""How many threads the GPT decode uses, chosen from measured step times so a busy machine cannot make it collapse.

Why: one decode step is ~100 small GEMVs, each ending in an OpenMP barrier. On an idle 2-core machine two threads are
~1.5× faster than one; with one core busy elsewhere every barrier waits for a descheduled thread and two threads
become 3-20× slower, while one thread only loses its share of the core. Nothing tells in advance which case holds,
so `ThreadPolicy` tries both on real steps and keeps the faster, re-checking now and then (and at once when the step
time jumps), and tries the many-thread setting only while the machine shows an idle core. It only decides; `ThreadGovernor` applies the decision with `torch.set_num_threads`, times the steps and
restores the caller's thread count afterwards. The policy is fed durations, so its decisions are unit-tested
without clocks.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import torch


class ThreadPolicy:
    """Chooses between `high` threads and 1 thread from the durations of decode steps (and, where known, how many
    cores were idle meanwhile).

    Asymmetric, because the two mistakes cost differently: one thread on an idle machine is ~1.5× slow, `high`
    threads on a busy one can be 3-20× slow. So it starts on 1 thread and tries `high` (a trial of `trial_steps`
    steps) only when at least `min_idle` cores were idle during the recent steps (unknown idle: allowed); a trial
    step slower than twice the current choice ends the trial at once. From `high` it tries 1 thread every
    `interval` steps, and at once when the step time jumps above `jump` × its median at decision time (foreign load
    arrived). A trial that loses pushes the next one out so that trials cost at most `budget` of the decode time
    (interval doubles at least); one that wins by `margin` switches. On `high`, other processes using at least
    `min_foreign` cores during the recent steps (when known) also start a trial of 1 thread, without waiting for the
    interval: load that slows two threads only a little (no jump) still costs more than one thread would; such
    trials back off on their own when they lose.
    """

    def __init__(self, high: int, trial_steps: int = 2, interval: int = 32, max_interval: int = 4096,
                 budget: float = 0.02, margin: float = 0.05, jump: float = 1.5, window: int = 8,
                 min_idle: float | None = None, min_foreign: float = 0.5) -> None:
        self.high = max(1, int(high))
        self.trial_steps = trial_steps
        self.base_interval, self.max_interval = interval, max_interval
        self.budget, self.margin, self.jump = budget, margin, jump
        self.min_idle = 0.5 * (self.high - 1) if min_idle is None else min_idle
        self.samples: dict[int, deque[float]] = {n: deque(maxlen=window) for n in {self.high, 1}}
        self.idle: deque[float] = deque(maxlen=4)  # idle cores seen during recent steps on the choice
        self.min_foreign = min_foreign
        self.foreign: deque[float] = deque(maxlen=4)  # cores other processes used during recent steps
        self.last_foreign: float | None = None  # the latest such reading (kept across switches)
        self.foreign_interval = 4  # steps between trials started by foreign load (doubles when they lose)
        self._foreign_trial = False
        self.choice = 1
        self.reference: float | None = None  # the choice's median when it was chosen
        self.interval = 3  # the first trial of `high` comes after a few steps on 1 thread
        self._plan: list[int] = []  # thread counts of the running trial's remaining steps
        self._trial: list[float] = []
        self._since = 0

    @property
    def other(self) -> int:
        return 1 if self.choice != 1 else self.high

    def next_threads(self) -> int:
        """The thread count for the next step."""
        return self._plan[0] if self._plan else self.choice

    def prefill_threads(self, others_now: int | None = None, cpus: int | None = None) -> int:
        """The thread count for a prefill (many positions at once): `high` unless other processes hold cores. Its
        matmuls are large enough to use every thread well, unlike the step's GEMVs, whose choice is
        `next_threads`'; a prefill on one thread would be slower by about the thread count, one on a core another
        process runs on slower still (measured at v2 size, 2 cores, one busy: 1.1-1.4 s on two threads, 0.75 s on
        one).

        `others_now`: threads of other processes runnable at this instant (`runnable_elsewhere`), when known: the
        prefill gets the cores they leave of `cpus` (default `high`). Without it, other processes seen during the
        latest decode steps (which may be a sentence old) mean one thread."""
        if others_now is not None:
            free = (cpus if cpus else self.high) - others_now
            return max(1, min(self.high, free))
        if self.last_foreign is not None and self.last_foreign >= self.min_foreign:
            return 1
        return self.high

    def record(self, threads: int, seconds: float, idle_cores: float | None = None,
               foreign_cores: float | None = None) -> None:
        """Report a step that ran on `threads` threads (as `next_threads` said), the idle cores meanwhile and the
        cores other processes used meanwhile (None: unknown)."""
        if self.high == 1:
            return
        if self._plan:
            self._plan.pop(0)
            self._trial.append(seconds)
            mine = self._recent()
            if mine is not None and seconds > 2.0 * mine:
                self._plan.clear()  # clearly worse: do not pay for another step of it
            if not self._plan:
                self._decide()
            return
        self.samples[threads].append(seconds)
        if idle_cores is not None:
            self.idle.append(idle_cores)
        if foreign_cores is not None:
            self.foreign.append(foreign_cores)
            self.last_foreign = foreign_cores
        self._since += 1
        if len(self.samples[self.choice]) < 3:
            return
        recent = statistics.median(list(self.samples[self.choice])[-3:])
        jumped = self.reference is not None and recent > self.jump * self.reference
        crowded = (self.choice != 1 and len(self.foreign) >= 2 and self._since >= self.foreign_interval
                   and statistics.median(self.foreign) >= self.min_foreign)
        if not (jumped or crowded or self._since >= self.interval):
            return
        self._foreign_trial = crowded and not jumped and self._since < self.interval
        if self.choice == 1 and self.idle and statistics.median(self.idle) < self.min_idle:
            return  # no idle core for the other threads to run on: they would only wait for it
        self._plan = [self.other] * self.trial_steps

    def _recent(self) -> float | None:
        mine = list(self.samples[self.choice])[-4:]
        return statistics.median(mine) if mine else None

    def _decide(self) -> None:
        """End of a trial: switch when the other count was faster; else push the next trial out."""
        mine = self._recent()
        other_t = statistics.median(self._trial)
        if mine is None or other_t < mine * (1.0 - self.margin):
            old = self.choice
            self.choice = self.other
            self.samples[self.choice].clear()
            self.samples[self.choice].extend(self._trial)
            self.samples[old].clear()
            self.idle.clear()
            self.foreign.clear()
            self.interval = self.base_interval
            self.foreign_interval = 4
        elif self._foreign_trial:
            self.foreign_interval = min(2 * self.foreign_interval, self.max_interval)
        else:
            cost = sum(max(0.0, t - mine) for t in self._trial)
            need = int(cost / (self.budget * mine)) + 1
            self.interval = min(max(2 * self.interval, self.base_interval, need), self.max_interval)
        self.reference = statistics.median(self.samples[self.choice])
        self._trial = []
        self._since = 0
        self._foreign_trial = False


def core_usage_reader(window: float = 0.05) -> Callable[[], tuple[float, float] | None] | None:
    """A function returning (idle cores, cores used by other processes) over the latest window of at least `window`
    seconds (from /proc/stat and this process's CPU time), or None where unavailable. /proc/stat counts in 10 ms
    ticks, so one 10-20 ms step alone would read 0, 1 or 2 cores; the window smooths that."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read() -> tuple[float, float, float, int] | None:
        try:
            lines = stat.read_text().splitlines()
            fields = lines[0].split()
            cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
            idle = (int(fields[4]) + int(fields[5])) / ticks  # idle + iowait seconds
            return time.perf_counter(), idle, time.process_time(), cpus
        except (OSError, ValueError, IndexError):
            return None

    start = [read()]
    latest: list[tuple[float, float] | None] = [None]

    def usage() -> tuple[float, float] | None:
        before = start[0]
        if before is not None and time.perf_counter() - before[0] < window:
            return latest[0]  # within the window: no file read (a decode step can be a few ms)
        now = read()
        if now is None or before is None:
            start[0] = now
            return None
        wall = now[0] - before[0]
        if wall >= window:
            idle = (now[1] - before[1]) / wall
            own = (now[2] - before[2]) / wall
            latest[0] = (idle, max(0.0, now[3] - idle - own))
            start[0] = now
        return latest[0]

    return usage


def _procs_running() -> tuple[int, int]:
    """(runnable tasks, CPUs listed) from /proc/stat."""
    cpus, running = 0, None
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3:4].isdigit():
                cpus += 1
            elif line.startswith("procs_running"):
                running = int(line.split()[1])
    if running is None:
        raise ValueError("no procs_running line in /proc/stat")
    return running, cpus


def _own_running() -> int:
    count = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.rindex(")") + 2 : stat.rindex(")") + 3] == "R":  # the state follows the (name)
            count += 1
    return count


def runnable_elsewhere(samples: int = 3, gap: float = 0.001) -> int | None:
    """Threads of other processes runnable right now: /proc/stat's procs_running minus this process's threads in
    state R, the least of `samples` readings `gap` seconds apart (a task that runs for a moment is not a
    neighbour); None where /proc cannot tell, or where /proc/stat lists more CPUs than this process may use (a
    container pinned to some of a host's cores: the host's tasks on other cores are no neighbours of ours). An
    instant reading, unlike `core_usage_reader`'s window: a prefill starts before any step could be timed."""
    readings = []
    for i in range(samples):
        if i:
            time.sleep(gap)
        try:
            running, listed = _procs_running()
            if listed > usable_cpus():
                return None
            if running <= 1:
                return 0  # only the thread reading: nobody else (and no need to list this process's threads)
            readings.append(max(0, running - _own_running()))
        except (OSError, ValueError, IndexError):
            return None
    return min(readings)


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadGovernor:
    """Applies a ThreadPolicy around one decode: `tick()` at the top of every step; `close()` restores the caller.

    The first interval (the prefill, many positions at once) is not a decode step and is not reported; it runs on
    the policy's `prefill_threads`. When the caller takes the thread count over during the decode (token-chunk
    streaming hands a core to the audio decoder: `taken()` turns True) or changes it behind the governor's back,
    the governor stops: its step times would no longer say what its choice costs, feeding them to the policy would
    skew the next decodes, and a trial of more threads would compete with the caller's other work.
    """

    def __init__(self, policy: ThreadPolicy | None, taken: Callable[[], bool] | None = None,
                 runnable: Callable[[], int | None] = runnable_elsewhere) -> None:
        """`runnable`: how many threads of other processes are runnable now (for the prefill's thread count)."""
        self.policy = policy
        self.taken = taken
        self.runnable = runnable
        self.usage = core_usage_reader() if policy is not None else None
        self.caller_threads = torch.get_num_threads()
        self._threads = self.caller_threads
        self._started: float | None = None
        self._count = 0

    def tick(self) -> None:
        if self.policy is None:
            return
        if torch.get_num_threads() != self._threads or (self.taken is not None and self.taken()):
            self.policy = None  # the caller's from now on
            self._threads = self.caller_threads = torch.get_num_threads()
            return
        now = time.perf_counter()
        usage = self.usage() if self.usage is not None else None
        if self._started is not None and self._count > 1:
            idle, foreign = usage if usage is not None else (None, None)
            self.policy.record(self._threads, now - self._started, idle, foreign)
        self._count += 1
        if self._count > 1:
            wanted = self.policy.next_threads()
        else:
            wanted = self.policy.prefill_threads(self.runnable(), usable_cpus())
        if wanted != self._threads:
            torch.set_num_threads(wanted)
            self._threads = wanted
        self._started = time.perf_counter()

    def close(self) -> None:
        if self._threads != self.caller_threads:
            torch.set_num_threads(self.caller_threads)
            self._threads = self.caller_threads
