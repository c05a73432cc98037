"""The pronunciation-lexicon panel of the Labels tab: a small table editor and a "preview phones" box.

Thin: reading, validating and saving rows, and the phones shown, all come from `gpt_sovits.text.lexicon_files`.
The scope is the global lexicon (`<data root>/lexicon.tsv`) or one experiment's (`logs/<exp>/lexicon.tsv`);
formatting (1A) uses both for its experiment, inference the file chosen in its tab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from gpt_sovits.paths import PathError
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.langseg import LANGUAGE_OPTIONS
from gpt_sovits.text.lexicon_files import editing_lexicon, preview_phones, read_rows, scope_path, write_rows
from gpt_sovits.ui.context import UiContext

HEADERS = ["language", "word", "phones"]
ERRORS = (TextFrontendError, PathError, OSError)


def table_rows(table: Any) -> list[list[str]]:
    """The editor's value as rows of three strings (Gradio gives a list of lists, a DataFrame or a dict)."""
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):  # a pandas DataFrame
        table = table.values.tolist()
    elif isinstance(table, dict):
        table = table.get("data") or []
    return [["" if c is None else str(c) for c in list(row)[:3]] for row in table]


def load_table(ctx: UiContext, exp: str) -> tuple[list[list[str]], str]:
    """Rows of the scope's file (one empty row to type into when it has none) and a status line."""
    try:
        path = scope_path(ctx.paths, exp)
        rows = read_rows(path)
    except ERRORS as e:
        return [["", "", ""]], "⚠️ " + str(e)
    if not rows:
        return [["", "", ""]], ctx.t("{path} has no entries yet: add rows and save.", path=path)
    return rows, ctx.t("Loaded {n} entries from {path}.", n=len(rows), path=path)


def save_table(ctx: UiContext, exp: str, table: Any) -> str:
    """Validate and save; a bad row saves nothing and says which row."""
    try:
        path = scope_path(ctx.paths, exp)
        n = write_rows(path, table_rows(table))
    except ERRORS as e:
        return "⚠️ " + str(e)
    return ctx.t("Saved {n} entries to {path}. Formatting (1A) redoes only the lines they affect.", n=n, path=path)


def preview(ctx: UiContext, exp: str, table: Any, text: str, language: str) -> tuple[str, str]:
    """Phones of ``text`` without any lexicon and with the table as edited (saved or not)."""
    if not (text or "").strip():
        return "", ""
    try:
        without = preview_phones(text, language, None)
        lexicon = editing_lexicon(ctx.paths, exp, table_rows(table))
        return without, preview_phones(text, language, lexicon)
    except ERRORS as e:
        return "⚠️ " + str(e), ""


def build(ctx: UiContext, languages: Sequence[str] = LANGUAGE_OPTIONS) -> None:
    t = ctx.t
    with gr.Accordion(t("Pronunciation lexicon"), open=False):
        gr.Markdown(t("Fix how a word is read: one row per word, language `zh` (toned pinyin per character, e.g. "
                      "`chong2 qing4`) or `en` (ARPAbet, e.g. `JH IY1 P IY1 T IY1`). Leave the experiment empty for "
                      "the global lexicon; an experiment's entries override it. Add rows with a cell's ⋮ menu."))
        with gr.Row():
            exp = gr.Textbox(label=t("Experiment (empty: global lexicon)"), scale=3)
            load_btn = gr.Button(t("Load lexicon"), scale=1)
            save_btn = gr.Button(t("Save lexicon"), variant="primary", scale=1)
        table = gr.Dataframe(headers=HEADERS, value=[["", "", ""]], column_count=3,
                             type="array", interactive=True, label=t("Entries"))
        status = gr.Markdown("")
        with gr.Row():
            text = gr.Textbox(label=t("Text to preview"), scale=3)
            language = gr.Dropdown(list(languages), value="en", label=t("Language"), scale=1)
            preview_btn = gr.Button(t("Preview phones"), scale=1)
        without = gr.Textbox(label=t("Phones without the lexicon"), interactive=False)
        with_lexicon = gr.Textbox(label=t("Phones with the lexicon (as edited)"), interactive=False)

    load_btn.click(lambda e: load_table(ctx, e), inputs=[exp], outputs=[table, status])
    save_btn.click(lambda e, tb: save_table(ctx, e, tb), inputs=[exp, table], outputs=[status])
    preview_btn.click(lambda e, tb, tx, lang: preview(ctx, e, tb, tx, lang), inputs=[exp, table, text, language],
                      outputs=[without, with_lexicon])
    text.submit(lambda e, tb, tx, lang: preview(ctx, e, tb, tx, lang), inputs=[exp, table, text, language],
                outputs=[without, with_lexicon])
