"""A small mixed-language dataset spoken by espeak-ng, for the 1A formatting tests.

zh lines are written in hanzi in the .list while the audio is spoken from their pinyin (espeak-ng's
`cmn-latn-pinyin` voice reads tone-numbered pinyin); ja lines are kana only. Two clips are FLAC, to check that
`5-wav32k/` keeps the list's file name while storing WAV.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

ESPEAK = shutil.which("espeak-ng")


@dataclass(frozen=True)
class Clip:
    name: str      # file name (the key of every output)
    lang: str      # as written in the .list
    text: str      # as written in the .list
    voice: str     # espeak-ng voice
    spoken: str    # what espeak-ng reads


CLIPS = [
    Clip("zh_01.wav", "zh", "你好世界。", "cmn-latn-pinyin", "ni3 hao3 shi4 jie4"),
    Clip("zh_02.wav", "ZH", "今天天气很好。", "cmn-latn-pinyin", "jin1 tian1 tian1 qi4 hen3 hao3"),
    Clip("zh_03.wav", "zh", "我喜欢吃苹果。", "cmn-latn-pinyin", "wo3 xi3 huan1 chi1 ping2 guo3"),
    Clip("zh_04.wav", "zh", "他们在学校学习。", "cmn-latn-pinyin", "ta1 men5 zai4 xue2 xiao4 xue2 xi2"),
    Clip("zh_05.wav", "zh", "这是一本书。", "cmn-latn-pinyin", "zhe4 shi4 yi4 ben3 shu1"),
    Clip("zh_06.wav", "zh", "我们一起去公园吧。", "cmn-latn-pinyin", "wo3 men5 yi4 qi3 qu4 gong1 yuan2 ba5"),
    Clip("zh_07.flac", "zh", "谢谢你的帮助。", "cmn-latn-pinyin", "xie4 xie4 ni3 de5 bang1 zhu4"),
    Clip("en_01.wav", "en", "Hello, how are you today?", "en-us", "Hello, how are you today?"),
    Clip("en_02.flac", "EN", "The quick brown fox jumps over the lazy dog.", "en-us",
         "The quick brown fox jumps over the lazy dog."),
    Clip("en_03.wav", "en", "I like playing games with my friends.", "en-us", "I like playing games with my friends."),
    Clip("en_04.wav", "en", "Please open the window.", "en-us", "Please open the window."),
    Clip("en_05.wav", "en", "This is a test of the speech system.", "en-us", "This is a test of the speech system."),
    Clip("en_06.wav", "en", "We will meet again tomorrow morning.", "en-us", "We will meet again tomorrow morning."),
    Clip("en_07.wav", "en", "Thank you very much for your help.", "en-us", "Thank you very much for your help."),
    Clip("ja_01.wav", "ja", "こんにちは。", "ja", "こんにちは。"),
    Clip("ja_02.wav", "JA", "ありがとうございます。", "ja", "ありがとうございます。"),
    Clip("ja_03.wav", "ja", "おはようございます。", "ja", "おはようございます。"),
    Clip("ja_04.wav", "ja", "さようなら、またあした。", "ja", "さようなら、またあした。"),
    Clip("ja_05.wav", "ja", "わたしはがくせいです。", "ja", "わたしはがくせいです。"),
    Clip("ja_06.wav", "ja", "きょうはいいてんきですね。", "ja", "きょうはいいてんきですね。"),
]
EXTRA_CLIP = Clip("en_08.wav", "en", "Good night and sweet dreams.", "en-us", "Good night and sweet dreams.")


def speak(clip: Clip, path: Path) -> Path:
    """Synthesize `clip` with espeak-ng into `path` (WAV, or FLAC when the name says so)."""
    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed")
    wav = path.with_suffix(".espeak.wav")
    subprocess.run([ESPEAK, "-v", clip.voice, "-w", str(wav), clip.spoken], check=True, capture_output=True)
    if path.suffix == ".wav":
        wav.replace(path)
    else:
        data, sr = sf.read(str(wav), dtype="int16")
        sf.write(str(path), data, sr)
        wav.unlink()
    return path


def make_clips(folder: Path, clips: list[Clip] = CLIPS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        speak(clip, folder / clip.name)


def list_line(folder: Path, clip: Clip) -> str:
    return f"{folder / clip.name}|speaker|{clip.lang}|{clip.text}"


def write_list(path: Path, folder: Path, clips: list[Clip] = CLIPS) -> Path:
    path.write_text("".join(list_line(folder, c) + "\n" for c in clips), encoding="utf-8")
    return path


def output_files(exp_dir: Path) -> dict[str, int]:
    """Every file under the experiment folder (relative name → mtime_ns), manifest and source record excluded."""
    return {
        p.relative_to(exp_dir).as_posix(): p.stat().st_mtime_ns
        for p in sorted(exp_dir.rglob("*")) if p.is_file() and p.name not in ("format_manifest.json",
                                                                              "format_source.json")
    }


def file_bytes(exp_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(exp_dir).as_posix(): p.read_bytes()
        for p in sorted(exp_dir.rglob("*")) if p.is_file() and p.name != "format_manifest.json"
    }


def formatted_root(tiny_pretrained: Path, work: Path, exp: str, clips: list[Clip], steps=None) -> Path:
    """`work/root`: the tiny pretrained models linked in (read-only) and `exp` formatted by 1A from `clips` spoken by
    espeak-ng (`steps`: 1A's steps, default all)."""
    import pytest

    from gpt_sovits.dataset.format import FormatOptions, format_dataset

    if ESPEAK is None:
        pytest.fail("espeak-ng is needed to make the test dataset (apt install espeak-ng; tools/run_tests.sh does it)")
    root = work / "root"
    root.mkdir(parents=True)
    (root / "pretrained_models").symlink_to(Path(tiny_pretrained) / "pretrained_models", target_is_directory=True)
    make_clips(work / "clips", clips)
    list_path = write_list(work / f"{exp}.list", work / "clips", clips)
    extra = {} if steps is None else {"steps": steps}
    report = format_dataset(FormatOptions(list_path=list_path, exp_name=exp, root=root, threads=1, **extra))
    assert report.succeeded, report.summary()
    return root
