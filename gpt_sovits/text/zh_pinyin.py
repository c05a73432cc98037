"""Pinyin syllable → phone pair mapping (upstream's "opencpop-strict" convention, 429 syllables).

Every Mandarin syllable becomes two phones: an initial and a final. Zero-initial syllables get a pseudo-initial
(``a`` → ``AA a``, ``e`` → ``EE e``, ``o`` → ``OO o``); ``zhi chi shi ri`` use the final ``ir`` and ``zi ci si`` use
``i0``; ``y``/``w`` are kept as initials (``ya`` → ``y a``, ``yan`` → ``y En``, ``ye`` → ``y E``, ``yu`` → ``y v``);
after ``j q x y`` the letter ``u`` is ``v``. The syllable inventory below is the set upstream accepts; anything else
is an error (upstream asserts).
"""

from __future__ import annotations

from functools import lru_cache

_JQX = "i ia ian iang iao ie in ing iong iu u v uan van ue ve un vn"
_GKH = "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo"
# initial → finals it combines with ("" = zero initial)
SYLLABLE_INVENTORY: dict[str, str] = {
    "": "a ai an ang ao e ei en eng er o ou",
    "b": "a ai an ang ao ei en eng i ian iao ie in ing o u",
    "p": "a ai an ang ao ei en eng i ian iao ie in ing o ou u",
    "m": "a ai an ang ao e ei en eng i ian iao ie in ing iu o ou u",
    "f": "a an ang ei en eng o ou u",
    "d": "a ai an ang ao e ei en eng i ia ian iao ie ing iu ong ou u uan ui un uo",
    "t": "a ai an ang ao e ei eng i ian iao ie ing ong ou u uan ui un uo",
    "n": "a ai an ang ao e ei en eng i ian iang iao ie in ing iu ong ou u uan un uo v ve",
    "l": "a ai an ang ao e ei eng i ia ian iang iao ie in ing iu o ong ou u uan un uo v ve",
    "g": _GKH,
    "k": _GKH,
    "h": _GKH,
    "j": _JQX,
    "q": _JQX,
    "x": _JQX,
    "zh": "a ai an ang ao e ei en eng i ong ou u ua uai uan uang ui un uo",
    "ch": "a ai an ang ao e en eng i ong ou u ua uai uan uang ui un uo",
    "sh": "a ai an ang ao e ei en eng i ou u ua uai uan uang ui un uo",
    "r": "an ang ao e en eng i ong ou u ua uan ui un uo",
    "z": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "c": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "s": "a ai an ang ao e en eng i ong ou u uan ui un uo",
    "y": "a an ang ao e i in ing o ong ou u v uan van ue ve un vn",
    "w": "a ai an ang ei en eng o u",
}


def _phones_for(initial: str, final: str) -> tuple[str, str]:
    if not initial:
        return {"a": "AA", "e": "EE", "o": "OO"}[final[0]], final
    if final == "i" and initial in ("zh", "ch", "sh", "r"):
        return initial, "ir"
    if final == "i" and initial in ("z", "c", "s"):
        return initial, "i0"
    if initial in ("j", "q", "x", "y") and final[0] == "u":
        final = "v" + final[1:]
    if initial == "y":
        final = {"an": "En", "e": "E"}.get(final, final)
    return initial, final


@lru_cache(maxsize=1)
def syllable_table() -> dict[str, tuple[str, str]]:
    """Toneless syllable (``zhong``, ``lv``, ``yuan``) → (initial phone, final phone without tone)."""
    table: dict[str, tuple[str, str]] = {}
    for initial, finals in SYLLABLE_INVENTORY.items():
        for final in finals.split():
            table[initial + final] = _phones_for(initial, final)
    return table


_FINAL_REWRITE_AFTER_INITIAL = {"uei": "ui", "iou": "iu", "uen": "un"}
_ZERO_INITIAL_WHOLE = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
_ZERO_INITIAL_FIRST = {"v": "yu", "e": "e", "i": "y", "u": "w"}


def to_syllable(initial: str, final: str) -> str:
    """pypinyin's strict (initial, toneless final) pair → spelled syllable, as upstream rewrites it.

    ``("g", "uei")`` → ``gui``; ``("", "iou")`` → ``you``; ``("", "van")`` → ``yuan``; ``("", "ing")`` → ``ying``.
    """
    if initial:
        return initial + _FINAL_REWRITE_AFTER_INITIAL.get(final, final)
    if final in _ZERO_INITIAL_WHOLE:
        return _ZERO_INITIAL_WHOLE[final]
    if final and final[0] in _ZERO_INITIAL_FIRST:
        return _ZERO_INITIAL_FIRST[final[0]] + final[1:]
    return final


def syllable_phones(initial: str, final_with_tone: str) -> list[str] | None:
    """(initial, final+tone digit) → ``[initial_phone, final_phone+tone]``, or None if not a known syllable."""
    if not final_with_tone or final_with_tone[-1] not in "12345":
        return None
    tone = final_with_tone[-1]
    syllable = to_syllable(initial, final_with_tone[:-1])
    pair = syllable_table().get(syllable)
    if pair is None:
        return None
    return [pair[0], pair[1] + tone]


def pinyin_to_phones(syllable_with_tone: str) -> list[str] | None:
    """Spelled toned pinyin (``zhong1``, ``lv4``, ``er2``) → two phones, or None. Used for user-lexicon entries."""
    s = syllable_with_tone.strip().lower().replace("ü", "v").replace("u:", "v")
    if len(s) < 2 or s[-1] not in "12345":
        return None
    pair = syllable_table().get(s[:-1])
    return None if pair is None else [pair[0], pair[1] + s[-1]]
