"""How many threads the GPT decode uses, chosen from measured step times so a busy machine cannot make it collapse.

Why: one decode step is ~100 small GEMVs, each ending in an OpenMP barrier. On an idle 2-core machine two threads are
~1.5× faster than one; with one core busy elsewhere every barrier waits for a descheduled thread and two threads
become 3-10× slower, while one thread only loses its share of the core. Nothing tells in advance which case holds,
so `ThreadPolicy` tries both on real steps and keeps the faster, re-checking now and then (and at once when the step
time jumps). It only decides; `ThreadGovernor` applies the decision with `torch.set_num_threads`, times the steps and
restores the caller's thread count afterwards. The policy is fed durations, so its decisions are unit-tested
without clocks.
"""

from __future__ import annotations

import statistics
import time
from collections import deque

import torch


class ThreadPolicy:
    """Chooses between `high` threads and 1 thread from the durations of decode steps.

    Probe: alternate high, 1, high, 1, ... for `probe_steps` steps, then keep the count with the lower median.
    Re-check: after `interval` steps on the choice, run `recheck_steps` steps on the other count and switch when it
    is faster by `margin`; a confirmed choice doubles the interval (up to `max_interval`), so the cost of checking
    fades on a steady machine. A jump of the choice's recent median above `jump` × its median at decision time
    (foreign load arrived) triggers a re-check at once.
    """

    def __init__(self, high: int, probe_steps: int = 4, recheck_steps: int = 2, interval: int = 48,
                 max_interval: int = 768, margin: float = 0.05, jump: float = 1.5, window: int = 8) -> None:
        self.high = max(1, int(high))
        self.probe_steps, self.recheck_steps = probe_steps, recheck_steps
        self.base_interval, self.max_interval = interval, max_interval
        self.margin, self.jump = margin, jump
        self.samples: dict[int, deque[float]] = {n: deque(maxlen=window) for n in {self.high, 1}}
        self.choice = self.high
        self.reference: float | None = None  # the choice's median when it was chosen
        self.interval = interval
        self._plan: list[int] = [self.high, 1] * (probe_steps // 2) if self.high > 1 else []
        self._since_check = 0
        self._checking: list[float] = []  # durations of the current re-check steps on the other count

    @property
    def other(self) -> int:
        return 1 if self.choice != 1 else self.high

    def next_threads(self) -> int:
        """The thread count for the next step."""
        if self._plan:
            return self._plan[0]
        return self.choice

    def record(self, threads: int, seconds: float) -> None:
        """Report the duration of a step that ran on `threads` threads (as returned by `next_threads`)."""
        if self.high == 1:
            return
        if self._plan and threads == self._plan[0]:
            self._plan.pop(0)
            if threads != self.choice:
                self._checking.append(seconds)
            else:
                self.samples[threads].append(seconds)
            if not self._plan:
                self._decide()
            return
        self.samples[threads].append(seconds)
        if threads != self.choice:
            return
        self._since_check += 1
        recent = list(self.samples[threads])[-3:]
        jumped = self.reference is not None and len(recent) == 3 and statistics.median(recent) > self.jump * self.reference
        if jumped:
            self.interval = self.base_interval
        if jumped or self._since_check >= self.interval:
            self._plan = [self.other] * self.recheck_steps

    def _decide(self) -> None:
        """End of a probe or re-check: compare the other count's fresh steps with the choice's recent ones."""
        if self._checking and self.samples[self.choice]:
            other_t = statistics.median(self._checking)
            mine = statistics.median(list(self.samples[self.choice])[-4:])
            if other_t < mine * (1.0 - self.margin):
                old = self.choice
                self.choice = self.other
                self.samples[self.choice].clear()
                self.samples[self.choice].extend(self._checking)
                self.samples[old].clear()
                self.interval = self.base_interval
            else:
                self.interval = min(2 * self.interval, self.max_interval)
        self.reference = statistics.median(self.samples[self.choice]) if self.samples[self.choice] else None
        self._checking = []
        self._since_check = 0


class ThreadGovernor:
    """Applies a ThreadPolicy around one decode: `tick()` at the top of every step; `close()` restores the caller.

    The first interval (the prefill, many positions at once) is not a decode step and is not reported.
    """

    def __init__(self, policy: ThreadPolicy | None) -> None:
        self.policy = policy
        self.caller_threads = torch.get_num_threads()
        self._threads = self.caller_threads
        self._started: float | None = None
        self._count = 0

    def tick(self) -> None:
        if self.policy is None:
            return
        now = time.perf_counter()
        if self._started is not None and self._count > 1:
            self.policy.record(self._threads, now - self._started)
        self._count += 1
        # the prefill runs on the current choice; decode steps follow the policy's plan
        wanted = self.policy.next_threads() if self._count > 1 else self.policy.choice
        if wanted != self._threads:
            torch.set_num_threads(wanted)
            self._threads = wanted
        self._started = time.perf_counter()

    def close(self) -> None:
        if self._threads != self.caller_threads:
            torch.set_num_threads(self.caller_threads)
            self._threads = self.caller_threads
