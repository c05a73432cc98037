"""Phone symbol tables of upstream GPT-SoVITS (v1: 322 symbols, v2: 732 symbols).

Embedding rows of the released checkpoints are indexed by position in these lists, so the order is part of the
file format. The tables are rebuilt here from their documented building blocks:

* v1 = the *set* of pad, Mandarin initials, toned Mandarin finals, Japanese phones, punctuation/specials and
  ARPAbet, sorted by code point (duplicates shared between languages collapse).
* v2 = v1 unchanged, then ``[`` ``]`` (Japanese pitch marks), the 29 Korean symbols sorted, then the Cantonese
  symbols sorted.

``tests/test_text_symbols.py`` checks both tables against the reference manifest and the published checksum.
"""

from __future__ import annotations

from functools import lru_cache

PAD = "_"
PUNCTUATION = ["!", "?", "…", ",", ".", "-"]
SPECIALS = ["SP", "SP2", "SP3", "UNK"]

# Mandarin (opencpop-strict): pseudo-initials AA/EE/OO stand for zero-initial syllables.
ZH_INITIALS = [
    "AA",
    "EE",
    "OO",
    "b",
    "c",
    "ch",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "q",
    "r",
    "s",
    "sh",
    "t",
    "w",
    "x",
    "y",
    "z",
    "zh",
]
ZH_FINALS = [
    "E",
    "En",
    "a",
    "ai",
    "an",
    "ang",
    "ao",
    "e",
    "ei",
    "en",
    "eng",
    "er",
    "i",
    "i0",
    "ia",
    "ian",
    "iang",
    "iao",
    "ie",
    "in",
    "ing",
    "iong",
    "ir",
    "iu",
    "o",
    "ong",
    "ou",
    "u",
    "ua",
    "uai",
    "uan",
    "uang",
    "ui",
    "un",
    "uo",
    "v",
    "van",
    "ve",
    "vn",
]
ZH_TONES = "12345"  # 5 = neutral tone

JA_PHONES = [
    "I",
    "N",
    "U",
    "a",
    "b",
    "by",
    "ch",
    "cl",
    "d",
    "dy",
    "e",
    "f",
    "g",
    "gy",
    "h",
    "hy",
    "i",
    "j",
    "k",
    "ky",
    "m",
    "my",
    "n",
    "ny",
    "o",
    "p",
    "py",
    "r",
    "ry",
    "s",
    "sh",
    "t",
    "ts",
    "u",
    "v",
    "w",
    "y",
    "z",
]

ARPABET = [
    "AA0",
    "AA1",
    "AA2",
    "AE0",
    "AE1",
    "AE2",
    "AH0",
    "AH1",
    "AH2",
    "AO0",
    "AO1",
    "AO2",
    "AW0",
    "AW1",
    "AW2",
    "AY0",
    "AY1",
    "AY2",
    "B",
    "CH",
    "D",
    "DH",
    "EH0",
    "EH1",
    "EH2",
    "ER",
    "ER0",
    "ER1",
    "ER2",
    "EY0",
    "EY1",
    "EY2",
    "F",
    "G",
    "HH",
    "IH",
    "IH0",
    "IH1",
    "IH2",
    "IY0",
    "IY1",
    "IY2",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "OW0",
    "OW1",
    "OW2",
    "OY0",
    "OY1",
    "OY2",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "UH0",
    "UH1",
    "UH2",
    "UW0",
    "UW1",
    "UW2",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
]
# Upstream's v1 list also carries a bare "AA" (the Mandarin pseudo-initial) — already in ZH_INITIALS.

JA_PITCH_MARKS = ["[", "]"]

# Korean: compatibility jamo used by the ko frontend, plus 停 (unknown char) and 空 (space).
KO_SYMBOLS = list("ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎㅏㅐㅓㅔㅗㅜㅡㅣ") + ["停", "空"]

# Cantonese: "Y" + toneless initial / special syllables, and "Y" + final + tone 1..6.
YUE_TONELESS = [
    "a",
    "aa",
    "ai",
    "ak",
    "au",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "gw",
    "h",
    "j",
    "k",
    "kw",
    "l",
    "m",
    "n",
    "ng",
    "o",
    "oi",
    "ok",
    "on",
    "ou",
    "p",
    "s",
    "t",
    "uk",
    "w",
    "z",
]
YUE_TONED_FINALS = [
    "a",
    "aa",
    "aai",
    "aak",
    "aam",
    "aan",
    "aang",
    "aap",
    "aat",
    "aau",
    "ai",
    "ak",
    "am",
    "an",
    "ang",
    "ap",
    "at",
    "au",
    "e",
    "ei",
    "ek",
    "eng",
    "eoi",
    "eon",
    "eot",
    "g",
    "i",
    "ik",
    "im",
    "in",
    "ing",
    "ip",
    "it",
    "iu",
    "k",
    "m",
    "n",
    "o",
    "oe",
    "oek",
    "oeng",
    "oi",
    "ok",
    "on",
    "ong",
    "ot",
    "ou",
    "p",
    "t",
    "u",
    "ui",
    "uk",
    "un",
    "ung",
    "ut",
    "yu",
    "yun",
    "yut",
]
YUE_TONES = "123456"


def _build_v1() -> list[str]:
    toned = [final + tone for final in ZH_FINALS for tone in ZH_TONES]
    pool = [PAD] + ZH_INITIALS + toned + JA_PHONES + PUNCTUATION + SPECIALS + ARPABET
    return sorted(set(pool))


def _build_v2(v1: list[str]) -> list[str]:
    yue = ["Y" + s for s in YUE_TONELESS] + ["Y" + f + t for f in YUE_TONED_FINALS for t in YUE_TONES]
    return v1 + JA_PITCH_MARKS + sorted(KO_SYMBOLS) + sorted(set(yue))


SYMBOLS_V1: list[str] = _build_v1()
SYMBOLS_V2: list[str] = _build_v2(SYMBOLS_V1)


def normalize_version(version: str) -> str:
    """Map a model version to its symbol-table family: ``"v1"`` or ``"v2"`` (v2, v2Pro, v2ProPlus, v3, v4)."""
    v = (version or "v2").strip()
    if v == "v1":
        return "v1"
    if v in ("v2", "v2Pro", "v2ProPlus", "v3", "v4"):
        return "v2"
    raise ValueError(f"unknown model version {version!r}; expected one of v1, v2, v2Pro, v2ProPlus, v3, v4")


def symbols(version: str = "v2") -> list[str]:
    """The symbol list (do not mutate) for a model version."""
    return SYMBOLS_V1 if normalize_version(version) == "v1" else SYMBOLS_V2


@lru_cache(maxsize=4)
def _symbol_to_id(family: str) -> dict[str, int]:
    table = SYMBOLS_V1 if family == "v1" else SYMBOLS_V2
    mapping: dict[str, int] = {}
    for i, s in enumerate(table):
        mapping.setdefault(s, i)  # first occurrence wins, as upstream's dict comprehension over a list of unique items
    return mapping


def symbol_to_id(version: str = "v2") -> dict[str, int]:
    """Phone symbol → id for a model version (a shared read-only dict)."""
    return _symbol_to_id(normalize_version(version))
