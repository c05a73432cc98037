"""Read upstream checkpoint files without executing anything they might contain.

Upstream's weight files are ordinary `torch.save` archives, but (a) finetuned and pretrained SoVITS files pickle the
training config as upstream's class `utils.HParams`, and (b) newer upstream versions overwrite the zip magic `PK` with a
2-byte version tag ("05" = v2Pro, ...). We load with `torch.load(weights_only=True)`, allow-listing exactly one
foreign class name (`utils.HParams`, mapped onto `HParamsBag` below — we never create a module called `utils`), restore
`PK` in memory for tagged files, and turn every `HParamsBag` back into plain dicts. Anything else a pickle asks for
(`os.system`, arbitrary classes, ...) makes torch's restricted unpickler stop before running it; we report that as a
`CheckpointError`.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# First two bytes of upstream's version-tagged SoVITS files -> (symbol version, model version, is LoRA).
VERSION_HEADERS: dict[bytes, tuple[str, str, bool]] = {
    b"00": ("v1", "v1", False),
    b"01": ("v2", "v2", False),
    b"02": ("v2", "v3", False),
    b"03": ("v2", "v3", True),
    b"04": ("v2", "v4", True),
    b"05": ("v2", "v2Pro", False),
    b"06": ("v2", "v2ProPlus", False),
}
ZIP_MAGIC = b"PK"


class CheckpointError(ValueError):
    """A weight file cannot be used: missing, not a checkpoint, unsupported version, or unsafe content."""


class HParamsBag:
    """Attribute bag that stands in for upstream's pickled `utils.HParams` config objects.

    The unpickler creates it with `__new__` and fills `__dict__` from the pickled state; we only ever read it back
    into plain dicts (`to_plain`).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"HParamsBag({self.__dict__!r})"


def to_plain(obj: Any) -> Any:
    """Recursively turn `HParamsBag`s (and dict subclasses) into plain dicts; tensors and scalars are kept as is."""
    if isinstance(obj, HParamsBag):
        return {k: to_plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


@dataclass(frozen=True)
class CheckpointContents:
    """What a checkpoint file held: the top-level dict (configs as plain dicts) and its 2-byte tag, if any."""

    data: dict[str, Any]
    header: str | None  # e.g. "05" for a v2Pro file; None for a plain zip ("PK")

    @property
    def header_versions(self) -> tuple[str, str, bool] | None:
        """(symbol version, model version, is LoRA) for tagged files."""
        if self.header is None:
            return None
        return VERSION_HEADERS.get(self.header.encode("ascii"))


def read_version_header(path: str | Path) -> str | None:
    """The 2-byte version tag of a SoVITS file ("00".."06"), or None for a plain zip / anything else."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head.decode("ascii") if head in VERSION_HEADERS else None


def _unsafe_message(path: Path, err: Exception) -> str:
    detail = str(err).strip().splitlines()
    # torch's message names the refused global on a line like "Unsupported global: GLOBAL posix.system ..."
    reason = next((line.strip() for line in detail if "global" in line.lower() and "unsupported" in line.lower()), "")
    if not reason:
        reason = next((line.strip() for line in detail if line.strip()), type(err).__name__)
    return (
        f"{path}: refused to load this file: its pickle asks for something outside the allow-list of a weight file "
        f"(tensors, builtin containers and upstream's utils.HParams config). Nothing from it was executed. "
        f"Only load weight files from sources you trust. Detail: {reason}"
    )


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> CheckpointContents:
    """Load a torch checkpoint safely; see the module docstring. Raises `CheckpointError` with an actionable message."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weight file not found.")
    if path.stat().st_size < 4:
        raise CheckpointError(f"{path}: file is empty or truncated ({path.stat().st_size} bytes).")
    with open(path, "rb") as f:
        head = f.read(2)
    header: str | None = None
    source: Any = str(path)
    if head in VERSION_HEADERS:
        header = head.decode("ascii")
        raw = bytearray(path.read_bytes())
        raw[:2] = ZIP_MAGIC  # upstream's my_save2 overwrote the zip magic; restore it in memory only
        source = io.BytesIO(bytes(raw))
    try:
        with torch.serialization.safe_globals([(HParamsBag, "utils.HParams")]):
            data = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(_unsafe_message(path, err)) from err
    except Exception as err:  # torch raises many types for non-checkpoint bytes (IndexError, RuntimeError, ...)
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (corrupt, truncated or another format): {err}"
        ) from err
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path}: expected a checkpoint dict (with 'weight', 'config', ...), found {type(data).__name__}."
        )
    return CheckpointContents(data=to_plain(data), header=header)


def load_checkpoint_dict(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The top-level dict of a checkpoint file (configs as plain dicts); see `load_checkpoint` for the header."""
    return load_checkpoint(path, map_location).data
