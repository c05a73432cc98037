"""The 0 Slice, 0 ASR and 0 Labels tabs build inside a Blocks (no server), and their thin helpers behave."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.asr.listfile import ListEntry, read_list, write_list
from gpt_sovits.asr.whisper import WhisperModelNotFound
from gpt_sovits.paths import PathError
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.tabs import asr as asr_tab
from gpt_sovits.ui.tabs import labels as labels_tab
from gpt_sovits.ui.tabs import slice as slice_tab


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_tabs_build_in_blocks(tmp_path, lang):
    ctx = UiContext.create(str(tmp_path), lang=lang)
    with gr.Blocks() as demo:
        for name, module in (("0 Slice", slice_tab), ("0 ASR", asr_tab), ("0 Labels", labels_tab)):
            with gr.Tab(name):
                module.build(ctx)
    assert len(demo.blocks) > 60  # ten editor rows of five components and the forms
    if lang == "zh_CN":
        assert ctx.t("Delete selected") == "删除所选" and ctx.t("Slice") == "开始切分"


def test_slice_and_asr_forms_check_paths(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    assert slice_tab.output_dir_for(ctx, "voice", "") == tmp_path / "datasets" / "voice" / "sliced"
    with pytest.raises(PathError):
        slice_tab.output_dir_for(ctx, "voice", "/etc")
    with pytest.raises(PathError):
        slice_tab.output_dir_for(ctx, "../x", "")
    (tmp_path / "datasets" / "voice" / "sliced").mkdir(parents=True)
    with pytest.raises(WhisperModelNotFound, match="download_pretrained.py --whisper tiny"):
        asr_tab.asr_request(ctx, "voice", "", "", "tiny", "", "auto", "auto", "auto")
    assert asr_tab.model_status(ctx, "tiny", "").startswith("❌")


def test_label_tab_actions_save_and_refuse_stale_views(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    clips = tmp_path / "datasets" / "v"
    clips.mkdir(parents=True)
    entries = []
    for i in range(12):
        sf.write(clips / f"{i}.wav", np.zeros(16000 * (i + 1), np.float32), 16000)
        entries.append(ListEntry(str(clips / f"{i}.wav"), "v", "en", f"t{i}"))
    lst = clips / "v.list"
    write_list(lst, entries)

    state = {**labels_tab.empty_state(), "list": str(lst)}
    out = labels_tab.run_action(ctx, state, lambda ed: "opened")
    state, status, page_label = out[:3]
    assert status == "opened" and "1" in page_label and "2" in page_label
    assert state["indices"] == list(range(10))
    rows = out[3:]
    assert len(rows) == 5 * labels_tab.PAGE_SIZE
    assert rows[2]["value"] == "t0" and rows[1]["value"] == str(clips / "0.wav")

    out = labels_tab.run_action(ctx, state, lambda ed: ed.delete([0]) or "deleted")
    state = out[0]
    assert out[1] == "deleted" and len(read_list(lst)) == 11

    stale = {**state, "paths": [str(clips / "0.wav")] + state["paths"][1:]}
    out = labels_tab.run_action(ctx, stale, lambda ed: ed.delete([0]) or "deleted again")
    assert out[1].startswith("⚠️") and len(read_list(lst)) == 11  # nothing done on a stale view

    def bad_edit(ed):
        ed.edit(0, text="a|b")
        return "saved"
    out = labels_tab.run_action(ctx, state, bad_edit)
    assert out[1].startswith("⚠️") and "'|'" in out[1]
    assert labels_tab.selected_indices(state, (True, False, True)) == [state["indices"][0], state["indices"][2]]

    outside = {**labels_tab.empty_state(), "list": "/etc/passwd"}
    assert labels_tab.run_action(ctx, outside, lambda ed: "x")[1].startswith("⚠️")


def test_every_string_of_the_three_tabs_has_a_chinese_translation():
    import json
    import re
    from pathlib import Path

    ui = Path(labels_tab.__file__).parent.parent
    for tab in ("slice", "asr", "labels"):
        source = (ui / "tabs" / f"{tab}.py").read_text(encoding="utf-8")
        keys = {"".join(re.findall(r'"([^"]*)"', m)) for m in re.findall(r'\bt\(\s*((?:"[^"]*"\s*)+)', source)}
        catalogue = json.loads((ui / "locale" / "zh_CN" / f"{tab}.json").read_text(encoding="utf-8"))
        assert keys, tab
        assert keys <= set(catalogue), (tab, sorted(keys - set(catalogue)))


def test_label_rows_save_only_real_changes_and_show_conflicts(tmp_path):
    ctx = UiContext.create(str(tmp_path))
    clips = tmp_path / "datasets" / "v"
    clips.mkdir(parents=True)
    entries = []
    for i in range(3):
        sf.write(clips / f"{i}.wav", np.zeros(16000, np.float32), 16000)
        entries.append(ListEntry(str(clips / f"{i}.wav"), "v", "en", f"t{i}"))
    lst = clips / "v.list"
    write_list(lst, entries)
    opened = {**labels_tab.empty_state(), "list": str(lst)}
    page_a = labels_tab.run_action(ctx, opened, lambda ed: "")[0]
    page_b = labels_tab.run_action(ctx, opened, lambda ed: "")[0]

    out = labels_tab.edit_row(ctx, page_a, 1, "text", "fixed by A")
    assert out[1] == "Saved the text of clip #2." and out[0]["texts"][1] == "fixed by A"
    saved = lst.read_bytes()
    out = labels_tab.edit_row(ctx, page_b, 1, "text", "t1")  # B's stale box: focus and leave
    assert lst.read_bytes() == saved and all(v is gr.skip() or v == gr.skip() for v in out)

    out = labels_tab.edit_row(ctx, page_b, 1, "text", "typed by B")  # same row, both edited
    assert lst.read_bytes() == saved and out[1].startswith("⚠️")
    info = out[3 + 5 * 1 + 4]["value"]
    assert "fixed by A" in info and "typed by B" in info
    assert out[3 + 5 * 1 + 2] == gr.skip()  # B's text box is left alone: the text stays there
    page_b = out[0]
    out = labels_tab.edit_row(ctx, page_b, 1, "text", "typed by B")  # leaving again: still not written
    assert lst.read_bytes() == saved
    out = labels_tab.edit_row(ctx, out[0], 1, "text", "typed by B", keep_yours=True)  # Enter: keep mine
    assert read_list(lst)[1].text == "typed by B"

    out = labels_tab.edit_row(ctx, out[0], 2, "text", "  ")
    assert "cannot be empty" in out[1] and read_list(lst)[2].text == "t2"


def test_slice_tab_uploads_into_raw_and_takes_paths_from_the_data_root(tmp_path, monkeypatch):
    ctx = UiContext.create(str(tmp_path / "root"))
    up = tmp_path / "upload"
    up.mkdir()
    sf.write(up / "a|b.wav", np.zeros(1600, np.float32), 16000)
    message, folder = slice_tab.upload(ctx, "voice", [str(up / "a|b.wav")])
    raw = tmp_path / "root" / "datasets" / "voice" / "raw"
    assert folder == str(raw) and "1" in message and [p.name for p in raw.iterdir()] == ["a_b.wav"]
    message, _ = slice_tab.upload(ctx, "voice", [str(up / "a|b.wav")])  # the same file again: stored once
    assert "already there" in message and len(list(raw.iterdir())) == 1
    sf.write(up / "a|b.wav", np.ones(1600, np.float32) * 0.1, 16000)  # another file under the same name: kept both
    slice_tab.upload(ctx, "voice", [str(up / "a|b.wav")])
    assert sorted(p.name for p in raw.iterdir()) == ["a_b-2.wav", "a_b.wav"]
    with pytest.raises(PathError):
        slice_tab.upload(ctx, "", [str(up / "a|b.wav")])

    monkeypatch.chdir(up)  # typed relative paths mean the data root, wherever the WebUI was started
    assert slice_tab.input_for(ctx, "voice", "") == raw
    assert slice_tab.input_for(ctx, "", "datasets/voice/raw") == raw.resolve()
    assert slice_tab.output_dir_for(ctx, "voice", "datasets/voice/clips") == (raw.parent / "clips").resolve()
