"""Transcribe a folder of clips with faster-whisper (CTranslate2) into a `.list` plus a confidence sidecar.

Models are never downloaded here: a model is a folder (model.bin, config.json, tokenizer.json, vocabulary,
preprocessor_config.json) found under `pretrained_models/faster-whisper-<size>`, upstream's
`tools/asr/models/faster-whisper-<size>`, or a folder the user names. `tools/download_pretrained.py --whisper <size>`
fetches one when the user asks for it.

Clips whose detected language training cannot use (anything but zh en ja ko yue) and clips with no speech are not
written to the `.list`; they are listed in the report and the sidecar for review. A clip whose path a `.list` line
cannot hold (a `|` or a line break in it) is skipped before transcribing and listed with the reason; every other line
is written.

A list that ASR did not write itself (or that was corrected since) is never overwritten: the new result goes beside it
as `<name>.asr-<n>.list`, unless `replace=True`; every write keeps the previous content in `<list>.history/`.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gpt_sovits.asr import history
from gpt_sovits.asr.listfile import LANGUAGES, ListEntry, ListFormatError, format_list
from gpt_sovits.audio.io import AudioError, atomic_write_bytes, load_audio
from gpt_sovits.paths import WHISPER_SIZES, ProjectPaths

ASR_LANGUAGES = ("auto",) + LANGUAGES  # auto zh en ja ko yue
DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "int8", "float16", "float32", "int8_float16")
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".webm", ".mp4"}
REQUIRED_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
WHISPER_SR = 16000

ProgressFn = Callable[[int, int, str], None]


class WhisperModelNotFound(FileNotFoundError):
    """No usable faster-whisper model folder; the message says where we looked and how to get one."""


@dataclass(frozen=True)
class AsrOptions:
    """faster-whisper settings. language "auto" detects per clip; compute_type "auto" = int8 on CPU, float16 on CUDA."""

    model_size: str = "large-v3"
    language: str = "auto"
    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = 5
    temperature_fallback: bool = True  # retry hotter when a decode looks bad (faster-whisper's default)
    max_new_tokens: int | None = None  # per 30 s window; None = the model's limit
    vad: bool = True
    vad_min_silence_ms: int = 700
    model_dir: str | None = None
    speaker: str | None = None
    cpu_threads: int = 0

    def validate(self) -> None:
        if self.model_size not in WHISPER_SIZES:
            raise ValueError(f"Unknown model size {self.model_size!r}; choose one of: {', '.join(WHISPER_SIZES)}.")
        if self.language not in ASR_LANGUAGES:
            raise ValueError(f"Unknown language {self.language!r}; choose one of: {', '.join(ASR_LANGUAGES)}.")
        if self.device not in DEVICES:
            raise ValueError(f"Unknown device {self.device!r}; choose one of: {', '.join(DEVICES)}.")
        if self.compute_type not in COMPUTE_TYPES:
            raise ValueError(f"Unknown precision {self.compute_type!r}; choose one of: {', '.join(COMPUTE_TYPES)}.")
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1.")
        if self.speaker is not None and (not self.speaker.strip() or any(c in self.speaker for c in "|\r\n")):
            raise ValueError(f"The speaker name {self.speaker!r} must be non-empty without '|' or line breaks.")


def download_command(size: str) -> str:
    return f"python tools/download_pretrained.py --whisper {size}"


def missing_model_files(folder: Path) -> list[str]:
    """The files faster-whisper needs that `folder` lacks (tokenizer.json too: without it faster-whisper
    would try to fetch a tokenizer from the internet)."""
    missing = [name for name in REQUIRED_MODEL_FILES if not (folder / name).is_file()]
    if not any((folder / v).is_file() for v in ("vocabulary.json", "vocabulary.txt", "vocabulary")):
        missing.append("vocabulary.json")
    return missing


def find_whisper_model(paths: ProjectPaths, size: str, model_dir: str | Path | None = None) -> Path:
    """The model folder to load: the user's folder when given, else the first complete candidate for `size`."""
    candidates = [Path(model_dir).expanduser()] if model_dir else paths.whisper_dirs(size)
    problems = []
    for folder in candidates:
        if not folder.is_dir():
            problems.append(f"{folder} (not found)")
            continue
        missing = missing_model_files(folder)
        if not missing:
            return folder
        problems.append(f"{folder} (missing {', '.join(missing)})")
    target = candidates[0]
    how = (f"put a faster-whisper (CTranslate2) model there, or download it with: {download_command(size)}"
           if not model_dir else "point to a folder with a faster-whisper (CTranslate2) model")
    raise WhisperModelNotFound(
        f"No faster-whisper model '{size}' found. Looked in: {'; '.join(problems)}. "
        f"Expected the files {', '.join(REQUIRED_MODEL_FILES)} and vocabulary.json in {target}; {how}."
    )


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    """auto → cuda when CTranslate2 sees a GPU; precision auto → float16 on CUDA, int8 on CPU."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _safe_field(text: str) -> str:
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", text.replace("|", "_"))).strip()


def clean_transcript(text: str) -> str:
    """One line of text safe for a `.list`: '|' (the field separator) and control characters become spaces."""
    text = _CONTROL.sub(" ", text.replace("|", " "))
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class ClipTranscript:
    """One clip's result; `lang` is Whisper's code (detected or forced)."""

    path: str
    lang: str
    text: str
    duration: float
    avg_logprob: float | None
    no_speech_prob: float | None
    language_probability: float | None


SUMMARY_LIMIT = 20  # per kind of problem; the sidecar has them all


@dataclass
class AsrReport:
    list_path: Path
    sidecar_path: Path
    written: list[ClipTranscript] = field(default_factory=list)
    review: list[tuple[ClipTranscript, str]] = field(default_factory=list)  # (clip, why it was held back)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (audio path, message)
    kept: Path | None = None  # the existing list left untouched (the result was written beside it)

    def summary(self) -> str:
        lines = [(f"{len(self.written)} clips written to {self.list_path}; {len(self.review)} held back for review; "
                  f"{len(self.errors)} failed.")]
        if self.kept is not None:
            lines.append(f"KEPT {self.kept}: it differs from what ASR last wrote there (corrected by hand?), so it was "
                         f"not overwritten; the new transcripts are in {self.list_path.name} beside it. To overwrite "
                         "it instead, run again with replace (its current content stays in its .history folder).")
        for kind, items in (("REVIEW", [f"{c.path}: {why} (text: {c.text!r})" for c, why in self.review]),
                            ("FAILED", [f"{p}: {m}" for p, m in self.errors])):
            lines += [f"{kind} {item}" for item in items[:SUMMARY_LIMIT]]
            if len(items) > SUMMARY_LIMIT:
                lines.append(f"{kind} ... and {len(items) - SUMMARY_LIMIT} more (all are in {self.sidecar_path.name})")
        return "\n".join(lines)


def sidecar_path_for(list_path: str | Path) -> Path:
    """`<list>.asr.json`: per-clip confidence next to the `.list` (read by the label editor)."""
    list_path = Path(list_path)
    return list_path.with_name(list_path.name + ".asr.json")


def read_sidecar(list_path: str | Path) -> dict[str, dict]:
    """Clip path → {avg_logprob, no_speech_prob, ...}; empty when there is no sidecar or it is unreadable."""
    path = sidecar_path_for(list_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    clips = data.get("clips") if isinstance(data, dict) else None
    return clips if isinstance(clips, dict) else {}


def target_list(output_list: Path, replace: bool) -> tuple[Path, Path | None]:
    """Where ASR may write: the list itself when new, empty, ASR's own untouched output or `replace`; else the
    first free `<name>.asr-<n>.list` beside it. Returns (target, the list kept untouched or None)."""
    if replace or not output_list.is_file() or not output_list.read_bytes().strip() \
            or history.written_by(output_list, "asr"):
        return output_list, None
    n = 1
    while (candidate := output_list.with_name(f"{output_list.stem}.asr-{n}{output_list.suffix}")).exists():
        n += 1
    return candidate, output_list


def latest_output(output_list: Path) -> Path | None:
    """The list an ASR run asked to write `output_list` most recently wrote: the list itself or its newest
    `<name>.asr-<n>.list` sibling (None when neither exists)."""
    candidates = [p for p in [output_list, *output_list.parent.glob(f"{glob.escape(output_list.stem)}.asr-*.list")]
                  if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def unlistable_reason(path: str) -> str | None:
    """Why a clip path cannot be a `.list` line (None when it can)."""
    try:
        ListEntry(path, "s", "en", "t").validate()
    except ListFormatError as e:
        return f"{e} Rename the file (the slicer now writes names without these characters)."
    return None


def list_audio_files(input_dir: str | Path) -> list[Path]:
    folder = Path(input_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Input folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


class WhisperTranscriber:
    """A loaded faster-whisper model (loading is the slow part, so keep the object around)."""

    def __init__(self, model_dir: Path, options: AsrOptions):
        from faster_whisper import WhisperModel

        options.validate()
        self.options = options
        self.model_dir = Path(model_dir)
        missing = missing_model_files(self.model_dir)
        if missing:
            raise WhisperModelNotFound(f"{self.model_dir} is missing {', '.join(missing)}.")
        self.device, self.compute_type = resolve_device(options.device, options.compute_type)
        self.model = WhisperModel(
            str(self.model_dir), device=self.device, compute_type=self.compute_type,
            cpu_threads=options.cpu_threads, local_files_only=True,
        )

    def transcribe_clip(self, path: Path) -> ClipTranscript:
        audio = load_audio(path, WHISPER_SR)  # AudioError for unreadable clips
        o = self.options
        segments, info = self.model.transcribe(
            audio, language=None if o.language == "auto" else o.language, beam_size=o.beam_size,
            vad_filter=o.vad, vad_parameters={"min_silence_duration_ms": o.vad_min_silence_ms} if o.vad else None,
            max_new_tokens=o.max_new_tokens, **({} if o.temperature_fallback else {"temperature": 0.0}),
        )
        segments = list(segments)  # the generator does the decoding
        text = clean_transcript("".join(s.text for s in segments))  # upstream joins segments with no separator
        weights = [max(s.end - s.start, 1e-3) for s in segments]
        def mean(values: list[float]) -> float | None:
            return float(sum(v * w for v, w in zip(values, weights)) / sum(weights)) if values else None
        return ClipTranscript(
            path=str(path.resolve()), lang=info.language, text=text, duration=len(audio) / WHISPER_SR,
            avg_logprob=mean([s.avg_logprob for s in segments]),
            no_speech_prob=mean([s.no_speech_prob for s in segments]),
            language_probability=float(info.language_probability) if info.language_probability is not None else None,
        )


def transcribe_folder(
    input_dir: str | Path,
    output_list: str | Path,
    paths: ProjectPaths,
    options: AsrOptions = AsrOptions(),
    progress: ProgressFn | None = None,
    replace: bool = False,
) -> AsrReport:
    """Transcribe every audio file in input_dir (sorted) into output_list and its `.asr.json` sidecar.

    An existing list that ASR did not write as it is now is kept, and the result goes beside it (see `target_list`),
    unless `replace`; either way the list's previous content stays in its history."""
    options.validate()
    files = list_audio_files(input_dir)
    if not files:
        raise FileNotFoundError(f"No audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) in {input_dir}.")
    model_dir = find_whisper_model(paths, options.model_size, options.model_dir)
    transcriber = WhisperTranscriber(model_dir, options)
    output_list = Path(output_list).expanduser()
    report = AsrReport(list_path=output_list, sidecar_path=sidecar_path_for(output_list))
    speaker = options.speaker or _safe_field(Path(input_dir).expanduser().resolve().name) or "speaker"
    total = len(files)
    if progress:
        progress(0, total, f"model {model_dir} on {transcriber.device} ({transcriber.compute_type})")
    for done, path in enumerate(files, start=1):
        why_not = unlistable_reason(str(path.resolve()))
        if why_not is not None:  # found before transcribing, so no work is thrown away at the end
            report.errors.append((str(path), why_not))
            if progress:
                progress(done, total, f"failed: {path.name}: {why_not}")
            continue
        try:
            clip = transcriber.transcribe_clip(path)
        except AudioError as e:
            report.errors.append((str(path), str(e)))
            if progress:
                progress(done, total, f"failed: {e}")
            continue
        if clip.lang not in LANGUAGES:
            why = f"detected language '{clip.lang}' is not one training uses ({', '.join(LANGUAGES)})"
            report.review.append((clip, why))
        elif not clip.text:
            report.review.append((clip, "no speech recognised"))
        else:
            report.written.append(clip)
        if progress:
            progress(done, total, f"{path.name}: [{clip.lang}] {clip.text[:60]}")
    entries = []
    for clip in list(report.written):  # a line that still cannot be written is listed, never fatal for the rest
        entry = ListEntry(clip.path, speaker, clip.lang, clip.text)
        try:
            entry.validate()
            entries.append(entry)
        except ListFormatError as e:
            report.written.remove(clip)
            report.review.append((clip, str(e)))
    target, report.kept = target_list(output_list, replace)
    report.list_path, report.sidecar_path = target, sidecar_path_for(target)
    data = format_list(entries).encode("utf-8")
    history.write_versioned(target, data, "asr", f"transcribed {len(report.written)} clips of {input_dir}")
    sidecar = {
        "model": str(model_dir), "options": asdict(options),
        "clips": {c.path: {k: v for k, v in asdict(c).items() if k != "path"} for c in report.written},
        "review": [{**asdict(c), "reason": why} for c, why in report.review],
        "errors": [{"path": p, "message": m} for p, m in report.errors],
    }
    atomic_write_bytes(report.sidecar_path, json.dumps(sidecar, ensure_ascii=False, indent=1).encode("utf-8"))
    return report
