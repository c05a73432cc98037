"""The pronunciation lexicon clicked through in a real browser: typed into the Labels tab's table, previewed, saved
to `logs/<exp>/lexicon.tsv`, then used by formatting (1A) and offered by the Inference tab.

Its own WebUI process over an empty data root (the panel needs no model); the browser fixtures are test_browser's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import WebUI, start_webui
from test_browser import UI_TIMEOUT_MS, browser, expect, open_tab, page, shot  # noqa: F401  (fixtures)

from gpt_sovits.dataset import FormatOptions, format_text
from gpt_sovits.text.lexicon_files import read_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GPT_FIX = "G IH1 P T"


@pytest.fixture(scope="module")
def webui(tmp_path_factory) -> Iterator[WebUI]:
    work = tmp_path_factory.mktemp("browser_lexicon")
    root = work / "root"
    root.mkdir()
    ui = start_webui(root, work)
    try:
        yield ui
    finally:
        ui.stop()


def _type_cell(pg, table, row: int, column: int, value: str) -> None:
    cell = table.get_by_test_id(f"cell-{row}-{column}")
    cell.dblclick()
    pg.keyboard.press("ControlOrMeta+a")
    pg.keyboard.type(value)
    pg.keyboard.press("Enter")
    expect(cell).to_contain_text(value, timeout=UI_TIMEOUT_MS)


def test_lexicon_typed_in_the_labels_tab_reaches_formatting(page, webui):  # noqa: F811
    root: Path = webui.root
    panel = open_tab(page, "0 Labels")
    panel.get_by_text("Pronunciation lexicon", exact=True).click()
    panel.get_by_label("Experiment (empty: global lexicon)").fill("me")
    panel.get_by_role("button", name="Load lexicon").click()
    expect(panel.get_by_text("has no entries yet")).to_be_visible(timeout=UI_TIMEOUT_MS)

    table = panel.locator(".table-wrap").last  # the lexicon table (the list check's table comes before it)
    for column, value in enumerate(("en", "GPT", GPT_FIX)):
        _type_cell(page, table, 0, column, value)
    panel.get_by_label("Text to preview").fill("I use GPT.")
    panel.get_by_role("button", name="Preview phones").click()
    expect(panel.get_by_label("Phones with the lexicon (as edited)")).to_have_value(
        f"AY1 Y UW1 Z {GPT_FIX} .", timeout=UI_TIMEOUT_MS)
    expect(panel.get_by_label("Phones without the lexicon")).to_have_value("AY1 Y UW1 Z JH IY1 P IY1 T IY1 .")
    assert not (root / "logs" / "me" / "lexicon.tsv").exists()  # previewing saves nothing

    panel.get_by_role("button", name="Save lexicon").click()
    expect(panel.get_by_text("Saved 1 entries")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert read_rows(root / "logs" / "me" / "lexicon.tsv") == [["en", "GPT", GPT_FIX]]
    shot(page, "labels_lexicon")

    lst = root / "me.list"
    lst.write_text("a.wav|me|en|I use GPT.\n", encoding="utf-8")
    format_text(FormatOptions(list_path=lst, exp_name="me", root=root))
    assert GPT_FIX in (root / "logs" / "me" / "2-name2text.txt").read_text(encoding="utf-8")

    infer = open_tab(page, "1C Inference")
    infer.get_by_role("button", name="Refresh model lists").click()
    infer.get_by_label("Pronunciation lexicon (edit it in 0 Labels)").click()
    expect(page.get_by_role("option", name="logs/me/lexicon.tsv", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
