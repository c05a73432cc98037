"""The TTS pipeline: reference clip + its text + target text → 32 kHz speech, sentence by sentence.

Follows upstream's classic `inference_webui` path (`get_tts_wav`) so that the same weights, inputs and seed give
the same audio: prompt tokens from HuBERT + `extract_latent` over the 16 kHz reference with silence appended,
phones + BERT per language option, sentence splitting, GPT sampling, SoVITS decode with several references
averaged, a clipping guard and a pause after every sentence.

What upstream lacks and we add: the reference's features are cached while the same clip (path + content) and text
are used, weights are switched without a restart, a seed makes runs repeatable, and sentences are yielded as soon
as they are ready (streaming).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from gpt_sovits.audio.io import load_audio, load_audio_with_rate, resample
from gpt_sovits.audio.spectrogram import spectrogram
from gpt_sovits.infer.cancel import CHECK_EVERY_STEPS, CancelToken
from gpt_sovits.infer.request import REF_MAX_SECONDS, REF_MIN_SECONDS, RequestError, TTSRequest
from gpt_sovits.infer.speakable import is_speakable, nothing_to_say_message
from gpt_sovits.paths import ProjectPaths

SAMPLE_RATE = 32000
SSL_RATE = 16000
SPLIT_MARKS = set("，。？！,.?!~:：—…")
# Upstream appends 0.3 s "at 32 kHz" (9600 samples) of silence to the 16 kHz reference before HuBERT: kept for parity.
PROMPT_SILENCE_SAMPLES = int(SAMPLE_RATE * 0.3)
HZ = 50  # GPT early-stop budget is hz * max_sec, as upstream


class ModelMissingError(FileNotFoundError):
    """A model file or folder the request needs is not there; the message says which file goes where."""


@dataclass
class SentenceAudio:
    """One synthesised sentence (with its trailing pause), as int16 at SAMPLE_RATE."""

    index: int
    text: str
    audio: np.ndarray  # int16 [samples]
    tokens: int  # semantic tokens generated (40 ms each)


@dataclass
class TTSResult:
    sample_rate: int
    audio: np.ndarray  # int16 [samples]
    seed: int
    sentences: list[SentenceAudio] = field(default_factory=list)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, make: Callable):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class TTSPipeline:
    """Holds the loaded models and the reference caches; `synthesize`/`stream` serve one request at a time.

    Thread-safe: a lock serialises requests (the models are not re-entrant and one CPU has no room for two). It is a
    plain Lock, not an RLock, because a streamed response may be finished (and the lock released) by another thread.
    """

    def __init__(self, paths: ProjectPaths, device: str | None = None, half: bool | None = None,
                 fast_cpu: bool = False):
        """`half`: fp16 models (default on CUDA, as upstream). `fast_cpu`: on a CPU, an int8 GPT and a bf16 SoVITS
        decoder (where the CPU has bf16 instructions): about twice as fast, not bit-exact with upstream."""
        self.paths = paths
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.half = bool(half) if half is not None else self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32
        self.fast_cpu = bool(fast_cpu) and self.device.type == "cpu" and not self.half
        self.lock = threading.Lock()
        self.gpt = None
        self.gpt_path: Path | None = None
        self.sovits = None
        self.sovits_path: Path | None = None
        self._hubert = None
        self._bert = None
        self._prompt_tokens = _LRU(8)  # (sovits path, ref digest) -> LongTensor [1, Tp]
        self._ref_specs = _LRU(16)  # ref digest -> FloatTensor [1, 1025, T]
        self._prompt_text = _LRU(16)  # (text, lang, version) -> (phones, bert)

    # ---- models -------------------------------------------------------------------------------------------------
    def load_gpt(self, path: str | Path) -> None:
        from gpt_sovits.models.checkpoints import load_gpt

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"GPT weights not found: {path}")
        with self.lock:
            loaded = load_gpt(path, device=str(self.device))
            if self.half:
                loaded.model.half()
            if self.fast_cpu:
                from gpt_sovits.models.gpt.quantize import quantize_int8

                loaded.model = quantize_int8(loaded.model)
            self.gpt, self.gpt_path = loaded, path

    def set_fast_cpu(self, enabled: bool) -> None:
        """Switch the CPU fast mode; the GPT is reloaded from its file when the mode changes."""
        enabled = bool(enabled) and self.device.type == "cpu" and not self.half
        if enabled == self.fast_cpu:
            return
        self.fast_cpu = enabled
        if self.gpt_path is not None:
            self.load_gpt(self.gpt_path)

    def load_sovits(self, path: str | Path) -> None:
        from gpt_sovits.models.checkpoints import load_sovits

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"SoVITS weights not found: {path}")
        with self.lock:
            loaded = load_sovits(path, device=str(self.device))
            if self.half:
                loaded.model.half()
            self.sovits, self.sovits_path = loaded, path
            self._prompt_tokens.clear()  # prompt tokens come from this model's codebook

    @property
    def version(self) -> str:
        return self.sovits.version if self.sovits is not None else "v2"

    def hubert(self):
        if self._hubert is None:
            from gpt_sovits.models.hubert import HubertFeatureExtractor

            folder = self.paths.hubert_dir()
            if not (folder / "config.json").is_file():
                raise ModelMissingError(
                    f"HuBERT model missing: put upstream's chinese-hubert-base folder (config.json + weights) at {folder}")
            self._hubert = HubertFeatureExtractor.from_pretrained(folder, device=str(self.device))
            if self.half:
                self._hubert.model.half()
        return self._hubert

    def bert(self):
        if self._bert is None:
            from gpt_sovits.models.bert import BertFeatureExtractor

            folder = self.paths.bert_dir()
            if not (folder / "config.json").is_file():
                raise ModelMissingError(
                    f"BERT model missing: put upstream's chinese-roberta-wwm-ext-large folder (config.json, weights, "
                    f"tokenizer files) at {folder}")
            self._bert = BertFeatureExtractor.from_pretrained(folder, device=str(self.device))
            if self.half:
                self._bert.model.half()
        return self._bert

    def _require_models(self) -> None:
        if self.gpt is None:
            raise ModelMissingError("No GPT weights loaded: choose a GPT model (weights/GPT_weights_v2/*.ckpt or the "
                                    "pretrained one).")
        if self.sovits is None:
            raise ModelMissingError("No SoVITS weights loaded: choose a SoVITS model (weights/SoVITS_weights_v2/*.pth "
                                    "or the pretrained one).")

    # ---- reference ----------------------------------------------------------------------------------------------
    def prompt_tokens(self, ref_path: Path, digest: str) -> torch.Tensor:
        """HuBERT + extract_latent over the 16 kHz reference with upstream's silence appended → [1, Tp]."""

        def make() -> torch.Tensor:
            wav16k = load_audio(ref_path, SSL_RATE)
            seconds = len(wav16k) / SSL_RATE
            if not REF_MIN_SECONDS <= seconds <= REF_MAX_SECONDS:
                raise RequestError(f"The reference audio is {seconds:.1f} s long; it must be 3-10 seconds.")
            wav = torch.from_numpy(np.concatenate([wav16k, np.zeros(PROMPT_SILENCE_SAMPLES, np.float32)]))
            wav = wav.to(self.device, self.dtype)[None]
            with torch.no_grad():
                ssl = self.hubert().features(wav)  # [1, 768, frames]
                codes = self.sovits.model.extract_latent(ssl.to(self.dtype))  # [1, n_q=1, frames/2]
            return codes[0, 0][None].long()  # [1, Tp]

        return self._prompt_tokens.get_or((str(self.sovits_path), digest), make)

    def reference_spec(self, ref_path: Path) -> torch.Tensor:
        """Linear spectrogram of a reference at the model's rate, peak-limited as upstream → [1, 1025, T]."""
        digest = _file_digest(ref_path)

        def make() -> torch.Tensor:
            data = self.sovits.hps["data"]
            audio, sr = load_audio_with_rate(ref_path)
            audio = resample(audio, sr, data["sampling_rate"])
            peak = float(np.abs(audio).max()) if audio.size else 0.0
            if peak > 1.0:
                audio = audio / min(2.0, peak)
            y = torch.from_numpy(np.ascontiguousarray(audio))[None]
            spec = spectrogram(y, data["filter_length"], data["hop_length"], data["win_length"])
            return spec.to(self.device, self.dtype)

        return self._ref_specs.get_or(digest, make)

    def prompt_phones(self, text: str, lang: str) -> tuple[list[int], torch.Tensor]:
        def make():
            result = self._phones_and_bert(text, lang)
            return result.phones, result.bert

        return self._prompt_text.get_or((text, lang, self.version), make)

    def _phones_and_bert(self, text: str, lang: str):
        from gpt_sovits.text.phones import get_phones_and_bert

        needs_bert = lang in ("all_zh", "zh", "auto")
        return get_phones_and_bert(text, lang, version=self.version, bert=self.bert() if needs_bert else None)

    # ---- synthesis ----------------------------------------------------------------------------------------------
    def sentences(self, req: TTSRequest) -> list[str]:
        """The pieces synthesised one by one (upstream's splitting rules of the request's `split_variant`)."""
        from gpt_sovits.text.split import split_text

        language = "en" if req.text_lang == "en" else "zh"
        pieces = [p for p in split_text(req.text, req.text_split_method, req.split_variant, language) if p.strip()]
        if not pieces:
            raise RequestError("The text has nothing to say after splitting (only punctuation or spaces?).")
        return pieces

    def stream(self, req: TTSRequest, on_seed: Callable[[int], None] | None = None,
               cancel: CancelToken | None = None) -> Iterator[SentenceAudio]:
        """Yield each sentence's audio (int16, pause included) as soon as it is ready.

        `cancel` is checked between sentences and every CHECK_EVERY_STEPS GPT steps (raises `Cancelled`). Sentences
        that are only pauses are skipped; a text with none to say raises RequestError.
        """
        with self.lock:
            self._require_models()
            req.validate(self.version)
            seed = int(req.seed) if int(req.seed) >= 0 else random.randrange(2**31)
            if on_seed is not None:
                on_seed(seed)
            ref_free = req.ref_free or not req.prompt_text.strip()
            refs = [Path(p) for p in (req.aux_ref_audio_paths or [])] or [Path(req.ref_audio_path)]
            for p in refs + ([Path(req.ref_audio_path)] if req.ref_audio_path else []):
                if not p.is_file():
                    raise RequestError(f"Reference audio not found: {p}")

            prompt = None
            phones1: list[int] = []
            bert1 = None
            if not ref_free:
                main_ref = Path(req.ref_audio_path)
                prompt = self.prompt_tokens(main_ref, _file_digest(main_ref))
                prompt_text = req.prompt_text.strip("\n").replace("\n", "")
                if prompt_text and prompt_text[-1] not in SPLIT_MARKS:
                    prompt_text += "." if req.prompt_lang == "en" else "。"
                phones1, bert1 = self.prompt_phones(prompt_text, req.prompt_lang)
            refer_specs = [self.reference_spec(p) for p in refs]

            generator = torch.Generator(device=self.device).manual_seed(seed)
            pause = np.zeros(int(SAMPLE_RATE * float(req.fragment_interval)), np.float32)
            spoken = 0
            for index, piece in enumerate(self.sentences(req)):
                if cancel is not None:
                    cancel.check()
                result = self._phones_and_bert(piece, req.text_lang)
                phones2, bert2 = result.phones, result.bert
                if not is_speakable(phones2, self.version):
                    continue  # only pauses: the models would make noise of it
                spoken += 1
                phones = torch.tensor([list(phones1) + list(phones2)], dtype=torch.long)
                bert = (torch.cat([bert1, bert2], dim=1) if bert1 is not None else bert2)[None]
                tokens = self.generate_semantic(phones, bert, prompt, req, generator, cancel=cancel)
                target = torch.tensor([list(phones2)], dtype=torch.long)
                audio = self.decode_semantic(tokens, target, refer_specs, req.noise_scale, req.speed_factor,
                                             seed + index)
                peak = float(np.abs(audio).max()) if audio.size else 0.0
                if peak > 1.0:  # clipping guard, as upstream
                    audio = audio / peak
                out = np.concatenate([audio, pause])
                yield SentenceAudio(index, piece, (out * 32767.0).astype(np.int16), int(tokens.shape[-1]))
            if not spoken:
                raise RequestError(nothing_to_say_message(req.text, req.text_lang))

    def synthesize(self, req: TTSRequest, cancel: CancelToken | None = None) -> TTSResult:
        seed_box: list[int] = []
        sentences = list(self.stream(req, on_seed=seed_box.append, cancel=cancel))
        audio = np.concatenate([s.audio for s in sentences]) if sentences else np.zeros(0, np.int16)
        return TTSResult(SAMPLE_RATE, audio, seed_box[0], sentences)

    def generate_semantic(self, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor | None,
                          req: TTSRequest, generator: torch.Generator,
                          early_stop_num: int | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
        """GPT stage: phone ids [1, N] + BERT [1, 1024, N] (+ prompt tokens [1, Tp]) → new tokens [1, 1, T].

        Keeps upstream's `y[:, -idx:]` convention (when a length cap rather than EOS ends generation, the first
        generated token is dropped), so the tokens match upstream's WebUI for the same weights and inputs.
        """
        if early_stop_num is None:
            early_stop_num = HZ * int(self.gpt.config.get("data", {}).get("max_sec", 54))

        def on_step(step: int) -> None:
            if cancel is not None and step % CHECK_EVERY_STEPS == 0:
                cancel.check()

        with torch.no_grad():
            result = self.gpt.model.infer(
                phones.to(self.device), bert.to(self.device, self.dtype),
                None if prompt is None else prompt.to(self.device),
                top_k=int(req.top_k), top_p=float(req.top_p), temperature=float(req.temperature),
                repetition_penalty=float(req.repetition_penalty), early_stop_num=early_stop_num, generator=generator,
                on_step=on_step,
            )
        return result.pred_semantic[None]  # [1, 1, T]

    def decode_semantic(self, tokens: torch.Tensor, phones: torch.Tensor, refer_specs: list[torch.Tensor],
                        noise_scale: float, speed: float, seed: int) -> np.ndarray:
        """SoVITS stage: tokens [1, 1, T] + target phone ids [1, N] + reference spectrograms → float32 audio."""
        from gpt_sovits.models.gpt.quantize import cpu_supports_bf16

        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        bf16 = self.fast_cpu and cpu_supports_bf16()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            audio = self.sovits.model.decode(tokens.to(self.device), phones.to(self.device), refer_specs,
                                             noise_scale=float(noise_scale), speed=float(speed), generator=generator)
        return audio[0, 0].float().cpu().numpy()
