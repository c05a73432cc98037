"""Cantonese G2P: ToJyutping syllables split into a ``Y``-prefixed initial and a ``Y``-prefixed toned final.

Normalisation is upstream's: the Chinese text normaliser (numbers, dates, traditional → simplified, ...) without
its Mandarin punctuation map, then a wider Cantonese punctuation map (quotes and brackets become ``'``, which is
then deleted with everything else that is neither a CJK ideograph nor one of ``!?…,.-``).

Each syllable is split at the first entry of a fixed initial list that prefixes it (list order, not longest match:
``aai`` splits as ``aa`` + ``i``; a syllable that is all initial repeats the initial's last letter as its final:
``m4`` → ``Ym Ym4``, ``ng5`` → ``Yng Yg5``); ``nga…`` always splits after ``ng``. Punctuation stays unprefixed.
word2ph is 2 per character, 1 per punctuation mark. Cantonese has no BERT features (zeros).

Difference from upstream: CJK characters ToJyutping has no reading for (19 radical forms such as 乄 or 纟) are
dropped during normalisation; upstream crashes on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gpt_sovits.text.errors import TextFrontendError

PUNCTUATION = ("!", "?", "…", ",", ".", "-")
_PUNCTUATION_SET = frozenset(PUNCTUATION)

INITIALS = (
    "aa", "aai", "aak", "aap", "aat", "aau", "ai", "au", "ap", "at", "ak", "a",
    "p", "b", "e", "ts", "t", "dz", "d", "kw", "k", "gw", "g", "f", "h", "l", "m", "ng", "n", "s", "y", "w",
    "c", "z", "j", "ong", "on", "ou", "oi", "ok", "o", "uk", "ung",
    "sp", "spl", "spn", "sil",
)  # fmt: skip

_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",",
    "...": "…", "$": ".",
    "“": "'", "”": "'", '"': "'", "‘": "'", "’": "'", "（": "'", "）": "'", "(": "'", ")": "'",
    "《": "'", "》": "'", "【": "'", "】": "'", "[": "'", "]": "'", "—": "-", "～": "-", "~": "-",
    "「": "'", "」": "'",
}  # fmt: skip
_PUNCTUATION_RE = re.compile("|".join(re.escape(p) for p in _PUNCTUATION_MAP))
_NOT_KEPT_RE = re.compile(r"[^\u4e00-\u9fa5" + "".join(PUNCTUATION) + r"]+")
_PUNCT_RUN_RE = re.compile("^[{}]+$".format(re.escape("".join(PUNCTUATION))))
_PUNCT_SPLIT_RE = re.compile("([{}])".format(re.escape("".join(PUNCTUATION))))
_JYUTPING_RE = re.compile(r"^([a-z]+[1-6]+[ ]?)+$")


def _zh_sentence_normalizer() -> Callable[[str], list[str]]:
    """The Chinese normaliser's sentence-level part (before Mandarin punctuation mapping).

    Imported lazily: Cantonese only needs the zh number/date rules, not the rest of the Mandarin frontend.
    """
    try:
        from gpt_sovits.text import zh_normalize
    except ImportError as exc:  # pragma: no cover - only when the zh frontend is missing from the install
        raise TextFrontendError(f"Cantonese needs the Chinese text normaliser, which failed to import: {exc}") from exc
    return lambda text: [zh_normalize.normalize_sentence(s) for s in zh_normalize.split_sentences(text)]


def replace_punctuation(text: str) -> str:
    """Cantonese punctuation map, then delete everything that is not a CJK ideograph or kept punctuation."""
    text = _PUNCTUATION_RE.sub(lambda m: _PUNCTUATION_MAP[m.group()], text)
    return _NOT_KEPT_RE.sub("", text)


def _drop_unreadable(text: str) -> str:
    import ToJyutping

    return "".join(
        char for char, reading in ToJyutping.get_jyutping_list(text) if reading is not None or char in _PUNCTUATION_SET
    )


def text_normalize(text: str) -> str:
    """Chinese number/date normalisation (traditional → simplified included), then Cantonese punctuation rules."""
    normalize_sentences = _zh_sentence_normalizer()
    normalized = "".join(replace_punctuation(sentence) for sentence in normalize_sentences(text))
    return _drop_unreadable(normalized)


def _jyutping_syllables(text: str) -> list[str]:
    import ToJyutping

    syllables: list[str] = []
    for word, reading in ToJyutping.get_jyutping_list(text):
        if _PUNCT_RUN_RE.match(word):
            syllables.extend(p for p in _PUNCT_SPLIT_RE.split(word) if p)
            continue
        if reading is None or not _JYUTPING_RE.search(reading):
            raise TextFrontendError(
                f"No Cantonese reading for {word!r}; run the text through yue.text_normalize first or remove it."
            )
        syllables.append(reading)
    return syllables


def split_syllable(syllable: str) -> tuple[str, str, int]:
    """(initial, final, tone) of one Jyutping syllable, with upstream's list-order prefix match."""
    try:
        tone = int(syllable[-1])
        bare = syllable[:-1]
    except ValueError:
        tone, bare = 0, syllable
    for initial in INITIALS:
        if not bare.startswith(initial):
            continue
        if bare.startswith("nga"):
            return bare[:2], bare[2:] or bare[-1], tone
        return initial, bare[len(initial) :] or initial[-1], tone
    raise TextFrontendError(f"Cannot split the Jyutping syllable {syllable!r} into initial and final.")


def _prefixed(phone: str) -> str:
    return phone if phone in _PUNCTUATION_SET else "Y" + phone


def g2p(norm_text: str, lexicon: object | None = None) -> tuple[list[str], list[int]]:
    """Phones and word2ph (2 per character, 1 per punctuation mark) for normalised Cantonese text."""
    del lexicon  # no user lexicon for Cantonese yet
    phones: list[str] = []
    word2ph: list[int] = []
    for syllable in _jyutping_syllables(norm_text):
        if syllable in _PUNCTUATION_SET or syllable == "_":
            phones.append(syllable)
            word2ph.append(1)
            continue
        initial, final, tone = split_syllable(syllable)
        phones.append(_prefixed(initial))
        phones.append(_prefixed(f"{final}{tone}" if tone != 0 else final))
        word2ph.append(2)
    return phones, word2ph
