"""The slicer on synthetic recordings whose silences have known lengths, odd formats, and broken files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.audio.slicer import (
    SLICE_SR,
    Chunk,
    SliceOptions,
    SliceOptionsError,
    Slicer,
    clip_name,
    normalize_chunk,
    slice_path,
)
from gpt_sovits.cli import main as cli_main

SR = SLICE_SR
HOP = 320  # 10 ms at 32 kHz
WIN = 1280  # min(300 ms, 4 hops)
MSK = 50 * HOP  # max_sil_kept, 500 ms


def tone(seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def burst_recording() -> tuple[np.ndarray, list[int]]:
    """1 s lead, A 5 s, 0.4 s gap, B 5 s, 3 s gap, C 2 s, 0.4 s gap, D 5 s, 1 s tail; returns signal + part ends."""
    parts = [silence(1), tone(5), silence(0.4), tone(5, 550), silence(3), tone(2, 660), silence(0.4), tone(5, 330),
             silence(1)]
    return np.concatenate(parts), list(np.cumsum([len(p) for p in parts]))


def parse_name(path: Path) -> tuple[int, int]:
    start, end = path.stem.rsplit("_", 2)[1:]
    return int(start), int(end)


def test_bursts_cut_where_the_rules_say(tmp_path):
    y, ends = burst_recording()
    src = tmp_path / "in" / "talk.wav"
    src.parent.mkdir()
    sf.write(src, y, SR, subtype="FLOAT")
    report = slice_path(src, tmp_path / "out", SliceOptions(workers=1))
    assert report.ok, report.summary()
    clips = sorted(report.outputs, key=parse_name)
    # the 0.4 s gap after C is not cut: C's clip is shorter than min_length (4 s) when that gap ends
    assert len(clips) == 3
    bounds = [parse_name(c) for c in clips]
    a_start, a_end, b_end, c_start, d_end = ends[0], ends[1], ends[3], ends[4], ends[7]
    # a cut inside silence lands on the first frame whose window holds no tone: tone end + half a window
    expected = [
        (a_start - WIN // 2 - MSK, a_end + WIN // 2),      # leading silence: keep max_sil_kept before A
        (a_end + WIN // 2, b_end + WIN // 2),              # short gap: zero-width cut at its quietest frame
        (c_start - WIN // 2 - MSK, d_end + WIN // 2),      # long gap: keep max_sil_kept before C; tail trimmed
    ]
    for (s, e), (es, ee) in zip(bounds, expected):
        assert abs(s - es) <= HOP and abs(e - ee) <= HOP, (bounds, expected)
    for clip, (s, e) in zip(clips, bounds):
        info = sf.info(clip)
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert info.frames == e - s
        assert clip.name == f"talk.wav_{s:010d}_{e:010d}.wav"


def test_sixty_seconds_without_silence_respect_max_length(tmp_path):
    y = tone(60) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * np.arange(60 * SR) / SR)).astype(np.float32)
    src = tmp_path / "long.flac"
    sf.write(src, y, SR)
    options = SliceOptions(workers=1)
    report = slice_path(src, tmp_path / "out", options)
    assert report.ok
    bounds = sorted(parse_name(p) for p in report.outputs)
    assert len(bounds) >= 3
    assert all(e - s <= options.max_length_ms * SR // 1000 for s, e in bounds)
    # the pieces tile the recording with no gap and no overlap
    assert bounds[0][0] == 0 and bounds[-1][1] == len(y)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_max_length_cut_lands_on_the_quietest_frame():
    # 30 s of tone with one dip to -30 dB (above the -34 dB threshold, so not a silence) at 12 s
    y = tone(30)
    dip = slice(12 * SR, 12 * SR + 3200)
    y[dip] *= 0.03
    chunks = Slicer(SliceOptions()).slice(y)
    assert len(chunks) == 2
    assert abs(chunks[0].end - 12 * SR) <= 3200 + HOP


def write_mp3_stereo_44k(path: Path, seconds: float) -> None:
    import av

    t = np.arange(int(seconds * 44100)) / 44100
    left = 0.4 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.2 * t) > -0.5)
    stereo = np.stack([left, left * 0.8]).astype(np.float32)  # [2, T]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=44100, layout="stereo")
        for i in range(0, stereo.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i:i + 1152]), format="fltp",
                                               layout="stereo")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.slow
def test_folder_with_mp3_flac_and_broken_files(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    write_mp3_stereo_44k(folder / "song.mp3", 12.0)
    y, _ = burst_recording()
    sf.write(folder / "speech.flac", y, 48000)  # any rate: resampled to 32 kHz
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    sf.write(folder / "nan.wav", np.full(SR, np.nan, dtype=np.float32), SR, subtype="FLOAT")

    messages = []
    report = slice_path(folder, tmp_path / "out", SliceOptions(workers=2),
                        progress=lambda done, total, msg: messages.append((done, total, msg)))
    failed = {e.path.name: e.message for e in report.errors}
    assert set(failed) == {"empty.wav", "notes.wav", "nan.wav"}
    assert "empty" in failed["empty.wav"]
    assert "not a readable audio file" in failed["notes.wav"]
    assert "NaN" in failed["nan.wav"]
    names = [p.name for p in report.outputs]
    assert any(n.startswith("song.mp3_") for n in names)
    assert any(n.startswith("speech.flac_") for n in names)
    for p in report.outputs:
        info = sf.info(p)
        assert (info.samplerate, info.channels) == (SR, 1)
    assert messages[-1][0] == messages[-1][1] == 5


def test_cli_reports_failures_and_exit_code(tmp_path, capsys):
    folder = tmp_path / "raw"
    folder.mkdir()
    sf.write(folder / "ok.wav", np.concatenate([tone(5), silence(1), tone(5)]), SR)
    (folder / "bad.wav").write_bytes(b"")
    rc = cli_main(["slice", str(folder), str(tmp_path / "out"), "--workers", "1"])
    out = capsys.readouterr()
    assert rc == 1
    assert "1/2 files sliced into 2 clips" in out.out
    assert "bad.wav" in out.out + out.err
    assert len(list((tmp_path / "out").glob("ok.wav_*.wav"))) == 2
    assert cli_main(["slice", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2


def test_normalisation_divides_by_the_peak_once():
    x = np.array([0.0, 2.0, -1.0], dtype=np.float32)
    y = normalize_chunk(x, 0.9, 0.25)
    assert np.isclose(np.abs(y).max(), 0.9 * 0.25 + 0.75)  # upstream's double division gives 0.8625
    quiet = np.array([0.0, 0.5, -0.25], dtype=np.float32)
    expected = quiet / 0.5 * (0.9 * 0.25) + 0.75 * quiet  # upstream's formula when the peak is at most 1
    assert np.allclose(normalize_chunk(quiet, 0.9, 0.25), expected)
    assert not normalize_chunk(np.zeros(4, np.float32), 0.9, 0.25).any()


def test_options_are_checked_and_names_follow_upstream():
    with pytest.raises(SliceOptionsError):
        SliceOptions(min_length_ms=200, min_interval_ms=300).validate()
    with pytest.raises(SliceOptionsError):
        SliceOptions(max_sil_kept_ms=5).validate()
    assert clip_name(Path("a/b/song.mp3"), Chunk(123200, 467840)) == "song.mp3_0000123200_0000467840.wav"
    short = tone(2)
    assert Slicer(SliceOptions()).slice(short) == [Chunk(0, len(short))]


@pytest.mark.parametrize("win,hop", [(1280, 320), (800, 320), (1000, 300)])
def test_frame_rms_matches_librosa_centre_padded_rms(win, hop):
    import librosa

    from gpt_sovits.audio.slicer import frame_rms

    y = np.random.default_rng(0).standard_normal(32000 * 3 + 123).astype(np.float32)
    ours = frame_rms(y, win, hop)
    ref = librosa.feature.rms(y=y, frame_length=win, hop_length=hop, center=True, pad_mode="constant")[0]
    assert ours.shape == ref.shape
    assert np.allclose(ours, ref, atol=1e-5)


def test_block_wise_slicing_equals_slicing_in_memory(tmp_path, monkeypatch):
    from gpt_sovits.audio import slicer as slicer_module
    from gpt_sovits.audio.io import load_audio, wav_bytes

    y, _ = burst_recording()
    src = tmp_path / "long.flac"
    sf.write(src, np.stack([y, 0.5 * y], axis=1), 44100)  # stereo at another rate: mixed and resampled in blocks
    monkeypatch.setattr(slicer_module, "BLOCK_SECONDS", 0.7)  # many blocks
    written = slicer_module.slice_file(src, tmp_path / "out", SliceOptions(max_length_ms=3000))
    whole = load_audio(src, SR)
    expected = Slicer(SliceOptions(max_length_ms=3000)).slice(whole)
    assert [p.name for p in written] == [clip_name(src, c) for c in expected]
    for path, chunk in zip(written, expected):
        assert path.read_bytes() == wav_bytes(normalize_chunk(whole[chunk.start:chunk.end], 0.9, 0.25), SR)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)  # no temp left


def test_names_a_list_cannot_hold_are_made_safe(tmp_path):
    src = tmp_path / "a|b\x01c.wav"
    sf.write(src, np.concatenate([tone(5), silence(1), tone(5)]), SR)
    report = slice_path(src, tmp_path / "out", SliceOptions(workers=1))
    assert report.ok and [p.name.split("_0")[0] for p in report.outputs] == ["a_b_c.wav"] * 2


def test_slicing_again_into_the_same_folder_is_refused_or_replaces(tmp_path, capsys):
    from gpt_sovits.audio.slicer import SliceConflict

    src = tmp_path / "rec.wav"
    sf.write(src, np.concatenate([tone(5), silence(1), tone(5)]), SR)
    other = tmp_path / "other.wav"
    sf.write(other, tone(5), SR)
    out = tmp_path / "out"
    first = slice_path(src, out, SliceOptions(workers=1)).outputs
    before = {p.name: p.read_bytes() for p in first}
    assert slice_path(other, out, SliceOptions(workers=1)).ok  # clips of another recording: no overlap, allowed
    with pytest.raises(SliceConflict, match="rec.wav.*replace"):
        slice_path(src, out, SliceOptions(workers=1, min_length_ms=3000))
    assert cli_main(["slice", str(src), str(out), "--workers", "1"]) == 2
    assert "already holds 2 clips of rec.wav" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in first} == before
    report = slice_path(src, out, SliceOptions(workers=1, min_length_ms=3000), replace=True)
    assert report.moved_aside is not None and report.moved_aside.parent == out
    assert {p.name: p.read_bytes() for p in report.moved_aside.iterdir()} == before  # kept, not deleted
    assert "moved to" in report.summary()
