"""`python -m gpt_sovits dry-run`: the whole path on tiny models in a few minutes, before a real run.

slice → ASR → format → SoVITS training (with a checkpoint written and resumed) → GPT training (the same) → one
synthesis, each stage through its own command line exactly as the WebUI's jobs run it. One line per stage with its
time and result; the exit code is non-zero and the failed stage is named at the first failure. With `--real` the
user's `pretrained_models/` is used (missing files are named); otherwise tiny random models are written to a
temporary data root. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from gpt_sovits.asr.listfile import parse_line
from gpt_sovits.audio.io import save_wav
from gpt_sovits.paths import ProjectPaths

SAMPLE_RATE = 32000
# what the generated speech says (English, so espeak-ng's default voice reads it); the tiny random Whisper cannot
# transcribe it, so with tiny models these texts replace its output before formatting
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things.",
    "We will meet again tomorrow morning at the station.",
    "A short voice test is better than a long failure.",
    "Thank you very much for listening to this recording.",
)
EXP = "dry_run"


class StageFailed(RuntimeError):
    def __init__(self, stage: str, message: str):
        super().__init__(f"{stage}: {message}")
        self.stage = stage


@dataclass
class StageResult:
    name: str
    seconds: float
    detail: str


def speech(seconds_target: float = 20.0) -> np.ndarray:
    """~20 s of speech with pauses: espeak-ng when installed, else voiced harmonic bursts (still sliceable)."""
    espeak = shutil.which("espeak-ng")
    pause = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, sentence in enumerate(SENTENCES * 3):
            if sum(len(p) for p in parts) >= seconds_target * SAMPLE_RATE:
                break
            if espeak:
                import soundfile as sf

                from gpt_sovits.audio.io import resample

                wav = Path(tmp) / f"{i}.wav"
                subprocess.run([espeak, "-v", "en-us", "-w", str(wav), sentence], check=True, capture_output=True)
                audio, sr = sf.read(wav, dtype="float32")
                audio = resample(audio, sr, SAMPLE_RATE)
            else:
                t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
                f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + i)
                phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
                audio = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
                audio = (0.3 * audio / np.abs(audio).max()).astype(np.float32)
            parts += [audio.astype(np.float32), pause]
    return np.concatenate([pause] + parts)


def _run(stage: str, argv: list[str], log: Path, timeout: float) -> str:
    """Run one stage's command line; its output goes to the log, the last lines come back on failure."""
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(argv)}\n".encode())
        f.flush()
        try:
            proc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise StageFailed(stage, f"did not finish within {timeout:.0f} s (log: {log})") from e
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
        raise StageFailed(stage, f"exit code {proc.returncode}; last log lines:\n  " + "\n  ".join(tail))
    return ""


