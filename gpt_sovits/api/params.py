"""api_v2 parameters → a validated `TTSRequest`: types checked per field (wrong types are a 400 naming the field),
unknown names ignored as api_v2 does, every server path confined to the allowed roots, references checked from
their headers before anything decodes them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from gpt_sovits.api.encode import MEDIA_TYPES
from gpt_sovits.api.limits import Limits
from gpt_sovits.audio.probe import header_duration
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.infer.speakable import language_warning
from gpt_sovits.paths import PathError, resolve_inside

log = logging.getLogger(__name__)

# api_v2's defaults where they differ from the WebUI's
API_DEFAULTS: dict[str, Any] = {"text_split_method": "cut5", "top_k": 15, "prompt_text": "",
                                "split_variant": "tts_infer_pack"}
# api_v2 parameters we accept for compatibility but that change nothing in this implementation (batching knobs,
# v3/v4-only options): they are validated for type and otherwise ignored.
ACCEPTED_NO_EFFECT = {"batch_size", "batch_threshold", "split_bucket", "parallel_infer", "sample_steps",
                      "super_sampling", "return_fragment"}
REQUEST_FIELDS = {f.name for f in fields(TTSRequest)}
STR_FIELDS = {"text", "text_lang", "ref_audio_path", "prompt_text", "prompt_lang", "text_split_method", "lexicon",
              "split_variant", "media_type"}
INT_FIELDS = {"top_k", "seed", "batch_size", "sample_steps", "overlap_length", "min_chunk_length"}
FLOAT_FIELDS = {"top_p", "temperature", "repetition_penalty", "speed_factor", "fragment_interval", "noise_scale",
                "batch_threshold"}
BOOL_FIELDS = {"ref_free", "split_bucket", "parallel_infer", "super_sampling", "return_fragment", "fixed_length_chunk"}
_ABS_PATH = re.compile(r"(?<![\w.])(?:/[^\s'\"():,;]+)+")


class BadRequest(ValueError):
    """A request refused before synthesis; `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _as_str(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise BadRequest(f"{name} must be a string, not {type(value).__name__}.")


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
    raise BadRequest(f"{name} must be true or false, not {_show(value)}.")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer, not {_show(value)}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value):
        return int(value)
    raise BadRequest(f"{name} must be an integer, not {_show(value)}.")


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"{name} must be a number, not {_show(value)}.")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be a number, not {_show(value)}.") from None
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number, not {_show(value)}.")
    return number


def _streaming_mode(value: Any) -> int:
    """api_v2 accepts a bool or 0-3: false/0 one file, true/1 a fragment per sentence, 2 token chunks with more
    context ("medium quality"), 3 fixed token chunks ("lower quality, fastest")."""
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower() if isinstance(value, (int, str)) else None
    if text in ("0", "false", ""):
        return 0
    if text == "true":
        return 1
    if text in ("1", "2", "3"):
        return int(text)
    raise BadRequest(f"streaming_mode must be true/false or 0-3, not {_show(value)}.")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _path_list(name: str, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise BadRequest(f"{name} must be a list of paths.") from None
        else:
            value = [a for a in value.split(",") if a.strip()]
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise BadRequest(f"{name} must be a list of paths (strings).")
    return value


def public_message(message: str, names: dict[str, str]) -> str:
    """The message with server paths replaced by what the client called them (or a placeholder)."""
    for secret, shown in sorted(names.items(), key=lambda kv: -len(kv[0])):
        message = message.replace(secret, shown)
    return _ABS_PATH.sub("<server path>", message)


class TTSService:
    """Turns API parameters into pipeline requests, confining every server path to the allowed roots."""

    def __init__(self, pipeline: TTSPipeline, allowed_roots: list[Path], limits: Limits, hidden: list[Path] = ()):
        self.pipeline = pipeline
        self.allowed_roots = [Path(r).resolve() for r in allowed_roots]
        self.hidden = [Path(h).resolve() for h in hidden]  # inside an allowed root but never nameable (uploads)
        self.limits = limits
        self.default_ref: Path | None = None
        self._unknown_logged: set[str] = set()

    def server_path(self, value: str, what: str, names: dict[str, str] | None = None) -> Path:
        """A file named by the client: relative paths are taken from the data root; must stay inside allowed roots.

        Missing, unreadable and not-a-file all give the same answer, so a client cannot probe the server's disk.
        """
        if "\x00" in value or not value.strip():
            raise BadRequest(f"{what} is not a valid path.")
        candidate = Path(value).expanduser()
        if not candidate.is_absolute():
            candidate = self.allowed_roots[0] / candidate
        try:
            path = resolve_inside(candidate, self.allowed_roots, what)
        except (PathError, OSError, RuntimeError):
            raise BadRequest(f"{what} {value!r} is outside the allowed folders.") from None
        if any(path == h or h in path.parents for h in self.hidden):
            raise BadRequest(f"{what} {value!r} is outside the allowed folders.")
        if not path.is_file() or not os.access(path, os.R_OK):
            raise BadRequest(f"{what}: no readable file at {value!r}.")
        if names is not None:
            names[str(path)] = value
        return path

    def check_reference(self, path: Path, what: str) -> None:
        """Size and length from the header only: a 3-hour file is refused without being decoded."""
        size = path.stat().st_size
        if size > self.limits.max_ref_bytes:
            raise BadRequest(f"{what} is {size} bytes; the limit is {self.limits.max_ref_bytes}.", 413)
        seconds = header_duration(path)
        if seconds is None:
            raise BadRequest(f"{what} is not a readable audio file (its length cannot be read from its header).")
        if seconds > self.limits.max_ref_seconds:
            raise BadRequest(f"{what} is {seconds:.0f} s long; references must be 3-10 s (the server refuses "
                             f"anything over {self.limits.max_ref_seconds:g} s without decoding it).", 413)

    def build_request(self, params: dict[str, Any], uploads: list[tuple[str, Path]],
                      names: dict[str, str]) -> tuple[TTSRequest, str, bool, str | None]:
        """(request, media type, streaming?, warning or None). `names` collects server path → client spelling."""
        params = {**API_DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
        unknown = sorted(set(params) - REQUEST_FIELDS - ACCEPTED_NO_EFFECT - {"media_type"})
        for name in unknown:
            if name not in self._unknown_logged and len(self._unknown_logged) < 1000:
                self._unknown_logged.add(name)
                log.info("ignoring unknown /tts parameter %r (api_v2 ignores it too)", name[:80])
            del params[name]
        for required in ("text", "text_lang"):
            if required not in params or not _as_str(required, params[required]).strip():
                raise BadRequest(f"{required} is required.")
        values: dict[str, Any] = {}
        for name, value in params.items():
            if name == "aux_ref_audio_paths":
                values[name] = _path_list(name, value)
            elif name == "streaming_mode":
                values[name] = _streaming_mode(value)
            elif name in STR_FIELDS:
                values[name] = _as_str(name, value)
            elif name in BOOL_FIELDS:
                values[name] = _as_bool(name, value)
            elif name in INT_FIELDS:
                values[name] = _as_int(name, value)
            elif name in FLOAT_FIELDS:
                values[name] = _as_float(name, value)
        media_type = values.pop("media_type", "wav").lower()
        if media_type not in MEDIA_TYPES:
            raise BadRequest(f"media_type must be one of {', '.join(MEDIA_TYPES)}.")
        streaming = values.get("streaming_mode", 0) > 0  # 1-3 stream the response; 2-3 also decode token chunks
        for name in ACCEPTED_NO_EFFECT:
            values.pop(name, None)
        text = values["text"]
        if len(text) > self.limits.max_text_chars:
            raise BadRequest(f"text is {len(text)} characters; the server's limit is {self.limits.max_text_chars}.",
                             413)
        for lang_field in ("text_lang", "prompt_lang"):
            if lang_field in values:
                values[lang_field] = values[lang_field].lower()

        refs = [path for field_name, path in uploads if field_name == "ref_audio"]
        if len(refs) > 1:
            raise BadRequest("upload one 'ref_audio' (extra references go in 'aux_ref_audio').")
        if refs:
            names[str(refs[0])] = "the uploaded ref_audio"
            values["ref_audio_path"] = refs[0]
        elif values.get("ref_audio_path"):
            values["ref_audio_path"] = self.server_path(values["ref_audio_path"], "ref_audio_path", names)
        elif self.default_ref is not None:
            values["ref_audio_path"] = self.default_ref
        else:
            raise BadRequest("ref_audio_path is required (or upload the clip as 'ref_audio', or call "
                             "/set_refer_audio first).")
        aux = [self.server_path(a, "aux_ref_audio_paths entry", names) for a in values.get("aux_ref_audio_paths", [])]
        for field_name, path in uploads:
            if field_name == "aux_ref_audio":
                names[str(path)] = "an uploaded aux_ref_audio"
                aux.append(path)
        if len(aux) > self.limits.max_uploads:
            raise BadRequest(f"at most {self.limits.max_uploads} extra references.")
        for path in [values["ref_audio_path"], *aux]:
            self.check_reference(Path(path), names.get(str(path), "the reference"))
        if values.get("lexicon"):  # a user lexicon file on the server, confined like every other path
            values["lexicon"] = self.server_path(values["lexicon"], "lexicon", names)
        # api_v2 averages the main reference's timbre with the extra ones (the classic WebUI uses only the extras)
        values["aux_ref_audio_paths"] = [values["ref_audio_path"], *aux] if aux else []
        try:
            req = TTSRequest(**values)
            req.validate(self.pipeline.version)
        except (RequestError, TypeError, ValueError, OverflowError) as e:
            raise BadRequest(str(e)) from None
        return req, media_type, streaming, language_warning(req.text, req.text_lang)
