"""Text → phone ids + BERT features for synthesis (upstream's ``get_phones_and_bert``).

The text is segmented by language (``langseg.segment_text``), each segment cleaned with its language's frontend,
and the phone ids concatenated. Chinese segments get BERT features (``bert.phone_features(norm_text, word2ph)`` →
``[hidden, n_phones]``); every other segment, and everything when no BERT is given, gets zeros of the same width
(1024 = chinese-roberta-wwm-ext-large, or the given BERT's hidden size). As upstream, runs of 2+ spaces are collapsed
first, and text that gives fewer than 6 phones is tried once more with ``.`` in front (very short prompts otherwise
make the GPT stop early).
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import torch

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.langseg import check_language_option, segment_text

DEFAULT_BERT_HIDDEN = 1024
MIN_PHONES = 6
_SPACES_RE = re.compile(r" {2,}")


# (text, language option) -> [(segment text, language code)]: the language segmentation step, injectable.
Segmenter = Callable[[str, str], list[tuple[str, str]]]


class PhonesAndBert(NamedTuple):
    phones: list[int]
    bert: torch.Tensor  # [hidden, n_phones] float32
    norm_text: str


def _bert_hidden_size(bert: Any) -> int:
    """Hidden width of a duck-typed BERT extractor (``hidden_size`` or ``model.config.hidden_size``), else 1024."""
    if bert is None:
        return DEFAULT_BERT_HIDDEN
    size = getattr(bert, "hidden_size", None)
    if size is None:
        config = getattr(getattr(bert, "model", None), "config", None)
        size = getattr(config, "hidden_size", None)
    return int(size) if size else DEFAULT_BERT_HIDDEN


def _segment_features(
    text: str, language_option: str, version: str, bert: Any, lexicon: Any, segmenter: Segmenter = segment_text
) -> tuple[list[int], list[torch.Tensor | int], str]:
    """Phone ids, per-segment features (a tensor for zh with BERT, else the phone count) and normalised text."""
    from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence

    phones: list[int] = []
    parts: list[torch.Tensor | int] = []
    norm_parts: list[str] = []
    for piece, lang in segmenter(text, language_option):
        cleaned = clean_text(piece, lang, version, lexicon)
        ids = list(cleaned_text_to_sequence(cleaned.phones, version))
        if lang == "zh" and bert is not None and ids:
            if cleaned.word2ph is None:
                raise TextFrontendError(f"The Chinese frontend returned no word2ph for {piece!r}.")
            feature = bert.phone_features(cleaned.norm_text, cleaned.word2ph).detach().to("cpu", torch.float32)
            if feature.dim() != 2 or feature.shape[1] != len(ids):  # [hidden, n_phones]
                raise TextFrontendError(
                    f"BERT features have shape {tuple(feature.shape)} but the segment {piece!r} has {len(ids)} phones."
                )
            parts.append(feature)
        else:
            parts.append(len(ids))
        phones.extend(ids)
        norm_parts.append(cleaned.norm_text)
    return phones, parts, "".join(norm_parts)


def _assemble(parts: list[torch.Tensor | int], hidden: int) -> torch.Tensor:
    tensors = [p if isinstance(p, torch.Tensor) else torch.zeros(hidden, p, dtype=torch.float32) for p in parts]
    if not tensors:
        return torch.zeros(hidden, 0, dtype=torch.float32)
    return torch.cat(tensors, dim=1)  # [hidden, n_phones]


def get_phones_and_bert(
    text: str, language_option: str, version: str = "v2", bert: Any = None, lexicon: Any = None,
    segmenter: Segmenter | None = None,
) -> PhonesAndBert:
    """Phone ids, BERT features ``[hidden, n_phones]`` (fp32) and normalised text for one piece of synthesis text.

    ``language_option`` is one of the inference options (``all_zh en all_ja all_yue all_ko zh ja yue ko auto
    auto_yue``; v1 models: the six without Cantonese and Korean). Raises ``TextFrontendError`` for an unsupported
    option or text that yields no phones. ``segmenter`` replaces ``langseg.segment_text`` (e.g. to replay the
    segments upstream's language splitter produced, which cannot run offline).
    """
    check_language_option(language_option, version)
    if not text.strip():
        raise TextFrontendError("The text is empty; enter something to synthesise.")
    text = _SPACES_RE.sub(" ", text)
    segmenter = segmenter or segment_text
    phones, parts, norm_text = _segment_features(text, language_option, version, bert, lexicon, segmenter)
    if len(phones) < MIN_PHONES:
        phones, parts, norm_text = _segment_features("." + text, language_option, version, bert, lexicon, segmenter)
    if not phones:
        raise TextFrontendError(f"The text {text[:50]!r} yields no phones in language {language_option!r}.")
    hidden = next((p.shape[0] for p in parts if isinstance(p, torch.Tensor)), _bert_hidden_size(bert))
    return PhonesAndBert(phones, _assemble(parts, hidden), norm_text)
