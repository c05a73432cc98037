"""Cooperative cancellation for a synthesis: a client that left, a Stop button or a deadline ends the work.

The pipeline calls `check()` between sentences and every few dozen GPT steps, so abandoning a long text frees the
models within one sentence's decode instead of after the whole text.
"""

from __future__ import annotations

import threading
import time

# How often (in GPT decode steps) the pipeline looks at the token: cheap enough to do often, frequent enough that a
# cancelled request stops within a fraction of a second of GPT work.
CHECK_EVERY_STEPS = 32


class Cancelled(Exception):
    """The synthesis was stopped on purpose (not an error in the request); `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CancelToken:
    """Set once by whoever may stop the work (any thread); polled by the thread doing the work."""

    def __init__(self, timeout: float | None = None):
        """`timeout`: seconds from now after which `check()` raises (None: no deadline)."""
        self._event = threading.Event()
        self._reason = ""
        self.timed_out = False  # True when the deadline (not a person or a disconnect) ended the work
        self.deadline = None if timeout is None else time.monotonic() + float(timeout)

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            self.cancel("the request took longer than the server's time limit")
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def check(self) -> None:
        """Raise `Cancelled` if the work should stop."""
        if self.cancelled:
            raise Cancelled(self._reason)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when cancelled; True if cancelled."""
        self._event.wait(seconds)
        return self.cancelled


class AnyCancel:
    """Several tokens checked as one (a request's own token and the one its reader cancels by leaving)."""

    def __init__(self, *tokens: CancelToken | None):
        self.tokens = [t for t in tokens if t is not None]

    @property
    def cancelled(self) -> bool:
        return any(t.cancelled for t in self.tokens)

    def check(self) -> None:
        for token in self.tokens:
            token.check()
