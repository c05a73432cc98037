"""The per-line work of the 1A steps (text, hubert, sv for v2Pro/v2ProPlus, semantic). A worker loads its model
once and then turns tasks into results.

Workers run in the formatting process (one worker) or in child processes (several), so everything they take and
return is plain picklable data. Output files are written by the worker itself, atomically; the small results (the
2-name2text line, the semantic tokens) come back in the result and end up in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from gpt_sovits.audio.io import atomic_write_bytes, load_audio, wav_bytes
from gpt_sovits.dataset.audio_prep import SAMPLE_RATE, prepare_audio
from gpt_sovits.dataset.items import FormatItem
from gpt_sovits.dataset.outputs import name2text_line, remove_file, save_tensor
from gpt_sovits.paths import ExperimentPaths

if TYPE_CHECKING:
    from gpt_sovits.text.lexicon import UserLexicon

TEXT, HUBERT, SV, SEMANTIC = "text", "hubert", "sv", "semantic"
STEP_TITLES = {TEXT: "1Aa text + BERT", HUBERT: "1Ab audio + HuBERT", SV: "1Ab speaker embeddings (v2Pro)",
               SEMANTIC: "1Ac semantic tokens"}
SV_VERSIONS = ("v2Pro", "v2ProPlus")  # the model versions whose training reads 7-sv_cn/


class LineError(ValueError):
    """This line cannot be formatted; the message is the reason shown to the user."""


@dataclass(frozen=True)
class StepSettings:
    """What a worker needs to rebuild its model in any process."""

    step: str
    exp_dir: Path
    model_path: Path          # BERT folder (text), HuBERT folder (hubert), SV checkpoint (sv), pretrained G (semantic)
    device: str = "cpu"
    half: bool = False        # fp16 outputs, as upstream's is_half (only on CUDA)
    version: str = "v2"       # symbol table used by the text frontend
    lexicon: UserLexicon | None = None  # text step: the experiment's user lexicon (global + logs/<exp>/lexicon.tsv)


@dataclass(frozen=True)
class Task:
    item: FormatItem
    key: str                  # manifest key the result will be stored under


@dataclass(frozen=True)
class ItemResult:
    step: str
    name: str
    record: dict[str, Any] | None   # manifest record on success
    error: str | None = None


class StepWorker(Protocol):
    settings: StepSettings
    exp: ExperimentPaths

    def process(self, task: Task) -> ItemResult: ...


def bert_path(exp: ExperimentPaths, name: str) -> Path:
    return exp.bert_dir / f"{name}.pt"


def hubert_path(exp: ExperimentPaths, name: str) -> Path:
    return exp.hubert_dir / f"{name}.pt"


def wav32k_path(exp: ExperimentPaths, name: str) -> Path:
    return exp.wav32k_dir / name


def sv_path(exp: ExperimentPaths, name: str) -> Path:
    return exp.sv_dir / f"{name}.pt"


def _dtype(half: bool) -> torch.dtype:
    return torch.float16 if half else torch.float32


def training_text(text: str) -> str:
    """Upstream's 1-get-text replaces these before cleaning, so the SP2 silence marker never reaches training."""
    return text.replace("%", "-").replace("￥", ",")


