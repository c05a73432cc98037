"""ASR end to end: espeak-ng speech → a tiny CTranslate2 Whisper → a `.list` that training can read.

The tiny model's weights are random except for a scripted decoder (see `gpt_sovits.tiny.whisper`): it detects one
language and says SCRIPT_TEXT whatever the audio. So these tests check the format, the validity of what is written
and that text and language travel intact through faster-whisper and our writer, never recognition quality.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest

from gpt_sovits.asr.check import check_list
from gpt_sovits.asr.listfile import normalize_lang, read_list
from gpt_sovits.asr.whisper import (
    AsrOptions,
    WhisperModelNotFound,
    clean_transcript,
    find_whisper_model,
    transcribe_folder,
)
from gpt_sovits.cli import main as cli_main
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.tiny.whisper import SCRIPT_TEXT, make_tiny_whisper

pytestmark = pytest.mark.slow

SENTENCES = [
    ("en", "This is the first test sentence."),
    ("en", "The weather is nice today."),
    ("zh", "你好，这是一个测试。"),
    ("ja", "こんにちは、テストです。"),
]
FAST = {"beam_size": 1, "temperature_fallback": False, "cpu_threads": 1}


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    return make_tiny_whisper(tmp_path_factory.mktemp("models") / "faster-whisper-tiny")


@pytest.fixture(scope="module")
def german_whisper(tmp_path_factory):
    """A tiny model that detects German, a language training cannot use."""
    return make_tiny_whisper(tmp_path_factory.mktemp("models_de") / "faster-whisper-tiny", seed=1, language="de")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt install espeak-ng; tools/run_tests.sh does it as root)")
    folder = tmp_path_factory.mktemp("data") / "speaker1"
    folder.mkdir()
    for i, (voice, text) in enumerate(SENTENCES):
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(folder / f"clip{i}.wav"), text], check=True,
                       capture_output=True)
    (folder / "notes.txt").write_text("not audio, not listed")
    return folder


def test_forced_language_writes_a_valid_list(tiny_whisper, clips, tmp_path):
    out = tmp_path / "asr" / "speaker1.list"
    seen = []
    report = transcribe_folder(clips, out, ProjectPaths(tmp_path), AsrOptions(language="en", model_dir=str(tiny_whisper),
                               **FAST), progress=lambda d, t, m: seen.append((d, t)))
    entries = read_list(out)
    assert len(entries) + len(report.review) + len(report.errors) == len(SENTENCES)
    assert report.errors == []
    assert len(entries) == len(SENTENCES)
    for e in entries:
        assert (clips / e.path.rsplit("/", 1)[-1]).exists() and e.path.endswith(".wav")
        assert normalize_lang(e.lang) == "en" and e.speaker == "speaker1"
        assert e.text == SCRIPT_TEXT
    sidecar = json.loads((tmp_path / "asr" / "speaker1.list.asr.json").read_text())
    assert set(sidecar["clips"]) == {e.path for e in entries}
    assert all(-1.0 < c["avg_logprob"] <= 0 and 0 <= c["no_speech_prob"] <= 1
               for c in sidecar["clips"].values())
    assert seen[-1] == (len(SENTENCES), len(SENTENCES))
    check = check_list(out)
    assert not [p for p in check.problems if p.kind in ("missing_audio", "unreadable_audio", "unknown_language")]


def test_auto_language_with_default_options(tiny_whisper, clips, tmp_path):
    out = tmp_path / "auto.list"
    options = AsrOptions(model_dir=str(tiny_whisper), cpu_threads=1)  # beam 5, temperature fallback, VAD
    report = transcribe_folder(clips, out, ProjectPaths(tmp_path), options)
    entries = read_list(out)
    assert [e.lang for e in entries] == ["en"] * len(SENTENCES)
    assert all(e.text == SCRIPT_TEXT for e in entries)
    assert report.review == [] and report.errors == []
    assert [c.language_probability > 0.9 for c in report.written] == [True] * len(SENTENCES)


def test_unsupported_detected_language_is_held_back_for_review(german_whisper, clips, tmp_path):
    out = tmp_path / "de.list"
    report = transcribe_folder(clips, out, ProjectPaths(tmp_path), AsrOptions(model_dir=str(german_whisper), **FAST))
    assert read_list(out) == []
    assert len(report.review) == len(SENTENCES)
    for clip, why in report.review:
        assert clip.lang == "de" and "'de'" in why and clip.text == SCRIPT_TEXT
    sidecar = json.loads((tmp_path / "de.list.asr.json").read_text())
    assert [r["lang"] for r in sidecar["review"]] == ["de"] * len(SENTENCES)
    assert "REVIEW" in report.summary()


def test_cli_finds_the_model_under_pretrained_models(tiny_whisper, clips, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(tiny_whisper, root / "pretrained_models" / "faster-whisper-tiny")
    assert find_whisper_model(ProjectPaths(root), "tiny") == root / "pretrained_models" / "faster-whisper-tiny"
    out = tmp_path / "cli.list"
    rc = cli_main(["asr", str(clips), "--output", str(out), "--root", str(root), "--model-size", "tiny",
                   "--language", "ja", "--beam-size", "1", "--no-temperature-fallback", "--max-new-tokens", "8",
                   "--threads", "1"])
    assert rc == 0, capsys.readouterr()
    entries = read_list(out)
    assert len(entries) == len(SENTENCES) and all(e.lang == "ja" for e in entries)
    assert f"{len(SENTENCES)} clips written" in capsys.readouterr().out


def test_missing_model_is_a_clear_error_without_network(clips, tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("the ASR stage tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    paths = ProjectPaths(tmp_path / "empty_root")
    with pytest.raises(WhisperModelNotFound) as err:
        transcribe_folder(clips, tmp_path / "x.list", paths, AsrOptions(model_size="large-v3"))
    msg = str(err.value)
    assert str(paths.pretrained_models / "faster-whisper-large-v3") in msg
    assert "python tools/download_pretrained.py --whisper large-v3" in msg
    assert not (tmp_path / "x.list").exists()
    assert cli_main(["asr", str(clips), "--output", str(tmp_path / "y.list"), "--root", str(paths.root)]) == 2
    assert "download_pretrained.py" in capsys.readouterr().err


def test_incomplete_model_folder_names_the_missing_file(tiny_whisper, clips, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_whisper, broken)
    (broken / "tokenizer.json").unlink()  # faster-whisper would fetch one from the internet: refuse instead
    with pytest.raises(WhisperModelNotFound, match="tokenizer.json"):
        transcribe_folder(clips, tmp_path / "x.list", ProjectPaths(tmp_path), AsrOptions(model_dir=str(broken)))


def test_transcripts_are_made_safe_for_the_list_format():
    assert clean_transcript(" a|b\nc\x1e d  ") == "a b c d"


def test_rerun_keeps_a_corrected_list_and_writes_beside_it(tiny_whisper, clips, tmp_path):
    from gpt_sovits.asr import history
    from gpt_sovits.asr.editor import LabelEditor

    out = tmp_path / "speaker1.list"
    options = AsrOptions(language="en", model_dir=str(tiny_whisper), **FAST)
    transcribe_folder(clips, out, ProjectPaths(tmp_path), options)
    again = transcribe_folder(clips, out, ProjectPaths(tmp_path), options)  # ASR's own, untouched output: replaced
    assert again.list_path == out and again.kept is None
    LabelEditor(out).edit(0, text="corrected by hand")
    corrected = out.read_bytes()

    report = transcribe_folder(clips, out, ProjectPaths(tmp_path), options)
    assert out.read_bytes() == corrected  # the corrections are intact
    beside = tmp_path / "speaker1.asr-1.list"
    assert report.list_path == beside and report.kept == out
    assert [e.text for e in read_list(beside)] == [SCRIPT_TEXT] * len(SENTENCES)
    assert (tmp_path / "speaker1.asr-1.list.asr.json").is_file()
    assert "KEPT" in report.summary() and "speaker1.asr-1.list" in report.summary()

    replaced = transcribe_folder(clips, out, ProjectPaths(tmp_path), options, replace=True)
    assert replaced.list_path == out and read_list(out)[0].text == SCRIPT_TEXT
    assert any(history.content(out, v) == corrected for v in history.versions(out))  # still in the history
    assert "transcribed 4 clips" in LabelEditor(out).undo()  # Undo takes the replacement back
    assert read_list(out)[0].text == "corrected by hand"


def test_clips_a_list_cannot_name_are_listed_and_the_rest_written(tiny_whisper, clips, tmp_path):
    folder = tmp_path / "odd"
    shutil.copytree(clips, folder)
    (folder / "clip0.wav").rename(folder / "a|b.wav")
    out = tmp_path / "odd.list"
    report = transcribe_folder(folder, out, ProjectPaths(tmp_path),
                               AsrOptions(language="en", model_dir=str(tiny_whisper), **FAST))
    assert len(read_list(out)) == len(SENTENCES) - 1
    assert [(p.rsplit("/", 1)[-1], "'|'" in m) for p, m in report.errors] == [("a|b.wav", True)]
    assert "FAILED" in report.summary()
