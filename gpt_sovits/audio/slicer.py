"""Cut long recordings into clips at silences (upstream's RMS slicer, same parameters, defaults and cut rules).

Two things upstream lacks: `max_length` (a chunk longer than it is cut again at its quietest point, so no clip can
blow up training memory) and the peak normalisation no longer divides by the peak twice when the peak exceeds 1.

Memory does not grow with the recording: it is decoded and resampled block by block into a temporary file of 32 kHz
float32 samples, the RMS is computed from that file in blocks, and each clip is read back on its own (upstream held
the whole signal several times over: 2.85 GB for a 3 h, 345 MB file). Clip names are made safe for a `.list` line
(no `|`, control characters or path separators), and slicing again into a folder that holds clips of the same
recording is refused unless `replace` moves the old clips into a `replaced-<time>/` subfolder.

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
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gpt_sovits.audio.io import AudioError, save_wav, stream_mono
from gpt_sovits.paths import safe_file_name

SLICE_SR = 32000

# progress(done_files, total_files, message)
ProgressFn = Callable[[int, int, str], None]
# read(start, end) -> float32 samples [start, end) of the 32 kHz signal
Reader = Callable[[int, int], np.ndarray]
BLOCK_SECONDS = 30.0
SUMMARY_LIMIT = 20  # failed files named in a summary; the rest are counted
MIN_RECORDING_SECONDS = 0.1  # shorter recordings are refused rather than cut into a uselessly short clip


class SliceConflict(ValueError):
    """The output folder already holds clips of a recording about to be sliced; nothing was written."""


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
    return frame_rms_of(lambda a, b: y[a:b], len(y), frame_length, hop_length)


def frame_rms_of(read: Reader, n: int, frame_length: int, hop_length: int) -> np.ndarray:
    """`frame_rms` of a signal of `n` samples that is read piece by piece (it may live in a file)."""
    pad = frame_length // 2
    n_frames = 1 + (n + 2 * pad - frame_length) // hop_length
    out = np.empty(n_frames, dtype=np.float64)
    # A cumulative sum of squares gives each frame's energy without materialising the frames; it is done in
    # blocks of frames so an hour-long recording needs tens of MB, not a float64 copy of the whole signal.
    block = 8192
    for f0 in range(0, n_frames, block):
        f1 = min(f0 + block, n_frames)
        p0, p1 = f0 * hop_length, (f1 - 1) * hop_length + frame_length  # in padded coordinates
        seg = np.zeros(p1 - p0, dtype=np.float64)
        s0, s1 = max(p0 - pad, 0), min(p1 - pad, n)  # the real samples inside
        if s1 > s0:
            seg[s0 - (p0 - pad):s1 - (p0 - pad)] = read(s0, s1)
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
        return self.chunks_of(lambda a, b: y[a:b], len(y))

    def chunks_of(self, read: Reader, n: int) -> list[Chunk]:
        if (n + self.hop - 1) // self.hop <= self.min_length:
            return [Chunk(0, n)]
        rms = frame_rms_of(read, n, self.win, self.hop)
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
        return self.split_long_of(lambda a, b: y[a:b], chunk)

    def split_long_of(self, read: Reader, chunk: Chunk) -> list[Chunk]:
        max_len = self.max_length * self.hop
        if chunk.end - chunk.start <= max_len:
            return [chunk]
        rms = frame_rms_of(lambda a, b: read(chunk.start + a, chunk.start + b), chunk.end - chunk.start, self.win,
                           self.hop)
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
        return self.slice_of(lambda a, b: y[a:b], len(y))

    def slice_of(self, read: Reader, n: int) -> list[Chunk]:
        return [piece for c in self.chunks_of(read, n) for piece in self.split_long_of(read, c)]


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
    """Upstream's naming: `<source file name incl. extension>_<start:010d>_<end:010d>.wav` (32 kHz samples), with
    the characters a `.list` line cannot hold (`|`, control characters, separators) replaced by `_`."""
    return f"{safe_file_name(source.name)}_{chunk.start:010d}_{chunk.end:010d}.wav"


def clips_of(source: Path, output_dir: Path) -> list[Path]:
    """Clips of `source` already in `output_dir` (by the slicer's naming)."""
    pattern = re.compile(re.escape(safe_file_name(source.name)) + r"_\d{10}_\d{10}\.wav")
    if not output_dir.is_dir():
        return []
    return sorted(p for p in output_dir.iterdir() if p.is_file() and pattern.fullmatch(p.name))


def _decode_to(path: Path, f: BinaryIO) -> int:
    """Write the recording as 32 kHz mono float32 samples into `f`; returns how many."""
    n = 0
    for block in stream_mono(path, SLICE_SR, BLOCK_SECONDS):
        f.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
        n += len(block)
    f.flush()
    return n


def slice_file(path: str | Path, output_dir: str | Path, options: SliceOptions = SliceOptions()) -> list[Path]:
    """Slice one recording into 32 kHz mono 16-bit clips in output_dir; returns the files written.

    The 32 kHz signal goes to an anonymous temporary file next to the clips, so memory stays flat for any length."""
    path = Path(path)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    slicer = Slicer(options, SLICE_SR)
    written: list[Path] = []
    with tempfile.TemporaryFile(dir=output_dir, prefix=".slicing-") as f:
        n = _decode_to(path, f)
        if n < MIN_RECORDING_SECONDS * SLICE_SR:
            raise AudioError(f"{path}: only {n / SLICE_SR:.3f} s of audio; too short to hold a spoken clip.")

        def read(a: int, b: int) -> np.ndarray:
            f.seek(a * 4)
            return np.frombuffer(f.read((b - a) * 4), dtype=np.float32)

        chunks = slicer.slice_of(read, n)
        if not chunks:
            raise AudioError(f"{path}: nothing louder than {options.threshold_db:g} dB (silent?); no clips written.")
        for chunk in chunks:
            clip = normalize_chunk(read(chunk.start, chunk.end), options.norm_max, options.alpha)
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
    moved_aside: Path | None = None  # where `replace` moved the old clips of these recordings

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = f"{len(self.inputs) - len(self.errors)}/{len(self.inputs)} files sliced into {len(self.outputs)} clips."
        if self.moved_aside is not None:
            text += f"\nThe earlier clips of these recordings were moved to {self.moved_aside}."
        if self.errors:
            text += "\n" + "\n".join(f"FAILED {e.path}: {e.message}" for e in self.errors[:SUMMARY_LIMIT])
            if len(self.errors) > SUMMARY_LIMIT:
                text += f"\nFAILED ... and {len(self.errors) - SUMMARY_LIMIT} more files"
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
    replace: bool = False,
) -> SliceReport:
    """Slice a file or every file in a folder; failures are collected per file while the rest go on.

    Raises SliceConflict when output_dir already holds clips of one of these recordings (old and new clips would
    overlap), unless `replace`: then those clips are moved into `output_dir/replaced-<time>/` first."""
    options.validate()
    inputs = list_inputs(input_path)
    output_dir = Path(output_dir).expanduser()
    old = [clip for src in inputs for clip in clips_of(src, output_dir)]
    if old and not replace:
        sources = sorted({src.name for src in inputs if clips_of(src, output_dir)})
        shown = ", ".join(sources[:5]) + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")
        raise SliceConflict(f"{output_dir} already holds {len(old)} clips of {shown}; slicing again would mix old "
                            "and new overlapping clips. Choose another output folder, or choose \"replace\" "
                            "(--replace) to move the old clips into a dated subfolder first.")
    output_dir.mkdir(parents=True, exist_ok=True)
    report = SliceReport(inputs=inputs)
    if old:
        aside = output_dir / time.strftime("replaced-%Y%m%d-%H%M%S")
        aside.mkdir(exist_ok=True)
        for clip in old:
            clip.rename(aside / clip.name)
        report.moved_aside = aside
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
