"""The one request contract for synthesis, shared by the WebUI tab, the HTTP API and the CLI.

Field names follow upstream's `api_v2` `/tts` parameters so API clients can send the same JSON; defaults are the
classic inference WebUI's (the API module applies api_v2's own defaults where they differ, e.g. `cut5`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LANGUAGE_OPTIONS_V2 = ("all_zh", "en", "all_ja", "all_yue", "all_ko", "zh", "ja", "yue", "ko", "auto", "auto_yue")
LANGUAGE_OPTIONS_V1 = ("all_zh", "en", "all_ja", "zh", "ja", "auto")
SPLIT_METHODS = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5")
SPLIT_VARIANTS = ("inference_webui", "tts_infer_pack")

# Reference clips outside this range give bad prompts; upstream refuses them too.
REF_MIN_SECONDS = 3.0
REF_MAX_SECONDS = 10.0


class RequestError(ValueError):
    """A request that cannot be served as given (bad parameter, reference too short...)."""


@dataclass
class TTSRequest:
    text: str
    text_lang: str
    ref_audio_path: str | Path | None = None
    prompt_text: str = ""
    prompt_lang: str = "all_zh"
    aux_ref_audio_paths: list[str | Path] = field(default_factory=list)
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    text_split_method: str = "cut1"
    speed_factor: float = 1.0
    fragment_interval: float = 0.3  # seconds of silence after every sentence
    seed: int = -1  # -1: a random seed, reported back in the result
    ref_free: bool = False  # synthesise without the reference's text and tokens (timbre only)
    noise_scale: float = 0.5
    # Which upstream splitting rules: the classic WebUI's ("inference_webui") or api_v2's ("tts_infer_pack").
    split_variant: str = "inference_webui"
    # A user lexicon file (lang<TAB>word<TAB>phones, see gpt_sovits.text.lexicon) applied to both texts; None: none.
    lexicon: str | Path | None = None
    # api_v2's streaming: 0/1 decode sentence by sentence (1 = the API sends each sentence as it is ready); 2 and 3
    # decode token chunks while the GPT runs (gpt_sovits.infer.chunked: 2 more context, 3 the earliest audio).
    streaming_mode: int = 0
    overlap_length: int = 2  # tokens cross-faded at each join of token chunks
    min_chunk_length: int = 16  # tokens per chunk after the first
    fixed_length_chunk: bool = False  # mode 2: chunks of exactly min_chunk_length tokens (mode 3 always)

    def validate(self, version: str = "v2") -> None:
        """Raise RequestError with a message naming the bad field."""
        options = LANGUAGE_OPTIONS_V1 if version == "v1" else LANGUAGE_OPTIONS_V2
        if not self.text or not self.text.strip():
            raise RequestError("text is empty.")
        if self.text_lang not in options:
            raise RequestError(f"text_lang {self.text_lang!r} is not supported by a {version} model; use one of "
                               f"{', '.join(options)}.")
        if not self.ref_free and self.prompt_text.strip() and self.prompt_lang not in options:
            raise RequestError(f"prompt_lang {self.prompt_lang!r} is not supported by a {version} model; use one of "
                               f"{', '.join(options)}.")
        if self.ref_audio_path in (None, "") and not self.aux_ref_audio_paths:
            raise RequestError("ref_audio_path is required (a 3-10 s clip of the voice).")
        if self.text_split_method not in SPLIT_METHODS:
            raise RequestError(f"text_split_method must be one of {', '.join(SPLIT_METHODS)}.")
        if self.split_variant not in SPLIT_VARIANTS:
            raise RequestError(f"split_variant must be one of {', '.join(SPLIT_VARIANTS)}.")
        if not 1 <= int(self.top_k) <= 1024:
            raise RequestError("top_k must be between 1 and 1024.")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise RequestError("top_p must be in (0, 1].")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise RequestError("temperature must be between 0 and 2.")
        if not 0.0 < float(self.repetition_penalty) <= 3.0:
            raise RequestError("repetition_penalty must be in (0, 3].")
        if not 0.25 <= float(self.speed_factor) <= 4.0:
            raise RequestError("speed_factor must be between 0.25 and 4.")
        if not 0.0 <= float(self.fragment_interval) <= 10.0:
            raise RequestError("fragment_interval must be between 0 and 10 seconds.")
        if not 0.0 <= float(self.noise_scale) <= 2.0:
            raise RequestError("noise_scale must be between 0 and 2.")
        if int(self.streaming_mode) not in (0, 1, 2, 3):
            raise RequestError("streaming_mode must be 0-3 (or true/false).")
        if not 0 <= int(self.overlap_length) <= 16:
            raise RequestError("overlap_length must be between 0 and 16 tokens.")
        if not 1 <= int(self.min_chunk_length) <= 1500:
            raise RequestError("min_chunk_length must be between 1 and 1500 tokens.")
        if int(self.seed) < -1 or int(self.seed) >= 2**63:
            raise RequestError("seed must be -1 (random) or a non-negative integer.")
