"""What one API request may cost: text length, reference size and length, upload and body sizes, queue length and
time. Defaults are generous for real use and small enough that one client cannot exhaust memory, disk or the worker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 20_000
    max_ref_bytes: int = 50 * 1024 * 1024  # a server-side reference file (10 s of 32-bit 48 kHz stereo is ~4 MB)
    max_ref_seconds: float = 60.0  # from the header, before decoding (the pipeline itself wants 3-10 s)
    max_upload_bytes: int = 20 * 1024 * 1024  # each uploaded file
    max_uploads: int = 8  # files in one multipart request (ref_audio + aux_ref_audio)
    max_queue: int = 16  # requests waiting for the worker; more get 503 + Retry-After
    request_timeout: float = 600.0  # seconds from arrival to the last byte produced, queue wait included
    stall_timeout: float = 60.0  # how long the worker waits for a client that does not read its stream
    retry_after: int = 10  # seconds suggested to a client refused because the queue is full

    @property
    def max_json_bytes(self) -> int:
        """A JSON body holds the text (up to 4 UTF-8 bytes a character, more when escaped) plus small fields."""
        return self.max_text_chars * 12 + 64 * 1024

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes * self.max_uploads + self.max_json_bytes

    def describe(self) -> str:
        return (f"text <= {self.max_text_chars} chars, uploads <= {self.max_upload_bytes // 1024 // 1024} MiB, "
                f"references <= {self.max_ref_seconds:g} s, queue <= {self.max_queue}, "
                f"timeout {self.request_timeout:g} s")
