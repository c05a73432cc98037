"""Run the planned steps in this process or split over N worker processes (upstream's `i_part/all_parts`).

Worker `i` of `n` takes the lines whose index in the list is `i, i+n, i+2n, ...` and runs every planned step on them
in order (text, then hubert, then semantic), so each process starts once and a line's semantic tokens are computed
by the process that just wrote its HuBERT features. The caller merges results by line, so outputs do not depend on
the number of workers. Results stream back through a queue for live progress. A worker that cannot load a model
or dies reports every task it had not finished as failed, with the reason.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

from gpt_sovits.dataset.steps import HUBERT, SEMANTIC, SV, ItemResult, StepSettings, Task, make_worker, run_task

ResultCallback = Callable[[ItemResult], None]


@dataclass(frozen=True)
class StepPlan:
    settings: StepSettings
    tasks: list[Task]


def _run_part(plans: list[StepPlan], part: int, parts: int, device: str, emit: ResultCallback) -> None:
    """Every plan's tasks of lines `part, part+parts, ...`, step after step, one model loaded at a time."""
    failed_hubert: set[str] = set()
    for plan in plans:
        step = plan.settings.step
        mine = [t for t in plan.tasks if t.item.index % parts == part]
        if not mine:
            continue
        try:
            worker = make_worker(replace(plan.settings, device=device))
        except Exception as e:  # noqa: BLE001 -- model cannot be loaded: every line of this step fails with it
            reason = f"cannot load the model {plan.settings.model_path}: {type(e).__name__}: {e}"
            for task in mine:
                emit(ItemResult(step, task.item.name, None, reason))
            if step == HUBERT:
                failed_hubert.update(t.item.name for t in mine)
            continue
        for task in mine:
            if step in (SV, SEMANTIC) and task.item.name in failed_hubert:
                result = ItemResult(step, task.item.name, None, "no 32 kHz audio / HuBERT features (step 1Ab failed "
                                    "for this line)")
            else:
                result = run_task(worker, task)
            if step == HUBERT and result.error is not None:
                failed_hubert.add(task.item.name)
            emit(result)
        del worker  # free this step's model before loading the next one


def _with_threads(threads: int | None, fn: Callable[[], None]) -> None:
    if not threads:
        fn()
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fn()
    finally:
        torch.set_num_threads(before)


def _worker_main(plans: list[StepPlan], part: int, parts: int, device: str, threads: int, out: mp.Queue) -> None:
    """Entry point of a worker process: results go to `out`, then ("end",)."""
    import torch

    torch.set_num_threads(threads)
    try:
        _run_part(plans, part, parts, device, lambda r: out.put(("result", r)))
    except BaseException:  # noqa: BLE001 -- reported; the parent marks what is left as failed
        out.put(("error", traceback.format_exc()))
    finally:
        out.put(("end",))


def run_plans(plans: list[StepPlan], workers: int, devices: list[str], on_result: ResultCallback,
              threads_per_worker: int | None = None) -> None:
    """Run all plans over `workers` processes (worker i on devices[i % len(devices)]); one worker runs in-process.

    Each worker process uses `threads_per_worker` torch threads (default: the cores divided by the workers); the
    in-process worker keeps the current setting unless `threads_per_worker` is given. CPU float results can
    depend on the thread count, so outputs are byte-identical across worker counts for equal threads per worker.
    """
    n_tasks = sum(len(p.tasks) for p in plans)
    if n_tasks == 0:
        return
    devices = devices or ["cpu"]
    workers = max(1, min(workers, max(t.item.index for p in plans for t in p.tasks) + 1))
    if workers == 1:
        _with_threads(threads_per_worker, lambda: _run_part(plans, 0, 1, devices[0], on_result))
        return
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")  # never fork a process that may hold CUDA or OpenMP state
    out = ctx.Queue()
    pending: dict[tuple[str, str], int] = {}  # (step, name) -> worker, until its result arrives
    for plan in plans:
        for task in plan.tasks:
            pending[(plan.settings.step, task.item.name)] = task.item.index % workers
    procs = []
    for i in range(workers):
        p = ctx.Process(target=_worker_main, args=(plans, i, workers, devices[i % len(devices)], threads, out),
                        daemon=True)
        p.start()
        procs.append(p)
    ended = 0
    errors: dict[int, str] = {}
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
                pending.pop((result.step, result.name), None)
                on_result(result)
            elif msg[0] == "error":
                errors[len(errors)] = msg[1].strip().splitlines()[-1]
            elif msg[0] == "end":
                ended += 1
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    for (step, name), i in sorted(pending.items(), key=lambda kv: kv[1]):
        why = next(iter(errors.values()), None) or f"worker process exited with code {procs[i].exitcode}"
        on_result(ItemResult(step, name, None, f"worker {i + 1} of {workers} failed: {why}"))
