"""One thread runs all model work; requests wait in a bounded queue, results flow back through bounded buffers.

Why: the models are not re-entrant and a CPU has no room for two syntheses, but the HTTP side must never wait on
them. The event loop only submits jobs and awaits their output, so a slow or vanished client never holds the models
(the worker gives up on a client that stops reading after `stall_timeout`), a full queue is refused at once, and
weight switches (priority jobs) jump ahead of queued syntheses instead of being starved by them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from typing import Any, AsyncIterator, Callable

from gpt_sovits.infer.cancel import Cancelled, CancelToken

log = logging.getLogger(__name__)

PRIORITY_CONTROL = 0  # /set_* calls: short, and must not wait behind a queue of long syntheses
PRIORITY_TTS = 1

Work = Callable[[CancelToken, Callable[[Any], None]], None]


class QueueFull(Exception):
    """Too many requests are waiting; the client should retry later."""


class WorkerStopped(Exception):
    """The server is shutting down."""


class _End:
    def __init__(self, error: BaseException | None):
        self.error = error


class Job:
    """A unit of model work plus the bounded channel its output travels through to one async consumer."""

    def __init__(self, work: Work, token: CancelToken, loop: asyncio.AbstractEventLoop, buffer: int = 4,
                 stall_timeout: float = 60.0, cleanup: Callable[[], None] | None = None):
        self.work = work
        self.token = token
        self._loop = loop
        self._items: asyncio.Queue = asyncio.Queue()  # unbounded: the semaphore below is the bound
        self._slots = threading.Semaphore(buffer)
        self._stall_timeout = stall_timeout
        self._cleanup = cleanup
        self._done = threading.Event()
        self.started = threading.Event()

    # ---- worker side --------------------------------------------------------------------------------------------
    def emit(self, item: Any) -> None:
        """Hand one item to the consumer, waiting while its buffer is full (never longer than the stall timeout)."""
        waited = 0.0
        while not self._slots.acquire(timeout=0.25):
            self.token.check()
            waited += 0.25
            if waited >= self._stall_timeout:
                self.token.cancel("the client stopped reading the response")
                self.token.check()
        self.token.check()
        self._post(item)

    def finish(self, error: BaseException | None) -> None:
        """Signal the end (idempotent) and delete the request's temporary files."""
        if self._done.is_set():
            return
        self._done.set()
        self._post(_End(error))
        if self._cleanup is not None:
            try:
                self._cleanup()
            except Exception:  # cleanup must never take the worker down
                log.exception("cleanup of a request failed")

    def _post(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:  # the event loop is gone (shutdown): nobody is listening any more
            self.token.cancel("the server is shutting down")

    # ---- async side ---------------------------------------------------------------------------------------------
    async def results(self) -> AsyncIterator[Any]:
        """The items emitted by the work, then its error (if any) raised; cancelling the consumer cancels the job."""
        try:
            while True:
                item = await self._items.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                self._slots.release()
                yield item
        finally:
            if not self._done.is_set():
                self.token.cancel("the client went away")


class SynthesisWorker:
    """A single daemon thread consuming a priority queue of jobs; at most `max_queue` syntheses may wait."""

    def __init__(self, max_queue: int = 16, name: str = "synthesis-worker"):
        self.max_queue = max_queue
        self._cv = threading.Condition()
        self._heap: list[tuple[int, int, Job]] = []
        self._seq = itertools.count()
        self._current: Job | None = None
        self._stopping = False
        self.completed = 0  # jobs finished (any outcome): lets tests observe progress without timing
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Job, priority: int = PRIORITY_TTS) -> None:
        with self._cv:
            if self._stopping:
                raise WorkerStopped("the server is shutting down")
            waiting = sum(1 for p, _, _ in self._heap if p == PRIORITY_TTS)
            if priority == PRIORITY_TTS and waiting >= self.max_queue:
                raise QueueFull(f"{waiting} requests are already waiting")
            heapq.heappush(self._heap, (priority, next(self._seq), job))
            self._cv.notify()

    def waiting(self) -> int:
        with self._cv:
            return len(self._heap)

    def stop(self, reason: str = "the server is shutting down") -> None:
        """Refuse new jobs, cancel the running one (it stops at its next check) and every queued one."""
        with self._cv:
            self._stopping = True
            pending = [job for _, _, job in self._heap]
            self._heap.clear()
            current = self._current
            self._cv.notify_all()
        if current is not None:
            current.token.cancel(reason)
        for job in pending:
            job.token.cancel(reason)
            job.finish(Cancelled(reason))

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._stopping:
                    self._cv.wait()
                if not self._heap:
                    return
                _, _, job = heapq.heappop(self._heap)
                self._current = job
            job.started.set()
            error: BaseException | None = None
            try:
                job.token.check()  # cancelled or out of time while it waited
                job.work(job.token, job.emit)
            except BaseException as e:  # handed to the request that owns the job
                error = e
            finally:
                job.finish(error)
                with self._cv:
                    self._current = None
                    self.completed += 1

