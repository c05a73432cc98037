"""Request bodies read under limits: JSON capped in size, multipart uploads checked while they stream in.

Each upload goes to a file in a per-request folder under one temp root; the size is checked as bytes arrive (so a
huge body is cut off, not stored) and the type from the first bytes. The folder is deleted when the request ends,
whatever the outcome; the root is emptied at start-up (left-overs of a killed server) and removed at shutdown.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import Request

from gpt_sovits.api.limits import Limits
from gpt_sovits.audio.probe import looks_like_audio

FILE_FIELDS = ("ref_audio", "aux_ref_audio")
MAX_FIELDS = 64
_HEAD_BYTES = 12


class BodyError(Exception):
    """A body refused before any synthesis; `status` is the HTTP code (400, 413, 415)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class TempRoot:
    """The one folder all request temp files live under."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.clean()

    def clean(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def request_files(self) -> RequestFiles:
        return RequestFiles(Path(tempfile.mkdtemp(prefix="req_", dir=self.path)))


class RequestFiles:
    """One request's uploads; `cleanup()` (idempotent) deletes them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def new_path(self, field: str, filename: str) -> Path:
        self.count += 1
        suffix = Path(filename).suffix
        suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
        return self.folder / f"{self.count}_{field}{suffix}"  # never the client's name: no traversal, no clashes

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BodyError("Content-Length is not a number.")
        if int(declared) > limit:
            raise BodyError(f"the request body is larger than the server's limit ({limit} bytes).", 413)


async def read_json(request: Request, limits: Limits) -> Any:
    limit = limits.max_json_bytes
    _check_declared_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyError(f"the JSON body is larger than the server's limit ({limit} bytes).", 413)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BodyError("the body must be JSON (or multipart/form-data with an uploaded 'ref_audio').") from None


class _MultipartSink:
    """python-multipart callbacks: route each part to a field value or an upload file, enforcing the limits."""

    def __init__(self, files: RequestFiles, limits: Limits):
        self.files, self.limits = files, limits
        self.fields: list[tuple[str, str]] = []
        self.uploads: list[tuple[str, Path]] = []
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._name = ""
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._head = b""
        self._text = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _part_begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise BodyError("malformed multipart body: a part has no form-data name.")
        self._name = options[b"name"].decode("utf-8", "replace")
        self._size, self._head, self._text = 0, b"", bytearray()
        if b"filename" in options:
            if self._name not in FILE_FIELDS:
                raise BodyError(f"unexpected file field {self._name!r}: upload the reference as 'ref_audio' (and "
                                f"extra ones as 'aux_ref_audio').")
            if len(self.uploads) >= self.limits.max_uploads:
                raise BodyError(f"too many files (the limit is {self.limits.max_uploads}).", 413)
            self._path = self.files.new_path(self._name, options[b"filename"].decode("utf-8", "replace"))
            self._file = open(self._path, "wb")
        else:
            if len(self.fields) >= MAX_FIELDS:
                raise BodyError(f"too many form fields (the limit is {MAX_FIELDS}).", 413)
            self._file = self._path = None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self._size += len(chunk)
        if self._file is None:
            if self._size > self.limits.max_json_bytes:
                raise BodyError(f"form field {self._name!r} is larger than the server's limit.", 413)
            self._text += chunk
            return
        if self._size > self.limits.max_upload_bytes:  # size first...
            raise BodyError(f"{self._name}: the upload is larger than the server's limit "
                            f"({self.limits.max_upload_bytes} bytes).", 413)
        if len(self._head) < _HEAD_BYTES:  # ...then the type, as soon as the first bytes are in
            self._head += chunk[:_HEAD_BYTES - len(self._head)]
            if len(self._head) >= _HEAD_BYTES:
                self._check_type()
        self._file.write(chunk)

    def _check_type(self) -> None:
        if not looks_like_audio(self._head):
            raise BodyError(f"{self._name}: the upload is not an audio file (wav, flac, ogg, mp3 or m4a).", 415)

    def _part_end(self) -> None:
        if self._file is None:
            try:
                self.fields.append((self._name, self._text.decode("utf-8")))
            except UnicodeDecodeError:
                raise BodyError(f"form field {self._name!r} is not UTF-8 text.") from None
            return
        self._file.close()
        self._file = None
        if self._size == 0:
            raise BodyError(f"{self._name}: the uploaded file is empty.")
        if len(self._head) < _HEAD_BYTES:
            self._check_type()
        self.uploads.append((self._name, self._path))

    def _end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def read_multipart(request: Request, files: RequestFiles,
                         limits: Limits) -> tuple[list[tuple[str, str]], list[tuple[str, Path]]]:
    """(field name, value) pairs and (file field, saved path) pairs of a multipart/form-data body."""
    _check_declared_length(request, limits.max_body_bytes)
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BodyError("malformed multipart body: the Content-Type has no boundary.")
    sink = _MultipartSink(files, limits)
    parser = MultipartParser(boundary, sink.callbacks(), max_size=limits.max_body_bytes)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise BodyError(f"the request body is larger than the server's limit ({limits.max_body_bytes} "
                                f"bytes).", 413)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise BodyError("malformed multipart body.") from None
    finally:
        sink.close()
    if not sink.ended:
        raise BodyError("malformed multipart body: it ends before its closing boundary.")
    return sink.fields, sink.uploads
