"""Warming the text frontends at start-up: it reports per language, never raises, and is safe beside requests."""

from __future__ import annotations

import threading

from gpt_sovits.text.cleaner import clean_text
from gpt_sovits.text.warmup import languages_for_options, warm_in_background, warm_text_frontend
from gpt_sovits.text.zh import ChineseG2P


def test_languages_for_options_lists_what_each_option_reaches():
    assert languages_for_options("all_zh") == ("zh",)
    assert languages_for_options("zh", "en") == ("zh", "en")
    assert languages_for_options("all_ja", "all_zh") == ("ja", "zh")
    assert languages_for_options("auto") == ("zh", "en", "ja", "ko")
    assert languages_for_options(None, "nonsense") == ()


def test_warm_reports_each_language_and_skips_what_the_version_lacks():
    report = warm_text_frontend(["zh", "ko", "xx"], version="v1", auto=False)
    assert set(report) == {"zh"}  # v1 has no Korean; unknown codes are ignored
    assert isinstance(report["zh"], float)


def test_warming_in_the_background_while_requests_run_gives_the_same_phones():
    text = "今天是2024年3月5日，我们一起去公园散步吧。"
    expected = clean_text(text, "zh")
    thread = warm_in_background(["zh"], auto=False)
    results = []
    workers = [threading.Thread(target=lambda: results.append(clean_text(text, "zh"))) for _ in range(3)]
    for w in workers:
        w.start()
    for w in [thread, *workers]:
        w.join(timeout=300)
    assert not thread.is_alive() and thread.daemon
    assert results == [expected] * 3


def test_a_fresh_chinese_frontend_builds_jieba_once_under_concurrent_first_use():
    g2p = ChineseG2P("v2")
    norm = g2p.normalize("我们一起去公园散步吧。")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def first_use():
        barrier.wait()
        try:
            results.append(g2p.g2p(norm))
        except Exception as err:  # a half-built tokenizer would surface here
            errors.append(err)

    workers = [threading.Thread(target=first_use) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors
    assert len(results) == 4 and all(r == results[0] for r in results)
