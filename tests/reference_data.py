"""Where the parity tests find upstream's reference tables.

Order: an explicit file (`$GSV_FRONTEND_CASES` / `$GSV_SPLIT_CASES`), else the file of that name inside
`$GSV_REFERENCE_BUNDLE` (a bundle of the standard layout carries both tables), else the copy in tests/fixtures/.
"""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def _table(env_name: str, file_name: str) -> Path:
    explicit = os.environ.get(env_name)
    if explicit:
        return Path(explicit)
    bundle = os.environ.get("GSV_REFERENCE_BUNDLE")
    if bundle and (Path(bundle) / file_name).is_file():
        return Path(bundle) / file_name
    return FIXTURES / file_name


def frontend_cases_path() -> Path:
    return _table("GSV_FRONTEND_CASES", "frontend_cases.jsonl")


def split_cases_path() -> Path:
    return _table("GSV_SPLIT_CASES", "split_cases.jsonl")
