"""Symbol tables: exact upstream order (checkpoint embedding rows depend on it)."""

import hashlib
import json

import pytest

from gpt_sovits.text.cleaner import cleaned_text_to_sequence
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.symbols import SYMBOLS_V1, SYMBOLS_V2, normalize_version, symbol_to_id, symbols

V2_SHA256 = "0771f6cd6f6201e8c2b0de921dc69cc04caf3f346c599d4a41413967d5674da7"


@pytest.fixture(scope="module")
def manifest(fixtures_dir):
    return json.loads((fixtures_dir / "manifests" / "symbols_v1_v2.json").read_text(encoding="utf-8"))


def test_sizes():
    assert len(SYMBOLS_V1) == 322
    assert len(SYMBOLS_V2) == 732
    assert len(set(SYMBOLS_V2)) == 732


def test_tables_match_manifest(manifest):
    assert SYMBOLS_V1 == manifest["v1"]
    assert SYMBOLS_V2 == manifest["v2"]


def test_v2_checksum():
    assert hashlib.sha256("\n".join(SYMBOLS_V2).encode("utf-8")).hexdigest() == V2_SHA256


def test_v2_extends_v1():
    assert SYMBOLS_V2[:322] == SYMBOLS_V1


@pytest.mark.parametrize(
    "symbol, idx",
    [
        ("!", 0),
        (",", 1),
        ("-", 2),
        (".", 3),
        ("?", 4),
        ("AA", 5),
        ("EE", 33),
        ("OO", 66),
        ("SP", 77),
        ("SP2", 78),
        ("SP3", 79),
        ("UNK", 86),
        ("_", 95),
        ("…", 321),
        ("[", 322),
        ("]", 323),
        ("ㄱ", 324),
        ("停", 351),
        ("空", 352),
        ("Ya", 353),
        ("Yz", 731),
    ],
)
def test_notable_ids(symbol, idx):
    assert symbol_to_id("v2")[symbol] == idx


def test_version_families():
    assert symbols("v1") is SYMBOLS_V1
    for v in ("v2", "v2Pro", "v2ProPlus", "v3", "v4"):
        assert symbols(v) is SYMBOLS_V2
        assert normalize_version(v) == "v2"
    with pytest.raises(ValueError, match="unknown model version"):
        symbols("v9")


def test_sequence_v1_v2():
    assert cleaned_text_to_sequence(["n", "i3", "h", "ao3", "."], "v2") == [227, 168, 158, 119, 3]
    # v1 and v2 agree on the first 322 ids
    assert cleaned_text_to_sequence(["n", "i3"], "v1") == cleaned_text_to_sequence(["n", "i3"], "v2")
    with pytest.raises(TextFrontendError, match="not in the v1 symbol table"):
        cleaned_text_to_sequence(["ㄱ"], "v1")
