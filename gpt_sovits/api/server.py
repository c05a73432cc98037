"""HTTP server compatible with upstream's `api_v2`: `/tts`, `/set_gpt_weights`, `/set_sovits_weights`,
`/set_refer_audio`, with the same parameter names and defaults, so existing clients keep working.

Beyond upstream: the reference clip may be uploaded (multipart) instead of naming a server path; server paths must
lie inside the allowed roots; an optional bearer API key; requests are served one at a time (the pipeline holds a
lock), so concurrent clients queue instead of corrupting each other's state.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gpt_sovits.infer.pipeline import SAMPLE_RATE, ModelMissingError, TTSPipeline
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.paths import PathError, resolve_inside

# api_v2's defaults where they differ from the WebUI's
API_DEFAULTS: dict[str, Any] = {"text_split_method": "cut5", "top_k": 15, "prompt_text": "",
                                "split_variant": "tts_infer_pack"}
MEDIA_TYPES = {"wav": "audio/wav", "raw": "audio/raw", "ogg": "audio/ogg"}
# api_v2 parameters we accept for compatibility but that change nothing in this implementation (batching knobs,
# v3/v4-only options): they are validated for type and otherwise ignored.
ACCEPTED_NO_EFFECT = {"batch_size", "batch_threshold", "split_bucket", "parallel_infer", "sample_steps",
                      "super_sampling", "overlap_length", "min_chunk_length", "return_fragment"}
REQUEST_FIELDS = {f.name for f in fields(TTSRequest)}
INT_FIELDS = {"top_k", "seed", "batch_size", "sample_steps", "overlap_length", "min_chunk_length"}
FLOAT_FIELDS = {"top_p", "temperature", "repetition_penalty", "speed_factor", "fragment_interval", "noise_scale",
                "batch_threshold"}
BOOL_FIELDS = {"ref_free", "split_bucket", "parallel_infer", "super_sampling", "return_fragment"}


class BadRequest(ValueError):
    pass


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise BadRequest(f"{name} must be true or false, not {value!r}.")


def _streaming_mode(value: Any) -> bool:
    """api_v2 accepts a bool or 0-3; 1-3 all mean sentence fragments here (token streaming is not implemented)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("0", "false", ""):
        return False
    if text in ("1", "2", "3", "true"):
        return True
    raise BadRequest(f"streaming_mode must be true/false or 0-3, not {value!r}.")


