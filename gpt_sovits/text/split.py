"""Sentence splitting for synthesis ("How to slice the sentence": cut0..cut5).

Two upstream pipelines cut text slightly differently and both are reproduced:

* ``"inference_webui"`` — the classic inference page: cut (cut0 = no cut), split lines, drop empty lines, merge
  short lines (< 5 characters), append ``。`` (``.`` for English) where a line lacks a final split mark.
* ``"tts_infer_pack"`` — the fast page / HTTP API: additionally collapses runs of ``!?…,.-`` first, prefixes ``。``/``.``
  when the first clause is shorter than 4 characters, skips lines without word characters and re-splits lines longer
  than 510 characters (the BERT limit).

Upstream quirks kept on purpose (the reference tables record them): cut1 with 5..8 clauses keeps the text whole (its
group index list ends with ``None``), cut2 merges a short last group into the previous one, cut5 has no full-width
``；`` mark.
"""

from __future__ import annotations

import re

from gpt_sovits.text.errors import TextFrontendError

# Marks after which split() cuts; also the marks a final piece may end with.
SPLITS = frozenset("，。？！,.?!~:：—…")
# "Only punctuation" test used by the cut functions.
PUNCTUATION = frozenset("!?…,.- ")
# cut5's marks (no full-width semicolon, as upstream).
_CUT5_MARKS = frozenset(",.;?!、，。？！：…")
# Marks collapsed when repeated by the API pipeline (no space here).
_CONSECUTIVE = "!?…,.-"
_CONSECUTIVE_RE = re.compile(f"([{re.escape(_CONSECUTIVE)}])([{re.escape(_CONSECUTIVE)}])+")
_FIRST_CLAUSE_RE = re.compile("[" + "".join(re.escape(c) for c in sorted(SPLITS)) + "]")
_BIG_TEXT_RE = re.compile("([" + "".join(re.escape(c) for c in sorted(SPLITS)) + "])")

METHODS = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5")
VARIANTS = ("inference_webui", "tts_infer_pack")
BERT_MAX_CHARS = 510
MERGE_THRESHOLD = 5

EMPTY_TEXT_MESSAGE = "Please enter valid text: nothing is left to synthesise after splitting."


def _punctuation_only(piece: str, marks: frozenset[str] = PUNCTUATION) -> bool:
    return set(piece) <= marks


def split_clauses(text: str) -> list[str]:
    """Cut after every split mark (marks stay attached); a final ``。`` is added when the text lacks a mark."""
    text = text.replace("……", "。").replace("——", "，")
    if not text:
        return []
    if text[-1] not in SPLITS:
        text += "。"
    pieces: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char in SPLITS:
            pieces.append(text[start : i + 1])
            start = i + 1
    return pieces


def _keep_spoken(pieces: list[str]) -> str:
    return "\n".join(p for p in pieces if not _punctuation_only(p))


def cut0(text: str) -> str:
    """No slicing (the API pipeline turns punctuation-only text into an empty line)."""
    return text if not _punctuation_only(text) else "\n"


