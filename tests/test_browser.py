"""The WebUI clicked through in a real browser (headless Chromium through Playwright) against a real `webui.py`.

One WebUI process over a temp data root holding the tiny models, one browser for the module. Covered: the page
loads (HTTP 200) and the status area marks the pretrained files; 1C Inference turns a spoken reference and a text
into a downloadable 32 kHz wav (and a missing reference is a message, not a stack trace); 0 Slice cuts a recording
into clips; 0 ASR runs the tiny faster-whisper model as a job into a `.list`; 0 Labels edits that `.list` on disk.
The slice → ASR → labels tests follow each other the way a user would (each needs the previous one's output).
After every test the WebUI's log must hold no traceback other than those of messages shown to the user.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser_helpers import SHOTS_DIR, WebUI, chromium, tiny_webui, watched_page

import playwright.sync_api as playwright_sync  # noqa: E402  (a missing Playwright is a failure, not a skip)
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATASET = "voice"
SENTENCES = [  # three utterances of 4-5 s, one second of silence after each: three clips at the slicer's defaults
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every single summer morning.",
    "A journey of a thousand miles begins with a single small step.",
]
UI_TIMEOUT_MS = 20_000
JOB_TIMEOUT_MS = 120_000


# ---- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def webui(tiny_pretrained: Path, tmp_path_factory) -> Iterator[WebUI]:
    with tiny_webui(tiny_pretrained, tmp_path_factory.mktemp("browser")) as ui:
        yield ui


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, webui: WebUI) -> Iterator[object]:
    """A fresh browser session on the WebUI; afterwards: no script errors in the page, no crash in the server log."""
    with watched_page(browser, webui, timeout_ms=UI_TIMEOUT_MS) as pg:
        yield pg


# ---- helpers ------------------------------------------------------------------------------------------------------

def shot(pg, name: str) -> Path:
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SHOTS_DIR / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def open_tab(pg, label: str):
    """Click a top-level tab and return its (now only visible) panel."""
    pg.get_by_role("tab", name=label, exact=True).click()
    panel = pg.get_by_role("tabpanel")  # hidden panels are not in the accessibility tree
    expect(panel).to_have_count(1)
    return panel


def block(scope, label: str):
    """The Gradio block (audio, file...) whose own block label reads `label`."""
    return scope.locator(".block:visible", has=scope.page.get_by_test_id("block-label").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))


def choose(pg, scope, label: str, option: str) -> None:
    scope.get_by_label(label, exact=True).click()
    pg.get_by_role("option", name=option, exact=True).click()
    expect(scope.get_by_label(label, exact=True)).to_have_value(option)


def read_list_bytes(data: bytes):
    from gpt_sovits.asr.listfile import parse_list_text

    return parse_list_text(data.decode("utf-8"))


def error_toasts(pg) -> list[str]:
    return [t.strip() for t in pg.get_by_test_id("toast-body").all_inner_texts()]


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample rate, sample width, frames) of a WAV file's bytes."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()


def speech_recording(path: Path) -> Path:
    """espeak-ng sentences at 32 kHz, each followed by 1 s of silence (0.5 s lead-in)."""
    from gpt_sovits.audio.io import load_audio, save_wav

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is required for the browser tests (tools/run_tests.sh installs it as root)")
    sr = 32000
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [np.zeros(sr // 2, np.float32)]
    for i, sentence in enumerate(SENTENCES):
        raw = path.with_name(f"_sentence{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en", "-s", "130", "-w", str(raw), sentence], check=True,
                       capture_output=True)
        parts += [load_audio(raw, sr), np.zeros(sr, np.float32)]
        raw.unlink()
    return save_wav(path, np.concatenate(parts), sr)


def ensure_clips(webui) -> Path:
    """The slicer's clips of the recording: the ones the Slice test made, else made here (run alone, `-k asr`)."""
    from gpt_sovits.audio.slicer import slice_path

    clips_dir = webui.root / "datasets" / DATASET / "sliced"
    if not list(clips_dir.glob("*.wav")):
        recording = speech_recording(webui.root / "datasets" / "raw" / "speech.wav")
        slice_path(recording, clips_dir)
    assert len(list(clips_dir.glob("*.wav"))) == len(SENTENCES), "slice: the recording did not give one clip each"
    return clips_dir


