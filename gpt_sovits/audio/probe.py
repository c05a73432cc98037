"""How long is an audio file, read from its header only: a 3-hour upload must be refused before it is decoded."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

# Leading bytes of the containers the loader reads (soundfile or PyAV). Anything else is refused before decoding.
_MAGIC = (
    (0, b"RIFF"), (0, b"RF64"), (0, b"OggS"), (0, b"fLaC"), (0, b"ID3"), (0, b"FORM"), (0, b"caff"), (0, b".snd"),
    (4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"),  # MP4/M4A, Matroska/WebM
)


def looks_like_audio(head: bytes) -> bool:
    """True when the first bytes are those of a known audio container (or an MPEG/AAC frame sync)."""
    if any(head[offset:offset + len(magic)] == magic for offset, magic in _MAGIC):
        return True
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0  # raw MP3 / ADTS AAC


def header_duration(path: str | Path) -> float | None:
    """Seconds of audio according to the file's header, without decoding it; None if the header does not say."""
    try:
        info = sf.info(str(path))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except Exception:  # not a libsndfile format (mp3/m4a on some builds): ask FFmpeg's demuxer
        pass
    try:
        import av

        with av.open(str(path)) as container:
            if container.duration is not None and container.duration > 0:
                return container.duration / 1_000_000  # av.time_base
            for stream in container.streams.audio:
                if stream.duration and stream.time_base:
                    return float(stream.duration * stream.time_base)
    except Exception:
        return None
    return None
