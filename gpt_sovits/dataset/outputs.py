"""File formats of `logs/<exp>/` written by 1A, byte for byte as upstream writes them (PIPELINE §3.2)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from gpt_sovits.audio.io import atomic_write_bytes

SEMANTIC_HEADER = "item_name\tsemantic_audio"


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """`torch.save` of a CPU tensor that owns exactly its data (a view would drag its whole storage along)."""
    buf = io.BytesIO()
    torch.save(tensor.detach().cpu().contiguous().clone(), buf)
    return buf.getvalue()


def save_tensor(path: Path, tensor: torch.Tensor) -> None:
    atomic_write_bytes(path, tensor_bytes(tensor))


def name2text_line(name: str, phones: list[str], word2ph: list[int] | None, norm_text: str) -> str:
    """`name \\t phones \\t word2ph \\t norm_text`; word2ph as Python's list repr, or the string None."""
    w2p = "None" if word2ph is None else str([int(n) for n in word2ph])
    return f"{name}\t{' '.join(phones)}\t{w2p}\t{norm_text}"


def name2text_bytes(lines: list[str]) -> bytes:
    return ("".join(line + "\n" for line in lines)).encode("utf-8")


def name2semantic_bytes(rows: list[tuple[str, str]]) -> bytes:
    """Header line, then `name \\t space-separated codes` per line; ends with a newline."""
    lines = [SEMANTIC_HEADER] + [f"{name}\t{tokens}" for name, tokens in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write `data` unless the file already holds exactly it (keeps mtimes of unchanged files)."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
    return True


def remove_file(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
