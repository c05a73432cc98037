"""0 Labels tab: the label editor (replaces upstream's separate subfix app) and the `.list` check panel.

Thin: every action opens `gpt_sovits.asr.editor.LabelEditor` on the file, does one thing, and shows the page
again. Every change is saved at once by the editor as a new version of the list (Undo/Redo walk them). The session
keeps only a small dict (file, page, sort, which entries are shown, their paths and the values they were shown
with), so a view made from an older version of the file is never acted upon: buttons reload it instead, and a row
saves only a real change, carrying the value the page started from. When another page changed or deleted that row
meanwhile, nothing is written: the row shows the other value next to the user's text, which stays in its box.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from gpt_sovits.asr.editor import SORTS, EditorError, LabelEditor, Row, RowChange, RowConflict
from gpt_sovits.asr.listfile import LANGUAGES
from gpt_sovits.paths import resolve_inside
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.links import TabLinks
from gpt_sovits.ui.tabs import lexicon as lexicon_panel

PAGE_SIZE = 10
# All editor events share one queue slot: two saves to one file never interleave (blur + click, two tabs...).
SERIAL = {"concurrency_limit": 1, "concurrency_id": "label-editor"}
CHECK_HEADERS = ["line", "level", "problem", "audio", "message"]


def empty_state() -> dict[str, Any]:
    return {"list": "", "audio_dir": "", "page": 0, "sort": SORTS[0], "indices": [], "paths": [], "texts": [],
            "langs": [], "conflicts": {}}


def open_editor(ctx: UiContext, state: dict[str, Any]) -> LabelEditor:
    if not state.get("list"):
        raise EditorError(ctx.t("Open a .list file first."))
    roots = ctx.paths.allowed_roots
    list_path = resolve_inside(state["list"], roots, "list file")
    audio_dir = resolve_inside(state["audio_dir"], roots, "audio folder") if state.get("audio_dir") else None
    return LabelEditor(list_path, audio_dir)


def row_info(row: Row) -> str:
    parts = [f"#{row.index + 1}"]
    parts.append(f"{row.duration:.2f} s" if row.duration is not None else "⚠️ audio missing")
    if row.avg_logprob is not None:
        parts.append(f"avg log-prob {row.avg_logprob:.2f}")
    if row.no_speech_prob is not None:
        parts.append(f"no-speech {row.no_speech_prob:.2f}")
    return " · ".join(parts)


def page_view(ctx: UiContext, ed: LabelEditor | None, state: dict[str, Any], message: str) -> list[Any]:
    """Values for [state, status, page_label, *rows(check, audio, text, lang, info)]."""
    t = ctx.t
    rows: list[Row] = []
    n_pages = 1
    if ed is not None:
        rows, n_pages = ed.page(int(state["page"]), PAGE_SIZE, state["sort"])
        state = {**state, "page": min(int(state["page"]), n_pages - 1),
                 "indices": [r.index for r in rows], "paths": [r.path for r in rows],
                 "texts": [r.text for r in rows], "langs": [r.lang for r in rows], "conflicts": {}}
    else:
        state = {**state, "indices": [], "paths": [], "texts": [], "langs": [], "conflicts": {}}
    out: list[Any] = [state, message, page_label(ctx, ed, state, n_pages)]
    for i in range(PAGE_SIZE):
        if i < len(rows):
            r = rows[i]
            choices = list(LANGUAGES) + ([r.lang] if r.lang not in LANGUAGES else [])
            audio = str(r.audio_path) if r.duration is not None else None
            out += [gr.update(value=False, visible=True), gr.update(value=audio, visible=True),
                    gr.update(value=r.text, visible=True, label=Path(r.path).name),
                    gr.update(value=r.lang, choices=choices, visible=True), gr.update(value=row_info(r), visible=True)]
        else:
            out += [gr.update(value=False, visible=False), gr.update(value=None, visible=False),
                    gr.update(value="", visible=False), gr.update(visible=False), gr.update(value="", visible=False)]
    return out


def page_label(ctx: UiContext, ed: LabelEditor | None, state: dict[str, Any], n_pages: int) -> str:
    label = ctx.t("Page {page} of {pages}", page=int(state["page"]) + 1, pages=n_pages)
    if ed is not None:
        label += " · " + ctx.t("{n} clips", n=len(ed)) + (" · " + ctx.t("undo available") if ed.can_undo else "") \
            + (" · " + ctx.t("redo available") if ed.can_redo else "")
    return label


def conflict_info(ctx: UiContext, e: RowConflict) -> str:
    """Both values side by side; the user's stays in its box, so nothing they typed is lost."""
    if e.current is None:
        return "⚠️ " + ctx.t("Deleted elsewhere. Your text (still in the box, not saved): «{yours}». Copy it if you "
                             "need it, then Reload.", yours=e.change.now)
    if e.change.field == "lang":
        return "⚠️ " + ctx.t("Language changed elsewhere to «{theirs}»; your choice «{yours}» was not saved — choose "
                             "it again to apply it.", theirs=e.current, yours=e.change.now)
    return "⚠️ " + ctx.t("Changed elsewhere to: «{theirs}». Yours (still in the box, not saved): «{yours}». Press "
                         "Enter in the box to save yours over it, or Reload to take the other.",
                         theirs=e.current, yours=e.change.now)


