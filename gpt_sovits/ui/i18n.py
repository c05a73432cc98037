"""UI strings: English text is the key; other languages are catalogues merged from `locale/<lang>/*.json`.

Each tab owner adds its own `locale/zh_CN/<tab>.json` (`{"English key": "中文"}`), so nobody edits a shared file.
A key missing from the catalogue is shown in English.
"""

from __future__ import annotations

import json
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh_CN")


class I18nError(ValueError):
    """A language that has no catalogue, or a catalogue file that is not a flat JSON object of strings."""


class Translator:
    """`t("Start")` → the string in this translator's language (the key itself when untranslated or English)."""

    def __init__(self, lang: str = "en", locale_dir: Path = LOCALE_DIR):
        if lang not in LANGUAGES:
            raise I18nError(f"Unknown UI language {lang!r}; choose one of: {', '.join(LANGUAGES)}.")
        self.lang = lang
        self.catalogue: dict[str, str] = {} if lang == "en" else load_catalogue(locale_dir / lang)

    def __call__(self, key: str, **fmt: object) -> str:
        text = self.catalogue.get(key, key)
        return text.format(**fmt) if fmt else text


def load_catalogue(folder: Path) -> dict[str, str]:
    """Merge every `*.json` in `folder` (sorted by name); a key defined twice keeps the later file's text."""
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise I18nError(f"{path}: not valid JSON ({e}).") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise I18nError(f"{path}: must be one JSON object mapping English strings to translated strings.")
        merged.update(data)
    return merged
