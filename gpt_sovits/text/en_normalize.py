"""English text normalisation with upstream's semantics (``english.text_normalize`` + ``en_normalization``).

Order matters and is upstream's: punctuation map, ordinals written ``1.``, arithmetic, negatives, thousands
separators, times, unit suffixes, £/$ amounts, decimals, fractions, ``1st``-style ordinals, integers (via
``inflect``), accent stripping, ``%``, removal of every character outside ``[ A-Za-z'.,?!-]``, ``i.e.``/``e.g.``,
a space before every inner capital letter, then collapse of repeated punctuation.

Quirks kept on purpose (the reference data contains them): ``7:45 am`` → ``seven forty-five a.m. am``,
``1990s`` → ``nineteen ninety seconds`` (``s`` is the seconds suffix), ``to -5`` → ``tonegative five`` (the
whitespace before a negative number is consumed), ``$2 million`` → ``two dollars million``, ``60 km/h`` →
``sixty kmh`` (unit suffixes only match when glued to the number).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

# Upstream escapes these keys before joining them, so the bracketed "classes" only match their literal text;
# ';' ':' '"' are removed later by the character filter instead of becoming ',' / "'".
PUNCTUATION_MAP: dict[str, str] = {"[;:：，；]": ",", '["’]': "'", "。": ".", "！": "!", "？": "?"}
_PUNCTUATION_MAP_RE = re.compile("|".join(re.escape(k) for k in PUNCTUATION_MAP))

SYMBOL_PUNCTUATION = "!?…,.-"
_REPEATED_PUNCTUATION_RE = re.compile(
    "([" + re.escape(SYMBOL_PUNCTUATION) + r"\s])([" + re.escape(SYMBOL_PUNCTUATION) + "])+"
)

MEASUREMENT_UNITS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}

_ORDINAL_DOT_RE = re.compile(r"\b([0-9]+)\. ")
_COMMA_NUMBER_RE = re.compile(r"([0-9][0-9\,]+[0-9])")
_TIME_RE = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b")
_MEASUREMENT_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?(m|km|km/h|ft|L|tbsp|tsp|h|min|s|°C|°F))\b")
_POUNDS_BEFORE_RE = re.compile(r"£([0-9\.\,]*[0-9]+)")
_POUNDS_AFTER_RE = re.compile(r"(?<![0-9.,])([0-9.,]*[0-9])£")
_DOLLARS_BEFORE_RE = re.compile(r"\$([0-9\.\,]*[0-9]+)")
_DOLLARS_AFTER_RE = re.compile(r"(?<![(0-9.,])([(0-9.,]*[0-9])\$")  # upstream's class also admits "("
_DECIMAL_RE = re.compile(r"(?<![0-9])([0-9]+\.\s*[0-9]+)")
_FRACTION_RE = re.compile(r"(?<![0-9])([0-9]+/[0-9]+)")
_ORDINAL_RE = re.compile(r"(?<![0-9])[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"[0-9]+")
# The "(?<!...)" look-behinds are ours: upstream's patterns backtrack cubically on long digit runs. A match can only
# start where the run starts (re.sub scans left to right and earlier starts in the same run always succeed when a
# later one does), so the look-behinds only skip doomed attempts and the results are unchanged.

_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_OPERAND = rf"((?<!\d)(-?)((\d+)(\.\d+)?[{_SUPERSCRIPTS}]*)|(\.\d+[{_SUPERSCRIPTS}]*)|([A-Za-z][{_SUPERSCRIPTS}]*))"
_ARITHMETIC_RE = re.compile(_OPERAND + r"\s+([\+\-\×÷=])\s+" + _OPERAND)
ARITHMETIC_WORDS = {"+": " plus ", "-": " minus ", "×": " times ", "÷": " divided by ", "=": " Equals "}
_NEGATIVE_RE = re.compile(r"(?:^|(?<!\s)\s+)(-)(\d+)")

_KEPT_CHARS_RE = re.compile(r"[^ A-Za-z'.,?!\-]")
_INNER_CAPITAL_RE = re.compile(r"(?<!^)(?<![\s])([A-Z])")


@lru_cache(maxsize=1)
def _inflect() -> Any:
    import inflect

    return inflect.engine()


def _words(num: int | str, **kwargs: Any) -> str:
    """inflect's spelling; numbers too large for inflect are read digit by digit (upstream raises there)."""
    import inflect

    try:
        return _inflect().number_to_words(num, **kwargs)
    except inflect.NumOutOfRangeError:  # 10**36 and more
        return _digit_by_digit("".join(d for d in str(num) if d.isdigit()))


_MAX_DIGITS = 60  # longer digit runs are read digit by digit (inflect and int() both give up on huge ones)


def _to_int(text: str) -> int:
    """int() of a matched amount; upstream would crash on stray ',' or '(' here, we drop them."""
    digits = "".join(ch for ch in text if ch in "0123456789")[:_MAX_DIGITS]
    return int(digits) if digits else 0


