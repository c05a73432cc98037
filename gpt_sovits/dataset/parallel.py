"""Run one step's tasks in one process or split over N worker processes (upstream's `i_part/all_parts`).

Worker `i` of `n` takes tasks `i, i+n, i+2n, ...`; the caller merges results by line, so the outputs do not depend on
the number of workers. Results stream back through a queue for live progress. A worker that cannot load its model
or dies reports every task it had not finished as failed, with the reason.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from dataclasses import replace
from typing import Callable

from gpt_sovits.dataset.steps import ItemResult, StepSettings, Task, make_worker, run_task

ResultCallback = Callable[[ItemResult], None]


def run_in_process(settings: StepSettings, tasks: list[Task], on_result: ResultCallback) -> None:
    """All tasks in this process with one model instance."""
    if not tasks:
        return
    try:
        worker = make_worker(settings)
    except Exception as e:  # model cannot be loaded: every line fails with the same clear reason
        reason = f"cannot load the model {settings.model_path}: {type(e).__name__}: {e}"
        for task in tasks:
            on_result(ItemResult(task.item.name, None, reason))
        return
    for task in tasks:
        on_result(run_task(worker, task))


def _worker_main(settings: StepSettings, tasks: list[Task], threads: int, out: "mp.Queue") -> None:
    """Entry point of a worker process: results go to `out`, then ("end",)."""
    import torch

    torch.set_num_threads(threads)
    try:
        try:
            worker = make_worker(settings)
        except Exception as e:
            reason = f"cannot load the model {settings.model_path}: {type(e).__name__}: {e}"
            for task in tasks:
                out.put(("result", ItemResult(task.item.name, None, reason)))
            return
        for task in tasks:
            out.put(("result", run_task(worker, task)))
    except BaseException:  # report, then let the parent mark what is left as failed
        out.put(("error", traceback.format_exc()))
    finally:
        out.put(("end",))


def run_sharded(settings: StepSettings, tasks: list[Task], workers: int, devices: list[str],
                on_result: ResultCallback, threads_per_worker: int | None = None) -> None:
    """Run `tasks` over `workers` processes (worker i on devices[i % len(devices)]); one worker runs in-process."""
    workers = max(1, min(workers, len(tasks)))
    devices = devices or [settings.device]
    if workers == 1:
        run_in_process(replace(settings, device=devices[0]), tasks, on_result)
        return
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")  # never fork a process that may hold CUDA or OpenMP state
    out = ctx.Queue()
    procs = []
    remaining: list[dict[str, Task]] = []
    owner: dict[str, int] = {}
    for i in range(workers):
        part = tasks[i::workers]
        remaining.append({t.item.name: t for t in part})
        owner.update({t.item.name: i for t in part})
    # One queue for all workers; each message names its line, so results are attributed by name.
    for i in range(workers):
        part = tasks[i::workers]
        p = ctx.Process(target=_worker_main, args=(replace(settings, device=devices[i % len(devices)]), part,
                                                   threads, out), daemon=True)
        p.start()
        procs.append(p)
    ended = 0
    errors: list[str] = []
    draining = False
    try:
        while ended < workers:
            try:
                msg = out.get(timeout=1.0)
            except queue.Empty:
                if draining:
                    break  # every worker is gone and nothing more came; what did not come back failed
                draining = all(not p.is_alive() for p in procs)
                continue
            if msg[0] == "result":
                result: ItemResult = msg[1]
                remaining[owner[result.name]].pop(result.name, None)
                on_result(result)
            elif msg[0] == "error":
                errors.append(msg[1].strip().splitlines()[-1])
            elif msg[0] == "end":
                ended += 1
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    for i, left in enumerate(remaining):
        if not left:
            continue
        why = errors[0] if errors else f"worker process {i + 1} exited with code {procs[i].exitcode}"
        for task in left.values():
            on_result(ItemResult(task.item.name, None, f"worker {i + 1} of {workers} failed: {why}"))