def wav_stream_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header with 'unknown' sizes (0xFFFFFFFF), the usual convention for streamed WAV."""
    byte_rate = sample_rate * 2
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate,
            byte_rate, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFFF))


def encode_audio(audio: np.ndarray, sample_rate: int, media_type: str) -> bytes:
    if media_type == "raw":
        return audio.astype("<i2").tobytes()
    buf = io.BytesIO()
    if media_type == "ogg":
        sf.write(buf, audio.astype(np.float32) / 32768.0, sample_rate, format="OGG", subtype="VORBIS")
    else:
        sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class TTSService:
    """Turns API parameters into pipeline requests, confining every server path to the allowed roots."""

    def __init__(self, pipeline: TTSPipeline, allowed_roots: list[Path]):
        self.pipeline = pipeline
        self.allowed_roots = [Path(r).resolve() for r in allowed_roots]
        self.default_ref: Path | None = None

    def server_path(self, value: str, what: str) -> Path:
        """A file named by the client: relative paths are taken from the data root; must stay inside allowed roots."""
        candidate = Path(value).expanduser()
        if not candidate.is_absolute():
            candidate = self.allowed_roots[0] / candidate
        try:
            path = resolve_inside(candidate, self.allowed_roots, what)
        except PathError as e:
            raise BadRequest(str(e).replace(str(candidate), value)) from e
        if not path.is_file():
            raise BadRequest(f"{what} not found: {value}")
        return path

    def build_request(self, params: dict[str, Any], uploads: dict[str, Any]) -> tuple[TTSRequest, str, bool]:
        params = {**API_DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
        for required in ("text", "text_lang"):
            if not str(params.get(required, "")).strip():
                raise BadRequest(f"{required} is required.")
        media_type = str(params.pop("media_type", "wav")).lower()
        if media_type not in MEDIA_TYPES:
            raise BadRequest(f"media_type must be one of {', '.join(MEDIA_TYPES)}.")
        streaming = _streaming_mode(params.pop("streaming_mode", False))
        unknown = set(params) - REQUEST_FIELDS - ACCEPTED_NO_EFFECT
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {}
        for name, value in params.items():
            try:
                if name in BOOL_FIELDS:
                    value = _as_bool(name, value)
                elif name in INT_FIELDS:
                    value = int(value)
                elif name in FLOAT_FIELDS:
                    value = float(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{name} must be a number, not {value!r}.") from None
            if name in REQUEST_FIELDS:
                values[name] = value
        for lang_field in ("text_lang", "prompt_lang"):
            if lang_field in values:
                values[lang_field] = str(values[lang_field]).lower()
        if "ref_audio" in uploads:
            values["ref_audio_path"] = uploads["ref_audio"]
        elif values.get("ref_audio_path"):
            values["ref_audio_path"] = self.server_path(str(values["ref_audio_path"]), "ref_audio_path")
        elif self.default_ref is not None:
            values["ref_audio_path"] = self.default_ref
        else:
            raise BadRequest("ref_audio_path is required (or upload the clip as 'ref_audio', or call "
                             "/set_refer_audio first).")
        aux = values.get("aux_ref_audio_paths") or []
        if isinstance(aux, str):
            aux = [a for a in aux.split(",") if a.strip()] if not aux.startswith("[") else json.loads(aux)
        values["aux_ref_audio_paths"] = [self.server_path(str(a), "aux_ref_audio_paths entry") for a in aux]
        values["aux_ref_audio_paths"] += uploads.get("aux_ref_audio", [])
        if values.get("lexicon"):
            values["lexicon"] = self.server_path(str(values["lexicon"]), "lexicon")
        try:
            req = TTSRequest(**values)
            req.validate(self.pipeline.version)
        except RequestError as e:
            raise BadRequest(str(e)) from e
        except TypeError as e:
            raise BadRequest(str(e)) from e
        return req, media_type, streaming


def create_app(pipeline: TTSPipeline, allowed_roots: list[Path], api_key: str | None = None) -> FastAPI:
    app = FastAPI(title="GPT-SoVITS API (api_v2 compatible)")
    service = TTSService(pipeline, allowed_roots)
    app.state.service = service
    upload_dir = tempfile.TemporaryDirectory(prefix="gsv_api_uploads_")
    app.state.upload_dir = upload_dir

    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if api_key and request.headers.get("authorization", "") != f"Bearer {api_key}":
            return _error("missing or wrong API key (send 'Authorization: Bearer <key>').", 401)
        return await call_next(request)

    def synthesize(req: TTSRequest, media_type: str, streaming: bool) -> Response:
        if not streaming:
            result = pipeline.synthesize(req)
            return Response(encode_audio(result.audio, result.sample_rate, media_type),
                            media_type=MEDIA_TYPES[media_type], headers={"X-Seed": str(result.seed)})
        # Fail before the 200 header goes out: validate and prepare the first sentence eagerly.
        chunks = pipeline.stream(req)
        first = next(chunks)

        def body() -> Iterator[bytes]:
            if media_type == "wav":
                yield wav_stream_header(SAMPLE_RATE)
            for sentence in [first]:
                yield encode_audio(sentence.audio, SAMPLE_RATE, "raw" if media_type == "wav" else media_type)
            for sentence in chunks:
                yield encode_audio(sentence.audio, SAMPLE_RATE, "raw" if media_type == "wav" else media_type)

        return StreamingResponse(body(), media_type=MEDIA_TYPES[media_type])

    def run(params: dict[str, Any], uploads: dict[str, Any]) -> Response:
        try:
            req, media_type, streaming = service.build_request(params, uploads)
            return synthesize(req, media_type, streaming)
        except (BadRequest, RequestError, ModelMissingError) as e:
            return _error(str(e))
        except Exception as e:  # the text frontend and audio loader raise ValueError subclasses with messages
            if isinstance(e, ValueError):
                return _error(str(e))
            return _error(f"synthesis failed: {type(e).__name__}: {e}", 500)

    @app.get("/tts")
    def tts_get(request: Request) -> Response:
        params: dict[str, Any] = dict(request.query_params)
        if "aux_ref_audio_paths" in params:
            params["aux_ref_audio_paths"] = request.query_params.getlist("aux_ref_audio_paths")
        return run(params, {})

    @app.post("/tts")
    async def tts_post(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        uploads: dict[str, Any] = {}
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            params = {}
            for key, value in form.multi_items():
                if hasattr(value, "read"):
                    data = await value.read()
                    target = Path(upload_dir.name) / f"{len(list(Path(upload_dir.name).iterdir()))}_upload"
                    target.write_bytes(data)
                    if key == "aux_ref_audio":
                        uploads.setdefault("aux_ref_audio", []).append(target)
                    else:
                        uploads[key] = target
                elif key == "aux_ref_audio_paths":
                    params.setdefault(key, []).append(value)
                else:
                    params[key] = value
        else:
            try:
                params = await request.json()
            except Exception:
                return _error("the body must be JSON (or multipart/form-data with an uploaded 'ref_audio').")
            if not isinstance(params, dict):
                return _error("the JSON body must be an object.")
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(run, params, uploads)

    @app.get("/set_refer_audio")
    def set_refer_audio(refer_audio_path: str | None = None) -> Response:
        if not refer_audio_path:
            return _error("refer_audio_path is required.")
        try:
            service.default_ref = service.server_path(refer_audio_path, "refer_audio_path")
        except BadRequest as e:
            return _error(str(e))
        return JSONResponse({"message": "success"})

    def set_weights(weights_path: str | None, kind: str) -> Response:
        if not weights_path:
            return _error("weights_path is required.")
        try:
            path = service.server_path(weights_path, "weights_path")
            (pipeline.load_gpt if kind == "gpt" else pipeline.load_sovits)(path)
        except (BadRequest, ModelMissingError, ValueError) as e:
            return _error(str(e))
        return JSONResponse({"message": "success"})

    @app.get("/set_gpt_weights")
    def set_gpt_weights(weights_path: str | None = None) -> Response:
        return set_weights(weights_path, "gpt")

    @app.get("/set_sovits_weights")
    def set_sovits_weights(weights_path: str | None = None) -> Response:
        return set_weights(weights_path, "sovits")

    return app