def _open_current(ctx: UiContext, state: dict[str, Any]) -> tuple[LabelEditor | None, list[Any] | None]:
    """The editor over the file on disk, or (None, a full re-render) when it cannot be opened or the page shown is
    stale (the file changed on disk since it was rendered)."""
    try:
        ed = open_editor(ctx, state)
    except (EditorError, ValueError, OSError) as e:
        return None, page_view(ctx, None, state, "⚠️ " + str(e))
    shown = zip(state.get("indices", []), state.get("paths", []))
    if any(idx >= len(ed) or ed.entries[idx].path != path for idx, path in shown):
        return None, page_view(ctx, ed, state, "⚠️ " + ctx.t("The file changed on disk; it was reloaded. Nothing "
                                                              "was changed — check the page and try again."))
    return ed, None


def _act(ed: LabelEditor, action: Callable[[LabelEditor], str]) -> str:
    try:
        return action(ed)
    except (EditorError, ValueError, OSError) as e:
        return "⚠️ " + str(e)


def run_action(ctx: UiContext, state: dict[str, Any], action: Callable[[LabelEditor], str],
               refuse_stale: bool = True) -> list[Any]:
    """Open the file, refuse to act on a stale view (unless the action does not depend on it, like Undo), do
    `action`, and show the page again."""
    if refuse_stale:
        ed, fallback = _open_current(ctx, state)
        if ed is None:
            return fallback
    else:
        try:
            ed = open_editor(ctx, state)
        except (EditorError, ValueError, OSError) as e:
            return page_view(ctx, None, state, "⚠️ " + str(e))
    return page_view(ctx, ed, state, _act(ed, action))


