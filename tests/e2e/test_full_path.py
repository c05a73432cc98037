"""The whole path clicked through in a real browser, as a new user would, on tiny models.

~40 s of espeak-ng speech → 0 Slice → 0 ASR (tiny Whisper) → 0 Labels (every transcript corrected, one clip
deleted) → 1A Format → 1B Train "SoVITS then GPT" (watched, the page reloaded mid-run, stopped, started again,
finished, previews made) → 1C Inference with the new weights and a reference picked from the experiment's clips.
Each tab is pre-filled from the previous stage; the test checks that, and each stage's check names the stage, so a
broken stage fails here with its name (see `tests/e2e_stages.py`). Screenshots of every tab go to
`$GSV_BROWSER_SHOTS` (default /tmp/gsv_shots).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import SHOTS_DIR, WebUI, chromium, tiny_webui, watched_page
from e2e_stages import StageFailure, check_formatted, check_list, check_sliced, check_trained, wav_info

import playwright.sync_api as playwright_sync  # a missing Playwright is a failure, not a skip

expect = playwright_sync.expect
pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATASET = "e2e"
UI_TIMEOUT_MS = 30_000
JOB_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def webui(tiny_pretrained: Path, tmp_path_factory) -> Iterator[WebUI]:
    from gpt_sovits.audio.io import save_wav
    from gpt_sovits.dry_run import SAMPLE_RATE, speech

    def add_recording(root: Path) -> None:
        save_wav(root / "datasets" / DATASET / "raw" / "speech.wav", speech(40.0), SAMPLE_RATE)

    with tiny_webui(tiny_pretrained, tmp_path_factory.mktemp("e2e"), add_recording) as ui:
        try:
            yield ui
        finally:
            from gpt_sovits.jobs import JobRunner  # jobs outlive the WebUI by design: end any a failure left running

            runner = JobRunner(ui.root / "logs" / ".jobs")
            for job in runner.list():
                if not job.finished:
                    runner.stop(job.id, grace_s=2.0)


@pytest.fixture(scope="module")
def page(webui: WebUI) -> Iterator[object]:
    with chromium() as browser, watched_page(browser, webui, height=1100, timeout_ms=UI_TIMEOUT_MS) as pg:
        yield pg


def shot(pg, name: str) -> None:
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS_DIR / f"{name}.png"), full_page=True)


def open_tab(pg, label: str):
    pg.get_by_role("tab", name=label, exact=True).click()
    return pg.locator("[role=tabpanel]:visible").first


def choose(pg, scope, label: str, option: str) -> None:
    scope.get_by_label(label, exact=True).click()
    pg.get_by_role("option", name=option, exact=True).click()


def set_number(pg, elem_id: str, value: int) -> None:
    box = pg.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))


def stage(name: str):
    """Turn an assertion failure inside a stage into a failure that names the stage."""
    class _Stage:
        def __enter__(self):
            return self

        def __exit__(self, kind, error, tb):
            if error is not None and not isinstance(error, StageFailure):
                raise StageFailure(name, f"{type(error).__name__}: {error}") from error
            return False

    return _Stage()


def test_raw_recording_to_speech_in_the_browser(page, webui):
    pg, root = page, webui.root
    texts_by_clip: dict[str, str] = {}

    with stage("slice"):
        tab = open_tab(pg, "0 Slice")
        tab.get_by_label("Dataset name").fill(DATASET)
        tab.get_by_label("Input: an audio file or a folder (inside the data root)").fill(
            f"datasets/{DATASET}/raw/speech.wav")  # relative: taken from the data root
        tab.get_by_role("button", name="Slice", exact=True).click()
        out_dir = root / "datasets" / DATASET / "sliced"
        expect(tab.get_by_label("Clips folder (use it as the ASR input)")).to_have_value(str(out_dir),
                                                                                          timeout=JOB_TIMEOUT_MS)
        clips = check_sliced(out_dir, minimum=4)
        shot(pg, "e2e_0_slice")

    with stage("asr"):
        tab = open_tab(pg, "0 ASR")
        expect(tab.get_by_label("Dataset name")).to_have_value(DATASET)  # carried over from Slice
        expect(tab.get_by_label("Clips folder (empty: datasets/<dataset>/sliced)")).to_have_value(str(out_dir))
        choose(pg, tab, "Model size", "tiny")
        choose(pg, tab, "Language", "en")
        tab.get_by_role("button", name="Start ASR").click()
        expect(tab.get_by_text("Succeeded: job")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        list_path = root / "datasets" / DATASET / f"{DATASET}.list"
        entries = check_list(list_path, clips)
        shot(pg, "e2e_0_asr")

    with stage("labels"):
        from gpt_sovits.dry_run import SENTENCES

        tab = open_tab(pg, "0 Labels")
        expect(tab.get_by_label(".list file")).to_have_value(str(list_path))  # the list ASR just wrote
        tab.get_by_role("button", name="Open", exact=True).click()
        expect(tab.get_by_text(f"Opened {list_path}")).to_be_visible(timeout=UI_TIMEOUT_MS)
        for i, entry in enumerate(entries):  # the tiny Whisper writes noise: the user types what was said
            name = Path(entry.path).name
            box = tab.get_by_label(name, exact=True)
            texts_by_clip[name] = SENTENCES[i % len(SENTENCES)]
            box.fill(texts_by_clip[name])
            box.blur()
            expect(tab.get_by_text(f"Saved the text of clip #{i + 1}.")).to_be_visible(timeout=UI_TIMEOUT_MS)
        tab.get_by_label("select").first.check()  # the first clip is deleted
        tab.get_by_role("button", name="Delete selected").click()
        expect(tab.get_by_text("Deleted 1 entries")).to_be_visible(timeout=UI_TIMEOUT_MS)
        del texts_by_clip[Path(entries[0].path).name]
        kept = check_list(list_path, [c for c in clips if c.name in texts_by_clip], texts_by_clip)
        shot(pg, "e2e_0_labels")

    with stage("format"):
        tab = open_tab(pg, "1A Format")
        expect(tab.get_by_label("List file (.list)")).to_have_value(str(list_path))  # carried over from Labels
        expect(tab.get_by_label("Experiment name")).to_have_value(DATASET)
        tab.get_by_role("button", name="Start formatting").click()
        expect(tab.get_by_text("Succeeded: job")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        check_formatted(root, DATASET, len(kept))
        shot(pg, "e2e_1a_format")

    with stage("train"):
        tab = open_tab(pg, "1B Train")
        expect(pg.locator("#gsv-train-exp input")).to_have_value(re.compile(rf"^{DATASET} \("))
        shot(pg, "train_idle")
        set_number(pg, "gsv-train-min-items", 0)  # a few steps per epoch on 2 cores
        for elem_id, value in (("gsv-train-sovits-batch", 2), ("gsv-train-sovits-epochs", 2),
                               ("gsv-train-sovits-save-every", 1), ("gsv-train-gpt-batch", 4),
                               ("gsv-train-gpt-epochs", 2), ("gsv-train-gpt-save-every", 1)):
            set_number(pg, elem_id, value)
        chain_started = time.strftime("%Y%m%d-%H%M%S")  # job folders are named <start time>-<kind>-<id>
        pg.locator("#gsv-train-chain-start").click()
        progress = pg.locator("#gsv-train-chain-progress")
        expect(progress).to_contain_text("train-sovits", timeout=JOB_TIMEOUT_MS)
        expect(progress).to_contain_text(re.compile(r"\d+ / \d+"), timeout=JOB_TIMEOUT_MS)
        expect(pg.locator("#gsv-train-chain-plot svg.gsv-loss-plot")).to_have_count(1, timeout=JOB_TIMEOUT_MS)
        shot(pg, "train_running")

        # formatting the experiment while it trains is refused with a message
        fmt = open_tab(pg, "1A Format")
        refused = fmt.get_by_text(re.compile("train-chain job is already running"))
        for _ in range(3):  # on a loaded box a click right after the tab switch can be lost: click again
            fmt.get_by_role("button", name="Start formatting").click()
            try:
                expect(refused).to_be_visible(timeout=UI_TIMEOUT_MS // 3)
                break
            except AssertionError:
                if not (root / "logs" / ".jobs").is_dir() or any(
                        "-format-" in d.name and d.name > chain_started for d in (root / "logs" / ".jobs").iterdir()):
                    raise StageFailure("train", "formatting started while the experiment was training")
        expect(refused).to_be_visible(timeout=UI_TIMEOUT_MS)

        # a page reload finds the run again, with its progress and curves
        pg.reload()
        open_tab(pg, "1B Train")
        expect(pg.locator("#gsv-train-sovits-epochs input[type=number]")).to_have_value("2", timeout=UI_TIMEOUT_MS)
        expect(pg.locator("#gsv-train-min-items input[type=number]")).to_have_value("0", timeout=UI_TIMEOUT_MS)
        expect(pg.locator("#gsv-train-chain-progress")).to_contain_text(re.compile(r"\d+ / \d+"),
                                                                       timeout=UI_TIMEOUT_MS)
        expect(pg.locator("#gsv-train-chain-plot svg.gsv-loss-plot")).to_have_count(1, timeout=UI_TIMEOUT_MS)

        # Stop saves a checkpoint; starting again continues from it
        pg.locator("#gsv-train-chain-stop").click()
        expect(pg.locator("#gsv-train-chain-status")).to_contain_text("Stopped", timeout=JOB_TIMEOUT_MS)
        saved = sorted((root / "logs" / DATASET / "logs_s2_v2").glob("G_*.pth")) + sorted(
            (root / "logs" / DATASET / "logs_s1_v2" / "ckpt").glob("*.pt"))
        if not saved:
            raise StageFailure("train", "Stop left no resume checkpoint in logs/e2e/")
        pg.locator("#gsv-train-chain-start").click()
        expect(pg.locator("#gsv-train-chain-status")).to_contain_text("Succeeded", timeout=JOB_TIMEOUT_MS)
        log = pg.locator("#gsv-train-chain-log textarea").input_value()
        weights = check_trained(root, DATASET, epochs=2, log=log)
        shot(pg, "train_finished")
        # every saved checkpoint gets a short audio preview
        expect(pg.locator(".gsv-preview audio, .gsv-preview [data-testid=waveform-controls]").first).to_be_attached(
            timeout=JOB_TIMEOUT_MS)

    with stage("infer"):
        tab = open_tab(pg, "1C Inference")
        expect(pg.locator("#gsv-infer-gpt input")).to_have_value(re.compile(rf"GPT_weights_v2/{DATASET}-e2\.ckpt$"),
                                                                 timeout=UI_TIMEOUT_MS)
        expect(pg.locator("#gsv-infer-sovits input")).to_have_value(
            re.compile(rf"SoVITS_weights_v2/{DATASET}_e2_s\d+\.pth$"))
        pick = pg.locator("#gsv-infer-ref-pick input")
        expect(pick).to_have_value(re.compile(r"\.wav · \d+\.\d s · "), timeout=UI_TIMEOUT_MS)
        expect(tab.get_by_label("Text of the reference audio")).not_to_have_value("", timeout=UI_TIMEOUT_MS)
        tab.get_by_label("Text to synthesise").fill("This installation works.")
        choose(pg, tab, "Language of the text", "English")
        tab.get_by_role("button", name="Synthesise").click()
        expect(tab.get_by_text(re.compile(r"Done: \d+ sentence"))).to_be_visible(timeout=JOB_TIMEOUT_MS)
        link = tab.locator(".block", has=pg.get_by_test_id("block-label").filter(has_text="Result")).get_by_test_id(
            "download-link")
        response = pg.request.get(link.get_attribute("href"))
        channels, rate, frames = wav_info(response.body())
        if (channels, rate) != (1, 32000) or frames == 0:
            raise StageFailure("infer", f"the result is not a non-empty 32 kHz mono WAV ({channels} ch, {rate} Hz, "
                                        f"{frames} frames)")
        shot(pg, "e2e_1c_inference")
    assert weights
