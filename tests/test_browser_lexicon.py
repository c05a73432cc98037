"""The pronunciation lexicon clicked through in a real browser: typed into the Labels tab's table, previewed, saved
to `logs/<exp>/lexicon.tsv`, then used by formatting (1A); chosen in the Inference tab, it changes what is spoken.

Its own WebUI process over a data root with the tiny models; the browser fixtures are test_browser's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import WebUI, tiny_webui
from test_browser import (  # noqa: F401  (browser and page are fixtures)
    JOB_TIMEOUT_MS,
    UI_TIMEOUT_MS,
    block,
    browser,
    choose,
    expect,
    open_tab,
    page,
    shot,
)

from gpt_sovits.dataset import FormatOptions, format_text
from gpt_sovits.text.lexicon_files import read_rows, write_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GPT_FIX = "G IH1 P T"


@pytest.fixture(scope="module")
def webui(tiny_pretrained: Path, tmp_path_factory) -> Iterator[WebUI]:
    with tiny_webui(tiny_pretrained, tmp_path_factory.mktemp("browser_lexicon")) as ui:
        yield ui


def _type_cell(pg, table, row: int, column: int, value: str) -> None:
    cell = table.get_by_test_id(f"cell-{row}-{column}")
    editor = cell.locator("textarea, input").first
    for _ in range(3):  # on a loaded machine a double-click during the table's re-render after the last edit is lost
        cell.dblclick()
        try:
            expect(editor).to_be_visible(timeout=5000)
            break
        except AssertionError:
            continue
    expect(editor).to_be_visible(timeout=UI_TIMEOUT_MS)  # the cell is in edit mode before anything is typed
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


def _synthesise(pg, panel, previous: str | None) -> tuple[str, bytes]:
    """Click Synthesise and fetch the result once its link is a new one (every call writes its own folder)."""
    panel.get_by_role("button", name="Synthesise").click()
    link = block(panel, "Result").get_by_test_id("download-link")
    if previous is None:
        expect(link).to_have_attribute("href", re.compile(r"/result\.wav$"), timeout=JOB_TIMEOUT_MS)
    else:
        expect(link).not_to_have_attribute("href", previous, timeout=JOB_TIMEOUT_MS)
        expect(link).to_have_attribute("href", re.compile(r"/result\.wav$"), timeout=JOB_TIMEOUT_MS)
    href = link.get_attribute("href")
    response = pg.request.get(href)
    assert response.ok, response.status
    return href, response.body()


def test_lexicon_chosen_in_the_inference_tab_changes_the_speech(page, webui, tmp_path):  # noqa: F811
    from infer_helpers import espeak_reference

    write_rows(webui.root / "logs" / "spk" / "lexicon.tsv", [["en", "GPT", GPT_FIX]])
    panel = open_tab(page, "1C Inference")
    panel.get_by_role("button", name="Refresh model lists").click()
    ref_block = block(panel, "Reference audio (3-10 s)")
    ref_block.locator("input[type=file]").set_input_files(str(espeak_reference(tmp_path / "ref.wav")))
    expect(ref_block.locator("time#duration")).to_have_text("0:04", timeout=UI_TIMEOUT_MS)
    panel.get_by_label("No reference text (timbre only; weaker imitation)").check()
    choose(page, panel, "Language of the text", "English")
    page.get_by_text("Sampling and speech").click()
    panel.get_by_label("Random seed").uncheck()
    panel.get_by_label("Seed", exact=True).fill("1234")

    panel.get_by_label("Text to synthesise").fill("I use GPT.")
    spoken, href = {}, None
    for option in ("(none)", "logs/spk/lexicon.tsv"):
        choose(page, panel, "Pronunciation lexicon (edit it in 0 Labels)", option)
        href, spoken[option] = _synthesise(page, panel, href)
    # same seed, same text: only the phones of "GPT" differ
    assert spoken["(none)"] != spoken["logs/spk/lexicon.tsv"]
    shot(page, "inference_lexicon")
