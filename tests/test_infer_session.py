"""Per-session inference for the WebUI: sessions with different weights at the same time each get their own model's
output, Stop cancels, result files are written once and replaced; plus the WebUI's IPv6 host handling."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_sovits.infer.cancel import Cancelled, CancelToken
from gpt_sovits.infer.pipeline import SentenceAudio
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.infer.session import ModelChoice, Sessions, SharedModels
from gpt_sovits.models.checkpoints import read_sovits_state, save_sovits_weights
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.ui.cli import gradio_host, is_loopback
from infer_helpers import REF_TEXT, espeak_reference


@pytest.fixture(scope="module")
def paths(tiny_pretrained) -> ProjectPaths:
    return ProjectPaths(Path(tiny_pretrained))


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    return espeak_reference(tmp_path_factory.mktemp("session_ref") / "ref.wav")


@pytest.fixture(scope="module")
def other_sovits(paths, tmp_path_factory) -> Path:
    """A second SoVITS model: the tiny one with its decoder weights perturbed (a different voice)."""
    state, config, _ = read_sovits_state(paths.pretrained_sovits_g("v2"))
    if config is None:
        models = SharedModels(paths, device="cpu")
        models.pipeline.load_sovits(paths.pretrained_sovits_g("v2"))
        config = models.pipeline.sovits.hps
    gen = torch.Generator().manual_seed(0)
    state = {k: (v + 0.05 * torch.randn(v.shape, generator=gen) if k.startswith("dec.") and v.is_floating_point()
                 else v) for k, v in state.items()}
    return save_sovits_weights(state, config, tmp_path_factory.mktemp("other") / "other.pth", "e1_s1")


def _req(ref: Path, seed: int) -> TTSRequest:
    return TTSRequest(text="你好。", text_lang="all_zh", ref_audio_path=ref, prompt_text=REF_TEXT,
                      prompt_lang="all_zh", seed=seed)


def _audio(models: SharedModels, choice: ModelChoice, req: TTSRequest) -> np.ndarray:
    items = list(models.stream(choice, req, CancelToken()))
    return np.concatenate([s.audio for s in items if isinstance(s, SentenceAudio)])


def test_two_sessions_with_different_weights_at_once_each_get_their_own_model(paths, ref_wav, other_sovits):
    models = SharedModels(paths, device="cpu")
    a = ModelChoice(paths.pretrained_gpt("v2"), paths.pretrained_sovits_g("v2"))
    b = ModelChoice(paths.pretrained_gpt("v2"), other_sovits)
    alone_a, alone_b = _audio(models, a, _req(ref_wav, 3)), _audio(models, b, _req(ref_wav, 3))
    assert not np.array_equal(alone_a, alone_b)
    results: dict[str, list[np.ndarray]] = {"a": [], "b": []}

    def session(name: str, choice: ModelChoice) -> None:
        for _ in range(2):  # interleaved requests from both sessions
            results[name].append(_audio(models, choice, _req(ref_wav, 3)))

    threads = [threading.Thread(target=session, args=("a", a)), threading.Thread(target=session, args=("b", b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert all(np.array_equal(x, alone_a) for x in results["a"]) and len(results["a"]) == 2
    assert all(np.array_equal(x, alone_b) for x in results["b"]) and len(results["b"]) == 2


def test_stop_cancels_the_session_run_and_frees_the_models(paths, ref_wav, tmp_path):
    models = SharedModels(paths, device="cpu")
    sessions = Sessions(tmp_path / "results")
    state = sessions.get("browser-1")
    token = state.start()
    choice = ModelChoice(paths.pretrained_gpt("v2"), paths.pretrained_sovits_g("v2"))
    req = TTSRequest(text="第一句话。第二句话。第三句话。第四句话。", text_lang="all_zh", ref_audio_path=ref_wav,
                     prompt_text=REF_TEXT, prompt_lang="all_zh", text_split_method="cut5", seed=1)
    got = []
    with pytest.raises(Cancelled):
        for item in models.stream(choice, req, token):
            if isinstance(item, SentenceAudio):
                got.append(item)
                assert state.stop()  # the Stop button
    assert len(got) == 1
    assert not state.stop()  # nothing running any more
    assert len(_audio(models, choice, _req(ref_wav, 2))) > 0  # the models are free


def test_result_files_are_replaced_and_old_sessions_cleaned(tmp_path):
    (tmp_path / "results" / "stale").mkdir(parents=True)
    sessions = Sessions(tmp_path / "results", limit=2)
    assert list((tmp_path / "results").iterdir()) == []  # emptied at start
    one = sessions.get("one")
    first = one.new_result_path()
    first.write_bytes(b"x")
    second = one.new_result_path()
    assert not first.exists() and second.name == "result.wav" and second.parent.parent == one.folder
    sessions.get("two")
    sessions.get("three")  # the oldest session is dropped with its files
    assert not one.folder.exists()


def test_webui_host_names():
    assert gradio_host("::1") == "[::1]" and gradio_host("[::1]") == "[::1]"
    assert gradio_host("127.0.0.1") == "127.0.0.1" and gradio_host("localhost") == "localhost"
    assert is_loopback("::1") and is_loopback("[::1]") and not is_loopback("::")
