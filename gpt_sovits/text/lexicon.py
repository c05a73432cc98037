"""User pronunciation lexicon: fix a mispronounced word without touching code.

File format (plain UTF-8 text, one entry per line, fields separated by a TAB)::

    # comment lines and blank lines are ignored
    zh	重庆	chong2 qing4            # Chinese: one toned pinyin syllable per character (1-5, 5 = neutral) ...
    zh	曾小贤	z eng1 x iao3 x ian2    # ... or exactly 2 phones per character (opencpop symbols: initial, final+tone)
    en	GPT	JH IY1 P IY1 T IY1       # English: ARPAbet phones with stress digits; matching ignores case
    ja	...	<phones>                 # other languages: phones of the v2 symbol table

Every phone must exist in the v2 symbol table, otherwise loading fails with the line number. For Chinese the
entry must give 2 phones per character, so ``word2ph`` stays 2 per character; the zh G2P looks entries up on the
normalised text (longest match first) before jieba/pypinyin, and tone sandhi does not cross a lexicon word.
Later lines override earlier ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.symbols import SYMBOLS_V2
from gpt_sovits.text.zh_pinyin import pinyin_to_phones

LANGUAGES = ("zh", "en", "ja", "ko", "yue")
_SYMBOL_SET = frozenset(SYMBOLS_V2)


def _key(language: str, word: str) -> str:
    return word.lower() if language == "en" else word


@dataclass
class UserLexicon:
    """Word → phones per language. Build with ``UserLexicon.load(path)`` or ``add()``."""

    entries: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _patterns: dict[str, re.Pattern | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> UserLexicon:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise TextFrontendError(f"cannot read lexicon file {path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise TextFrontendError(f"lexicon file {path} is not UTF-8 text: {exc}") from exc
        lexicon = cls()
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = raw.split("\t")
            if len(fields) < 3:
                raise TextFrontendError(
                    f"{path}:{lineno}: expected 'language<TAB>word<TAB>phones', got {raw.strip()!r}"
                )
            language, word, phones = fields[0].strip(), fields[1].strip(), fields[2].split("#")[0]
            try:
                lexicon.add(language, word, phones.split())
            except TextFrontendError as exc:
                raise TextFrontendError(f"{path}:{lineno}: {exc}") from None
        return lexicon

    def add(self, language: str, word: str, phones: list[str]) -> None:
        """Add or replace one entry (validated; zh pinyin syllables are converted to phones)."""
        if language not in LANGUAGES:
            raise TextFrontendError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
        if not word:
            raise TextFrontendError("empty word")
        if not phones:
            raise TextFrontendError(f"no phones given for {word!r}")
        if language == "zh":
            phones = self._zh_phones(word, phones)
        unknown = [p for p in phones if p not in _SYMBOL_SET]
        if unknown:
            raise TextFrontendError(f"phones {unknown} of {word!r} are not in the symbol table")
        self.entries.setdefault(language, {})[_key(language, word)] = list(phones)
        self._patterns.pop(language, None)

    @staticmethod
    def _zh_phones(word: str, tokens: list[str]) -> list[str]:
        if len(tokens) == len(word) and all(t[-1:].isdigit() for t in tokens):
            out: list[str] = []
            for t in tokens:
                pair = pinyin_to_phones(t)
                if pair is None:
                    break
                out += pair
            else:
                return out
        if len(tokens) == 2 * len(word):
            return tokens
        raise TextFrontendError(
            f"{word!r} needs {len(word)} toned pinyin syllables or {2 * len(word)} phones (2 per character), "
            f"got {len(tokens)}: {' '.join(tokens)}"
        )

    def lookup(self, language: str, word: str) -> list[str] | None:
        """Phones for ``word`` or None (English ignores case)."""
        found = self.entries.get(language, {}).get(_key(language, word))
        return list(found) if found is not None else None

    def pattern(self, language: str) -> re.Pattern | None:
        """A regex matching any entry of ``language`` (longest first), or None when there are none."""
        if language not in self._patterns:
            words = sorted(self.entries.get(language, {}), key=len, reverse=True)
            flags = re.IGNORECASE if language == "en" else 0
            self._patterns[language] = re.compile("|".join(map(re.escape, words)), flags) if words else None
        return self._patterns[language]

    def merge(self, other: UserLexicon) -> None:
        """Take every entry of ``other`` (already validated), overriding this lexicon's entries for the same words."""
        for language, words in other.entries.items():
            self.entries.setdefault(language, {}).update({w: list(p) for w, p in words.items()})
            self._patterns.pop(language, None)

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())
