"""The lexicon panel of the Labels tab and the lexicon picker of the Inference tab: they build, and their handlers
load, validate, save and preview through the core functions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest

from gpt_sovits.dataset import FormatOptions, format_text
from gpt_sovits.text.lexicon_files import read_rows
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.tabs import infer as infer_tab
from gpt_sovits.ui.tabs import labels as labels_tab
from gpt_sovits.ui.tabs import lexicon as lexicon_panel

GPT_FIX = "G IH1 P T"


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_labels_tab_builds_with_the_lexicon_panel(tmp_path, lang):
    ctx = UiContext.create(str(tmp_path), lang=lang)
    with gr.Blocks() as demo:
        labels_tab.build(ctx)
    labels = {getattr(b, "label", None) for b in demo.blocks.values()}
    assert ctx.t("Phones with the lexicon (as edited)") in labels
    if lang == "zh_CN":
        assert ctx.t("Pronunciation lexicon") == "发音词典"


def test_every_string_of_the_panel_has_a_chinese_translation():
    source = Path(lexicon_panel.__file__).read_text(encoding="utf-8")
    keys = {"".join(re.findall(r'"([^"]*)"', m)) for m in re.findall(r'\bt\(\s*((?:"[^"]*"\s*)+)', source)}
    catalogue_dir = Path(lexicon_panel.__file__).parent.parent / "locale" / "zh_CN"
    catalogue = json.loads((catalogue_dir / "lexicon.json").read_text(encoding="utf-8"))
    assert len(keys) > 10 and keys <= set(catalogue), sorted(keys - set(catalogue))
    infer_keys = json.loads((catalogue_dir / "infer.json").read_text(encoding="utf-8"))
    assert "Pronunciation lexicon (edit it in 0 Labels)" in infer_keys


def test_panel_saves_loads_and_previews_an_experiment_lexicon(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    rows, message = lexicon_panel.load_table(ctx, "me")
    assert rows == [["", "", ""]] and "no entries yet" in message

    edited = [["en", "GPT", GPT_FIX], ["", "", ""]]
    without, with_lexicon = lexicon_panel.preview(ctx, "me", edited, "I use GPT.", "en")
    assert "JH IY1 P IY1 T IY1" in without and GPT_FIX in with_lexicon and GPT_FIX not in without
    assert not ctx.paths.experiment("me").lexicon.exists()  # previewing saves nothing

    assert "Saved 1 entries" in lexicon_panel.save_table(ctx, "me", edited)
    assert read_rows(ctx.paths.experiment("me").lexicon) == [["en", "GPT", GPT_FIX]]
    rows, message = lexicon_panel.load_table(ctx, "me")
    assert rows == [["en", "GPT", GPT_FIX]] and "Loaded 1 entries" in message

    # the saved experiment lexicon reaches formatting
    lst = tmp_path / "me.list"
    lst.write_text("a.wav|me|en|I use GPT.\n", encoding="utf-8")
    format_text(FormatOptions(list_path=lst, exp_name="me", root=tmp_path))
    assert GPT_FIX in (tmp_path / "logs" / "me" / "2-name2text.txt").read_text(encoding="utf-8")


def test_panel_global_scope_merges_under_an_experiment(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    lexicon_panel.save_table(ctx, "", [["en", "hello", "HH EH1 L OW0"]])
    assert read_rows(ctx.paths.lexicon) == [["en", "hello", "HH EH1 L OW0"]]
    _, with_lexicon = lexicon_panel.preview(ctx, "me", [["en", "GPT", GPT_FIX]], "hello GPT", "en")
    assert with_lexicon == f"HH EH1 L OW0 {GPT_FIX}"


def test_panel_reports_bad_rows_and_bad_names_without_saving(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    message = lexicon_panel.save_table(ctx, "me", [["en", "GPT", GPT_FIX], ["en", "x", "NOPE"]])
    assert message.startswith("⚠️") and "row 2" in message
    assert not ctx.paths.experiment("me").lexicon.exists()
    assert lexicon_panel.save_table(ctx, "../x", [["en", "GPT", GPT_FIX]]).startswith("⚠️")
    without, with_lexicon = lexicon_panel.preview(ctx, "me", [["en", "x", "NOPE"]], "x", "en")
    assert without.startswith("⚠️") and "row 1" in without and with_lexicon == ""
    assert lexicon_panel.preview(ctx, "me", [], "  ", "en") == ("", "")


def test_table_rows_accepts_what_gradio_sends():
    import pandas as pd  # a gradio dependency

    frame = pd.DataFrame([["en", "GPT", GPT_FIX]], columns=lexicon_panel.HEADERS)
    assert lexicon_panel.table_rows(frame) == [["en", "GPT", GPT_FIX]]
    assert lexicon_panel.table_rows({"data": [["en", None, "X"]]}) == [["en", "", "X"]]
    assert lexicon_panel.table_rows(None) == []


def test_inference_tab_offers_every_lexicon_file(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    assert infer_tab.lexicon_choices(ctx.paths) == ([("(none)", "")], "")
    lexicon_panel.save_table(ctx, "", [["en", "GPT", GPT_FIX]])
    lexicon_panel.save_table(ctx, "me", [["en", "GPT", GPT_FIX]])
    choices, default = infer_tab.lexicon_choices(ctx.paths)
    assert [label for label, _ in choices] == ["(none)", "lexicon.tsv", "logs/me/lexicon.tsv"]
    assert default == str(ctx.paths.lexicon)
