"""The label editor through its functions: every change saved at once as a new version, undo/redo over the list's
history, crashes, and two pages editing one list (stale values, same row, deleted rows, undo from another page)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.asr import history
from gpt_sovits.asr.editor import EditorConflict, EditorError, LabelEditor, RowChange, RowConflict
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
    """The file on disk parses, matches the editor, and the version before the newest holds the previous file."""
    assert read_list(lst) == editor.entries
    current = history.head(lst)
    assert current is not None and current.who == "editor" and current.parent is not None
    parent = next(v for v in history.versions(lst) if v.n == current.parent)
    assert history.content(lst, parent) == previous


def test_edit_delete_and_undo(tmp_path):
    lst, _ = make_dataset(tmp_path)
    ed = LabelEditor(lst)
    before = original = lst.read_bytes()
    ed.edit(1, text="  a better transcript ", lang="EN")
    assert_saved(ed, lst, before)
    assert ed.entries[1].text == "a better transcript" and ed.entries[1].lang == "EN"

    with pytest.raises(EditorError, match=r"'\|'"):
        ed.edit(2, text="left | right")
    with pytest.raises(EditorError, match="Language"):
        ed.edit(2, lang="auto")
    with pytest.raises(EditorError, match="cannot be empty.*Delete the clip"):
        ed.edit(2, text="   ")
    assert read_list(lst) == ed.entries  # refused edits changed nothing

    before = lst.read_bytes()
    ed.delete([0, 3])
    assert_saved(ed, lst, before)
    assert [e.text for e in ed.entries] == ["a better transcript", "text 2"]
    assert (tmp_path / "clips" / "c0.wav").exists()  # deleting an entry keeps its audio

    after_delete = lst.read_bytes()
    assert "deleted clip(s) #1, #4" in ed.undo()
    assert lst.read_bytes() == before and len(ed.entries) == 4
    ed.undo()  # several steps: back to the file as first opened
    assert lst.read_bytes() == original
    with pytest.raises(EditorError, match="Nothing to undo"):
        ed.undo()
    ed.redo()
    ed.redo()
    assert lst.read_bytes() == after_delete and not ed.can_redo


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


# ---- two pages on one list ----------------------------------------------------------------------------------------

def page_of(lst):
    """What a page keeps of what it showed: path and value per row (the editor is reopened for every action)."""
    return [(e.path, e.text, e.lang) for e in read_list(lst)]


def test_a_stale_page_leaving_a_box_unchanged_writes_nothing(tmp_path):
    lst, _ = make_dataset(tmp_path)
    page_b = page_of(lst)
    LabelEditor(lst).apply(RowChange(page_b[1][0], 1, "text 1", "fixed in A"))
    saved = lst.read_bytes()
    n_versions = len(history.versions(lst))
    # page B still shows "text 1"; focusing and leaving the box sends what it shows
    assert LabelEditor(lst).apply(RowChange(page_b[1][0], 1, "text 1", "text 1")) is None
    assert lst.read_bytes() == saved and len(history.versions(lst)) == n_versions


def test_same_row_edited_in_two_pages_conflicts_and_keeps_both(tmp_path):
    lst, _ = make_dataset(tmp_path)
    path = page_of(lst)[2][0]
    assert LabelEditor(lst).apply(RowChange(path, 2, "text 2", "from A")) == 2
    with pytest.raises(RowConflict) as info:
        LabelEditor(lst).apply(RowChange(path, 2, "text 2", "from B"))
    assert info.value.current == "from A" and info.value.change.now == "from B" and info.value.index == 2
    assert read_list(lst)[2].text == "from A"
    # B saw A's text and decides to keep its own: a save that starts from A's value goes through
    LabelEditor(lst).apply(RowChange(path, 2, "from A", "from B"))
    assert read_list(lst)[2].text == "from B"
    assert any(b"from A" in history.content(lst, v) for v in history.versions(lst))  # A's text is in the history
    # a language change from a stale page conflicts the same way
    LabelEditor(lst).apply(RowChange(path, 2, "en", "ja", field="lang"))
    with pytest.raises(RowConflict):
        LabelEditor(lst).apply(RowChange(path, 2, "en", "zh", field="lang"))
    assert read_list(lst)[2].lang == "ja"


def test_row_deleted_or_moved_while_another_page_types(tmp_path):
    lst, _ = make_dataset(tmp_path)
    shown = page_of(lst)
    LabelEditor(lst).delete([0])  # page A deletes the first clip: every row moves up
    assert LabelEditor(lst).apply(RowChange(shown[2][0], 2, "text 2", "typed in B")) == 1  # found where it moved
    assert read_list(lst)[1].text == "typed in B"
    with pytest.raises(RowConflict, match="deleted") as info:
        LabelEditor(lst).apply(RowChange(shown[0][0], 0, "text 0", "typed for a deleted clip"))
    assert info.value.current is None and "typed for a deleted clip" not in lst.read_text()


def test_undo_from_another_page_says_which_change_it_undoes_and_redo_restores_it(tmp_path):
    lst, _ = make_dataset(tmp_path)
    path = page_of(lst)[1][0]
    LabelEditor(lst).apply(RowChange(path, 1, "text 1", "A's fix"))
    message = LabelEditor(lst).undo()  # clicked in page B
    assert "edited the text of clip #2" in message and "Redo" in message
    assert read_list(lst)[1].text == "text 1"
    with pytest.raises(RowConflict):  # A leaves the box with its (now undone) text: told, not silently re-saved
        LabelEditor(lst).apply(RowChange(path, 1, "A's fix", "A's fix, more"))
    LabelEditor(lst).redo()
    assert read_list(lst)[1].text == "A's fix"


def test_changes_made_outside_are_kept_as_a_version(tmp_path):
    lst, _ = make_dataset(tmp_path)
    LabelEditor(lst).edit(0, text="one")
    lst.write_text(lst.read_text().replace("text 3", "typed in a text editor"))
    outside = lst.read_bytes()
    LabelEditor(lst).edit(1, text="two")
    assert any(history.content(lst, v) == outside and v.who == "outside" for v in history.versions(lst))
    LabelEditor(lst).undo()
    assert lst.read_bytes() == outside
