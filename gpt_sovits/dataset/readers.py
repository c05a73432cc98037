"""Readers of the `logs/<exp>/` files that 1A writes (beside their writers in `outputs.py`), for the trainers.

Only what both trainers read lives here: `2-name2text.txt` and the check that formatting has run. Each trainer's
own inputs (HuBERT features and 32 kHz wavs for SoVITS; BERT features and semantic tokens for GPT) have their own
reader modules next to this one.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.paths import ExperimentPaths


class MissingFormattedData(ValueError):
    """The experiment lacks what a trainer needs; the message names the 1A step to run."""


@dataclass(frozen=True)
class Name2TextRow:
    phones: list[str]
    word2ph: list[int] | None
    norm_text: str


def _parse_word2ph(text: str) -> list[int] | None:
    text = text.strip()
    if text in ("", "None"):
        return None
    value = ast.literal_eval(text)  # written as Python's list repr
    return [int(n) for n in value]


def read_name2text(path: str | Path) -> dict[str, Name2TextRow]:
    """`name \\t phones \\t word2ph \\t norm_text` per line; lines without 4 fields are skipped (as upstream)."""
    rows: dict[str, Name2TextRow] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0]:
            continue
        name, phones, word2ph, norm_text = fields
        try:
            w2p = _parse_word2ph(word2ph)
        except (ValueError, SyntaxError):
            w2p = None
        rows[name] = Name2TextRow(phones=phones.split(" ") if phones else [], word2ph=w2p, norm_text=norm_text)
    return rows


# what each trainer input is, and which part of 1A writes it
_PRODUCED_BY: dict[str, tuple[str, str]] = {
    "name2text": ("2-name2text.txt", "1A text step (phones + BERT features)"),
    "bert": ("3-bert/", "1A text step (phones + BERT features)"),
    "hubert": ("4-cnhubert/", "1A audio step (HuBERT features + 32 kHz wavs)"),
    "wav32k": ("5-wav32k/", "1A audio step (HuBERT features + 32 kHz wavs)"),
    "semantic": ("6-name2semantic.tsv", "1A semantic-token step"),
    "sv": ("7-sv_cn/", "1A audio step with model version v2Pro or v2ProPlus (speaker embeddings)"),
}


def _path_of(exp: ExperimentPaths, need: str) -> Path:
    return {
        "name2text": exp.name2text, "bert": exp.bert_dir, "hubert": exp.hubert_dir,
        "wav32k": exp.wav32k_dir, "semantic": exp.name2semantic, "sv": exp.sv_dir,
    }[need]


def require_formatted(exp: ExperimentPaths, needs: tuple[str, ...]) -> None:
    """Raise MissingFormattedData naming every missing input and the 1A step that writes it.

    A folder counts as missing when it does not exist or holds no file; a file when it is absent or empty. BERT
    features may legitimately be absent for non-Chinese text (the GPT trainer uses zeros), so "bert" only requires
    the folder itself when asked for.
    """
    unknown = [n for n in needs if n not in _PRODUCED_BY]
    if unknown:
        raise ValueError(f"unknown trainer inputs {unknown}; known: {sorted(_PRODUCED_BY)}")
    if not exp.dir.is_dir():
        raise MissingFormattedData(
            f"The experiment {exp.name!r} has not been formatted: {exp.dir} does not exist. Run 1A (format) first."
        )
    missing = []
    for need in needs:
        path = _path_of(exp, need)
        if need == "bert":
            ok = path.is_dir()
        elif path.suffix:  # a file
            ok = path.is_file() and path.stat().st_size > 0
        else:
            ok = path.is_dir() and any(p.is_file() for p in path.iterdir())
        if not ok:
            name, step = _PRODUCED_BY[need]
            missing.append(f"{name} (written by the {step})")
    if missing:
        raise MissingFormattedData(
            f"The experiment {exp.name!r} is missing " + "; ".join(missing) + ". Run 1A (format) for it first."
        )


def formatted_version(exp: ExperimentPaths) -> str | None:
    """The model version the experiment was last formatted for (recorded by 1A in `format_source.json`), or None
    when 1A recorded none (formatted by an older version of this program, or by upstream)."""
    try:
        data = json.loads(exp.format_source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) and version else None
