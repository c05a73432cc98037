"""Inference for many interactive sessions (WebUI browser tabs) sharing one process.

Each session has its own choice of weights and fast-CPU mode; one compute pipeline serves them all, so applying a
session's choice and generating happen in one locked call (a session can never synthesise with weights another
session just loaded). Loaded weights are kept in a small cache, so sessions alternating between two models do not
reload them. The work runs on a thread that hands sentences over through a bounded buffer: the lock is never held
while the caller is away, and a Stop (or a caller that goes away) cancels the work between sentences or within a few
dozen GPT steps.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from gpt_sovits.infer.cancel import Cancelled, CancelToken
from gpt_sovits.infer.pipeline import ModelMissingError, SentenceAudio, TTSPipeline
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.paths import ProjectPaths

BUFFER = 4  # sentences produced ahead of a slow reader
STALL_SECONDS = 120.0  # a reader that takes nothing for this long is treated as gone


@dataclass(frozen=True)
class ModelChoice:
    gpt: Path
    sovits: Path
    fast_cpu: bool = False


class _End:
    def __init__(self, error: BaseException | None = None):
        self.error = error


class SharedModels:
    """One pipeline plus cached weights, used by every session through `stream()`."""

    def __init__(self, paths: ProjectPaths, device: str | None = None, keep: int = 2):
        self.pipeline = TTSPipeline(paths, device=device)
        self._lock = threading.Lock()
        self._keep = keep
        self._gpts: OrderedDict[tuple, object] = OrderedDict()
        self._sovits: OrderedDict[tuple, object] = OrderedDict()

    @property
    def device_type(self) -> str:
        return self.pipeline.device.type

    def _cached(self, cache: OrderedDict, key: tuple, load) -> object:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        value = load()
        cache[key] = value
        while len(cache) > self._keep:
            cache.popitem(last=False)
        return value

    def _apply(self, choice: ModelChoice) -> None:
        """Make the pipeline use `choice` (called with the lock held)."""
        pipe = self.pipeline
        gpt, sovits = Path(choice.gpt), Path(choice.sovits)
        for kind, path in (("GPT", gpt), ("SoVITS", sovits)):
            if not path.is_file():
                raise ModelMissingError(f"{kind} weights not found: {path}")
        pipe.fast_cpu = bool(choice.fast_cpu) and pipe.device.type == "cpu" and not pipe.half

        def load_gpt():
            pipe.load_gpt(gpt)
            return pipe.gpt

        def load_sovits():
            pipe.load_sovits(sovits)
            return pipe.sovits

        # the file's size and mtime are in the key: a retrained file under the same name is loaded afresh
        gpt_key = (str(gpt.resolve()), *_stamp(gpt), pipe.fast_cpu)
        pipe.gpt, pipe.gpt_path = self._cached(self._gpts, gpt_key, load_gpt), gpt
        sovits_key = (str(sovits.resolve()), *_stamp(sovits), pipe.fast_cpu)  # fast mode: a bf16 decoder
        pipe.sovits, pipe.sovits_path = self._cached(self._sovits, sovits_key, load_sovits), sovits

    def stream(self, choice: ModelChoice, req: TTSRequest, cancel: CancelToken) -> Iterator[int | SentenceAudio]:
        """The seed used, then each sentence. Closing the iterator early cancels the work."""
        buffer: queue.Queue = queue.Queue(maxsize=BUFFER)

        def put(item) -> None:
            waited = 0.0
            while True:
                try:
                    buffer.put(item, timeout=0.25)
                    return
                except queue.Full:
                    cancel.check()
                    waited += 0.25
                    if waited > STALL_SECONDS:
                        cancel.cancel("nobody is reading the result")

        def produce() -> None:
            error: BaseException | None = None
            try:
                with self._lock:
                    cancel.check()
                    self._apply(choice)
                    for sentence in self.pipeline.stream(req, on_seed=put, cancel=cancel):
                        put(sentence)
            except BaseException as e:  # handed to the reader
                error = e
            try:
                put(_End(error))
            except Cancelled:
                pass  # the reader is gone

        worker = threading.Thread(target=produce, name="session-synthesis", daemon=True)
        worker.start()
        try:
            while True:
                item = buffer.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            cancel.cancel("stopped")


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@dataclass
class SessionState:
    """What one browser session owns: its running synthesis (to stop it) and its result file (to replace it)."""

    folder: Path
    token: CancelToken | None = None
    result: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CancelToken:
        """A token for a new run; a run still going in this session is stopped first."""
        with self.lock:
            if self.token is not None:
                self.token.cancel("replaced by a new synthesis")
            self.token = CancelToken()
            return self.token

    def stop(self) -> bool:
        with self.lock:
            if self.token is None or self.token.cancelled:
                return False
            self.token.cancel("stopped by the user")
            return True

    def new_result_path(self) -> Path:
        """Where to write the next result (`.../result.wav` in a fresh run folder); the previous run's folder is
        deleted, since its result is superseded."""
        with self.lock:
            if self.result is not None:
                shutil.rmtree(self.result.parent, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            self.result = Path(tempfile.mkdtemp(prefix="run_", dir=self.folder)) / "result.wav"
            return self.result


class Sessions:
    """Per-session state keyed by the browser session id; the oldest sessions beyond `limit` are dropped (their
    work stopped and files deleted). Results live under `root`, which is emptied at start."""

    def __init__(self, root: Path, limit: int = 64):
        self.root = Path(root)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._limit = limit
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()

    def get(self, key: str) -> SessionState:
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
            state = SessionState(Path(tempfile.mkdtemp(prefix="session_", dir=self.root)))
            self._sessions[key] = state
            evicted = []
            while len(self._sessions) > self._limit:
                evicted.append(self._sessions.popitem(last=False)[1])
        for old in evicted:
            old.stop()
            shutil.rmtree(old.folder, ignore_errors=True)
        return state

    def drop(self, key: str) -> None:
        with self._lock:
            state = self._sessions.pop(key, None)
        if state is not None:
            state.stop()
            shutil.rmtree(state.folder, ignore_errors=True)