class DryRun:
    def __init__(self, root: Path, real: bool, python: str = sys.executable, say: Callable[[str], None] = print,
                 timeout: float = 900.0):
        self.paths = ProjectPaths(root)
        self.real = real
        self.python = python
        self.say = say
        self.timeout = timeout
        self.data = self.paths.dataset(EXP)
        self.log = self.data / "dry_run.log"
        self.results: list[StageResult] = []

    def cli(self, stage: str, *args: object) -> list[str]:
        return [self.python, "-m", "gpt_sovits", stage, "--root", str(self.paths.root), *(str(a) for a in args)]

    def stage(self, name: str, fn: Callable[[], str]) -> None:
        start = time.monotonic()
        try:
            detail = fn()
        except StageFailed:
            raise
        except Exception as e:  # noqa: BLE001 - any failure is reported with the stage's name
            raise StageFailed(name, f"{type(e).__name__}: {e}") from e
        result = StageResult(name, time.monotonic() - start, detail)
        self.results.append(result)
        self.say(f"ok    {name:<14} {result.seconds:6.1f} s  {detail}")

    # ---- the stages --------------------------------------------------------------------------------------------
    def models(self) -> str:
        if self.real:
            from gpt_sovits.pretrained import pretrained_status

            missing = [f"{i.name} → {i.path}" for i in pretrained_status(self.paths) if i.required and not i.present]
            if missing:
                raise StageFailed("models", "missing pretrained files:\n  " + "\n  ".join(missing))
            return f"using {self.paths.pretrained_models}"
        from gpt_sovits.tiny import make_tiny_pretrained

        made = make_tiny_pretrained(self.paths.pretrained_models)
        if "whisper" not in made:
            raise StageFailed("models", "the tiny Whisper model could not be built (is ctranslate2 installed?)")
        return f"tiny random models in {self.paths.pretrained_models}"

    def audio(self) -> str:
        wav = speech()
        save_wav(self.data / "raw" / "speech.wav", wav, SAMPLE_RATE)
        return f"{len(wav) / SAMPLE_RATE:.1f} s of {'espeak-ng' if shutil.which('espeak-ng') else 'synthetic'} speech"

    def slice(self) -> str:
        out = self.data / "sliced"
        _run("slice", self.cli("slice", self.data / "raw" / "speech.wav", out, "--min-length", 2500,
                               "--workers", 1), self.log, self.timeout)
        clips = sorted(out.glob("*.wav"))
        if len(clips) < 2:
            raise StageFailed("slice", f"expected several clips in {out}, found {len(clips)}")
        return f"{len(clips)} clips"

    def asr(self) -> str:
        out = self.data / f"{EXP}.list"
        size = "large-v3" if self.real else "tiny"
        if self.real:
            found = [d for d in self.paths.whisper_dirs(size) if d.is_dir()]
            if not found:
                sizes = [p.name for p in self.paths.pretrained_models.glob("faster-whisper-*")]
                if not sizes:
                    raise StageFailed("asr", "no faster-whisper model under pretrained_models/")
                size = sizes[0].removeprefix("faster-whisper-")
        _run("asr", self.cli("asr", self.data / "sliced", "--output", out, "--model-size", size, "--language", "en",
                             "--device", "cpu"), self.log, self.timeout)
        lines = [ln for ln in out.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise StageFailed("asr", f"{out} has no lines")
        if not self.real:  # a random Whisper writes random text: put the known sentences in its place
            fixed = []
            for i, line in enumerate(lines):
                entry = parse_line(line)
                fixed.append(f"{entry.path}|{entry.speaker}|EN|{SENTENCES[i % len(SENTENCES)]}")
            out.write_text("\n".join(fixed) + "\n", encoding="utf-8")
            return f"{len(lines)} lines (tiny model: texts replaced by the known sentences)"
        return f"{len(lines)} lines"

    def format(self) -> str:
        _run("format", self.cli("format", "--list", self.data / f"{EXP}.list", "--exp", EXP, "--device", "cpu"),
             self.log, self.timeout)
        exp = self.paths.experiment(EXP)
        if not exp.name2semantic.is_file():
            raise StageFailed("format", f"{exp.name2semantic} was not written")
        rows = len(exp.name2semantic.read_text(encoding="utf-8").splitlines()) - 1
        return f"{rows} items formatted"

    def train(self, trainer: str) -> str:
        stage = f"train-{trainer}"
        # no repetition of the small set: a few steps prove the trainer; an upstream-sized epoch would take minutes
        args = ["--exp", EXP, "--epochs", 1, "--batch-size", 2, "--save-every", 1, "--device", "cpu",
                "--min-items", 0]
        _run(stage, self.cli(stage, *args), self.log, self.timeout)
        from gpt_sovits.train.plan import experiment_weights

        written = [w for w in experiment_weights(self.paths, EXP) if w.kind == trainer]
        if not written:
            raise StageFailed(stage, "the trainer exited 0 but wrote no weights")
        # started again with the same epochs, the trainer must find its checkpoint and have nothing left to do
        _run(stage, self.cli(stage, *args), self.log, self.timeout)
        return f"{written[-1].path.name} written; checkpoint reloaded"

    def infer(self) -> str:
        from gpt_sovits.train.plan import experiment_weights
        from gpt_sovits.train.preview import pick_reference

        weights = experiment_weights(self.paths, EXP)
        gpt = [w.path for w in weights if w.kind == "gpt"][-1]
        sovits = [w.path for w in weights if w.kind == "sovits"][-1]
        ref = pick_reference(self.paths, EXP)
        if ref is None:
            raise StageFailed("infer", "no formatted clip of 3-10 s to use as reference")
        out = self.data / "dry_run_output.wav"
        _run("infer", self.cli("infer", "--gpt", gpt, "--sovits", sovits, "--ref", ref.path, "--ref-text", ref.text,
                               "--ref-lang", "en", "--text", "This installation works.", "--text-lang", "en",
                               "--out", out, "--device", "cpu", "--seed", 1), self.log, self.timeout)
        import soundfile as sf

        info = sf.info(str(out))
        if info.samplerate != SAMPLE_RATE or info.frames == 0:
            raise StageFailed("infer", f"{out} is not a non-empty 32 kHz wav")
        return f"{info.frames / info.samplerate:.1f} s of audio in {out}"

    def run(self) -> int:
        self.data.mkdir(parents=True, exist_ok=True)
        self.say(f"dry run in {self.paths.root} ({'your pretrained models' if self.real else 'tiny models'}); "
                 f"log: {self.log}")
        stages: list[tuple[str, Callable[[], str]]] = [
            ("models", self.models), ("audio", self.audio), ("slice", self.slice), ("asr", self.asr),
            ("format", self.format), ("train-sovits", lambda: self.train("sovits")),
            ("train-gpt", lambda: self.train("gpt")), ("infer", self.infer),
        ]
        start = time.monotonic()
        for name, fn in stages:
            try:
                self.stage(name, fn)
            except StageFailed as e:
                self.say(f"FAILED {e.stage}: {str(e).split(': ', 1)[1]}")
                self.say(f"The dry run stopped at stage '{e.stage}'.")
                return 1
        self.say(f"All {len(stages)} stages passed in {time.monotonic() - start:.0f} s.")
        return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", action="store_true",
                        help="use the pretrained models under --root instead of tiny random ones")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data root even when all passed")


def run(args: argparse.Namespace) -> int:
    """Always in a temporary data root, so a dry run never adds weights or logs to the user's own folders; with
    --real its pretrained_models/ is a link to the user's."""
    tmp = Path(tempfile.mkdtemp(prefix="gsv_dry_run_"))
    code = 1
    try:
        if args.real:
            source = ProjectPaths(args.root).pretrained_models
            if not source.is_dir():
                print(f"FAILED models: {source} does not exist; put upstream's pretrained files there first.")
                return 1
            (tmp / "pretrained_models").symlink_to(source, target_is_directory=True)
        code = DryRun(tmp, real=args.real).run()
        return code
    finally:
        if args.keep or code != 0:
            print(f"The dry run's files are kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
