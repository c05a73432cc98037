"""Load the text frontends' dictionaries before the first request needs them.

Why: the first Chinese sentence builds jieba's prefix dictionary and loads pypinyin's phrase tables, the first
English one reads the CMU dictionary, the word segmenter and g2p_en's model, the first Cantonese one ToJyutping's
table, and "auto" the fastText language-id model: seconds that the first request would otherwise pay. Warming runs
each frontend once on a short sentence through the same shared objects requests use (nothing new is kept), so it is
safe while a request arrives: the lazy loaders either finish first or are serialised by their own locks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

# One sentence per frontend, chosen to touch its lazily loaded parts (numbers → normaliser tables; an unknown English
# word → the neural predictor; a compound → the word segmenter).
SAMPLES: dict[str, str] = {
    "zh": "你好，今天是2024年3月5日，气温25.5度，我们一起去公园散步吧。",
    "en": "Hello, Doctor Smith bought 3 records in 2020 for the zorbleflux; sunflowerseed!",
    "yue": "你好呀，今日天氣好好，我哋去飲茶啦。",
    "ja": "今日はいい天気ですね。",
    "ko": "안녕하세요, 반갑습니다.",
}
AUTO_SAMPLE = "你好 hello 世界，こんにちは。"
DEFAULT_LANGUAGES = ("zh", "en", "yue", "ja", "ko")


# An inference language option → the frontends it can reach ("zh" is Chinese with English words, "auto" anything).
_OPTION_LANGUAGES = {
    "all_zh": ("zh",), "all_yue": ("yue",), "all_ja": ("ja",), "all_ko": ("ko",), "en": ("en",),
    "zh": ("zh", "en"), "yue": ("yue", "en"), "ja": ("ja", "en"), "ko": ("ko", "en"),
    "auto": ("zh", "en", "ja", "ko"), "auto_yue": ("yue", "en", "ja", "ko"),
}


def languages_for_options(*options: str | None) -> tuple[str, ...]:
    """The frontends the given language options (text and prompt) need, in first-needed order."""
    languages: list[str] = []
    for option in options:
        for language in _OPTION_LANGUAGES.get(option or "", ()):
            if language not in languages:
                languages.append(language)
    return tuple(languages)


def warm_text_frontend(languages: Iterable[str] = DEFAULT_LANGUAGES, version: str = "v2",
                       auto: bool = True) -> dict[str, float | str]:
    """Run each language's normalisation + G2P once (and the "auto" language detector when `auto`).

    Returns seconds per language, or the error text for a frontend that cannot run here (a missing optional
    package must not stop the program: the request that needs it reports it properly).
    """
    from gpt_sovits.text.cleaner import clean_text, supported_languages
    from gpt_sovits.text.langseg import segment_text

    report: dict[str, float | str] = {}
    known = supported_languages(version)
    for language in languages:
        if language not in known or language not in SAMPLES:
            continue
        start = time.perf_counter()
        try:
            clean_text(SAMPLES[language], language, version)
            report[language] = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - any frontend failure is reported, never raised
            report[language] = f"{type(err).__name__}: {err}"
    if auto:
        start = time.perf_counter()
        try:
            segment_text(AUTO_SAMPLE, "auto")
            report["auto"] = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001
            report["auto"] = f"{type(err).__name__}: {err}"
    for name, value in report.items():
        if isinstance(value, str):
            log.info("text frontend %s not warmed: %s", name, value)
    return report


def warm_in_background(languages: Iterable[str] = DEFAULT_LANGUAGES, version: str = "v2",
                       auto: bool = True) -> threading.Thread:
    """Start :func:`warm_text_frontend` on a daemon thread (it never blocks shutdown) and return the thread."""
    languages = tuple(languages)
    thread = threading.Thread(target=warm_text_frontend, args=(languages, version, auto),
                              name="text-frontend-warmup", daemon=True)
    thread.start()
    return thread
