"""Cut long recordings into clips at silences (upstream's RMS slicer, same parameters, defaults and cut rules).

Two things upstream lacks: `max_length` (a chunk longer than it is cut again at its quietest point, so no clip can
blow up training memory) and the peak normalisation no longer divides by the peak twice when the peak exceeds 1.

Rules, in hop frames (hop = 10 ms by default): frame RMS over a window of `min(min_interval, 4*hop)` samples with
centre padding; a run of frames under the threshold is a silence. When a silence ends it is cut only if it is a
leading silence longer than `max_sil_kept`, or if it lasts `min_interval` and the running clip already lasts
`min_length`. Short silences are cut at their quietest frame; medium ones (up to twice `max_sil_kept`) and long ones
lose their middle, keeping up to `max_sil_kept` next to the speech on each side. A trailing silence is trimmed.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gpt_sovits.audio.io import AudioError, load_audio, save_wav

SLICE_SR = 32000

# progress(done_files, total_files, message)
ProgressFn = Callable[[int, int, str], None]


class SliceOptionsError(ValueError):
    """Slicer parameters that contradict each other."""


@dataclass(frozen=True)
class SliceOptions:
    """Upstream's defaults; times in milliseconds, threshold in dB, max/alpha as in the WebUI sliders."""

    threshold_db: float = -34.0
    min_length_ms: int = 4000
    min_interval_ms: int = 300
    hop_ms: int = 10
    max_sil_kept_ms: int = 500
    max_length_ms: int = 20000
    norm_max: float = 0.9
    alpha: float = 0.25
    workers: int = 4

    def validate(self) -> None:
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_ms > 0:
            raise SliceOptionsError(
                "The slicer needs min_length >= min_interval >= hop_size > 0 "
                f"(got {self.min_length_ms}, {self.min_interval_ms}, {self.hop_ms} ms)."
            )
        if self.max_sil_kept_ms < self.hop_ms:
            raise SliceOptionsError(
                f"max_sil_kept ({self.max_sil_kept_ms} ms) must be at least hop_size ({self.hop_ms} ms)."
            )
        if self.max_length_ms < 4 * self.hop_ms:
            raise SliceOptionsError(f"max_length ({self.max_length_ms} ms) must be at least 4 hops.")
        if not 0.0 <= self.norm_max <= 1.0 or not 0.0 <= self.alpha <= 1.0:
            raise SliceOptionsError("max and alpha_mix must lie between 0 and 1.")
        if self.workers < 1:
            raise SliceOptionsError("The number of worker processes must be at least 1.")


@dataclass(frozen=True)
class Chunk:
    """A piece of the source signal: sample offsets at 32 kHz, end exclusive."""

    start: int
    end: int