def edit_row(ctx: UiContext, state: dict[str, Any], i: int, field: str, value: str,
             keep_yours: bool = False) -> list[Any]:
    """Save one row's text or language if the user changed it, and update only that row's info and the status.

    Re-rendering every row would wipe what the user is typing into another row while this save runs, so other rows
    are never touched. The save carries the value the row was shown with; when the row on disk differs (another
    page saved, undid or deleted it) nothing is written and the row's info shows both values. `keep_yours` (Enter
    in the box) then saves the user's text over the value they were shown.
    """
    fields_per_row = 5
    out: list[Any] = [gr.skip()] * (3 + PAGE_SIZE * fields_per_row)
    shown = state.get("indices", [])
    if i >= len(shown):
        return out
    key = "texts" if field == "text" else "langs"
    conflict = state.get("conflicts", {}).get(str(i))
    was = state[key][i]
    if keep_yours and conflict and conflict["field"] == field and conflict["current"] is not None:
        was = conflict["current"]
    change = RowChange(state["paths"][i], shown[i], was, value or "", field)
    if change.now.strip() == (was or "").strip() and not conflict:
        return out  # focus and leave without a change: nothing to save, nothing to say
    try:
        ed = open_editor(ctx, state)
        saved_at = ed.apply(change)
    except RowConflict as e:
        conflicts = {**state.get("conflicts", {}), str(i): {"field": field, "current": e.current}}
        new_state = {**state, "conflicts": conflicts}
        if field == "lang" and e.current is not None:
            new_state[key] = [*state[key][:i], e.current, *state[key][i + 1:]]
            out[3 + i * fields_per_row + 3] = gr.update(value=e.current)
        out[0], out[1] = new_state, "⚠️ " + str(e)
        out[3 + i * fields_per_row + 4] = gr.update(value=conflict_info(ctx, e))
        return out
    except (EditorError, ValueError, OSError) as e:
        out[1] = "⚠️ " + str(e)
        return out
    if saved_at is None:
        return out
    new_value = change.now.strip() if field == "text" else change.now
    conflicts = {k: v for k, v in state.get("conflicts", {}).items() if k != str(i)}
    out[0] = {**state, key: [*state[key][:i], new_value, *state[key][i + 1:]],
              "indices": [*shown[:i], saved_at, *shown[i + 1:]], "conflicts": conflicts}
    what = "text" if field == "text" else "language"
    out[1] = ctx.t("Saved the text of clip #{n}.", n=saved_at + 1) if what == "text" else \
        ctx.t("Saved the language of clip #{n}.", n=saved_at + 1)
    n_pages = max(1, -(-len(ed) // PAGE_SIZE))
    out[2] = page_label(ctx, ed, state, n_pages)
    out[3 + i * fields_per_row + 4] = gr.update(value=row_info(ed.row(saved_at)))
    return out


def selected_indices(state: dict[str, Any], checks: tuple[bool, ...]) -> list[int]:
    return [idx for idx, on in zip(state.get("indices", []), checks) if on]


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    gr.Markdown(t("Check and fix the transcripts. Every change is saved at once; every earlier version of the list is "
                  "kept in `<list>.history/` and Undo/Redo walk them (for the list, whichever page made the change). "
                  "Audio files are never overwritten: merge and split write new files."))
    state = gr.State(empty_state())
    with gr.Row():
        list_path = gr.Textbox(label=t(".list file"), scale=3)
        audio_dir = gr.Textbox(label=t("Audio folder (optional: audio = folder/<file name>)"), scale=2)
        open_btn = gr.Button(t("Open"), variant="primary", scale=1)
    with gr.Row():
        sort = gr.Dropdown(list(SORTS), value=SORTS[0], label=t("Sort"))
        prev_btn = gr.Button(t("Previous page"))
        next_btn = gr.Button(t("Next page"))
        reload_btn = gr.Button(t("Reload"))
        page_label = gr.Markdown("")
    status = gr.Markdown("")
    row_components: list[gr.components.Component] = []
    checks, texts, langs = [], [], []
    for i in range(PAGE_SIZE):
        with gr.Row(equal_height=True):
            check = gr.Checkbox(label=t("select"), value=False, visible=False, scale=0, min_width=80)
            audio = gr.Audio(type="filepath", interactive=False, visible=False, show_label=False, scale=2)
            text = gr.Textbox(label="", visible=False, scale=4, lines=1, max_lines=3)
            lang = gr.Dropdown(list(LANGUAGES), label=t("language"), visible=False, scale=1, min_width=90)
            info = gr.Markdown("", visible=False)
        row_components += [check, audio, text, lang, info]
        checks.append(check)
        texts.append(text)
        langs.append(lang)
    with gr.Row():
        delete_btn = gr.Button(t("Delete selected"), variant="stop")
        gap = gr.Slider(0, 2, value=0.3, step=0.01, label=t("Silence between merged clips (s)"))
        merge_btn = gr.Button(t("Merge selected"))
        split_at = gr.Number(1.0, label=t("Split point (s)"))
        split_btn = gr.Button(t("Split selected"))
        undo_btn = gr.Button(t("Undo last change"))
        redo_btn = gr.Button(t("Redo"))
    with gr.Accordion(t("Check the list"), open=False):
        check_btn = gr.Button(t("Check"))
        totals = gr.Markdown("")
        problems = gr.Dataframe(headers=CHECK_HEADERS, value=[], interactive=False, wrap=True)
    lexicon_panel.build(ctx)

    view_outputs = [state, status, page_label, *row_components]

    def on_open(list_value: str, audio_value: str, sort_value: str):
        new = {**empty_state(), "list": (list_value or "").strip(), "audio_dir": (audio_value or "").strip(),
               "sort": sort_value}
        return run_action(ctx, new, lambda ed: t("Opened {path}", path=ed.list_path))

    def on_page(delta: int) -> Callable:
        def handler(st: dict[str, Any], sort_value: str):
            new = {**st, "page": max(0, int(st.get("page", 0)) + delta), "sort": sort_value, "indices": [],
                   "paths": []}
            return run_action(ctx, new, lambda ed: "")
        return handler

    def on_text(i: int, keep_yours: bool) -> Callable:
        def handler(st: dict[str, Any], value: str):
            return edit_row(ctx, st, i, "text", value, keep_yours)
        return handler

    def on_lang(i: int) -> Callable:
        def handler(st: dict[str, Any], value: str):
            return edit_row(ctx, st, i, "lang", value)
        return handler

    def on_delete(st: dict[str, Any], *checked: bool):
        chosen = selected_indices(st, checked)

        def act(ed: LabelEditor) -> str:
            ed.delete(chosen)
            return t("Deleted {n} entries (their audio files are kept).", n=len(chosen))
        return run_action(ctx, st, act)

    def on_merge(st: dict[str, Any], gap_s: float, *checked: bool):
        chosen = selected_indices(st, checked)

        def act(ed: LabelEditor) -> str:
            at = ed.merge(chosen, float(gap_s or 0.0))
            return t("Merged into clip #{n}: {path}", n=at + 1, path=ed.audio_path(at).name)
        return run_action(ctx, st, act)

    def on_split(st: dict[str, Any], at_s: float, *checked: bool):
        chosen = selected_indices(st, checked)

        def act(ed: LabelEditor) -> str:
            if len(chosen) != 1:
                raise EditorError(t("Select exactly one clip to split."))
            a, b = ed.split(chosen[0], float(at_s or 0.0))
            return t("Split into clips #{a} and #{b}; both start with the same text — fix them.", a=a + 1, b=b + 1)
        return run_action(ctx, st, act)

    def on_undo(st: dict[str, Any]):
        return run_action(ctx, st, lambda ed: ed.undo(), refuse_stale=False)

    def on_redo(st: dict[str, Any]):
        return run_action(ctx, st, lambda ed: ed.redo(), refuse_stale=False)

    def on_check(st: dict[str, Any]):
        try:
            report = open_editor(ctx, st).check(ctx.paths.root)
        except (EditorError, ValueError, OSError) as e:
            return "⚠️ " + str(e), []
        return report.totals_text(), report.rows()

    open_btn.click(on_open, inputs=[list_path, audio_dir, sort], outputs=view_outputs, **SERIAL)
    list_path.submit(on_open, inputs=[list_path, audio_dir, sort], outputs=view_outputs, **SERIAL)
    sort.input(on_page(0), inputs=[state, sort], outputs=view_outputs, **SERIAL)
    prev_btn.click(on_page(-1), inputs=[state, sort], outputs=view_outputs, **SERIAL)
    next_btn.click(on_page(1), inputs=[state, sort], outputs=view_outputs, **SERIAL)
    reload_btn.click(on_page(0), inputs=[state, sort], outputs=view_outputs, **SERIAL)
    for i in range(PAGE_SIZE):
        texts[i].blur(on_text(i, False), inputs=[state, texts[i]], outputs=view_outputs, **SERIAL)
        texts[i].submit(on_text(i, True), inputs=[state, texts[i]], outputs=view_outputs, **SERIAL)
        langs[i].input(on_lang(i), inputs=[state, langs[i]], outputs=view_outputs, **SERIAL)
    delete_btn.click(on_delete, inputs=[state, *checks], outputs=view_outputs, **SERIAL)
    merge_btn.click(on_merge, inputs=[state, gap, *checks], outputs=view_outputs, **SERIAL)
    split_btn.click(on_split, inputs=[state, split_at, *checks], outputs=view_outputs, **SERIAL)
    undo_btn.click(on_undo, inputs=[state], outputs=view_outputs, **SERIAL)
    redo_btn.click(on_redo, inputs=[state], outputs=view_outputs, **SERIAL)
    check_btn.click(on_check, inputs=[state], outputs=[totals, problems], **SERIAL)
    if links is not None:  # the list ASR just wrote is offered here, and the list opened here goes on to 1A
        links.follow("asr.list", list_path, lambda v: v if v else gr.skip())
        links.publish("labels.list", list_path)
