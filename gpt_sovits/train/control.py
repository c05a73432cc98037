"""How a training run starts, stops and fails: device and precision, Stop by signal, plain-word errors.

Both trainers run as child processes of the job runner. The job's Stop sends SIGTERM: the loop finishes the step
it is in, saves a resume checkpoint and exits 0. Failures that a user can act on (no data, NaN loss, out of memory,
full disk) end with a message in plain words and a distinct exit code, so the WebUI can say what to change.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import torch

from gpt_sovits.dataset.readers import MissingFormattedData
from gpt_sovits.train.checkpoint import CheckpointWriteError

EXIT_FAILED = 1
EXIT_BAD_DATA = 3
EXIT_NONFINITE = 4
EXIT_OOM = 5
EXIT_DISK = 6


class TrainingError(Exception):
    """A failure the user can act on; `str(e)` is the message shown, `exit_code` tells the kind."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class StopSignal:
    """While active, SIGTERM/SIGINT only set `requested`; the loop checks it between steps and stops cleanly.

    A second signal restores the default behaviour, so an impatient second Ctrl+C still ends the process.
    """

    SIGNALS = ("SIGTERM", "SIGINT")

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "StopSignal":
        for name in self.SIGNALS:
            if hasattr(signal, name):
                signum = getattr(signal, name)
                try:
                    self._previous[signum] = signal.signal(signum, self._handle)
                except ValueError:  # not the main thread: signals cannot be caught here
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def check_finite(losses: Mapping[str, Any], step: int) -> None:
    """Raise a TrainingError naming the step and the terms when any loss is NaN or infinite."""
    bad = []
    for name, value in losses.items():
        v = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        if not bool(torch.isfinite(v).all()):
            bad.append(f"{name}={float(v.float().sum())}")
    if bad:
        raise TrainingError(
            f"The loss became non-finite at step {step} ({', '.join(bad)}). Training stopped; the last saved "
            "checkpoint is kept. Try a lower learning rate or another precision (fp32), or check the data.",
            EXIT_NONFINITE,
        )


def resolve_device(spec: str = "auto") -> torch.device:
    """'auto' → the first CUDA GPU if any, else CPU; 'cpu', 'cuda', 'cuda:N' as given (checked)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as e:
        raise TrainingError(f"Unknown device {spec!r}: use cpu, cuda or cuda:N.") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"Device {spec!r} was asked for, but no CUDA GPU is available here. Use --device cpu.")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"Device {spec!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s).")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise TrainingError(f"Device {spec!r} is not supported for training: use cpu, cuda or cuda:N.")
    return device


@dataclass(frozen=True)
class Precision:
    """The numeric precision of a run: fp32, or fp16/bf16 autocast on CUDA (fp16 with loss scaling)."""

    device: torch.device
    dtype: torch.dtype | None  # None: plain fp32

    @property
    def name(self) -> str:
        return {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is active only for fp16 (bf16 and fp32 need no loss scaling)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype is torch.float16)


def choose_precision(device: torch.device, requested: str = "auto") -> Precision:
    """'auto': fp16 on CUDA (as upstream), fp32 on CPU. fp16/bf16 need a CUDA GPU (bf16 one that supports it)."""
    requested = (requested or "auto").lower()
    if requested not in ("auto", "fp32", "fp16", "bf16"):
        raise TrainingError(f"Unknown precision {requested!r}: use auto, fp32, fp16 or bf16.")
    if device.type != "cuda":
        if requested in ("fp16", "bf16"):
            raise TrainingError(f"Precision {requested} needs a CUDA GPU; on the CPU training runs in fp32.")
        return Precision(device, None)
    if requested == "fp32":
        return Precision(device, None)
    if requested == "bf16":
        if not torch.cuda.is_bf16_supported():
            raise TrainingError("This GPU does not support bf16: choose fp16 or fp32.")
        return Precision(device, torch.bfloat16)
    return Precision(device, torch.float16)


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def oom_message(batch_size: int | None, longest: str | None = None) -> str:
    """Advice for an out-of-memory failure, naming what the user can change."""
    clip = f" The longest item in the data is {longest}." if longest else ""
    size = f" with batch size {batch_size}" if batch_size else ""
    return (
        f"Out of memory{size}.{clip} Lower the batch size (or remove the longest clips) and "
        "start again: training resumes from the last saved checkpoint."
    )


@contextlib.contextmanager
def oom_guard(batch_size: int, longest: str | None = None) -> Iterator[None]:
    """Turn an out-of-memory error inside the block into a TrainingError with advice."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - only OOM is translated, everything else re-raised
        if is_out_of_memory(e):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise TrainingError(oom_message(batch_size, longest), EXIT_OOM) from e
        raise


def run_training(fn: Callable[[], Any], log: Callable[[str], None] | None = None) -> int:
    """Call `fn` and turn the failures a user can act on into a message and an exit code (0 on success)."""
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        fn()
    except TrainingError as e:
        say(f"ERROR: {e}")
        return e.exit_code
    except MissingFormattedData as e:
        say(f"ERROR: {e}")
        return EXIT_BAD_DATA
    except CheckpointWriteError as e:
        say(f"ERROR: {e}")
        return EXIT_DISK
    except Exception as e:  # noqa: BLE001 - the last line of defence of a child process
        if is_out_of_memory(e):
            say(f"ERROR: {oom_message(None)}")
            return EXIT_OOM
        say("".join(traceback.format_exception(e)).rstrip())
        say(f"ERROR: training failed: {type(e).__name__}: {e}")
        return EXIT_FAILED
    return 0