class TextWorker:
    """1Aa: text → phones, word2ph, normalised text; zh lines also → phone-level BERT features."""

    def __init__(self, settings: StepSettings):
        self.settings = settings
        self.exp = ExperimentPaths(settings.exp_dir)
        self._bert = None

    def bert(self):
        if self._bert is None:  # loaded on the first zh line only: en/ja/ko/yue-only lists never need it
            from gpt_sovits.models.bert import BertFeatureExtractor

            self._bert = BertFeatureExtractor.from_pretrained(self.settings.model_path, device=self.settings.device)
            if self.settings.half:
                self._bert.model.half()
        return self._bert

    def process(self, task: Task) -> ItemResult:
        from gpt_sovits.text.cleaner import clean_text

        item = task.item
        if item.lang is None:
            raise LineError(f"language {item.raw_lang!r} is not supported for training (use zh, en, ja, ko or yue)")
        cleaned = clean_text(training_text(item.text), item.lang, self.settings.version, self.settings.lexicon)
        phones = list(cleaned.phones)
        if not phones:
            raise LineError("the text gives no phones")
        out = bert_path(self.exp, item.name)
        if item.lang == "zh":
            with torch.inference_mode():
                feats = self.bert().phone_features(cleaned.norm_text, cleaned.word2ph)  # [1024, n_phones]
            if feats.shape[-1] != len(phones):
                raise LineError(f"BERT features cover {feats.shape[-1]} phones, the text has {len(phones)}")
            save_tensor(out, feats.to(_dtype(self.settings.half)))
        else:
            remove_file(out)  # a line that changed language keeps no BERT file
        line = name2text_line(item.name, phones, cleaned.word2ph, cleaned.norm_text)
        return ItemResult(TEXT, item.name, {"key": task.key, "line": line, "bert": item.lang == "zh"})


