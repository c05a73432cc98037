"""The TTS pipeline: reference clip + its text + target text → 32 kHz speech, sentence by sentence.

Follows upstream's classic `inference_webui` path (`get_tts_wav`) so that the same weights, inputs and seed give
the same audio: prompt tokens from HuBERT + `extract_latent` over the 16 kHz reference with silence appended,
phones + BERT per language option, sentence splitting, GPT sampling, SoVITS decode with several references
averaged, a clipping guard and a pause after every sentence.

What upstream lacks and we add: the reference's features are cached while the same clip (path + content) and text
are used, weights are switched without a restart, a seed makes runs repeatable, and sentences are yielded as soon
as they are ready (streaming). `RunHooks` (hooks.py) lets a recorded upstream run be replayed exactly (its decode
noise and language segments injected) and its intermediates observed; tests/test_e2e_parity.py does that.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from gpt_sovits.audio.io import load_audio
from gpt_sovits.infer.hooks import RunHooks
from gpt_sovits.infer.cancel import CHECK_EVERY_STEPS, AnyCancel, CancelToken
from gpt_sovits.infer.compute import ComputeThread, on_compute_thread, shared
from gpt_sovits.infer.request import REF_MAX_SECONDS, REF_MIN_SECONDS, RequestError, TTSRequest
from gpt_sovits.infer.speakable import is_speakable, nothing_to_say_message
from gpt_sovits.memory import release_freed_memory
from gpt_sovits.paths import ProjectPaths

SAMPLE_RATE = 32000
SSL_RATE = 16000
SPLIT_MARKS = set("，。？！,.?!~:：—…")
# The API pipeline (upstream's TTS.py) appends a fixed 0.3 s "at 32 kHz" (9600 samples) of silence to the 16 kHz
# reference before HuBERT; the classic WebUI appends int(32000 * pause) instead (see `prompt_silence_samples`).
PROMPT_SILENCE_SAMPLES = int(SAMPLE_RATE * 0.3)
HZ = 50  # GPT early-stop budget is hz * max_sec, as upstream

log = logging.getLogger(__name__)


def prompt_silence_samples(req: TTSRequest) -> int:
    """Zeros appended to the 16 kHz reference before HuBERT, as the request's upstream pipeline does.

    Upstream quirk kept for parity (it changes the prompt tokens): the classic WebUI reuses its pause buffer,
    `int(32000 * pause_second)` samples, on the 16 kHz wave (0.6 s of silence for the default 0.3 s pause, 1 s for
    0.5 s); the API pipeline always appends 9600 samples.
    """
    if req.split_variant == "inference_webui":
        return int(SAMPLE_RATE * float(req.fragment_interval))
    return PROMPT_SILENCE_SAMPLES


class ModelMissingError(FileNotFoundError):
    """A model file or folder the request needs is not there; the message says which file goes where."""


@dataclass
class SentenceAudio:
    """One synthesised sentence (with its trailing pause), as int16 at SAMPLE_RATE; with token streaming
    (streaming_mode 2/3) one chunk of a sentence, the pause coming with its last chunk (`last`)."""

    index: int
    text: str
    audio: np.ndarray  # int16 [samples]
    tokens: int  # semantic tokens generated (40 ms each); for a chunk, the tokens whose audio it carries
    last: bool = True  # the sentence's last piece (always, unless token streaming)


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


def _request_lexicon(req: TTSRequest):
    """The request's user lexicon, read now (a file edited between requests takes effect at once), or None."""
    if req.lexicon in (None, ""):
        return None
    from gpt_sovits.text.lexicon_files import load_lexicon

    return load_lexicon([req.lexicon])


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

    Thread-safe: the model work (loading weights, requests) runs on one compute thread (compute.py) in the order it
    was asked for, whichever thread asks, and a lock serialises requests besides (the models are not re-entrant and
    one CPU has no room for two).
    """

    def __init__(self, paths: ProjectPaths, device: str | None = None, half: bool | None = None,
                 fast_cpu: bool = False, compute: ComputeThread | None = None):
        """`half`: fp16 models (default on CUDA, as upstream). `fast_cpu`: on a CPU, an int8 GPT and a bf16 SoVITS
        decoder (where the CPU has bf16 instructions): about twice as fast, not bit-exact with upstream. Without it
        a CPU GPT still runs the packed fp32 path (models/gpt/decode.py), which keeps upstream's tokens.
        `compute`: the thread the model work runs on (default: the process's shared one)."""
        self.compute = compute if compute is not None else shared()
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
        # (ref digest, spectrogram params, with SV) -> (spec [1, 1025, T], sv_emb [1, 20480] or None)
        self._ref_specs = _LRU(16)
        self._sv = None  # speaker-verification model, loaded on the first v2Pro/v2ProPlus reference
        self._prompt_text = _LRU(16)  # (text, lang, version) -> (phones, bert)

    # ---- models -------------------------------------------------------------------------------------------------
    @on_compute_thread
    def load_gpt(self, path: str | Path) -> None:
        from gpt_sovits.models.checkpoints import load_gpt

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"GPT weights not found: {path}")
        with self.lock:
            loaded = load_gpt(path, device=str(self.device))
            if self.half:
                loaded.model.half()
            else:
                self._prepare_gpt(loaded.model)
            self.gpt, self.gpt_path = loaded, path
        release_freed_memory()  # the read-in state dict and the unpacked weights

    def _prepare_gpt(self, model) -> None:
        """On a CPU: the packed decode path (exact fp32, or the fast mode's int8), inference-only, so the packed copy
        replaces the module's weights instead of doubling them. CUDA keeps the module path."""
        from gpt_sovits.models.gpt.decode import FAST_PRECISION

        if self.device.type == "cpu":
            model.prepare_inference(FAST_PRECISION if self.fast_cpu else "fp32", keep_weights=False)

    def set_fast_cpu(self, enabled: bool) -> None:
        """Switch the CPU fast mode; the GPT is reloaded from its file when the mode changes (its weights were
        packed for the other mode)."""
        enabled = bool(enabled) and self.device.type == "cpu" and not self.half
        if enabled == self.fast_cpu:
            return
        self.fast_cpu = enabled
        if self.gpt_path is not None:
            self.load_gpt(self.gpt_path)

    @on_compute_thread
    def load_sovits(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"SoVITS weights not found: {path}")
        with self.lock:
            self.sovits, self.sovits_path = self._read_sovits(path), path
            self._prompt_tokens.clear()  # prompt tokens come from this model's codebook
        release_freed_memory()

    def _sovits_precision(self) -> str:
        """The decoder precision the mode asks for: bf16 in fast mode on a CPU with bf16 instructions, else fp32."""
        from gpt_sovits.models.gpt.quantize import cpu_supports_bf16

        return "bf16" if self.fast_cpu and cpu_supports_bf16() else "fp32"

    def _read_sovits(self, path: Path):
        """Load a SoVITS file for inference: weight norm folded once, the decoder prepared in the mode's precision."""
        from gpt_sovits.models.checkpoints import load_sovits
        from gpt_sovits.models.sovits.inference import prepare_for_inference

        loaded = load_sovits(path, device=str(self.device))
        if self.half:
            loaded.model.half()
        prepare_for_inference(loaded.model, self._sovits_precision())
        return loaded

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
            release_freed_memory()
        return self._hubert

    def sv_encoder(self):
        """The speaker-verification model v2Pro/v2ProPlus references need (loaded once, like upstream's SV)."""
        if self._sv is None:
            from gpt_sovits.models.sv import SpeakerEncoder

            path = self.paths.pretrained_sv()
            if not path.is_file():
                raise ModelMissingError(
                    f"Speaker-verification model missing: v2Pro/v2ProPlus need upstream's "
                    f"pretrained_eres2netv2w24s4ep4.ckpt at {path}")
            self._sv = SpeakerEncoder.load(path, device=str(self.device), half=self.half)
        return self._sv

    def _bert_dtype(self) -> torch.dtype | None:
        """bf16 in fast mode on a CPU with bf16 instructions; None (as stored, upstream's choice) otherwise."""
        from gpt_sovits.models.gpt.quantize import cpu_supports_bf16

        return torch.bfloat16 if self.fast_cpu and cpu_supports_bf16() else None

    def bert(self):
        wanted = self._bert_dtype()
        if self._bert is not None and (self._bert.dtype == torch.bfloat16) != (wanted == torch.bfloat16):
            self._bert = None  # the fast mode changed: bf16 weights cannot be widened back exactly, re-read them
        if self._bert is None:
            from gpt_sovits.models.bert import BertFeatureExtractor

            folder = self.paths.bert_dir()
            if not (folder / "config.json").is_file():
                raise ModelMissingError(
                    f"BERT model missing: put upstream's chinese-roberta-wwm-ext-large folder (config.json, weights, "
                    f"tokenizer files) at {folder}")
            release_freed_memory()  # the biggest model: load it onto a trimmed heap (a request may have just run)
            self._bert = BertFeatureExtractor.from_pretrained(folder, device=str(self.device), dtype=wanted)
            if self.half:
                self._bert.model.half()
            release_freed_memory()
        return self._bert

    def preload_encoders(self) -> None:
        """Load HuBERT and BERT (and the speaker-verification model for v2Pro weights) in the background on the
        compute thread, so that the first request does not wait for them (a server calls this at start). A missing
        model is only logged here: the request that needs it says which file goes where."""
        self.compute.submit(self._load_encoders)

    def _load_encoders(self) -> None:
        loaders = [self.hubert, self.bert]
        if self.sovits is not None and self.sovits.needs_sv:
            loaders.append(self.sv_encoder)
        for load in loaders:
            try:
                load()
            except ModelMissingError as e:
                log.info("not preloaded: %s", e)

    def encoders_loaded(self) -> dict[str, bool]:
        """Which of the lazily loaded encoders are in memory now."""
        return {"hubert": self._hubert is not None, "bert": self._bert is not None, "sv": self._sv is not None}

    def _require_models(self) -> None:
        if self.gpt is None:
            raise ModelMissingError("No GPT weights loaded: choose a GPT model (weights/GPT_weights_v2/*.ckpt or the "
                                    "pretrained one).")
        if self.sovits is None:
            raise ModelMissingError("No SoVITS weights loaded: choose a SoVITS model (weights/SoVITS_weights_v2/*.pth "
                                    "or the pretrained one).")

    # ---- reference ----------------------------------------------------------------------------------------------
    def prompt_tokens(self, ref_path: Path, digest: str, silence: int = PROMPT_SILENCE_SAMPLES,
                      hooks: RunHooks | None = None) -> torch.Tensor:
        """HuBERT + extract_latent over the 16 kHz reference with `silence` zeros appended → [1, Tp]."""

        def make() -> torch.Tensor:
            wav16k = load_audio(ref_path, SSL_RATE)
            seconds = len(wav16k) / SSL_RATE
            if not REF_MIN_SECONDS <= seconds <= REF_MAX_SECONDS:
                raise RequestError(f"The reference audio is {seconds:.1f} s long; it must be 3-10 seconds.")
            wav = torch.from_numpy(np.concatenate([wav16k, np.zeros(silence, np.float32)]))
            wav = wav.to(self.device, self.dtype)[None]
            with torch.no_grad():
                ssl = self.hubert().features(wav)  # [1, 768, frames]
                codes = self.sovits.model.extract_latent(ssl.to(self.dtype))  # [1, n_q=1, frames/2]
            if hooks is not None:
                hooks.emit("hubert_in", wav)
                hooks.emit("hubert_out", ssl)
            return codes[0, 0][None].long()  # [1, Tp]

        if hooks is not None and hooks.observe is not None:
            return make()  # observed: computed afresh so the intermediates are reported
        return self._prompt_tokens.get_or((str(self.sovits_path), digest, int(silence)), make)

    @on_compute_thread
    def reference(self, ref_path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A reference's linear spectrogram ``[1, 1025, T]`` (upstream's get_spepc: sinc resampling, peak limit) and,
        for v2Pro/v2ProPlus, its SV embedding ``[1, 20480]`` of the same wave at 16 kHz; cached per file content."""
        from gpt_sovits.infer.reference import read_reference, reference_audio

        data = self.sovits.hps["data"]
        with_sv = self.sovits.needs_sv
        params = tuple(int(data[k]) for k in ("sampling_rate", "filter_length", "hop_length", "win_length"))

        def make() -> tuple[torch.Tensor, torch.Tensor | None]:
            samples, sr = read_reference(ref_path)
            ref = reference_audio(samples, sr, data, with_sv)
            emb = self.sv_encoder().embed(ref.wav16k) if with_sv else None
            return ref.spec.to(self.device, self.dtype), None if emb is None else emb.to(self.device, self.dtype)

        return self._ref_specs.get_or((_file_digest(ref_path), params, with_sv), make)

    def reference_spec(self, ref_path: Path) -> torch.Tensor:
        """Linear spectrogram of a reference at the model's rate, peak-limited as upstream → [1, 1025, T]."""
        return self.reference(ref_path)[0]

    def timbre_references(self, req: TTSRequest) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(spectrogram, SV embedding or None) for the timbre: every readable `aux_ref_audio_paths` file, else the
        main reference.

        Upstream behaviour kept: an extra reference that cannot be read is skipped (upstream prints the traceback and
        goes on; we log a warning), and when none is usable the main reference is used. The main reference's
        spectrogram is then not part of the average.
        """
        refs: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        for path in req.aux_ref_audio_paths or []:
            try:
                refs.append(self.reference(Path(path)))
            except (OSError, ValueError) as err:  # AudioError is a ValueError
                log.warning("extra reference %s skipped: %s", path, err)
        if not refs:
            if req.ref_audio_path in (None, ""):
                raise RequestError("ref_audio_path is required: none of the extra references could be read.")
            main = Path(req.ref_audio_path)
            if not main.is_file():
                raise RequestError(f"Reference audio not found: {main}")
            refs = [self.reference(main)]
        return refs

    def timbre_specs(self, req: TTSRequest) -> list[torch.Tensor]:
        return [spec for spec, _ in self.timbre_references(req)]

    def prompt_phones(self, text: str, lang: str, hooks: RunHooks | None = None,
                      lexicon=None) -> tuple[list[int], torch.Tensor]:
        from gpt_sovits.text.lexicon_files import fingerprint

        def make():
            result = self._phones_and_bert(text, lang, hooks, lexicon)
            return result.phones, result.bert

        if hooks is not None and (hooks.observe is not None or hooks.segmenter is not None):
            return make()
        return self._prompt_text.get_or((text, lang, self.version, fingerprint(lexicon), self._bert_dtype()), make)

    def _phones_and_bert(self, text: str, lang: str, hooks: RunHooks | None = None, lexicon=None):
        from gpt_sovits.text.phones import get_phones_and_bert

        needs_bert = lang in ("all_zh", "zh", "auto")
        result = get_phones_and_bert(text, lang, version=self.version, bert=self.bert() if needs_bert else None,
                                     lexicon=lexicon, segmenter=hooks.segmenter if hooks is not None else None)
        if hooks is not None:
            hooks.emit("gpb", {"text": text, "language": lang, "phones": list(result.phones),
                               "norm_text": result.norm_text, "bert": result.bert})
        return result

    # ---- synthesis ----------------------------------------------------------------------------------------------
    def sentences(self, req: TTSRequest) -> list[str]:
        """The pieces synthesised one by one (upstream's splitting rules of the request's `split_variant`)."""
        from gpt_sovits.text.split import split_text

        language = "en" if req.text_lang == "en" else "zh"
        pieces = [p for p in split_text(req.text, req.text_split_method, req.split_variant, language) if p.strip()]
        if not pieces:
            raise RequestError("The text has nothing to say after splitting (only punctuation or spaces?).")
        return pieces

    @staticmethod
    def prompt_text_for(req: TTSRequest) -> str | None:
        """The reference text as upstream feeds it to the frontend, or None for reference-free synthesis.

        Upstream: reference-free when the box is ticked or the text is empty; otherwise newlines are stripped at
        both ends only (inner ones stay) and `。` (`.` for en) is appended when the last character is not a split
        mark. Upstream quirk kept: a text of spaces is not empty, so it is used as a prompt (" 。"). Deliberate
        difference: a text of newlines only (upstream: IndexError) is read as reference-free.
        """
        if req.ref_free or not req.prompt_text:
            return None
        text = req.prompt_text.strip("\n")
        if not text:
            return None
        if text[-1] not in SPLIT_MARKS:
            text += "." if req.prompt_lang == "en" else "。"
        return text

    def stream(self, req: TTSRequest, on_seed: Callable[[int], None] | None = None,
               hooks: RunHooks | None = None, cancel: CancelToken | None = None) -> Iterator[SentenceAudio]:
        """Yield each sentence's audio (int16, pause included) as soon as it is ready.

        `cancel` is checked between sentences and every CHECK_EVERY_STEPS GPT steps (raises `Cancelled`). Sentences
        that are only pauses are skipped; a text with none to say raises RequestError.

        `hooks`: replay/observation injections (decode noise, segmenter, early-stop budget, observer); None: none.

        `req.streaming_mode` 2/3: each sentence comes in token chunks decoded while the GPT runs (see chunked.py);
        with `hooks` (a replay needs the sentence-level noise) or a speed other than 1 sentences are whole as in
        modes 0/1.

        The work runs on the compute thread (compute.py), ahead of a slow reader; closing this iterator stops it
        within one GPT step (or one decode) and returns once the models are free.
        """
        return self.compute.produce(lambda emit, gone: self._produce(req, emit, AnyCancel(gone, cancel), gone,
                                                                     on_seed, hooks, cancel))

    def _produce(self, req: TTSRequest, emit: Callable[[SentenceAudio], None], stop: AnyCancel, gone: CancelToken,
                 on_seed: Callable[[int], None] | None, hooks: RunHooks | None,
                 cancel: CancelToken | None) -> None:
        """`stream`'s work, on the compute thread: each sentence (or chunk) goes to `emit`. `stop` is checked between
        sentences and chunks, `gone` (the reader left) at every GPT step, `cancel` every few dozen."""
        from gpt_sovits.infer.chunked import plan_for_mode

        plan = plan_for_mode(req.streaming_mode, req.overlap_length, req.min_chunk_length, req.fixed_length_chunk)
        if hooks is not None or float(req.speed_factor) != 1.0:
            plan = None
        with self.lock:
            self._require_models()
            req.validate(self.version)
            lexicon = _request_lexicon(req)
            seed = int(req.seed) if int(req.seed) >= 0 else random.randrange(2**31)
            if on_seed is not None:
                on_seed(seed)
            prompt_text = self.prompt_text_for(req)
            ref_free = prompt_text is None

            prompt = None
            phones1: list[int] = []
            bert1 = None
            if not ref_free:
                main_ref = Path(req.ref_audio_path)
                if not main_ref.is_file():
                    raise RequestError(f"Reference audio not found: {main_ref}")
                prompt = self.prompt_tokens(main_ref, _file_digest(main_ref), prompt_silence_samples(req), hooks)
                if hooks is not None:
                    hooks.emit("prompt_semantic", prompt[0])
            pieces = self.sentences(req)
            if not ref_free:
                phones1, bert1 = self.prompt_phones(prompt_text, req.prompt_lang, hooks, lexicon)
            references = self.timbre_references(req)
            refer_specs = [spec for spec, _ in references]
            sv_embs = [emb for _, emb in references] if self.sovits.needs_sv else None
            if hooks is not None:
                for i, spec in enumerate(refer_specs):
                    hooks.emit(f"refer{i}", spec)

            generator = torch.Generator(device=self.device).manual_seed(seed)
            pause = np.zeros(int(SAMPLE_RATE * float(req.fragment_interval)), np.float32)
            spoken = 0
            for index, piece in enumerate(pieces):
                stop.check()
                result = self._phones_and_bert(piece, req.text_lang, hooks, lexicon)
                phones2, bert2 = result.phones, result.bert
                if not is_speakable(phones2, self.version):
                    continue  # only pauses: the models would make noise of it
                spoken += 1
                phones = torch.tensor([list(phones1) + list(phones2)], dtype=torch.long)
                bert = (torch.cat([bert1, bert2], dim=1) if bert1 is not None else bert2)[None]
                if plan is not None:
                    target = torch.tensor([list(phones2)], dtype=torch.long)
                    self._stream_chunks(index, piece, phones, bert, prompt, target, references, req,
                                        generator, seed + index, plan, pause, stop, emit)
                    continue
                gpt = self._infer_gpt(phones, bert, prompt, req, generator,
                                      hooks.early_stop_num if hooks is not None else None, cancel, gone=gone)
                tokens = gpt.pred_semantic[None]  # [1, 1, T]
                target = torch.tensor([list(phones2)], dtype=torch.long)
                audio = self.decode_semantic(tokens, target, refer_specs, req.noise_scale, req.speed_factor,
                                             seed + index, noise=hooks.noise_for(index) if hooks is not None else None,
                                             sv_embs=sv_embs)
                if hooks is not None:
                    for name, value in (("text", piece), ("idx", gpt.idx), ("all_phoneme_ids", phones), ("bert", bert),
                                        ("gpt_y", gpt.y), ("pred_semantic", tokens), ("phones2", target),
                                        ("decoded", torch.from_numpy(audio)[None, None])):
                        hooks.emit(f"s{index}.{name}", value)
                peak = float(np.abs(audio).max()) if audio.size else 0.0
                if peak > 1.0:  # clipping guard, as upstream
                    audio = audio / peak
                out = np.concatenate([audio, pause])
                # Upstream's conversion: scale by 32767 and truncate toward zero (no rounding; the guard above
                # keeps |x| <= 1, so no wrap-around).
                emit(SentenceAudio(index, piece, (out * 32767.0).astype(np.int16), int(tokens.shape[-1])))
            if not spoken:
                raise RequestError(nothing_to_say_message(req.text, req.text_lang))

    def _stream_chunks(self, index: int, piece: str, phones: torch.Tensor, bert: torch.Tensor,
                       prompt: torch.Tensor | None, target: torch.Tensor, references, req: TTSRequest,
                       generator: torch.Generator, seed: int, plan, pause: np.ndarray, stop: AnyCancel,
                       emit: Callable[[SentenceAudio], None]) -> None:
        """One sentence in token chunks: the GPT runs here, chunks are decoded as they fill (chunked.interleave)."""
        from gpt_sovits.infer.chunked import ChunkedDecoder, FrameNoise, interleave

        self._sovits_for_mode()
        model = self.sovits.model
        # No autocast: the model is prepared for the mode (fast: bf16 HiFi-GAN weights, flow and encoders fp32).
        decoder = ChunkedDecoder(model, target, [spec for spec, _ in references], plan,
                                 FrameNoise(model.inter_channels, seed, self.device), req.noise_scale,
                                 sv_embs=[emb for _, emb in references] if self.sovits.needs_sv else None)

        def run_gpt(on_token, on_step, threads_taken):
            return self._infer_gpt(phones, bert, prompt, req, generator, cancel=None, on_token=on_token,
                                   on_step=on_step, threads_taken=threads_taken)

        done = [0]  # tokens whose audio went out

        def emit_chunk(audio: np.ndarray, last: bool) -> None:  # each piece goes out at once: the first audio
            tokens, done[0] = decoder.emitted - done[0], decoder.emitted
            emit(self._chunk_audio(index, piece, np.concatenate([audio, pause]) if last else audio, tokens, last))

        interleave(run_gpt, decoder, emit_chunk, stop)

    @staticmethod
    def _chunk_audio(index: int, piece: str, audio: np.ndarray, tokens: int, last: bool) -> SentenceAudio:
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 1.0:  # clipping guard, as upstream applies it to every streamed piece
            audio = audio / peak
        return SentenceAudio(index, piece, (audio * 32767.0).astype(np.int16), int(tokens), last)

    def synthesize(self, req: TTSRequest, hooks: RunHooks | None = None,
                   cancel: CancelToken | None = None) -> TTSResult:
        seed_box: list[int] = []
        try:
            sentences = list(self.stream(req, on_seed=seed_box.append, hooks=hooks, cancel=cancel))
        finally:
            release_freed_memory()  # the request's activations, before the next one stacks its own on top
        audio = np.concatenate([s.audio for s in sentences]) if sentences else np.zeros(0, np.int16)
        return TTSResult(SAMPLE_RATE, audio, seed_box[0], sentences)

    def _infer_gpt(self, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor | None, req: TTSRequest,
                   generator: torch.Generator, early_stop_num: int | None = None,
                   cancel: CancelToken | None = None, on_token: Callable[[int], None] | None = None,
                   on_step: Callable[[int], None] | None = None, threads_taken: Callable[[], bool] | None = None,
                   gone: CancelToken | None = None):
        """GPT decoding of one sentence → `T2SInferResult` (its `pred_semantic` is what upstream decodes).

        `on_step` replaces the default step callback (`gone` checked every step, `cancel` every few dozen);
        `on_token` gets each kept token; `threads_taken` see `Text2SemanticDecoder.infer`."""
        if early_stop_num is None:
            early_stop_num = HZ * int(self.gpt.config.get("data", {}).get("max_sec", 54))

        if on_step is None:
            def on_step(step: int) -> None:
                if gone is not None:
                    gone.check()
                if cancel is not None and step % CHECK_EVERY_STEPS == 0:
                    cancel.check()

        with torch.no_grad():
            return self.gpt.model.infer(
                phones.to(self.device), bert.to(self.device, self.dtype),
                None if prompt is None else prompt.to(self.device),
                top_k=int(req.top_k), top_p=float(req.top_p), temperature=float(req.temperature),
                repetition_penalty=float(req.repetition_penalty), early_stop_num=early_stop_num, generator=generator,
                on_step=on_step, on_token=on_token, threads_taken=threads_taken,
            )

    @on_compute_thread
    def generate_semantic(self, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor | None,
                          req: TTSRequest, generator: torch.Generator,
                          early_stop_num: int | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
        """GPT stage: phone ids [1, N] + BERT [1, 1024, N] (+ prompt tokens [1, Tp]) → new tokens [1, 1, T].

        Keeps upstream's `y[:, -idx:]` convention (when a length cap rather than EOS ends generation, the first
        generated token is dropped), so the tokens match upstream's WebUI for the same weights and inputs.
        """
        return self._infer_gpt(phones, bert, prompt, req, generator, early_stop_num, cancel).pred_semantic[None]

    def _sovits_for_mode(self) -> None:
        """Re-read the SoVITS file when the fast mode changed since it was loaded (bf16 weights cannot be widened
        back exactly)."""
        precision = getattr(self.sovits.model, "inference_precision", "as loaded")
        if precision in ("fp32", "bf16") and precision != self._sovits_precision() and self.sovits_path is not None:
            self.sovits = self._read_sovits(self.sovits_path)

    @on_compute_thread
    def decode_semantic(self, tokens: torch.Tensor, phones: torch.Tensor, refer_specs: list[torch.Tensor],
                        noise_scale: float, speed: float, seed: int, noise: torch.Tensor | None = None,
                        sv_embs: list[torch.Tensor] | None = None) -> np.ndarray:
        """SoVITS stage: tokens [1, 1, T] + target phone ids [1, N] + reference spectrograms (+ their SV embeddings
        for v2Pro/v2ProPlus) → float32 audio.

        The prior noise is drawn from a generator seeded with `seed`, or is `noise` when given (a recorded draw).
        """
        self._sovits_for_mode()
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        with torch.no_grad():
            audio = self.sovits.model.decode(tokens.to(self.device), phones.to(self.device), refer_specs,
                                             noise_scale=float(noise_scale), speed=float(speed), generator=generator,
                                             noise=noise, sv_emb=sv_embs)
        return audio[0, 0].float().cpu().numpy()