def ensure_list(webui) -> Path:
    """The dataset's .list: the one the ASR test wrote, else one written here for the clips (run alone)."""
    from gpt_sovits.asr.listfile import ListEntry, write_list

    list_path = webui.root / "datasets" / DATASET / f"{DATASET}.list"
    if not list_path.is_file():
        clips = sorted(ensure_clips(webui).glob("*.wav"))
        write_list(list_path, [ListEntry(str(c), DATASET, "en", s) for c, s in zip(clips, SENTENCES)])
    return list_path


# ---- the page and the status area ---------------------------------------------------------------------------------

def test_page_loads_and_status_marks_pretrained_files(page, webui):
    tabs = page.get_by_role("tab").all_inner_texts()
    for label in ("0 Slice", "0 ASR", "0 Labels", "1A Format", "1B Train", "1C Inference"):
        assert label in tabs
    page.get_by_text("Status: pretrained models and device").click()
    table = page.locator("#gsv-pretrained")
    expect(table).to_contain_text("All required pretrained files are present.", timeout=UI_TIMEOUT_MS)
    for name in ("chinese-hubert-base", "chinese-roberta-wwm-ext-large", "SoVITS G v2", "SoVITS D v2", "GPT v2",
                 "faster-whisper-tiny"):
        row = table.locator("tr", has=page.get_by_role("cell", name=name, exact=True))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("present")
        expect(row).not_to_contain_text("missing")
        if name == "SoVITS G v2":
            expect(row).to_contain_text("pretrained_models/gsv-v2final-pretrained/s2G2333k.pth")
    v1 = table.locator("tr", has=page.get_by_role("cell", name="SoVITS G v1", exact=True))
    expect(v1).to_contain_text("missing (optional)")  # the tiny set has v2 only
    expect(page.locator("#gsv-device")).to_contain_text("CPU")
    shot(page, "status")


# ---- 1C Inference -------------------------------------------------------------------------------------------------