def frame_rms(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS per frame with centre (zero) padding of frame_length//2, as librosa.feature.rms(center=True)."""
    pad = frame_length // 2
    padded = np.pad(y, (pad, pad))
    n_frames = 1 + (len(padded) - frame_length) // hop_length
    out = np.empty(n_frames, dtype=np.float64)
    # A cumulative sum of squares gives each frame's energy without materialising the frames; it is done in
    # blocks of frames so an hour-long recording needs tens of MB, not a float64 copy of the whole signal.
    block = 8192
    for f0 in range(0, n_frames, block):
        f1 = min(f0 + block, n_frames)
        seg = padded[f0 * hop_length:(f1 - 1) * hop_length + frame_length].astype(np.float64)
        csum = np.concatenate([[0.0], np.cumsum(seg * seg)])
        starts = np.arange(f1 - f0) * hop_length
        out[f0:f1] = csum[starts + frame_length] - csum[starts]
    return np.sqrt(np.maximum(out, 0.0) / frame_length)


class Slicer:
    """The silence finder for one sample rate and one set of options (all lengths converted to hop frames)."""

    def __init__(self, options: SliceOptions, sr: int = SLICE_SR):
        options.validate()
        self.sr = sr
        self.threshold = 10 ** (options.threshold_db / 20.0)
        self.hop = round(sr * options.hop_ms / 1000)
        self.win = min(round(sr * options.min_interval_ms / 1000), 4 * self.hop)
        self.min_length = round(sr * options.min_length_ms / 1000 / self.hop)
        self.min_interval = round(sr * options.min_interval_ms / 1000 / self.hop)
        self.max_sil_kept = round(sr * options.max_sil_kept_ms / 1000 / self.hop)
        self.max_length = round(sr * options.max_length_ms / 1000 / self.hop)

    def silences(self, rms: np.ndarray) -> list[tuple[int, int]]:
        """Frame ranges [a, b) to remove, in order; a == b is a zero-width cut."""
        tags: list[tuple[int, int]] = []
        sil_start: int | None = None
        clip_start = 0
        msk = self.max_sil_kept
        for i, value in enumerate(rms):
            if value < self.threshold:
                if sil_start is None:
                    sil_start = i
                continue
            if sil_start is None:
                continue
            leading = sil_start == 0 and i > msk
            long_enough = i - sil_start >= self.min_interval and i - clip_start >= self.min_length
            if not leading and not long_enough:
                sil_start = None
                continue
            if i - sil_start <= msk:  # short: one cut at the quietest frame
                pos = sil_start + int(rms[sil_start:i + 1].argmin())
                tags.append((0, pos) if sil_start == 0 else (pos, pos))
                clip_start = pos
            elif i - sil_start <= 2 * msk:  # medium: drop the middle
                pos = i - msk + int(rms[i - msk:sil_start + msk + 1].argmin())
                pos_l = sil_start + int(rms[sil_start:sil_start + msk + 1].argmin())
                pos_r = i - msk + int(rms[i - msk:i + 1].argmin())
                if sil_start == 0:
                    tags.append((0, pos_r))
                    clip_start = pos_r
                else:
                    tags.append((min(pos_l, pos), max(pos_r, pos)))
                    clip_start = max(pos_r, pos)
            else:  # long: keep max_sil_kept on each side at most
                pos_l = sil_start + int(rms[sil_start:sil_start + msk + 1].argmin())
                pos_r = i - msk + int(rms[i - msk:i + 1].argmin())
                tags.append((0, pos_r) if sil_start == 0 else (pos_l, pos_r))
                clip_start = pos_r
            sil_start = None
        total = len(rms)
        if sil_start is not None and total - sil_start >= self.min_interval:
            end = min(total, sil_start + msk)
            pos = sil_start + int(rms[sil_start:end + 1].argmin())
            tags.append((pos, total + 1))
        return tags

    def chunks(self, y: np.ndarray) -> list[Chunk]:
        """Sample ranges of the clips to keep (before the max_length split)."""
        n = len(y)
        if (n + self.hop - 1) // self.hop <= self.min_length:
            return [Chunk(0, n)]
        rms = frame_rms(y, self.win, self.hop)
        tags = self.silences(rms)
        total = len(rms)
        if not tags:
            return [Chunk(0, n)]
        frames: list[tuple[int, int]] = []
        if tags[0][0] > 0:
            frames.append((0, tags[0][0]))
        for (_, a), (b, _) in itertools.pairwise(tags):
            frames.append((a, b))
        if tags[-1][1] < total:
            frames.append((tags[-1][1], total))
        out = [Chunk(a * self.hop, min(b * self.hop, n)) for a, b in frames]
        return [c for c in out if c.end > c.start]

    def split_long(self, y: np.ndarray, chunk: Chunk) -> list[Chunk]:
        """Cut a chunk longer than max_length at its quietest frames; every piece lasts max_length/2..max_length."""
        max_len = self.max_length * self.hop
        if chunk.end - chunk.start <= max_len:
            return [chunk]
        rms = frame_rms(y[chunk.start:chunk.end], self.win, self.hop)
        half = max_len // 2
        pieces: list[Chunk] = []
        start = chunk.start
        while chunk.end - start > max_len:
            lo = start + half
            hi = min(start + max_len, chunk.end - half)
            lo_f = -(-(lo - chunk.start) // self.hop)  # frames whose position lies in [lo, hi]
            hi_f = (hi - chunk.start) // self.hop
            if hi_f < lo_f:
                cut = lo
            else:
                cut = chunk.start + (lo_f + int(rms[lo_f:hi_f + 1].argmin())) * self.hop
            pieces.append(Chunk(start, cut))
            start = cut
        pieces.append(Chunk(start, chunk.end))
        return pieces

    def slice(self, y: np.ndarray) -> list[Chunk]:
        return [piece for c in self.chunks(y) for piece in self.split_long(y, c)]


def normalize_chunk(x: np.ndarray, norm_max: float, alpha: float) -> np.ndarray:
    """Mix `alpha` of a copy peak-normalised to `norm_max` with `1 - alpha` of the clip.

    Upstream divides by the peak twice when it exceeds 1 (once to bring it to 1, then again inside the mix); we
    divide once and mix with the already-scaled clip, which is identical whenever the peak is at most 1.
    """
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0.0:
        return x.astype(np.float32, copy=True)
    if peak > 1.0:
        x = x / peak
        peak = 1.0
    return (x / peak * (norm_max * alpha) + (1.0 - alpha) * x).astype(np.float32)


def clip_name(source: Path, chunk: Chunk) -> str:
    """Upstream's naming: `<source file name incl. extension>_<start:010d>_<end:010d>.wav` (32 kHz samples)."""
    return f"{source.name}_{chunk.start:010d}_{chunk.end:010d}.wav"


def slice_file(path: str | Path, output_dir: str | Path, options: SliceOptions = SliceOptions()) -> list[Path]:
    """Slice one recording into 32 kHz mono 16-bit clips in output_dir; returns the files written."""
    path = Path(path)
    output_dir = Path(output_dir)
    y = load_audio(path, SLICE_SR)
    slicer = Slicer(options, SLICE_SR)
    written: list[Path] = []
    for chunk in slicer.slice(y):
        clip = normalize_chunk(y[chunk.start:chunk.end], options.norm_max, options.alpha)
        written.append(save_wav(output_dir / clip_name(path, chunk), clip, SLICE_SR))
    return written


@dataclass
class SliceError:
    path: Path
    message: str


@dataclass
class SliceReport:
    """What one slicing run did: clips written per source, and the files that failed with why."""

    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    errors: list[SliceError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = f"{len(self.inputs) - len(self.errors)}/{len(self.inputs)} files sliced into {len(self.outputs)} clips."
        if self.errors:
            text += "\n" + "\n".join(f"FAILED {e.path}: {e.message}" for e in self.errors)
        return text

    def to_json(self) -> dict:
        return {
            "inputs": [str(p) for p in self.inputs],
            "outputs": [str(p) for p in self.outputs],
            "errors": [{"path": str(e.path), "message": e.message} for e in self.errors],
        }


def list_inputs(input_path: str | Path) -> list[Path]:
    """A file, or the files directly inside a folder (sorted, hidden files skipped)."""
    p = Path(input_path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        return sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith("."))
    raise FileNotFoundError(f"Input path not found: {p}")


def _slice_one(path: Path, output_dir: Path, options_dict: dict) -> tuple[list[Path], str | None]:
    """Worker entry: never raises for a bad file, so one file cannot stop the others."""
    try:
        return slice_file(path, output_dir, SliceOptions(**options_dict)), None
    except AudioError as e:
        return [], str(e)
    except (OSError, ValueError, RuntimeError, MemoryError) as e:
        return [], f"{type(e).__name__}: {e}"


def slice_path(
    input_path: str | Path,
    output_dir: str | Path,
    options: SliceOptions = SliceOptions(),
    progress: ProgressFn | None = None,
) -> SliceReport:
    """Slice a file or every file in a folder; failures are collected per file while the rest go on."""
    options.validate()
    inputs = list_inputs(input_path)
    output_dir = Path(output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    report = SliceReport(inputs=inputs)
    total = len(inputs)
    if progress:
        progress(0, total, f"{total} files to slice")

    def record(done: int, src: Path, result: tuple[list[Path], str | None]) -> None:
        outputs, error = result
        report.outputs.extend(outputs)
        if error is not None:
            report.errors.append(SliceError(src, error))
        if progress:
            progress(done, total, f"{src.name}: " + (f"failed: {error}" if error else f"{len(outputs)} clips"))

    workers = min(options.workers, max(total, 1))
    opts = asdict(options)
    if workers <= 1:
        for done, src in enumerate(inputs, start=1):
            record(done, src, _slice_one(src, output_dir, opts))
    else:
        # spawn, not fork: the caller may be a threaded server (Gradio) where fork is unsafe
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_slice_one, src, output_dir, opts): src for src in inputs}
            for done, fut in enumerate(cf.as_completed(futures), start=1):
                src = futures[fut]
                try:
                    result = fut.result()
                except cf.process.BrokenProcessPool as e:
                    result = ([], f"worker process died: {e}")
                record(done, src, result)
    report.outputs.sort()
    report.errors.sort(key=lambda e: str(e.path))
    return report
