"""Audio in and out: any format soundfile or PyAV can read → mono float32 at the rate asked for.

Resampling uses soxr at "HQ" quality, which is what librosa.load (upstream's loader) does by default, so features
computed from our audio match upstream's.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from gpt_sovits.filemode import mode_for


class AudioError(ValueError):
    """The file cannot be read as audio (missing, empty, corrupt, not finite)."""


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    return data, sr


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av  # PyAV: mp3, m4a, aac, opus, video containers...

    chunks: list[np.ndarray] = []
    sr = 0
    with av.open(str(path)) as container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"{path}: no audio stream")
        stream = streams[0]
        resampler = av.AudioResampler(format="flt", layout="mono")
        for frame in container.decode(stream):
            sr = frame.sample_rate
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks or sr <= 0:
        raise AudioError(f"{path}: no audio samples")
    return np.concatenate(chunks)[:, None], sr


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float32 `[T, C]` and its sample rate, with a clear error for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        data, sr = _read_soundfile(path)
    except Exception as first:  # soundfile cannot read mp3/m4a on every libsndfile; try FFmpeg through PyAV
        try:
            data, sr = _read_pyav(path)
        except AudioError:
            raise
        except Exception as second:
            raise AudioError(f"{path}: not a readable audio file ({first}; {second})") from second
    if data.size == 0:
        raise AudioError(f"{path}: no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return data, sr


def _soundfile_blocks(path: Path, block_seconds: float) -> tuple[int, Iterator[np.ndarray]]:
    f = sf.SoundFile(str(path))
    block_frames = max(1, int(block_seconds * f.samplerate))  # seconds, not frames: a 1 kHz file is no bigger

    def blocks() -> Iterator[np.ndarray]:
        with f:
            while True:
                data = f.read(block_frames, dtype="float32", always_2d=True)  # [T, C]
                if not len(data):
                    return
                yield data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return f.samplerate, blocks()


def _pyav_blocks(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    import av

    container = av.open(str(path))
    streams = container.streams.audio
    if not streams:
        container.close()
        raise AudioError(f"{path}: no audio stream")
    stream = streams[0]
    sr = stream.codec_context.sample_rate or stream.rate or 0
    if sr <= 0:
        container.close()
        raise AudioError(f"{path}: no sample rate")

    def blocks() -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="flt", layout="mono")
        with container:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
    return sr, blocks()


def stream_mono(path: str | Path, sr: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The file as mono float32 blocks at `sr`, read and resampled block by block (memory does not grow with the
    length of the recording). Same samples as `load_audio(path, sr)`: soxr's stream equals its one-shot resampler.

    Raises AudioError (before or while yielding) for the files `read_audio` refuses."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        orig_sr, blocks = _soundfile_blocks(path, block_seconds)
    except Exception as first:  # mp3/m4a on some libsndfile builds: FFmpeg through PyAV
        try:
            orig_sr, blocks = _pyav_blocks(path)
        except AudioError:
            raise
        except Exception as second:
            raise AudioError(f"{path}: not a readable audio file ({first}; {second})") from second
    stream = soxr.ResampleStream(orig_sr, sr, 1, dtype="float32", quality="HQ") if orig_sr != sr else None
    total = 0
    pending: np.ndarray | None = None  # one block of look-ahead so the last one is flagged `last` for soxr
    for block in blocks:
        if not np.isfinite(block).all():
            raise AudioError(f"{path}: audio contains NaN or infinite samples")
        total += len(block)
        if pending is not None:
            yield pending if stream is None else stream.resample_chunk(pending, last=False)
        pending = np.ascontiguousarray(block, dtype=np.float32)
    if total == 0 or pending is None:
        raise AudioError(f"{path}: no audio samples")
    yield pending if stream is None else stream.resample_chunk(pending, last=True)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D float signal (soxr HQ, as librosa's default)."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sr: int | None = None) -> np.ndarray:
    """Load as mono float32 (channels averaged), resampled to `sr` when given."""
    data, orig_sr = read_audio(path)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(mono, orig_sr, sr) if sr else mono.astype(np.float32, copy=False)


def load_audio_with_rate(path: str | Path) -> tuple[np.ndarray, int]:
    """Load as mono float32 at the file's own rate."""
    data, sr = read_audio(path)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return mono.astype(np.float32, copy=False), sr


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] → int16 with clipping (no wrap-around on overs)."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new file, never a truncated one; the file gets the
    mode it had, or the one the umask gives a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode_for(path))  # mkstemp's 0600 would hide the file from the user's group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """A 16-bit PCM WAV file in memory; float input is clipped to [-1, 1]."""
    if audio.dtype != np.int16:
        audio = to_int16(audio)
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def save_wav(path: str | Path, audio: np.ndarray, sr: int) -> Path:
    """Write 16-bit PCM WAV atomically (float input clipped to [-1, 1]; int16 written as is)."""
    atomic_write_bytes(path, wav_bytes(audio, sr))
    return Path(path)
