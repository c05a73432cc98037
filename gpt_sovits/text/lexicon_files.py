"""Where user lexicons live and how the rest of the program uses them (formatting, inference, the WebUI editor).

Two files, both ``lang<TAB>word<TAB>phones`` (format: :mod:`gpt_sovits.text.lexicon`):

* ``<data root>/lexicon.tsv`` — global, for every experiment;
* ``logs/<exp>/lexicon.tsv`` — one experiment's; its entries override the global ones.

Formatting (1A) reads both for its experiment; inference reads the one file it is given (tab, CLI ``--lexicon``, API
``lexicon``). Only the zh and en G2Ps consult a lexicon. An entry matters to a line when its word occurs in the
line's text or normalised text (case-insensitively for en): a superset of the entries the G2P can use, so that
1A's manifest key changes for exactly the lines a lexicon edit may affect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from gpt_sovits.audio.io import atomic_write_bytes
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon import UserLexicon

EFFECTIVE_LANGUAGES = ("zh", "en")  # the G2Ps that consult a user lexicon
HEADER = (
    "# User lexicon: language<TAB>word<TAB>phones (zh: toned pinyin per character or 2 phones per character;\n"
    "# en: ARPAbet with stress digits, matched ignoring case). Only zh and en entries take effect.\n"
)

Row = list[str]  # [language, word, phones]


def lexicon_files(paths: ProjectPaths, exp_name: str | None = None) -> list[Path]:
    """The lexicon files that exist for an experiment (global first, so the experiment's entries win)."""
    candidates = [paths.lexicon] + ([paths.experiment(exp_name).lexicon] if exp_name else [])
    return [p for p in candidates if p.is_file()]


def available_lexicons(paths: ProjectPaths) -> list[Path]:
    """Every lexicon file under the data root: the global one, then each experiment's (for inference pickers)."""
    found = [paths.lexicon] if paths.lexicon.is_file() else []
    if paths.logs.is_dir():
        found += sorted(p for p in paths.logs.glob(f"*/{paths.lexicon.name}") if p.is_file())
    return found


def scope_path(paths: ProjectPaths, exp_name: str | None) -> Path:
    """The file an editor works on: the experiment's lexicon, or the global one when no experiment is named."""
    name = (exp_name or "").strip()
    return paths.experiment(name).lexicon if name else paths.lexicon


def editing_lexicon(paths: ProjectPaths, exp_name: str | None, rows: Iterable[Sequence[object]]) -> UserLexicon | None:
    """What formatting would use if ``rows`` were saved for this scope: the global file under an experiment's rows."""
    lexicon = UserLexicon()
    if (exp_name or "").strip() and paths.lexicon.is_file():
        lexicon.merge(UserLexicon.load(paths.lexicon))
    lexicon.merge(rows_to_lexicon(rows))
    return lexicon if len(lexicon) else None


def load_lexicon(files: Sequence[str | Path]) -> UserLexicon | None:
    """The merged lexicon of ``files`` (later files win), or None when they hold no entry."""
    merged = UserLexicon()
    for path in files:
        merged.merge(UserLexicon.load(path))
    return merged if len(merged) else None


def read_rows(path: Path) -> list[Row]:
    """The entries of a lexicon file as editable rows (comments dropped; a missing file has none)."""
    if not path.is_file():
        return []
    rows: list[Row] = []
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = raw.split("\t")
        rows.append([f.strip() for f in fields[:2]] + ["\t".join(fields[2:]).split("#")[0].strip()])
    return rows


def clean_rows(rows: Iterable[Sequence[object]]) -> list[Row]:
    """Rows as three stripped strings; fully blank rows (an editor's empty lines) are dropped."""
    out: list[Row] = []
    for row in rows:
        cells = [("" if c is None else str(c)).strip() for c in list(row)[:3]]
        cells += [""] * (3 - len(cells))
        if any(cells):
            out.append(cells)
    return out


def rows_to_lexicon(rows: Iterable[Sequence[object]]) -> UserLexicon:
    """Validate rows (row numbers start at 1) into a lexicon; raises TextFrontendError naming the bad row."""
    lexicon = UserLexicon()
    for number, (language, word, phones) in enumerate(clean_rows(rows), 1):
        try:
            lexicon.add(language, word, phones.split())
        except TextFrontendError as exc:
            raise TextFrontendError(f"row {number}: {exc}") from None
    return lexicon


def write_rows(path: Path, rows: Iterable[Sequence[object]]) -> int:
    """Validate and save rows (atomically; nothing is written when a row is bad). Returns the number of entries."""
    cleaned = clean_rows(rows)
    rows_to_lexicon(cleaned)
    body = "".join(f"{lang}\t{word}\t{' '.join(phones.split())}\n" for lang, word, phones in cleaned)
    atomic_write_bytes(path, (HEADER + body).encode("utf-8"))
    return len(cleaned)


def relevant_entries(lexicon: UserLexicon | None, language: str, texts: Iterable[str]) -> list[list]:
    """``[word, phones]`` of the entries that may change how ``texts`` (a line and its normalised form) read."""
    if lexicon is None or language not in EFFECTIVE_LANGUAGES:
        return []
    entries = lexicon.entries.get(language, {})
    if not entries:
        return []
    haystack = "\n".join(texts)
    if language == "en":
        haystack = haystack.lower()
    return [[word, list(phones)] for word, phones in sorted(entries.items()) if word in haystack]


def needs_normalised_text(lexicon: UserLexicon | None, language: str) -> bool:
    """Whether :func:`relevant_entries` for this language has entries to match (else normalising is wasted)."""
    return lexicon is not None and language in EFFECTIVE_LANGUAGES and bool(lexicon.entries.get(language))


def fingerprint(lexicon: UserLexicon | None) -> str:
    """A short hash of every entry (cache keys of phones computed with this lexicon)."""
    if lexicon is None:
        return ""
    data = json.dumps(lexicon.entries, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def preview_phones(text: str, language_option: str, lexicon: UserLexicon | None, version: str = "v2") -> str:
    """The phones of ``text`` per language segment, as synthesis would read them (segments separated by ``|``)."""
    from gpt_sovits.text.cleaner import clean_text
    from gpt_sovits.text.langseg import check_language_option, segment_text

    check_language_option(language_option, version)
    parts = [" ".join(clean_text(piece, lang, version, lexicon).phones) for piece, lang in
             segment_text(text, language_option)]
    return " | ".join(p for p in parts if p)
