"""HTTP server compatible with upstream's `api_v2`: `/tts`, `/set_gpt_weights`, `/set_sovits_weights`,
`/set_refer_audio`, `/control`, with the same parameter names and defaults, so existing clients keep working.

Beyond upstream: the reference clip may be uploaded (multipart) instead of naming a server path; server paths must
lie inside the allowed roots; an optional bearer API key. Built to survive hostile or careless clients: all model
work runs on one worker thread behind a bounded queue (a full queue answers 503 + Retry-After), every request has a
deadline and is cancelled when its client disconnects, bodies and references are size-checked before they are
stored or decoded, and uploads live in a per-request temp folder deleted when the request ends.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from gpt_sovits.api.encode import MEDIA_TYPES, encode_audio, wav_stream_header
from gpt_sovits.api.limits import Limits
from gpt_sovits.api.params import BadRequest, TTSService, public_message
from gpt_sovits.api.uploads import BodyError, RequestFiles, TempRoot, read_json, read_multipart
from gpt_sovits.api.worker import PRIORITY_CONTROL, Job, QueueFull, SynthesisWorker, WorkerStopped
from gpt_sovits.infer.cancel import Cancelled, CancelToken
from gpt_sovits.infer.pipeline import SAMPLE_RATE, ModelMissingError, SentenceAudio, TTSPipeline
from gpt_sovits.infer.request import RequestError, TTSRequest

log = logging.getLogger(__name__)
STREAM_BUFFER = 4  # sentences produced ahead of a streaming client before the worker waits for it


def _error(message: str, status: int = 400, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _failure(e: BaseException, names: dict[str, str], token: CancelToken | None = None) -> JSONResponse:
    """The HTTP answer for an exception from parsing or synthesis, with server paths hidden."""
    if isinstance(e, (BadRequest, BodyError)):
        return _error(public_message(str(e), names), e.status)
    if isinstance(e, Cancelled):
        if token is not None and token.timed_out:
            return _error(f"cancelled: {e.reason}.", 504)
        return _error(f"cancelled: {e.reason}.", 503)
    if isinstance(e, (RequestError, ModelMissingError, ValueError)):  # text frontend, audio loader: user errors
        return _error(public_message(str(e), names), 400)
    log.error("synthesis failed", exc_info=e)
    return _error(f"synthesis failed: {type(e).__name__}: {public_message(str(e), names)}", 500)


async def _watch_disconnect(request: Request, token: CancelToken) -> None:
    """Cancel `token` when the client closes its connection (the body has been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            token.cancel("the client went away")
            return


class _ApiKeyMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware, which gets in the way of disconnect detection); constant-time compare."""

    def __init__(self, app, expected: bytes):
        self.app, self.expected = app, expected

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = _error("missing or wrong API key (send 'Authorization: Bearer <key>').", 401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(pipeline: TTSPipeline, allowed_roots: list[Path], api_key: str | None = None, *,
               limits: Limits | None = None, temp_root: Path | None = None,
               on_exit: Callable[[], None] | None = None) -> FastAPI:
    """`temp_root`: where uploads go (emptied now, removed at shutdown; default a fresh folder in the system temp).
    `on_exit`: what `/control?command=exit` calls to stop the server (None: the command is refused)."""
    limits = limits or Limits()
    temp = TempRoot(temp_root if temp_root is not None else Path(tempfile.mkdtemp(prefix="gsv_api_")))
    worker = SynthesisWorker(limits.max_queue)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            worker.stop()
            worker.join(timeout=5)
            temp.remove()

    app = FastAPI(title="GPT-SoVITS API (api_v2 compatible)", lifespan=lifespan)
    service = TTSService(pipeline, allowed_roots, limits, hidden=[temp.path])
    app.state.service, app.state.worker, app.state.temp_root, app.state.limits = service, worker, temp, limits
    expected = f"Bearer {api_key}".encode() if api_key else None

    if expected is not None:
        app.add_middleware(_ApiKeyMiddleware, expected=expected)

    def submit(work, token: CancelToken, files: RequestFiles | None, priority: int | None = None) -> Job:
        job = Job(work, token, asyncio.get_running_loop(), STREAM_BUFFER, limits.stall_timeout,
                  cleanup=files.cleanup if files is not None else None)
        if priority is None:
            worker.submit(job)
        else:
            worker.submit(job, priority)
        return job

    def tts_work(req: TTSRequest):
        def work(token: CancelToken, emit: Callable[[Any], None]) -> None:
            chunks = pipeline.stream(req, on_seed=emit, cancel=token)
            try:
                for sentence in chunks:
                    emit(sentence)
            finally:
                chunks.close()

        return work

    async def serve_tts(request: Request, params: dict[str, Any], uploads: list[tuple[str, Path]],
                        files: RequestFiles | None) -> Response:
        names: dict[str, str] = {str(temp.path): "<upload>"}
        token = CancelToken(limits.request_timeout)
        try:
            req, media_type, streaming, warning = await run_in_threadpool(service.build_request, params, uploads,
                                                                          names)
            job = submit(tts_work(req), token, files)
        except QueueFull:
            if files is not None:
                files.cleanup()
            return _error("the server is busy: too many requests are waiting. Retry later.", 503,
                          {"Retry-After": str(limits.retry_after)})
        except WorkerStopped:
            if files is not None:
                files.cleanup()
            return _error("the server is shutting down.", 503)
        except Exception as e:
            if files is not None:
                files.cleanup()
            return _failure(e, names)
        headers = {"X-Warning": warning.encode("ascii", "replace").decode()} if warning else {}
        results = job.results()
        watcher = asyncio.create_task(_watch_disconnect(request, token))
        if not streaming:
            try:
                seed, sentences = None, []
                async for item in results:
                    if isinstance(item, SentenceAudio):
                        sentences.append(item.audio)
                    else:
                        seed = item
            except BaseException as e:
                if isinstance(e, asyncio.CancelledError):
                    raise
                return _failure(e, names, token)
            finally:
                watcher.cancel()
            audio = np.concatenate(sentences) if sentences else np.zeros(0, np.int16)
            data = await run_in_threadpool(encode_audio, audio, SAMPLE_RATE, media_type)
            return Response(data, media_type=MEDIA_TYPES[media_type], headers={**headers, "X-Seed": str(seed)})

        # Streaming: fail before the 200 header goes out by waiting for the first sentence.
        try:
            first = None
            async for item in results:
                if isinstance(item, SentenceAudio):
                    first = item
                    break
                headers["X-Seed"] = str(item)
        except BaseException as e:
            watcher.cancel()
            if isinstance(e, asyncio.CancelledError):
                raise
            return _failure(e, names, token)
        piece_type = "raw" if media_type == "wav" else media_type

        async def body() -> AsyncIterator[bytes]:
            try:
                if media_type == "wav":
                    yield wav_stream_header(SAMPLE_RATE)
                if first is not None:
                    yield await run_in_threadpool(encode_audio, first.audio, SAMPLE_RATE, piece_type)
                async for sentence in results:
                    yield await run_in_threadpool(encode_audio, sentence.audio, SAMPLE_RATE, piece_type)
            except Exception as e:  # the 200 is out: all we can do is end the stream early
                log.warning("stream ended early: %s", public_message(str(e), names))
            finally:
                watcher.cancel()
                token.cancel("the response ended")
                await results.aclose()

        return StreamingResponse(body(), media_type=MEDIA_TYPES[media_type], headers=headers)

    @app.get("/tts")
    async def tts_get(request: Request) -> Response:
        params: dict[str, Any] = dict(request.query_params)
        if "aux_ref_audio_paths" in params:
            params["aux_ref_audio_paths"] = request.query_params.getlist("aux_ref_audio_paths")
        return await serve_tts(request, params, [], None)

    @app.post("/tts")
    async def tts_post(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            files = temp.request_files()
            try:
                fields, uploads = await read_multipart(request, files, limits)
            except BaseException as e:
                files.cleanup()
                if isinstance(e, BodyError):
                    return _failure(e, {})
                if isinstance(e, ClientDisconnect):
                    return _error("the client went away during the upload.")
                raise
            params: dict[str, Any] = {}
            for key, value in fields:
                if key == "aux_ref_audio_paths":
                    params.setdefault(key, []).append(value)
                else:
                    params[key] = value
            return await serve_tts(request, params, uploads, files)
        try:
            params = await read_json(request, limits)
        except BodyError as e:
            return _failure(e, {})
        except ClientDisconnect:
            return _error("the client went away during the upload.")
        if not isinstance(params, dict):
            return _error("the JSON body must be an object.")
        return await serve_tts(request, params, [], None)

    @app.get("/set_refer_audio")
    def set_refer_audio(refer_audio_path: str | None = None) -> Response:
        if not refer_audio_path:
            return _error("refer_audio_path is required.")
        names: dict[str, str] = {}
        try:
            path = service.server_path(refer_audio_path, "refer_audio_path", names)
            service.check_reference(path, "refer_audio_path")
        except BadRequest as e:
            return _failure(e, names)
        service.default_ref = path
        return JSONResponse({"message": "success"})

    async def set_weights(weights_path: str | None, kind: str) -> Response:
        if not weights_path:
            return _error("weights_path is required.")
        names: dict[str, str] = {}
        token = CancelToken(limits.request_timeout)
        try:
            path = service.server_path(weights_path, "weights_path", names)
            load = pipeline.load_gpt if kind == "gpt" else pipeline.load_sovits
            job = submit(lambda _token, _emit: load(path), token, None, PRIORITY_CONTROL)
            async for _ in job.results():
                pass
        except (QueueFull, WorkerStopped):
            return _error("the server is shutting down.", 503)
        except Exception as e:
            return _failure(e, names, token)
        return JSONResponse({"message": "success"})

    @app.get("/set_gpt_weights")
    async def set_gpt_weights(weights_path: str | None = None) -> Response:
        return await set_weights(weights_path, "gpt")

    @app.get("/set_sovits_weights")
    async def set_sovits_weights(weights_path: str | None = None) -> Response:
        return await set_weights(weights_path, "sovits")

    async def control(command: Any) -> Response:
        if command == "exit":
            if on_exit is None:
                return _error("exit is not available in this server (it was not started by `serve`).")
            asyncio.get_running_loop().call_later(0.2, on_exit)  # after this answer has gone out
            return JSONResponse({"message": "exiting"})
        if command == "restart":
            return _error("restart is not supported: run the server under a process supervisor (systemd, docker "
                          "--restart) and send command=exit.")
        return _error("command must be 'exit' or 'restart'.")

    @app.get("/control")
    async def control_get(command: str | None = None) -> Response:
        return await control(command)

    @app.post("/control")
    async def control_post(request: Request) -> Response:
        try:
            body = await read_json(request, limits)
        except BodyError as e:
            return _failure(e, {})
        return await control(body.get("command") if isinstance(body, dict) else None)

    return app