def test_inference_tab_synthesises_audio(page, webui, tmp_path):
    from infer_helpers import REF_TEXT, espeak_reference

    panel = open_tab(page, "1C Inference")
    # the dropdowns default to the pretrained (tiny) weights
    expect(panel.get_by_label("GPT weights")).to_have_value(re.compile(r"gsv-v2final-pretrained/s1bert25hz"))
    expect(panel.get_by_label("SoVITS weights")).to_have_value(re.compile(r"gsv-v2final-pretrained/s2G2333k\.pth"))
    panel.get_by_label("Text to synthesise").fill("你好。")

    # no reference yet: a message for the user, not a stack trace
    panel.get_by_role("button", name="Synthesise").click()
    toast = page.get_by_test_id("toast-body")
    expect(toast).to_contain_text("reference clip", timeout=60_000)
    assert "Traceback" not in toast.inner_text()
    page.get_by_test_id("toast-close").click()
    expect(toast).to_have_count(0)

    ref = espeak_reference(tmp_path / "ref.wav")
    ref_block = block(panel, "Reference audio (3-10 s)")
    ref_block.locator("input[type=file]").set_input_files(str(ref))
    expect(ref_block.locator("time#duration")).to_have_text("0:04", timeout=UI_TIMEOUT_MS)  # uploaded: a 4 s clip
    panel.get_by_label("Text of the reference audio").fill(REF_TEXT)
    page.get_by_text("Sampling and speech").click()
    panel.get_by_label("Random seed").uncheck()
    panel.get_by_label("Seed", exact=True).fill("1234")
    panel.get_by_role("button", name="Synthesise").click()

    expect(panel.get_by_text("Done: 1 sentence(s).")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(panel.get_by_label("Seed used")).to_have_value("1234")
    result = block(panel, "Result")
    expect(result.locator("audio[src]")).to_have_count(1)
    link = result.get_by_test_id("download-link")
    expect(link).to_have_attribute("href", re.compile(r"/result\.wav$"))
    response = page.request.get(link.get_attribute("href"))
    assert response.ok, response.status
    channels, rate, width, frames = wav_info(response.body())
    assert (channels, rate, width) == (1, 32000, 2)
    assert frames > 0
    assert error_toasts(page) == []
    shot(page, "inference")


# ---- 0 Slice → 0 ASR → 0 Labels -----------------------------------------------------------------------------------

def test_slice_tab_cuts_a_recording_into_clips(page, webui):
    recording = speech_recording(webui.root / "datasets" / "raw" / "speech.wav")
    panel = open_tab(page, "0 Slice")
    panel.get_by_label("Dataset name").fill(DATASET)
    source = panel.get_by_label("Input: an audio file or a folder (inside the data root)")
    source.fill("/etc/passwd")  # outside the data root: refused with a message
    panel.get_by_role("button", name="Slice", exact=True).click()
    expect(panel.get_by_label("Result")).to_have_value(re.compile(r"input path '/etc/passwd' is outside the allowed"),
                                                        timeout=UI_TIMEOUT_MS)
    source.fill(str(recording))
    panel.get_by_role("button", name="Slice", exact=True).click()

    out_dir = webui.root / "datasets" / DATASET / "sliced"
    expect(panel.get_by_label("Clips folder (use it as the ASR input)")).to_have_value(str(out_dir),
                                                                                      timeout=JOB_TIMEOUT_MS)
    clips = sorted(out_dir.glob("*.wav"))
    assert len(clips) == len(SENTENCES), [c.name for c in clips]
    expect(panel.get_by_label("Result")).to_have_value(f"1/1 files sliced into {len(clips)} clips.")
    for clip in clips:
        assert re.fullmatch(r"speech\.wav_\d{10}_\d{10}\.wav", clip.name)
        channels, rate, width, frames = wav_info(clip.read_bytes())
        assert (channels, rate, width) == (1, 32000, 2) and frames > 32000 * 3
    assert error_toasts(page) == []
    shot(page, "slice")


def test_asr_tab_runs_a_job_into_a_list(page, webui):
    from gpt_sovits.asr.listfile import read_list

    clips_dir = ensure_clips(webui)
    panel = open_tab(page, "0 ASR")
    panel.get_by_role("button", name="Start ASR").click()  # no dataset name yet: a message, no job
    expect(panel.get_by_text("The dataset name is empty.")).to_be_visible(timeout=UI_TIMEOUT_MS)
    panel.get_by_label("Dataset name").fill(DATASET)
    choose(page, panel, "Model size", "tiny")
    expect(panel.get_by_text("Model found:")).to_contain_text("faster-whisper-tiny", timeout=UI_TIMEOUT_MS)
    choose(page, panel, "Language", "en")
    panel.get_by_role("button", name="Start ASR").click()

    expect(panel.get_by_text("Succeeded: job")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    log = panel.get_by_label("Log", exact=True)
    expect(log).to_have_value(re.compile(r"3 clips written to .*voice\.list"))
    entries = read_list(webui.root / "datasets" / DATASET / f"{DATASET}.list")
    assert sorted(Path(e.path).name for e in entries) == sorted(c.name for c in clips_dir.glob("*.wav"))
    for e in entries:
        assert Path(e.path).is_file() and e.speaker == DATASET and e.lang == "en" and e.text
    assert error_toasts(page) == []
    shot(page, "asr")


def test_labels_tab_edits_the_list_on_disk(page, webui):
    from gpt_sovits.asr.listfile import read_list

    list_path = ensure_list(webui)
    before = read_list(list_path)
    panel = open_tab(page, "0 Labels")
    panel.get_by_label(".list file").fill(str(list_path))
    panel.get_by_role("button", name="Open", exact=True).click()
    expect(panel.get_by_text(f"Opened {list_path}")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(panel.get_by_text(f"{len(before)} clips")).to_be_visible()

    second = panel.get_by_label(Path(before[1].path).name, exact=True)  # each row's text box is labelled by its file
    expect(second).to_have_value(before[1].text)
    # type, then leave the box (a save on blur): one event per edit. Pressing Enter and then leaving fires two
    # events whose page re-renders can overwrite each other (reported to the Labels tab's owner).
    second.fill("a corrected transcript")
    second.blur()
    expect(panel.get_by_text("Saved the text of clip #2.")).to_be_visible(timeout=UI_TIMEOUT_MS)
    after = read_list(list_path)
    assert after[1].text == "a corrected transcript"
    assert [e.text for i, e in enumerate(after) if i != 1] == [e.text for i, e in enumerate(before) if i != 1]
    from gpt_sovits.asr import history
    assert any(read_list_bytes(history.content(list_path, v)) == before for v in history.versions(list_path))

    first = panel.get_by_label(Path(before[0].path).name, exact=True)
    first.fill("bad|text")
    first.blur()
    expect(panel.get_by_text("contains '|'")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert read_list(list_path) == after  # refused: nothing written

    panel.get_by_role("button", name="Undo last change").click()
    expect(panel.get_by_text("Undone")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert read_list(list_path) == before
    expect(second).to_have_value(before[1].text)

    page.get_by_text("Check the list").click()
    panel.get_by_role("button", name="Check", exact=True).click()
    expect(panel.get_by_text(re.compile(rf"^{len(before)} clips, .* 0 errors"))).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert error_toasts(page) == []
    shot(page, "labels")


def test_labels_tab_keeps_text_typed_while_the_previous_row_saves(page, webui):
    from gpt_sovits.asr.listfile import read_list

    list_path = ensure_list(webui)
    before = read_list(list_path)
    panel = open_tab(page, "0 Labels")
    panel.get_by_label(".list file").fill(str(list_path))
    panel.get_by_role("button", name="Open", exact=True).click()
    expect(panel.get_by_text(f"Opened {list_path}")).to_be_visible(timeout=UI_TIMEOUT_MS)
    first = panel.get_by_label(Path(before[0].path).name, exact=True)
    second = panel.get_by_label(Path(before[1].path).name, exact=True)
    # the usual way through a list: fix a row, click the next one and type straight away
    second.fill("second row fixed")
    first.click()  # blurs row 2: its save starts
    page.keyboard.press("End")
    page.keyboard.type(" and more")
    expect(panel.get_by_text("Saved the text of clip #2.")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert read_list(list_path)[1].text == "second row fixed"
    expect(first).to_have_value(before[0].text + " and more")  # what the user typed is still there


def open_list(pg, list_path: Path):
    panel = open_tab(pg, "0 Labels")
    panel.get_by_label(".list file").fill(str(list_path))
    panel.get_by_role("button", name="Open", exact=True).click()
    expect(panel.get_by_text(f"Opened {list_path}")).to_be_visible(timeout=UI_TIMEOUT_MS)
    return panel


def test_labels_tab_two_pages_on_one_list_lose_nothing(page, browser, webui):
    """The four multi-tab stories: stale focus/blur, same-row edits, delete while typing, undo from another page."""
    from gpt_sovits.asr.listfile import ListEntry, read_list, write_list
    from gpt_sovits.audio.io import save_wav

    folder = webui.root / "datasets" / "two_pages"
    entries = []
    for i in range(4):
        clip = save_wav(folder / f"clip{i}.wav", 0.1 * np.sin(np.arange(32000) / (5.0 + i)).astype(np.float32), 32000)
        entries.append(ListEntry(str(clip), "spk", "en", f"text {i}"))
    list_path = write_list(folder / "two.list", entries)
    a = open_list(page, list_path)
    context_b = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page_b = context_b.new_page()
        page_b.goto(webui.url + "/")
        b = open_list(page_b, list_path)
        row = {side: [panel.get_by_label(f"clip{i}.wav", exact=True) for i in range(4)]
               for side, panel in (("a", a), ("b", b))}

        # 1. stale focus/blur: A saves row 2; B (still showing the old text) clicks into row 2 and leaves it
        row["a"][1].fill("fixed in A")
        row["a"][1].blur()
        expect(a.get_by_text("Saved the text of clip #2.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        row["b"][1].click()
        row["b"][3].fill("row four in B")  # leaves row 2, then saves row 4: events run in order
        row["b"][3].blur()
        expect(b.get_by_text("Saved the text of clip #4.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert [e.text for e in read_list(list_path)] == ["text 0", "fixed in A", "text 2", "row four in B"]

        # 2. same row in both pages: B's text is not written over A's, both are shown, B's stays in its box
        row["b"][1].fill("typed in B")
        row["b"][1].blur()
        expect(b.get_by_text("Changed elsewhere to: «fixed in A»")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(b.get_by_text("«typed in B»")).to_be_visible()
        expect(row["b"][1]).to_have_value("typed in B")
        assert read_list(list_path)[1].text == "fixed in A"
        row["b"][1].press("Enter")  # B decides to keep its own text
        expect(b.get_by_text("Saved the text of clip #2.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert read_list(list_path)[1].text == "typed in B"
        row["a"][1].click()  # A's page still shows its own text: clicking in and out does not flip it back
        row["a"][2].fill("row three in A")
        row["a"][2].blur()
        expect(a.get_by_text("Saved the text of clip #3.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert [e.text for e in read_list(list_path)][1:3] == ["typed in B", "row three in A"]

        # 3. A deletes clip 1 while B types: B's row 3 is saved where it moved; B's text for the deleted clip is kept
        a.get_by_label("select").first.check()
        a.get_by_role("button", name="Delete selected").click()
        expect(a.get_by_text("Deleted 1 entries")).to_be_visible(timeout=UI_TIMEOUT_MS)
        row["b"][2].fill("row three in B")
        row["b"][2].blur()  # B's page still shows row 3 as "text 2": A's later save of that row is a conflict
        expect(b.get_by_text("Changed elsewhere to: «row three in A»")).to_be_visible(timeout=UI_TIMEOUT_MS)
        row["b"][2].press("Enter")  # keep B's
        expect(b.get_by_text("Saved the text of clip #2.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        row["b"][0].fill("text for a deleted clip")
        row["b"][0].blur()
        expect(b.get_by_text("Deleted elsewhere.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(row["b"][0]).to_have_value("text for a deleted clip")
        assert [e.text for e in read_list(list_path)] == ["typed in B", "row three in B", "row four in B"]

        # 4. Undo in A undoes B's last change and says so; Redo brings it back
        a.get_by_role("button", name="Undo last change").click()
        expect(a.get_by_text(re.compile(r"Undone: 'edited the text of clip #2'"))).to_be_visible(
            timeout=UI_TIMEOUT_MS)
        assert read_list(list_path)[1].text == "row three in A"  # the version before B's change
        a.get_by_role("button", name="Redo", exact=True).click()
        expect(a.get_by_text(re.compile(r"Redone: 'edited the text of clip #2'"))).to_be_visible(
            timeout=UI_TIMEOUT_MS)
        assert read_list(list_path)[1].text == "row three in B"
        assert error_toasts(page) == [] and error_toasts(page_b) == []
        shot(page_b, "labels_two_pages")
    finally:
        context_b.close()
