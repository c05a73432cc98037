"""Peak memory of slicing one long recording. Prints figures; asserts nothing.

    python bench/bench_slicer_memory.py [--hours 3] [--rate 16000] [--workdir /tmp/gsv_slice_bench]

Writes a `--hours` long 16-bit mono wav at `--rate` (3 h at 16 kHz = 345 MB, the size that took upstream-style
whole-file slicing to 2.85 GB) made of 4 s tone bursts and 1 s silences, then slices it in a child process, once
block-wise (`slice_file`, what the slicer does) and once the whole-file way (load it all, slice, cut: how the slicer
worked before), and prints each child's peak RSS (ru_maxrss), wall time and clip count. The child's baseline (the
interpreter with numpy/soundfile/soxr imported) is printed too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
from gpt_sovits.audio.io import load_audio, save_wav
from gpt_sovits.audio.slicer import SLICE_SR, SliceOptions, Slicer, clip_name, normalize_chunk, slice_file
mode, src, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if mode == "block-wise":
    n = len(slice_file(src, out, SliceOptions(workers=1)))
else:
    y = load_audio(src, SLICE_SR)
    chunks = Slicer(SliceOptions(workers=1)).slice(y)
    for c in chunks:
        save_wav(out / clip_name(src, c), normalize_chunk(y[c.start:c.end], 0.9, 0.25), SLICE_SR)
    n = len(chunks)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mode": mode, "baseline_mb": base / 1024, "peak_mb": peak / 1024,
                  "seconds": time.perf_counter() - t, "clips": n}))
"""


def make_recording(path: Path, hours: float, rate: int) -> Path:
    """4 s of a 220 Hz tone, 1 s of silence, repeated; written in pieces so this script stays small itself."""
    period = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * np.arange(4 * rate) / rate), np.zeros(rate)])
    period = (period * 32767).astype(np.int16)
    total = int(hours * 3600 * rate)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for start in range(0, total, len(period) * 120):
            n = min(len(period) * 120, total - start)
            f.write(np.tile(period, 120)[:n])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gsv_slice_bench"))
    parser.add_argument("--modes", default="block-wise,whole-file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    src = make_recording(args.workdir / "long.wav", args.hours, args.rate)
    print(f"recording: {src} ({src.stat().st_size / 1e6:.0f} MB, {args.hours} h at {args.rate} Hz)")
    for mode in args.modes.split(","):
        out = args.workdir / f"clips-{mode}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        run = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(out)], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{mode}: failed ({run.returncode}): {run.stderr[-2000:]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{mode:>10}: peak {r['peak_mb']:.0f} MB (baseline {r['baseline_mb']:.0f} MB), "
              f"{r['seconds']:.1f} s, {r['clips']} clips")
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
