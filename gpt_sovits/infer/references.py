"""Which of an experiment's own clips make a good reference for synthesis, best first.

A reference should be 3-10 s (upstream refuses others), clearly spoken (ASR was confident), and neither whispered
nor clipped. The score is a simple sum of those three judgements, each in [0, 1]; its purpose is a sensible order in
a dropdown, not a verdict. The text and language come from the list the experiment was formatted from (its
`format_source.json`), else from 2-name2text with the language guessed from the script.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from gpt_sovits.asr.listfile import read_list_lenient
from gpt_sovits.asr.whisper import read_sidecar
from gpt_sovits.dataset.readers import read_name2text
from gpt_sovits.infer.request import REF_MAX_SECONDS, REF_MIN_SECONDS
from gpt_sovits.paths import ProjectPaths

# .list language codes → the inference tab's "all_*" options (one language per reference text)
LIST_TO_INFER = {"zh": "all_zh", "en": "en", "ja": "all_ja", "ko": "all_ko", "yue": "all_yue"}


@dataclass(frozen=True)
class ReferenceCandidate:
    path: Path
    text: str
    lang: str        # an inference language option
    seconds: float
    score: float     # 0..3, higher is better

    @property
    def label(self) -> str:
        text = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return f"{self.path.name} · {self.seconds:.1f} s · {text}"


def guess_language(text: str) -> str:
    """The inference language option for a text, from its script (kana → ja, hangul → ko, han → zh, else en)."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "all_ja"
    if re.search(r"[\uac00-\ud7af\u1100-\u11ff]", text):
        return "all_ko"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "all_zh"
    return "en"


def _duration_score(seconds: float) -> float:
    if not REF_MIN_SECONDS <= seconds <= REF_MAX_SECONDS:
        return 0.0
    return 1.0 - min(1.0, abs(seconds - 6.0) / 4.0) * 0.5  # 6 s best, the ends of 3-10 s still fine


def _loudness_score(audio: np.ndarray) -> float:
    """1 for speech around -20 dBFS RMS; lower when whispered (< -35) or clipped."""
    if audio.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    db = 20 * math.log10(max(rms, 1e-9))
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    score = 1.0 - min(1.0, abs(db + 20.0) / 20.0)
    return max(0.0, score - min(1.0, clipped * 100))


def _confidence_score(info: dict | None) -> float:
    """From Whisper's average log-probability (0 → sure); 0.5 when unknown (no ASR sidecar)."""
    if not info or info.get("avg_logprob") is None:
        return 0.5
    return float(max(0.0, min(1.0, math.exp(float(info["avg_logprob"])))))


def _source_list(paths: ProjectPaths, exp: str) -> tuple[dict[str, tuple[str, str]], dict[str, dict]]:
    """(clip name → (text, inference language)) and (clip name → ASR info) from the list the experiment came from."""
    try:
        source = json.loads(paths.experiment(exp).format_source.read_text(encoding="utf-8")).get("list")
    except (OSError, ValueError, AttributeError):
        return {}, {}
    if not source or not Path(source).is_file():
        return {}, {}
    entries, _errors = read_list_lenient(source)
    texts = {Path(e.path.replace("\\", "/")).name: (e.text, LIST_TO_INFER.get(e.lang.lower(), guess_language(e.text)))
             for e in entries}
    asr = {Path(k.replace("\\", "/")).name: v for k, v in read_sidecar(source).items() if isinstance(v, dict)}
    return texts, asr


def reference_candidates(paths: ProjectPaths, exp: str) -> list[ReferenceCandidate]:
    """Every formatted clip of `exp` with a text, best reference first (clips outside 3-10 s last, score 0 there)."""
    ex = paths.experiment(exp)
    if not ex.name2text.is_file():
        return []
    texts, asr = _source_list(paths, exp)
    found = []
    for name, row in read_name2text(ex.name2text).items():
        wav = ex.wav32k_dir / name
        if not wav.is_file():
            continue
        text, lang = texts.get(name, (row.norm_text, guess_language(row.norm_text)))
        if not text.strip():
            continue
        try:
            audio, sr = sf.read(str(wav), dtype="float32", always_2d=False)
        except (RuntimeError, OSError):
            continue
        seconds = len(audio) / float(sr or 1)
        duration = _duration_score(seconds)
        score = 0.0 if duration == 0 else duration + _loudness_score(audio) + _confidence_score(asr.get(name))
        found.append(ReferenceCandidate(wav, text, lang, seconds, round(score, 4)))
    return sorted(found, key=lambda c: (-c.score, c.path.name))
