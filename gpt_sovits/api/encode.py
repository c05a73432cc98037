"""Audio bytes for the media types api_v2 clients ask for: wav, raw PCM16, ogg (Vorbis) and aac (ADTS)."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

MEDIA_TYPES = {"wav": "audio/wav", "raw": "audio/raw", "ogg": "audio/ogg", "aac": "audio/aac"}
AAC_BIT_RATE = 192_000  # as upstream's ffmpeg pipe


def wav_stream_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header with 'unknown' sizes (0xFFFFFFFF), the usual convention for streamed WAV."""
    byte_rate = sample_rate * 2
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate,
            byte_rate, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFFF))


def _encode_aac(audio: np.ndarray, sample_rate: int) -> bytes:
    """AAC-LC in an ADTS stream (self-framed, so streamed pieces can be concatenated), through PyAV's FFmpeg."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="adts") as out:
        stream = out.add_stream("aac", rate=sample_rate, layout="mono")
        stream.bit_rate = AAC_BIT_RATE
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.astype(np.int16))[None, :], format="s16",
                                           layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def encode_audio(audio: np.ndarray, sample_rate: int, media_type: str) -> bytes:
    """int16 mono samples → the bytes of `media_type` (one complete file; for raw, bare little-endian PCM)."""
    if media_type == "raw":
        return audio.astype("<i2").tobytes()
    if media_type == "aac":
        return _encode_aac(audio, sample_rate)
    buf = io.BytesIO()
    if media_type == "ogg":
        sf.write(buf, audio.astype(np.float32) / 32768.0, sample_rate, format="OGG", subtype="VORBIS")
    else:
        sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
