"""Text → phones for one language segment: upstream's ``clean_text`` and ``cleaned_text_to_sequence``.

``clean_text(text, language, version)`` picks the language module (``gpt_sovits.text.<lang>``, imported on first
use so a missing optional dependency of one language does not break the others), normalises the text, runs its
G2P and checks the result:

* zh only: if the text contains ``￥`` (or ``^``), that character is replaced by ``,`` and every ``,`` phone becomes
  ``SP2`` (or ``SP3``) — upstream's special-silence markers.
* zh / yue return ``word2ph`` (one entry per character of ``norm_text``); en prepends ``,`` when it has fewer than 4
  phones; ja / ko / en return ``word2ph=None``.
* any phone not in the symbol table becomes ``UNK``.

v1 models only know zh, ja and en (and the 322-symbol table; zh uses upstream's older v1 Chinese path).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.symbols import normalize_version, symbol_to_id

if TYPE_CHECKING:
    from gpt_sovits.text.lexicon import UserLexicon

LANGUAGES_V2 = ("zh", "ja", "en", "ko", "yue")
LANGUAGES_V1 = ("zh", "ja", "en")
_SPECIAL_SILENCES = (("￥", "SP2"), ("^", "SP3"))  # zh only


class CleanedText(NamedTuple):
    phones: list[str]
    word2ph: list[int] | None
    norm_text: str


def supported_languages(version: str = "v2") -> tuple[str, ...]:
    return LANGUAGES_V1 if normalize_version(version) == "v1" else LANGUAGES_V2


def language_module(language: str, version: str = "v2") -> ModuleType:
    """Import ``gpt_sovits.text.<language>``; a clear error if the language or its dependencies are missing."""
    supported = supported_languages(version)
    if language not in supported:
        raise TextFrontendError(
            f"unsupported language {language!r} for {version} models; use one of {', '.join(supported)}"
        )
    name = f"gpt_sovits.text.{language}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise TextFrontendError(
            f"the {language!r} text frontend is not available ({exc}); install its dependencies (see README)"
        ) from exc


def _run_g2p(module: ModuleType, language: str, norm_text: str, family: str, lexicon: UserLexicon | None):
    if language == "zh":
        return module.g2p(norm_text, lexicon, version=family)
    return module.g2p(norm_text, lexicon)


def _normalize(module: ModuleType, language: str, text: str, family: str, lexicon: UserLexicon | None) -> str:
    if language == "zh":
        return module.text_normalize(text, version=family)
    if language == "en" and lexicon is not None:
        # lexicon words ("GPT", "McDonald") must survive normalisation, which would spell or split them
        return module.text_normalize(text, lexicon=lexicon)
    return module.text_normalize(text)


def normalize_text(text: str, language: str, version: str = "v2", lexicon: UserLexicon | None = None) -> str:
    """Only the normalisation step of :func:`clean_text` (1A matches user-lexicon words against it)."""
    family = normalize_version(version)
    return _normalize(language_module(language, family), language, text, family, lexicon)


def clean_text(text: str, language: str, version: str = "v2", lexicon: UserLexicon | None = None) -> CleanedText:
    """Normalise ``text`` and convert it to phone symbols with upstream's semantics (see module docstring)."""
    family = normalize_version(version)
    if not isinstance(text, str):
        raise TextFrontendError(f"text must be a string, got {type(text).__name__}")
    module = language_module(language, family)

    silence = None
    if language == "zh":
        for mark, symbol in _SPECIAL_SILENCES:
            if mark in text:
                text, silence = text.replace(mark, ","), symbol
                break

    norm_text = _normalize(module, language, text, family, lexicon)
    phones, word2ph = _run_g2p(module, language, norm_text, family, lexicon)
    phones = list(phones)

    if language in ("zh", "yue"):
        if word2ph is None:
            raise TextFrontendError(f"the {language} frontend returned no word2ph")
        word2ph = list(word2ph)
        if len(phones) != sum(word2ph) or len(norm_text) != len(word2ph):
            raise TextFrontendError(
                f"{language} G2P is inconsistent for {norm_text[:60]!r}: {len(phones)} phones, "
                f"word2ph sums to {sum(word2ph)} over {len(word2ph)} entries for {len(norm_text)} characters"
            )
    else:
        if language == "en" and len(phones) < 4:
            phones = [","] + phones
        word2ph = None

    if silence is not None:
        phones = [silence if p == "," else p for p in phones]

    table = symbol_to_id(family)
    phones = [p if p in table else "UNK" for p in phones]
    return CleanedText(phones, word2ph, norm_text)


def cleaned_text_to_sequence(phones: list[str], version: str = "v2") -> list[int]:
    """Phone symbols → ids of the v1 (322) or v2 (732) table. Unknown symbols raise (``clean_text`` maps them to
    ``UNK`` first)."""
    table = symbol_to_id(version)
    try:
        return [table[p] for p in phones]
    except KeyError as exc:
        raise TextFrontendError(
            f"phone {exc.args[0]!r} is not in the {normalize_version(version)} symbol table"
        ) from None


def require_phones(cleaned: CleanedText, text: str) -> CleanedText:
    """Raise a clear error when text produced no phones at all (e.g. only emoji or Latin letters in zh)."""
    if not cleaned.phones:
        raise TextFrontendError(f"the text {text[:60]!r} contains nothing that can be pronounced")
    return cleaned
