"""The `.list` annotation format, owned here and nowhere else: `<wav path>|<speaker>|<language>|<text>` per line.

Upstream drops any line that does not split into exactly four fields, so a `|` inside the text silently loses the
clip. We refuse such text when writing and report such lines (with their line number) when reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.audio.io import atomic_write_bytes

# Spellings the formatting step (upstream's 1-get-text) accepts, mapped to the internal code.
_LANG_SPELLINGS: dict[str, str] = {
    "ZH": "zh", "zh": "zh",
    "JP": "ja", "jp": "ja", "JA": "ja", "ja": "ja",
    "EN": "en", "en": "en", "En": "en",
    "KO": "ko", "Ko": "ko", "ko": "ko",
    "yue": "yue", "YUE": "yue", "Yue": "yue",
}
LANGUAGES = ("zh", "en", "ja", "ko", "yue")


class ListFormatError(ValueError):
    """A `.list` line or entry that training would drop or misread."""


def normalize_lang(code: str) -> str | None:
    """Upstream's accepted spellings → `zh en ja ko yue`; anything else → None (training would skip the line)."""
    return _LANG_SPELLINGS.get(code.strip())


@dataclass(frozen=True)
class ListEntry:
    """One clip: audio path (as written in the file), speaker, language code as written, transcript."""

    path: str
    speaker: str
    lang: str
    text: str

    def validate(self) -> None:
        """Raise ListFormatError when this entry cannot be written as one well-formed line."""
        for name in ("path", "speaker", "lang", "text"):
            value = getattr(self, name)
            if "|" in value:
                raise ListFormatError(
                    f"The {name} {value!r} contains '|', which separates the fields of a .list line; "
                    "remove it (or use a full-width '｜')."
                )
            if "\n" in value or "\r" in value:
                raise ListFormatError(f"The {name} {value!r} contains a line break; a .list entry is one line.")
        if not self.path.strip():
            raise ListFormatError("An entry has an empty audio path.")

    def to_line(self) -> str:
        self.validate()
        return "|".join(v.strip() for v in (self.path, self.speaker, self.lang, self.text))


def parse_line(line: str, line_no: int = 0, source: str = "<list>") -> ListEntry:
    """Parse one non-empty line; the error names the file and the line number."""
    fields = line.rstrip("\r\n").split("|")
    if len(fields) != 4:
        hint = " (a '|' inside the text?)" if len(fields) > 4 else ""
        raise ListFormatError(
            f"{source}:{line_no}: expected 4 fields 'path|speaker|language|text', found {len(fields)}{hint}."
        )
    path, speaker, lang, text = (f.strip() for f in fields)
    if not path:
        raise ListFormatError(f"{source}:{line_no}: the audio path is empty.")
    return ListEntry(path, speaker, lang, text)


@dataclass(frozen=True)
class ListLineError:
    line_no: int
    line: str
    message: str


def parse_list_text_lenient(text: str, source: str = "<list>") -> tuple[list[ListEntry], list[ListLineError]]:
    """Parse every good line and collect the bad ones (for checks and the editor); blank lines are ignored."""
    entries: list[ListEntry] = []
    errors: list[ListLineError] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(parse_line(line, i, source))
        except ListFormatError as e:
            errors.append(ListLineError(i, line, str(e)))
    return entries, errors


def parse_list_text(text: str, source: str = "<list>") -> list[ListEntry]:
    """Parse `.list` content; the first malformed line raises ListFormatError with its line number."""
    entries, errors = parse_list_text_lenient(text, source)
    if errors:
        more = f" (and {len(errors) - 1} more bad lines)" if len(errors) > 1 else ""
        raise ListFormatError(errors[0].message + more)
    return entries


def read_list_lenient(path: str | Path) -> tuple[list[ListEntry], list[ListLineError]]:
    """Read a `.list` file, keeping good lines and reporting bad ones."""
    return parse_list_text_lenient(Path(path).read_text(encoding="utf-8-sig"), str(path))


def read_list(path: str | Path) -> list[ListEntry]:
    """Read a `.list` file; the first malformed line raises ListFormatError with its line number."""
    return parse_list_text(Path(path).read_text(encoding="utf-8-sig"), str(path))


def format_list(entries: Iterable[ListEntry]) -> str:
    """The file content: one line per entry, `\\n`-terminated (UTF-8, no BOM)."""
    return "".join(e.to_line() + "\n" for e in entries)


def write_list(path: str | Path, entries: Iterable[ListEntry]) -> Path:
    """Write atomically (all entries validated first, so a bad entry leaves the old file untouched)."""
    data = format_list(list(entries)).encode("utf-8")
    atomic_write_bytes(path, data)
    return Path(path)


def resolve_audio_path(entry_path: str, list_path: str | Path | None = None, audio_dir: str | Path | None = None) -> Path:
    """Where an entry's audio lives: `audio_dir/<basename>` when given (upstream's 1A rule), else the path as
    written, relative paths taken against the current folder first and then the list's folder."""
    cleaned = entry_path.strip().strip("\"'").replace("\u202a", "").replace("\\", "/").rstrip("/")
    if audio_dir:
        return Path(audio_dir) / Path(cleaned).name
    p = Path(cleaned)
    if p.is_absolute() or list_path is None or p.exists():
        return p
    return Path(list_path).parent / p