def cut1(text: str) -> str:
    """Groups of four clauses (upstream's index list: the last group absorbs the remainder)."""
    text = text.strip("\n")
    clauses = split_clauses(text)
    bounds: list[int | None] = list(range(0, len(clauses), 4))
    if not bounds:
        return ""
    bounds[-1] = None
    if len(bounds) > 1:
        groups = ["".join(clauses[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
    else:
        groups = [text]
    return _keep_spoken(groups)


def cut2(text: str, limit: int = 50) -> str:
    """Accumulate clauses until more than ``limit`` characters; a short last group joins the previous one."""
    text = text.strip("\n")
    clauses = split_clauses(text)
    if len(clauses) < 2:
        return text
    groups: list[str] = []
    size, current = 0, ""
    for clause in clauses:
        size += len(clause)
        current += clause
        if size > limit:
            groups.append(current)
            size, current = 0, ""
    if current:
        groups.append(current)
    if len(groups) > 1 and len(groups[-1]) < limit:
        groups[-2] += groups[-1]
        groups.pop()
    return _keep_spoken(groups)


def cut3(text: str) -> str:
    """Split on ``。`` (removed)."""
    text = text.strip("\n")
    return _keep_spoken(text.strip("。").split("。"))


def cut4(text: str) -> str:
    """Split on ``.`` except between digits (removed)."""
    text = text.strip("\n")
    return _keep_spoken(re.split(r"(?<!\d)\.(?!\d)", text.strip(".")))


def cut5(text: str) -> str:
    """Cut after every punctuation mark except a ``.`` between digits (marks kept)."""
    text = text.strip("\n")
    pieces: list[str] = []
    current: list[str] = []
    for i, char in enumerate(text):
        current.append(char)
        if char not in _CUT5_MARKS:
            continue
        decimal_point = char == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        if not decimal_point:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return "\n".join(p for p in pieces if not _punctuation_only(p, _CUT5_MARKS))


_CUTTERS = {"cut1": cut1, "cut2": cut2, "cut3": cut3, "cut4": cut4, "cut5": cut5}


def merge_short_text_in_array(texts: list[str], threshold: int = MERGE_THRESHOLD) -> list[str]:
    """Join consecutive pieces until each is at least ``threshold`` characters; a short rest joins the last one."""
    if len(texts) < 2:
        return list(texts)
    result: list[str] = []
    current = ""
    for piece in texts:
        current += piece
        if len(current) >= threshold:
            result.append(current)
            current = ""
    if current:
        if result:
            result[-1] += current
        else:
            result.append(current)
    return result


def _drop_blank_lines(lines: list[str]) -> list[str]:
    if all(line in (" ", "\n", "") for line in lines):
        raise TextFrontendError(EMPTY_TEXT_MESSAGE)
    return [line for line in lines if line not in (" ", "")]


def _first_clause(text: str) -> str:
    return _FIRST_CLAUSE_RE.split(text)[0].strip()


def replace_consecutive_punctuation(text: str) -> str:
    """Keep only the first mark of a run of ``!?…,.-`` (the API pipeline does this before cutting)."""
    return _CONSECUTIVE_RE.sub(r"\1", text)


def split_big_text(text: str, max_len: int = BERT_MAX_CHARS) -> list[str]:
    """Re-split a line longer than ``max_len`` at split marks into pieces of at most ``max_len`` (where possible)."""
    result: list[str] = []
    current = ""
    for part in _BIG_TEXT_RE.split(text):
        if len(current + part) > max_len:
            result.append(current)
            current = part
        else:
            current += part
    if current:
        result.append(current)
    return result


def _final_mark(language: str) -> str:
    return "." if language == "en" else "。"


def _canonical_variant(variant: str) -> str:
    """Accept the pipeline names as the reference tables spell them (``TTS_infer_pack``)."""
    return variant.lower() if variant.lower() in VARIANTS else variant


def cut_text(text: str, method: str, variant: str = "inference_webui", language: str = "zh") -> str:
    """The raw string a cut method returns (lines separated by ``\\n``), after the variant's pre-processing."""
    variant = _canonical_variant(variant)
    if method not in METHODS:
        raise TextFrontendError(f"Unknown slicing method {method!r}; choose one of {', '.join(METHODS)}.")
    if variant not in VARIANTS:
        raise TextFrontendError(f"Unknown splitting variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    text = text.strip("\n")
    if variant == "tts_infer_pack":
        text = replace_consecutive_punctuation(text)
        if not text:
            return ""
        if text[0] not in SPLITS and len(_first_clause(text)) < 4:
            text = _final_mark(language) + text
        return cut0(text) if method == "cut0" else _CUTTERS[method](text)
    if method == "cut0":
        return text
    return _CUTTERS[method](text)


def split_text(text: str, method: str, variant: str = "inference_webui", language: str = "zh") -> list[str]:
    """Cut ``text`` into the pieces that are synthesised one by one, as upstream's ``variant`` pipeline does.

    ``language`` only chooses the mark appended to a piece without one (``.`` for ``en``, ``。`` otherwise).
    Raises ``TextFrontendError`` when nothing speakable is left (upstream: "请输入有效文本").
    """
    variant = _canonical_variant(variant)
    if variant == "tts_infer_pack":
        text = replace_consecutive_punctuation(text)
        if not text.strip("\n"):
            return []
    elif not text.strip("\n"):
        raise TextFrontendError(EMPTY_TEXT_MESSAGE)
    cut = cut_text(text, method, variant, language)
    while "\n\n" in cut:
        cut = cut.replace("\n\n", "\n")
    lines = merge_short_text_in_array(_drop_blank_lines(cut.split("\n")), MERGE_THRESHOLD)
    pieces: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if variant == "tts_infer_pack" and not re.sub(r"\W+", "", line):
            continue
        if line[-1] not in SPLITS:
            line += _final_mark(language)
        if variant == "tts_infer_pack" and len(line) > BERT_MAX_CHARS:
            pieces.extend(split_big_text(line))
        else:
            pieces.append(line)
    return pieces