_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _digit_by_digit(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


def _ordinal_dot(m: re.Match[str]) -> str:
    return _inflect().ordinal(m.group(1)) + ", "


def _arithmetic(m: re.Match[str]) -> str:
    return m.group(1) + ARITHMETIC_WORDS[m.group(8)] + m.group(9)


def _negative(m: re.Match[str]) -> str:
    return f"negative {m.group(2)}"


def _time(m: re.Match[str]) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    period = "a.m." if hours < 12 else "p.m."
    if hours > 12:
        hours -= 12
    if minutes == 0:
        return f"{_words(hours)} o'clock {period}"
    return f"{_words(hours)} {_words(minutes)} {period}"


def _measurement(m: re.Match[str]) -> str:
    unit = m.group(3)
    amount = m.group(1)
    value = _to_int(amount.replace(unit, "").replace(".", ""))
    singular = m.group(2) is None and value == 1
    return amount.replace(unit, " " + MEASUREMENT_UNITS[unit][0 if singular else 1])


def _money(amount: str, units: tuple[str, str, str, str]) -> str:
    """'19.99' → '19 dollars and 99 cents' (digits are spelled later)."""
    major_one, major_many, minor_one, minor_many = units
    parts = amount.split(".")
    if len(parts) > 2:
        return f"{amount} {major_many}"
    major = _to_int(parts[0]) if parts[0] else 0
    minor = _to_int(parts[1].ljust(2, "0")) if len(parts) > 1 and parts[1] else 0
    major_unit = major_one if major == 1 else major_many
    minor_unit = minor_one if minor == 1 else minor_many
    if major and minor:
        return f"{major} {major_unit} and {minor} {minor_unit}"
    if major:
        return f"{major} {major_unit}"
    if minor:
        return f"{minor} {minor_unit}"
    return f"zero {major_many}"


_POUND_UNITS = ("pound", "pounds", "penny", "pence")
_DOLLAR_UNITS = ("dollar", "dollars", "cent", "cents")


def _decimal(m: re.Match[str]) -> str:
    whole, fraction = m.group(1).split(".")
    return whole + " point " + " ".join(fraction)


def _fraction(m: re.Match[str]) -> str:
    numerator, denominator = (_to_int(x) for x in m.group(0).split("/"))
    top = _words(numerator)
    if denominator == 2:
        return f"{top} {'half' if numerator == 1 else 'halves'}"
    if denominator == 1:
        return top
    bottom = _inflect().ordinal(_words(denominator))
    if numerator > 1:
        bottom += "s"
    return f"{top} {bottom}"


def _ordinal(m: re.Match[str]) -> str:
    return _words(m.group(0))


def _number(m: re.Match[str]) -> str:
    if len(m.group(0)) > _MAX_DIGITS:
        return _digit_by_digit(m.group(0))
    num = int(m.group(0))
    if 1000 < num < 3000:  # read like a year
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + _words(num % 100)
        if num % 100 == 0:
            return _words(num // 100) + " hundred"
        return _words(num, andword="", zero="oh", group=2).replace(", ", " ")
    return _words(num, andword="")


def split_inner_capitals(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """A space before every capital letter that does not start the text or follow whitespace ("PhD" → "Ph D").

    ``keep(word)`` (ours, for the user lexicon) protects whole letter runs from the split, so that an entry such
    as "GPT" or "McDonald" can still be found by the G2P; without it this is exactly upstream's rule."""
    if keep is None:
        return _INNER_CAPITAL_RE.sub(r" \1", text)
    spans = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z]+", text) if keep(m.group(0))]
    starts = [start for start, _ in spans]

    def _split(m: re.Match[str]) -> str:
        i = bisect.bisect_left(starts, m.start()) - 1  # last protected run starting before this capital
        inside = i >= 0 and m.start() < spans[i][1]
        return m.group(1) if inside else " " + m.group(1)

    return _INNER_CAPITAL_RE.sub(_split, text)


def expand(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """Upstream's ``en_normalization.expend.normalize``: numbers, units, money → words; filter characters.
    ``keep``: see :func:`split_inner_capitals`."""
    text = _ORDINAL_DOT_RE.sub(_ordinal_dot, text)
    while _ARITHMETIC_RE.search(text):
        text = _ARITHMETIC_RE.sub(_arithmetic, text)
    text = _NEGATIVE_RE.sub(_negative, text)
    text = _COMMA_NUMBER_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _TIME_RE.sub(_time, text)
    text = _MEASUREMENT_RE.sub(_measurement, text)
    text = _POUNDS_BEFORE_RE.sub(lambda m: _money(m.group(1), _POUND_UNITS), text)
    text = _POUNDS_AFTER_RE.sub(lambda m: _money(m.group(1), _POUND_UNITS), text)
    text = _DOLLARS_BEFORE_RE.sub(lambda m: _money(m.group(1), _DOLLAR_UNITS), text)
    text = _DOLLARS_AFTER_RE.sub(lambda m: _money(m.group(1), _DOLLAR_UNITS), text)
    text = _DECIMAL_RE.sub(_decimal, text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _ORDINAL_RE.sub(_ordinal, text)
    text = _NUMBER_RE.sub(_number, text)

    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
    text = text.replace("%", " percent")
    text = _KEPT_CHARS_RE.sub("", text)
    text = re.sub(r"(?i)i\.e\.", "that is", text)
    text = re.sub(r"(?i)e\.g\.", "for example", text)
    return split_inner_capitals(text, keep)


def collapse_punctuation(text: str) -> str:
    """A run of ``! ? … , . -`` after a mark or whitespace is dropped (keeps the first mark / the whitespace)."""
    return _REPEATED_PUNCTUATION_RE.sub(r"\1", text)


def text_normalize(text: str, lexicon: Any = None) -> str:
    """Upstream's ``english.text_normalize``. With a user lexicon (``.lookup("en", word)``), words it knows are not
    split at inner capitals (ours; upstream has no lexicon)."""
    text = _PUNCTUATION_MAP_RE.sub(lambda m: PUNCTUATION_MAP[m.group(0)], text)
    keep = None if lexicon is None else (lambda word: bool(lexicon.lookup("en", word)))
    return collapse_punctuation(expand(text, keep))
