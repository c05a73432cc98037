"""Frontend parity with upstream, every language in one place.

Reads ``$GSV_FRONTEND_CASES`` or ``tests/fixtures/frontend_cases.jsonl`` (one JSON object per line:
``lang, text, norm_text, phones, word2ph, ids``) and requires, per language, that every case gives exactly upstream's
phones, ids, word2ph and norm_text, except the differences named in ``KNOWN_DIFFERENCES`` (case by case, with the
reason), so one new regression fails. A named difference that no longer differs fails too (the list stays true).

English sentences that contain a g2p_en homograph are an explained class of difference (upstream chooses their
reading with NLTK's POS tagger, we with a stand-in; see README "Text frontend"): they are reported, not failed.
A table other than the shipped fixture (``$GSV_FRONTEND_CASES``) holds cases nobody could name in advance: there,
unexplained differences are listed and allowed up to ``OTHER_TABLE_RATE`` exact, and the rate is printed.
A language whose frontend module cannot be imported fails.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
from reference_data import FIXTURES, frontend_cases_path

OTHER_TABLE_RATE = 0.98
LANGUAGES = ("zh", "en", "ja", "ko", "yue")

# (lang, text) → why our result differs from upstream's for that reference case. Every case of the shipped table
# currently matches, so the list is empty; add an entry only with the reason.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


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


def explained_difference(case: dict) -> str | None:
    """Why a differing case is expected to differ, or None when it is not."""
    named = KNOWN_DIFFERENCES.get((case["lang"], case["text"]))
    if named:
        return named
    if case["lang"] == "en":
        word = _homograph_in(case["norm_text"])
        if word:
            return f"POS-tagged homograph {word!r} (upstream tags with NLTK's tagger, we with a stand-in)"
    return None


def _homograph_in(norm_text: str) -> str | None:
    from gpt_sovits.text.en import default_g2p

    g2p = default_g2p()
    return next((t for t in g2p.tokenize(norm_text) if t.lower() in g2p.homographs), None)


def run_language(language: str) -> tuple[int, int, list[str]]:
    """Exact cases, all cases, and a line per differing case (for the report)."""
    passed, total, unexplained, explained, stale = classify(language)
    return passed, total, unexplained + explained


def classify(language: str) -> tuple[int, int, list[str], list[str], list[str]]:
    """Exact and total counts, unexplained differences, explained ones, and named differences that now match."""
    cases = load_cases(language)
    unexplained, explained, stale = [], [], []
    for case in cases:
        problem = compare_case(case)
        reason = explained_difference(case)
        label = f"[{case.get('category', '?')}] {case['text']!r}"
        if problem is None:
            if (case["lang"], case["text"]) in KNOWN_DIFFERENCES:
                stale.append(f"{label}: named in KNOWN_DIFFERENCES but now matches upstream")
        elif reason:
            explained.append(f"{label}: {problem} (known: {reason})")
        else:
            unexplained.append(f"{label}: {problem}")
    passed = len(cases) - len(unexplained) - len(explained)
    return passed, len(cases), unexplained, explained, stale


def is_shipped_table() -> bool:
    return cases_path().resolve() == (FIXTURES / "frontend_cases.jsonl").resolve()


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
    passed, total, unexplained, explained, stale = classify(language)
    rate = passed / total
    print(f"\n{language}: {passed}/{total} = {rate:.1%} exact ({len(explained)} known, {len(unexplained)} unexplained)")
    for line in explained:
        print("  KNOWN", line)
    for line in unexplained:
        print("  DIFF", line)
    assert not stale, "\n".join(stale)
    if is_shipped_table():
        assert not unexplained, f"{language}: differences from upstream not named in KNOWN_DIFFERENCES:\n" + "\n".join(
            unexplained
        )
    else:
        assert rate >= OTHER_TABLE_RATE, (
            f"{language}: {passed}/{total} exact ({rate:.1%} < {OTHER_TABLE_RATE:.0%}) in {cases_path()}:\n"
            + "\n".join(unexplained + explained)
        )


def test_classification_names_regressions_and_explains_homographs(tmp_path, monkeypatch):
    """One altered case is an unexplained difference; an altered homograph sentence is explained; a named
    difference that matches is stale."""
    good = next(c for c in load_cases("en") if c["text"] == "Dial 911 in an emergency.")
    broken = {**good, "text": "Dial 912 in an emergency.", "phones": good["phones"][:-1]}
    homograph = {**good, "text": "They record it.", "norm_text": "They record it.", "phones": ["X"]}
    table = tmp_path / "cases.jsonl"
    table.write_text("".join(json.dumps(c) + "\n" for c in (good, broken, homograph)), encoding="utf-8")
    monkeypatch.setenv("GSV_FRONTEND_CASES", str(table))
    monkeypatch.setitem(KNOWN_DIFFERENCES, ("en", "Dial 911 in an emergency."), "named for this test")
    passed, total, unexplained, explained, stale = classify("en")
    assert (passed, total) == (1, 3)
    assert len(unexplained) == 1 and "'Dial 912 in an emergency.'" in unexplained[0]
    assert len(explained) == 1 and "'record'" in explained[0]
    assert len(stale) == 1 and "'Dial 911 in an emergency.'" in stale[0]
    assert not is_shipped_table()
