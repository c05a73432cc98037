"""One long-lived thread for the pipeline's model work, whichever thread asks for it.

Why: PyTorch's OpenMP runtime on Linux (libgomp) gives every thread that runs a parallel region a team of worker
threads of its own, kept until that thread exits, and once the process holds more OpenMP threads than CPUs its
barriers stop spinning and put threads to sleep (a futex wake per parallel region). A second team on a 2-core
machine therefore slows every operator: measured 1.5-1.9x on the first-audio path (the GPT's prefill and first
tokens, the first chunk's decode) when the request's thread had run the BERT and a worker ran the GPT. Servers make
it worse: each WebUI or API handler thread that once ran a model would keep a team.

So the models run here only: `call` for one piece of work (loading weights), `produce` for a stream (a request's
sentences or chunks). Work runs in the order it was submitted, with the torch thread count of the thread that
submitted it. Helpers that run beside it (the audio decoder of token streaming) use one torch thread, which needs
no team. One instance serves the whole process (`shared`): the teams are a process-wide resource.

Any other long-lived thread that runs one multi-threaded torch operation (even a large `torch.randn`) gets a team
and brings the slowdown back for the rest of the process: a benchmark whose main thread drew its random inputs
measured the exact GPT at 42 ms/token instead of 23. Work of our own that is not a pipeline method goes through
`call` too (the benchmarks do).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from typing import Any, Callable, Iterator, TypeVar

import torch

from gpt_sovits.infer.cancel import CancelToken
from gpt_sovits.memory import claim_current_heap, share_one_heap, spare_arenas

T = TypeVar("T")
log = logging.getLogger(__name__)


class ComputeThread:
    """A daemon thread that runs submitted work one item at a time (started on first use)."""

    def __init__(self, name: str = "gsv-compute"):
        self.name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def on_thread(self) -> bool:
        """True when called from this compute thread (work submitted from here runs inline)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def _submit(self, job: Callable[[], None]) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                # heaps of their own for this thread's OpenMP workers, then one shared heap for the rest: else the
                # compute thread's own heap holds freed blocks apart, or its workers queue on the shared heap's
                # lock (memory.py)
                release_spares = spare_arenas(torch.get_num_threads() - 1)
                share_one_heap()
                self._thread = threading.Thread(target=self._run, args=(release_spares,), name=self.name,
                                                daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self, release_spares: Callable[[], None]) -> None:
        claim_current_heap()  # the shared heap, before the spare heaps are freed for the workers started next
        release_spares()
        while True:
            self._jobs.get()()  # a job never raises: it hands its outcome to its submitter

    @staticmethod
    def _with_threads(threads: int, fn: Callable[[], T]) -> T:
        torch.get_num_threads()  # torch sets a new thread's count on its first query; do that before ours
        torch.set_num_threads(max(1, int(threads)))
        return fn()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on the compute thread, wait, and return its result (or raise its error)."""
        if self.on_thread():
            return fn(*args, **kwargs)
        threads = torch.get_num_threads()
        done = threading.Event()
        box: list = [None, None]

        def job() -> None:
            try:
                box[0] = self._with_threads(threads, lambda: fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - re-raised in the submitter
                box[1] = e
            finally:
                done.set()

        self._submit(job)
        done.wait()
        if box[1] is not None:
            raise box[1]
        return box[0]

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue `fn(*args, **kwargs)` on the compute thread and return at once (background work such as preloading
        models). An error is logged, not raised: whoever needs the result meets it again and reports it."""
        threads = torch.get_num_threads()

        def job() -> None:
            try:
                self._with_threads(threads, lambda: fn(*args, **kwargs))
            except Exception:  # noqa: BLE001 - background work: logged, the thread goes on
                log.warning("background work %s failed", getattr(fn, "__qualname__", fn), exc_info=True)

        if self.on_thread():
            job()
        else:
            self._submit(job)

    def produce(self, body: Callable[[Callable[[T], None], CancelToken], None]) -> Iterator[T]:
        """Run `body(emit, gone)` on the compute thread and yield here each item it passes to `emit`, as it comes.

        The body runs ahead of a slow reader (its items wait in an unbounded queue), so it never holds the compute
        thread waiting for one. Closing this iterator cancels `gone` (the body checks it; `emit` raises
        `Cancelled` once it is set) and waits until the body has returned, so the models are free when `close()`
        returns. An error in the body is raised here, after the items emitted before it.
        """
        gone = CancelToken()
        if self.on_thread():  # nested: run it here and hand the items over at the end
            items: list = []
            body(items.append, gone)
            yield from items
            return
        threads = torch.get_num_threads()
        out: queue.SimpleQueue = queue.SimpleQueue()
        finished = threading.Event()
        end = object()

        def emit(item: T) -> None:
            gone.check()
            out.put(item)

        def job() -> None:
            try:
                self._with_threads(threads, lambda: body(emit, gone))
                out.put(end)
            except BaseException as e:  # noqa: BLE001 - re-raised in the reader
                out.put(_Failed(e))
            finally:
                finished.set()

        self._submit(job)
        try:
            while True:
                item = out.get()
                if item is end:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            gone.cancel("the reader closed the stream")
            finished.wait()


def on_compute_thread(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a method of an object with a `compute` ComputeThread: the method runs there (inline when already)."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any) -> T:
        return self.compute.call(method, self, *args, **kwargs)

    return wrapper


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_shared: ComputeThread | None = None
_shared_lock = threading.Lock()


def shared() -> ComputeThread:
    """The process's compute thread (one OpenMP team for every pipeline in the process)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ComputeThread()
        return _shared
