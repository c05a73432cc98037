"""Frontend parity with upstream, every language in one place.

Reads ``$GSV_FRONTEND_CASES`` or ``tests/fixtures/frontend_cases.jsonl`` (one JSON object per line:
``lang, text, norm_text, phones, word2ph, ids``) and requires, per language, that at least 98% of the cases give
exactly upstream's phones, ids, word2ph and norm_text. A language whose frontend module cannot be imported fails.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
from reference_data import frontend_cases_path

REQUIRED_RATE = 0.98
LANGUAGES = ("zh", "en", "ja", "ko", "yue")


def cases_path() -> Path:
    return frontend_cases_path()


def load_cases(language: str | None = None) -> list[dict]:
    out = []
    with cases_path().open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                case = json.loads(line)
                if language is None or case["lang"] == language:
                    out.append(case)
    return out


def compare_case(case: dict) -> str | None:
    """None when our frontend reproduces the case exactly, else a short description of the first difference."""
    try:
        got = clean_text(case["text"], case["lang"], "v2")
        ids = cleaned_text_to_sequence(got.phones, "v2")
    except Exception as exc:  # noqa: BLE001 - any failure counts as a mismatch; the rate assertion decides
        return f"raised {type(exc).__name__}: {exc}"
    diffs = []
    if got.norm_text != case["norm_text"]:
        diffs.append(f"norm_text {got.norm_text!r} != {case['norm_text']!r}")
    if got.phones != case["phones"]:
        diffs.append(f"phones {' '.join(got.phones)!r} != {' '.join(case['phones'])!r}")
    if got.word2ph != case["word2ph"]:
        diffs.append(f"word2ph {got.word2ph} != {case['word2ph']}")
    if ids != case["ids"]:
        diffs.append("ids differ")
    return "; ".join(diffs) or None


def run_language(language: str) -> tuple[int, int, list[str]]:
    cases = load_cases(language)
    failures = []
    for case in cases:
        problem = compare_case(case)
        if problem:
            failures.append(f"[{case.get('category', '?')}] {case['text']!r}: {problem}")
    return len(cases) - len(failures), len(cases), failures


def require_module(language: str) -> None:
    try:
        importlib.import_module(f"gpt_sovits.text.{language}")
    except ImportError as exc:
        pytest.fail(f"gpt_sovits.text.{language} cannot be imported ({exc}); parity for {language} not measured")


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_frontend_parity(language):
    if not load_cases(language):
        pytest.skip(f"no {language} cases in {cases_path()}")
    require_module(language)
    passed, total, failures = run_language(language)
    rate = passed / total
    print(f"\n{language}: {passed}/{total} = {rate:.1%} exact")
    for line in failures:
        print("  DIFF", line)
    assert rate >= REQUIRED_RATE, f"{language}: {passed}/{total} exact ({rate:.1%} < 98%):\n" + "\n".join(failures)