class HubertWorker:
    """1Ab: audio → peak-mixed 32 kHz int16 wav + HuBERT features of the 16 kHz prep-time input."""

    def __init__(self, settings: StepSettings):
        from gpt_sovits.models.hubert import HubertFeatureExtractor

        self.settings = settings
        self.exp = ExperimentPaths(settings.exp_dir)
        self.model = HubertFeatureExtractor.from_pretrained(settings.model_path, device=settings.device)
        if settings.half:
            self.model.model.half()
        self._fp32_model = None

    def _features(self, model, wav16k: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        wav = torch.from_numpy(wav16k)[None].to(self.settings.device, dtype)  # [1, T16]
        with torch.inference_mode():
            return model.features(wav).cpu()  # [1, hidden, T50]

    def process(self, task: Task) -> ItemResult:
        item = task.item
        try:
            audio = load_audio(item.audio_path, SAMPLE_RATE)
        except (ValueError, OSError) as e:  # AudioError is a ValueError
            raise LineError(f"cannot read the audio: {e}") from None
        try:
            prep = prepare_audio(audio)
        except ValueError as e:  # peak above 2.2, silent clip
            raise LineError(str(e)) from None
        ssl = self._features(self.model, prep.hubert_input, _dtype(self.settings.half))
        if torch.isnan(ssl).any() and self.settings.half:
            # As upstream: items whose fp16 features overflow to NaN are redone in fp32 (and stored as fp32).
            if self._fp32_model is None:
                from gpt_sovits.models.hubert import HubertFeatureExtractor

                self._fp32_model = HubertFeatureExtractor.from_pretrained(
                    self.settings.model_path, device=self.settings.device)
            ssl = self._features(self._fp32_model, prep.hubert_input, torch.float32)
        if torch.isnan(ssl).any():
            raise LineError("HuBERT features contain NaN")
        if ssl.shape[-1] < 2:
            raise LineError(f"the clip is too short ({audio.size / SAMPLE_RATE:.3f} s) for any HuBERT frame")
        atomic_write_bytes(wav32k_path(self.exp, item.name), wav_bytes(prep.wav32k_int16, SAMPLE_RATE))
        save_tensor(hubert_path(self.exp, item.name), ssl)
        record = {"key": task.key, "frames": int(ssl.shape[-1]), "peak": round(prep.peak, 6)}
        return ItemResult(HUBERT, item.name, record)


def sv_input(wav32k_file: Path) -> torch.Tensor:
    """The SV model's input for a clip, as upstream's 2-get-sv: the 5-wav32k int16 file as float (÷32768), sinc
    resampled to 16 kHz → ``[1, N16]``."""
    from gpt_sovits.audio.io import read_audio
    from gpt_sovits.audio.sinc_resample import sinc_resample

    data, sr = read_audio(wav32k_file)  # PCM16 → int16 / 32768, exactly torchaudio.load's values
    wave = torch.from_numpy(data[:, 0].copy())[None]
    return sinc_resample(wave, sr, 16000)


class SpeakerWorker:
    """1Ab for v2Pro/v2ProPlus (upstream's 2-get-sv): 5-wav32k clip → SV embedding ``[1, 20480]`` in 7-sv_cn/."""

    def __init__(self, settings: StepSettings):
        from gpt_sovits.models.sv import SpeakerEncoder

        self.settings = settings
        self.exp = ExperimentPaths(settings.exp_dir)
        self.encoder = SpeakerEncoder.load(settings.model_path, device=settings.device, half=settings.half)

    def process(self, task: Task) -> ItemResult:
        name = task.item.name
        source = wav32k_path(self.exp, name)
        if not source.is_file():
            raise LineError("no 32 kHz audio in 5-wav32k (run step 1Ab first)")
        wav16k = sv_input(source)
        if wav16k.shape[-1] < 400:
            raise LineError("the clip is too short for the speaker-verification model (under 25 ms)")
        emb = self.encoder.embed(wav16k)  # [1, 20480]
        if not torch.isfinite(emb).all():
            raise LineError("the speaker embedding contains NaN or infinite values")
        save_tensor(sv_path(self.exp, name), emb.to(_dtype(self.settings.half)))
        return ItemResult(SV, name, {"key": task.key})


class SemanticWorker:
    """1Ac: HuBERT features → the pretrained SoVITS G's ssl_proj + codebook → semantic token ids."""

    def __init__(self, settings: StepSettings):
        from gpt_sovits.models.checkpoints import load_sovits

        self.settings = settings
        self.exp = ExperimentPaths(settings.exp_dir)
        self.model = load_sovits(settings.model_path, device=settings.device, keep_enc_q=False).model.eval()
        if settings.half:
            self.model.half()

    def process(self, task: Task) -> ItemResult:
        item = task.item
        path = hubert_path(self.exp, item.name)
        try:
            ssl = torch.load(path, map_location="cpu", weights_only=True)  # [1, 768, T50]
        except FileNotFoundError:
            raise LineError("no HuBERT features (run step 1Ab first)") from None
        ssl = ssl.to(self.settings.device, _dtype(self.settings.half))
        with torch.inference_mode():
            codes = self.model.extract_latent(ssl)  # [n_q=1, 1, T25]
        ids = codes[0, 0].tolist()
        if not ids:
            raise LineError("the clip is too short for a semantic token")
        return ItemResult(SEMANTIC, item.name, {"key": task.key, "tokens": " ".join(str(int(i)) for i in ids)})


WORKERS = {TEXT: TextWorker, HUBERT: HubertWorker, SV: SpeakerWorker, SEMANTIC: SemanticWorker}


def make_worker(settings: StepSettings) -> StepWorker:
    return WORKERS[settings.step](settings)


def step_outputs(exp: ExperimentPaths, step: str, name: str) -> list[Path]:
    """The per-line files a step writes (the merged text files aside)."""
    if step == TEXT:
        return [bert_path(exp, name)]
    if step == HUBERT:
        return [hubert_path(exp, name), wav32k_path(exp, name)]
    if step == SV:
        return [sv_path(exp, name)]
    return []


def run_task(worker: StepWorker, task: Task) -> ItemResult:
    """One line; any error becomes this line's reported reason (its old outputs are removed) and the run goes on."""
    try:
        return worker.process(task)
    except LineError as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 -- a frontend/model failure on one line must not stop the others
        reason = f"{type(e).__name__}: {e}"
    step = worker.settings.step
    for path in step_outputs(worker.exp, step, task.item.name):
        remove_file(path)  # never leave an older line's output looking current
    return ItemResult(step, task.item.name, None, reason)
