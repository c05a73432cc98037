"""Korean G2P: Hangul text → one phone per compatibility jamo (upstream's 29 Korean symbols + punctuation).

Pipeline (upstream ``korean.py`` semantics): Latin letters → Hangul letter names, ``g2pk2`` pronunciation rules
(MeCab-ko morphology), jamo decomposition, diphthong splits, a fix for a g2pk2 ㄹ-liaison error, a ``.`` after a
trailing jamo, then per character: punctuation map, space → ``空``, anything outside the symbol table → ``停``.

g2pk2 is built lazily by :class:`KoreanG2P`; nothing happens on import. Offline notes are in :mod:`ko_backend`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gpt_sovits.text.ko_backend import load_g2pk2
from gpt_sovits.text.symbols import SYMBOLS_V2

# Letter names read by Korean speakers; upstream replaces each Latin letter (case-insensitively) by its name.
LATIN_LETTER_NAMES: dict[str, str] = {
    "a": "에이", "b": "비", "c": "시", "d": "디", "e": "이", "f": "에프", "g": "지", "h": "에이치", "i": "아이",
    "j": "제이", "k": "케이", "l": "엘", "m": "엠", "n": "엔", "o": "오", "p": "피", "q": "큐", "r": "아르",
    "s": "에스", "t": "티", "u": "유", "v": "브이", "w": "더블유", "x": "엑스", "y": "와이", "z": "제트",
}  # fmt: skip

# Compound vowels written as two symbols (the Korean table has only simple vowels).
DIPHTHONG_SPLITS: dict[str, str] = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
    "ㅑ": "ㅣㅏ", "ㅒ": "ㅣㅐ", "ㅕ": "ㅣㅓ", "ㅖ": "ㅣㅔ", "ㅛ": "ㅣㅗ", "ㅠ": "ㅣㅜ",
}  # fmt: skip

# Per-character map applied before the symbol check ("..." in upstream's map can never match one character).
PUNCTUATION_MAP: dict[str, str] = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",", " ": "空",
}  # fmt: skip

UNKNOWN_PHONE = "停"

_LATIN_PATTERNS = [(re.compile(letter, re.IGNORECASE), name) for letter, name in LATIN_LETTER_NAMES.items()]
_DIPHTHONG_RE = re.compile("|".join(DIPHTHONG_SPLITS))
_TRAILING_JAMO_RE = re.compile(r"([\u3131-\u3163])$")


def latin_to_hangul(text: str) -> str:
    """Replace each Latin letter by its Korean name, letter by letter in a..z order (as upstream, so the same
    Unicode case-folding matches apply, e.g. the Kelvin sign matches ``k``)."""
    for pattern, name in _LATIN_PATTERNS:
        text = pattern.sub(name, text)
    return text


def divide_hangul(text: str) -> str:
    """Syllables → compatibility jamo, with compound vowels split into two simple ones."""
    from jamo import h2j, j2hcj  # small pure-Python package

    text = j2hcj(h2j(text))
    return _DIPHTHONG_RE.sub(lambda m: DIPHTHONG_SPLITS[m.group(0)], text)


def fix_liaison(jamo_text: str) -> str:
    """g2pk2 wrongly keeps ㄹ after a word ending in 을/를 (``ㅇㅡㄹ``/``ㄹㅡㄹ``) + space; upstream turns it into ㄴ."""
    out: list[str] = []
    i = 0
    n = len(jamo_text)
    while i < n - 4:
        head = jamo_text[i : i + 3]
        if head in ("ㅇㅡㄹ", "ㄹㅡㄹ") and jamo_text[i + 3] == " " and jamo_text[i + 4] == "ㄹ":
            out.append(head + " ㄴ")
            i += 5
        else:
            out.append(jamo_text[i])
            i += 1
    out.append(jamo_text[i:])
    return "".join(out)


def _char_to_phone(ch: str, table: frozenset[str]) -> str:
    ch = PUNCTUATION_MAP.get(ch, ch)
    return ch if ch in table else UNKNOWN_PHONE


class KoreanG2P:
    """Holds the g2pk2 converter (MeCab-ko inside); build once, call many times."""

    def __init__(self) -> None:
        self._g2pk2: Any | None = None
        self._table = frozenset(SYMBOLS_V2)

    @property
    def g2pk2(self) -> Any:
        if self._g2pk2 is None:
            self._g2pk2 = load_g2pk2()
        return self._g2pk2

    def pronounce(self, text: str) -> str:
        """The jamo string before the per-character mapping (useful for debugging)."""
        text = latin_to_hangul(text)
        text = self.g2pk2(text)
        text = divide_hangul(text)
        text = fix_liaison(text)
        return _TRAILING_JAMO_RE.sub(r"\1.", text)

    def __call__(self, text: str) -> list[str]:
        return [_char_to_phone(ch, self._table) for ch in self.pronounce(text)]


@lru_cache(maxsize=1)
def default_g2p() -> KoreanG2P:
    """The process-wide converter used by :func:`g2p` (MeCab and g2pk2 tables are loaded once)."""
    return KoreanG2P()


def text_normalize(text: str) -> str:
    """Upstream has no Korean normaliser: the text is used as is (g2pk2 spells out numbers itself)."""
    return text


def g2p(norm_text: str, lexicon: Any = None) -> tuple[list[str], None]:
    """Korean phones for ``norm_text``; ``lexicon`` is accepted for interface symmetry (no Korean user lexicon:
    g2pk2 works on whole sentences, so per-word overrides would change its context rules)."""
    return default_g2p()(norm_text), None
