"""The label editor through its functions: every change saved at once, `.bak` = the state before, undo, crashes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.asr.editor import EditorConflict, EditorError, LabelEditor
from gpt_sovits.asr.listfile import ListEntry, read_list, write_list

SR = 32000


def make_dataset(tmp_path, n=4):
    clips = tmp_path / "clips"
    clips.mkdir()
    entries = []
    for i in range(n):
        path = clips / f"c{i}.wav"
        sf.write(path, (0.1 * (i + 1) * np.sin(np.arange(SR * (i + 1)) / 7.0)).astype(np.float32), SR,
                 subtype="PCM_16")
        entries.append(ListEntry(str(path), "spk", "en", f"text {i}"))
    lst = tmp_path / "data.list"
    write_list(lst, entries)
    return lst, clips


def assert_saved(editor, lst, previous: bytes):
    """The file on disk parses, matches the editor, and `.bak` holds exactly the previous file."""
    assert read_list(lst) == editor.entries
    assert editor.bak_path.read_bytes() == previous


def test_edit_delete_and_undo(tmp_path):
    lst, _ = make_dataset(tmp_path)
    ed = LabelEditor(lst)
    before = lst.read_bytes()
    ed.edit(1, text="  a better transcript ", lang="EN")
    assert_saved(ed, lst, before)
    assert ed.entries[1].text == "a better transcript" and ed.entries[1].lang == "EN"

    with pytest.raises(EditorError, match=r"'\|'"):
        ed.edit(2, text="left | right")
    with pytest.raises(EditorError, match="Language"):
        ed.edit(2, lang="auto")
    assert read_list(lst) == ed.entries  # refused edits changed nothing

    before = lst.read_bytes()
    ed.delete([0, 3])
    assert_saved(ed, lst, before)
    assert [e.text for e in ed.entries] == ["a better transcript", "text 2"]
    assert (tmp_path / "clips" / "c0.wav").exists()  # deleting an entry keeps its audio

    after_delete = lst.read_bytes()
    ed.undo()
    assert lst.read_bytes() == before and ed.bak_path.read_bytes() == after_delete
    assert len(ed.entries) == 4
    ed.undo()  # one step only: a second undo redoes
    assert lst.read_bytes() == after_delete


def test_merge_writes_a_new_wav_and_keeps_the_originals(tmp_path):
    lst, clips = make_dataset(tmp_path)
    originals = {p.name: p.read_bytes() for p in clips.iterdir()}
    ed = LabelEditor(lst)
    before = lst.read_bytes()
    with pytest.raises(EditorError, match="consecutive"):
        ed.merge([0, 2])
    at = ed.merge([1, 2], gap_seconds=0.5)
    assert_saved(ed, lst, before)
    assert at == 1 and len(ed.entries) == 3
    merged = ed.entries[1]
    assert merged.text == "text 1 text 2"
    audio, sr = sf.read(ed.audio_path(1))
    assert sr == SR and len(audio) == 2 * SR + int(0.5 * SR) + 3 * SR
    assert np.all(audio[2 * SR:2 * SR + SR // 2] == 0)
    assert {p.name: p.read_bytes() for p in clips.iterdir() if p.name in originals} == originals
    assert ed.row(1).duration == pytest.approx(5.5)


def test_merge_of_chinese_text_uses_no_space(tmp_path):
    lst, _ = make_dataset(tmp_path, n=2)
    ed = LabelEditor(lst)
    ed.edit(0, text="你好，", lang="zh")
    ed.edit(1, text="世界。", lang="zh")
    ed.merge([0, 1])
    assert ed.entries[0].text == "你好，世界。"


def test_split_at_a_time_point(tmp_path):
    lst, clips = make_dataset(tmp_path)
    original = (clips / "c2.wav").read_bytes()
    ed = LabelEditor(lst)
    with pytest.raises(EditorError, match="split point"):
        ed.split(2, 2.99)
    before = lst.read_bytes()
    a, b = ed.split(2, 1.25)
    assert_saved(ed, lst, before)
    assert (a, b) == (2, 3) and len(ed.entries) == 5
    assert sf.info(ed.audio_path(2)).frames == int(1.25 * SR)
    assert sf.info(ed.audio_path(3)).frames == 3 * SR - int(1.25 * SR)
    assert ed.entries[2].text == ed.entries[3].text == "text 2"
    assert (clips / "c2.wav").read_bytes() == original
    # a second split of the same clip does not overwrite the first one's pieces
    ed.undo()
    ed = LabelEditor(lst)
    ed.split(2, 2.0)
    assert ed.audio_path(2).name == "c2_part1_2.wav"


def test_paging_and_sorting(tmp_path):
    lst, _ = make_dataset(tmp_path, n=5)
    sidecar = {"clips": {str(tmp_path / "clips" / f"c{i}.wav"): {"avg_logprob": lp, "no_speech_prob": 0.1}
                         for i, lp in enumerate([-0.2, -1.5, -0.1, -0.9])}}
    (tmp_path / "data.list.asr.json").write_text(json.dumps(sidecar))
    ed = LabelEditor(lst)
    rows, pages = ed.page(0, page_size=2)
    assert pages == 3 and [r.index for r in rows] == [0, 1]
    rows, _ = ed.page(9, page_size=2)  # clamped to the last page
    assert [r.index for r in rows] == [4]
    assert ed.order("confidence") == [1, 3, 0, 2, 4]  # lowest log-prob first, unknown last
    assert ed.order("longest first") == [4, 3, 2, 1, 0]
    assert ed.order("shortest first")[0] == 0
    assert ed.row(1).avg_logprob == -1.5 and ed.row(4).avg_logprob is None
    assert ed.row(4).duration == pytest.approx(5.0)


def test_crash_in_the_middle_of_a_save_leaves_a_whole_file(tmp_path, monkeypatch):
    lst, _ = make_dataset(tmp_path)
    ed = LabelEditor(lst)
    ed.edit(0, text="first change")
    old = lst.read_bytes()
    real_replace = os.replace

    def crash_on_list(src, dst):
        if os.fspath(dst) == os.fspath(lst):
            raise OSError("simulated power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_list)
    with pytest.raises(OSError, match="power cut"):
        ed.edit(1, text="second change")
    monkeypatch.setattr(os, "replace", real_replace)
    assert lst.read_bytes() == old  # the old file, whole
    assert read_list(lst)[0].text == "first change"
    assert [e.text for e in ed.entries] == [e.text for e in read_list(lst)]  # memory did not run ahead of disk
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    ed.edit(1, text="second change")  # and the editor still works afterwards
    assert read_list(lst)[1].text == "second change"


def test_changes_on_disk_are_not_overwritten(tmp_path):
    lst, _ = make_dataset(tmp_path)
    ed = LabelEditor(lst)
    lst.write_text(lst.read_text() + f"{tmp_path / 'clips' / 'c0.wav'}|spk|en|added elsewhere\n")
    with pytest.raises(EditorConflict):
        ed.edit(0, text="mine")
    assert "added elsewhere" in lst.read_text()
    ed.reload()
    ed.edit(0, text="mine")
    assert len(read_list(lst)) == 5


def test_a_list_with_a_bad_line_is_not_opened(tmp_path):
    lst = tmp_path / "bad.list"
    lst.write_text("a.wav|s|en|x|y\n")
    with pytest.raises(EditorError, match="bad.list:1"):
        LabelEditor(lst)
