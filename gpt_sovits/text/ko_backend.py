"""Builds g2pk2's converter offline.

Stock ``g2pk2`` 0.0.3 is unfriendly to offline use in three ways, each bypassed here:

* importing it calls ``nltk.download('cmudict')`` when NLTK's cmudict corpus is absent → the import runs with
  ``nltk.download`` swapped for a refusal (restored right after; the real downloader never runs);
* ``G2p.__init__`` pip-installs ``python-mecab-ko`` when it cannot find it → we never call that constructor; we check
  for MeCab ourselves and raise a :class:`TextFrontendError` that says what to install;
* ``G2p.__init__`` reads NLTK's cmudict (for English words inside Korean text) → we pass an empty dictionary. This is
  exactly equivalent for our use: the Korean frontend turns every ASCII letter into Hangul *before* g2pk2 runs, and
  g2pk2 only looks up ``[A-Za-z']+`` runs, so the only possible keys are runs of apostrophes, which no CMU dictionary
  contains.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from gpt_sovits.text.errors import TextFrontendError

_IMPORT_LOCK = threading.Lock()


@contextlib.contextmanager
def nltk_downloads_refused() -> Iterator[None]:
    """Within the block, ``nltk.download`` returns False instead of touching the network."""
    import nltk

    def _refuse(*args: object, **kwargs: object) -> bool:
        return False

    with _IMPORT_LOCK:
        original = nltk.download
        nltk.download = _refuse
        try:
            yield
        finally:
            nltk.download = original


def _import_g2pk2() -> Any:
    with nltk_downloads_refused():
        return importlib.import_module("g2pk2.g2pk2")


def _open_mecab() -> Any:
    try:
        mecab = importlib.import_module("mecab")
    except ImportError as exc:
        raise TextFrontendError(
            "Korean text needs MeCab-ko: install python-mecab-ko and python-mecab-ko-dic "
            "(pip install python-mecab-ko python-mecab-ko-dic)"
        ) from exc
    try:
        return mecab.MeCab()
    except Exception as exc:  # the binding raises its own error types for a missing/broken dictionary
        raise TextFrontendError(f"Korean text needs the MeCab-ko dictionary (python-mecab-ko-dic): {exc}") from exc


def load_g2pk2() -> Any:
    """A ready ``g2pk2.G2p`` instance (same attributes its constructor sets, without its side effects)."""
    module = _import_g2pk2()
    utils = importlib.import_module("g2pk2.utils")

    converter = module.G2p.__new__(module.G2p)
    converter.use_konlpy = False
    converter.mecab_path = None
    converter.mecab = _open_mecab()
    converter.table = utils.parse_table()
    converter.cmu = {}  # see the module docstring: never consulted after Latin → Hangul
    converter.rule2text = utils.get_rule_id2text()
    converter.idioms_path = os.path.join(os.path.dirname(os.path.abspath(module.__file__)), "idioms.txt")
    return converter
