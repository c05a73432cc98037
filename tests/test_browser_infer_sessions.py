"""Two browser sessions with different SoVITS weights synthesising at the same time each hear their own model
(byte-identical to the same session run alone), and Stop ends a long synthesis. Headless Chromium, tiny models."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
import torch
from browser_helpers import WebUI, chromium, tiny_webui, unexpected_tracebacks

import playwright.sync_api as playwright_sync  # noqa: E402  (a missing Playwright is a failure, not a skip)
from gpt_sovits.models.checkpoints import read_sovits_state, save_sovits_weights
from infer_helpers import REF_TEXT, espeak_reference

expect = playwright_sync.expect
pytestmark = [pytest.mark.browser, pytest.mark.slow]
JOB_TIMEOUT_MS = 240_000
OTHER = "weights/SoVITS_weights_v2/other_voice.pth"


@pytest.fixture(scope="module")
def webui(tiny_pretrained: Path, tmp_path_factory) -> Iterator[WebUI]:
    def add_other_voice(root: Path) -> None:
        base = root / "pretrained_models" / "gsv-v2final-pretrained" / "s2G2333k.pth"
        state, config, _ = read_sovits_state(base)
        assert config is not None, "the tiny SoVITS G should carry its config"
        gen = torch.Generator().manual_seed(0)
        state = {k: (v + 0.05 * torch.randn(v.shape, generator=gen) if k.startswith("dec.") and v.is_floating_point()
                     else v) for k, v in state.items()}
        (root / OTHER).parent.mkdir(parents=True)
        save_sovits_weights(state, config, root / OTHER, "e1_s1")

    with tiny_webui(tiny_pretrained, tmp_path_factory.mktemp("browser_sessions"), add_other_voice) as ui:
        yield ui


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    return espeak_reference(tmp_path_factory.mktemp("browser_ref") / "ref.wav")


def _panel(browser, webui: WebUI, ref: Path, sovits_label: str, text: str):
    """A new browser session (own context) on the inference tab, filled in and ready to synthesise."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(webui.url + "/")
    page.get_by_role("tab", name="1C Inference", exact=True).click()
    panel = page.get_by_role("tabpanel")
    expect(panel).to_have_count(1)
    sovits = panel.get_by_label("SoVITS weights", exact=True)
    sovits.click()
    page.get_by_role("option", name=sovits_label, exact=True).click()
    expect(sovits).to_have_value(sovits_label)
    ref_block = panel.locator(".block:visible", has=page.get_by_test_id("block-label").filter(
        has_text=re.compile(r"^\s*Reference audio \(3-10 s\)\s*$")))
    ref_block.locator("input[type=file]").set_input_files(str(ref))
    expect(ref_block.locator("time#duration")).to_have_text("0:04", timeout=60_000)
    panel.get_by_label("Text of the reference audio").fill(REF_TEXT)
    panel.get_by_label("Text to synthesise").fill(text)
    page.get_by_text("Sampling and speech").click()
    panel.get_by_label("Random seed").uncheck()
    panel.get_by_label("Seed", exact=True).fill("1234")
    return context, page, panel


def _result_link(panel):
    result = panel.locator(".block:visible", has=panel.page.get_by_test_id("block-label").filter(
        has_text=re.compile(r"^\s*Result\s*$")))
    return result.get_by_test_id("download-link")


def _wait_result(panel, previous: str | None) -> bytes:
    link = _result_link(panel)
    expect(link).to_have_attribute("href", re.compile(r"/result\.wav$"), timeout=JOB_TIMEOUT_MS)
    if previous is not None:
        expect(link).not_to_have_attribute("href", previous, timeout=JOB_TIMEOUT_MS)
    href = link.get_attribute("href")
    response = panel.page.request.get(href)
    assert response.ok, response.status
    return href, response.body()


def _run_alone(panel, previous: str) -> bytes:
    """Synthesise another text, then the same text again: each result is a new file (Gradio names files by their
    content, so running the same text twice would not show a new link)."""
    text = panel.get_by_label("Text to synthesise")
    same = text.input_value()
    text.fill("早上好。")
    panel.get_by_role("button", name="Synthesise").click()
    other_href, _ = _wait_result(panel, previous)
    text.fill(same)
    panel.get_by_role("button", name="Synthesise").click()
    return _wait_result(panel, other_href)[1]


def test_two_sessions_with_different_weights_at_once(browser, webui, ref_wav):
    log_start = webui.log_size()
    base_label = "pretrained_models/gsv-v2final-pretrained/s2G2333k.pth"
    ctx_a, page_a, a = _panel(browser, webui, ref_wav, base_label, "你好。")
    ctx_b, page_b, b = _panel(browser, webui, ref_wav, OTHER, "你好。")
    try:
        a.get_by_role("button", name="Synthesise").click()  # both at once
        b.get_by_role("button", name="Synthesise").click()
        href_a, together_a = _wait_result(a, None)
        href_b, together_b = _wait_result(b, None)
        assert together_a != together_b  # different voices
        alone_a = _run_alone(a, href_a)  # now each alone
        alone_b = _run_alone(b, href_b)
        assert together_a == alone_a and together_b == alone_b
    finally:
        ctx_a.close()
        ctx_b.close()
    crashes = unexpected_tracebacks(webui.log_since(log_start))
    assert not crashes, "\n\n".join(crashes)


def test_stop_ends_a_long_synthesis(browser, webui, ref_wav):
    long_text = "今天天气很好。" * 40
    context, page, panel = _panel(browser, webui, ref_wav, OTHER, long_text)
    try:
        panel.get_by_label("How to split the text").click()
        page.get_by_role("option", name="Slice by every punctuation", exact=True).click()
        panel.get_by_role("button", name="Synthesise").click()
        expect(panel.get_by_text(re.compile(r"Sentence 1 done"))).to_be_visible(timeout=JOB_TIMEOUT_MS)
        panel.get_by_role("button", name="Stop").click()
        expect(panel.get_by_text(re.compile(r"Stopped after \d+ sentence"))).to_be_visible(timeout=JOB_TIMEOUT_MS)
        stopped_at = int(re.search(r"Stopped after (\d+)", panel.get_by_text(
            re.compile(r"Stopped after")).inner_text()).group(1))
        assert 1 <= stopped_at < 40
    finally:
        context.close()


def test_live_playback_in_token_chunks(browser, webui, ref_wav):
    """The "Small token chunks" live mode plays pieces of a sentence while it is made; the whole file still comes.

    Live playback needs ffmpeg (Gradio encodes the streamed audio with it; tools/run_tests.sh installs it)."""
    assert shutil.which("ffmpeg"), "ffmpeg is required for the WebUI's live playback (apt install ffmpeg)"
    log_start = webui.log_size()
    context, page, panel = _panel(browser, webui, ref_wav, OTHER, "你好。")
    try:
        panel.get_by_label("Small token chunks (earliest audio)").check()
        panel.get_by_role("button", name="Synthesise").click()
        _, audio = _wait_result(panel, None)
        assert audio[:4] == b"RIFF" and len(audio) > 44 + 32000  # more than half a second of speech
        done = panel.get_by_text(re.compile(r"Done: 1 sentence\(s\)\. \((\d+) pieces played live\)"))
        expect(done).to_be_visible(timeout=JOB_TIMEOUT_MS)
        assert int(re.search(r"\((\d+) pieces", done.inner_text()).group(1)) >= 3
    finally:
        context.close()
    crashes = unexpected_tracebacks(webui.log_since(log_start))
    assert not crashes, "\n\n".join(crashes)
