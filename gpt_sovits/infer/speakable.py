"""Is there anything to say? Text that yields only pauses (emoji, punctuation, Chinese read as English) would
otherwise be synthesised as seconds of noise, so such sentences are skipped and an all-silent request is refused
with a message that names the language the text looks like.
"""

from __future__ import annotations

import re
from functools import lru_cache

from gpt_sovits.text.symbols import PAD, PUNCTUATION, SPECIALS, symbols

_SCRIPTS = {  # script → (label, the language option that reads it)
    "han": ("Chinese", "all_zh"),
    "kana": ("Japanese", "all_ja"),
    "hangul": ("Korean", "all_ko"),
    "latin": ("English", "en"),
}
# Which scripts each language option turns into phones (digits and punctuation are handled by every option).
_READS = {
    "en": {"latin"}, "all_zh": {"han"}, "all_yue": {"han"}, "all_ja": {"han", "kana"}, "all_ko": {"hangul"},
    "zh": {"han", "latin"}, "yue": {"han", "latin"}, "ja": {"han", "kana", "latin"}, "ko": {"hangul", "latin"},
    "auto": {"han", "kana", "hangul", "latin"}, "auto_yue": {"han", "kana", "hangul", "latin"},
}
_PATTERNS = {
    "han": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
    "kana": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]"),
    "hangul": re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]"),
}


@lru_cache(maxsize=4)
def _pause_ids(version: str) -> frozenset[int]:
    silent = set(PUNCTUATION) | set(SPECIALS) | {PAD}
    return frozenset(i for i, s in enumerate(symbols(version)) if s in silent)


def is_speakable(phone_ids: list[int], version: str = "v2") -> bool:
    """True when at least one phone is a sound, not a pause or punctuation mark."""
    pauses = _pause_ids(version)
    return any(int(p) not in pauses for p in phone_ids)


def script_counts(text: str) -> dict[str, int]:
    return {name: len(pattern.findall(text)) for name, pattern in _PATTERNS.items()}


def language_warning(text: str, lang: str) -> str | None:
    """A warning when most letters of `text` belong to a script `lang` does not read (they would be dropped)."""
    counts = script_counts(text)
    total = sum(counts.values())
    reads = _READS.get(lang, set(_SCRIPTS))
    dropped = {name: n for name, n in counts.items() if name not in reads}
    if total == 0 or sum(dropped.values()) * 2 <= total:
        return None
    main = max(dropped, key=dropped.get)
    if main == "han" and counts["kana"]:
        main = "kana"
    label, option = _SCRIPTS[main]
    return (f"The text looks like {label}, but its language is set to {lang!r}: most of its characters will be "
            f"dropped. Choose {option!r} (or 'auto') for {label} text.")


def nothing_to_say_message(text: str, lang: str) -> str:
    """Why a request produced no speakable sentence, with the language hint when there is one."""
    hint = language_warning(text, lang)
    if hint:
        return f"Nothing in the text can be spoken. {hint}"
    return (f"Nothing in the text can be spoken as {lang!r}: it has only punctuation, emoji or symbols. Enter words "
            f"to synthesise.")
