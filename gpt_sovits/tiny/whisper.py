"""A tiny random multilingual Whisper in faster-whisper's on-disk format, built offline.

Tests and a newcomer's dry run load it through the real code path (CTranslate2 + faster-whisper). Its weights are
random except that the decoder is scripted to detect English (or the language asked for) and to say "the weather is
nice today" for any speech (see `_script_decoder`), so a dry run yields a `.list` that the later stages can use.
Every file faster-whisper reads is there with the real layout:
model.bin, config.json, vocabulary.json (from the CTranslate2 converter), tokenizer.json, preprocessor_config.json.

CTranslate2 (4.8) treats a Whisper as multilingual when its vocabulary contains the empty token "" and counts the
languages between <|startoftranscript|> and <|nospeech|>; older releases looked at the vocabulary size (>= 51865).
Both hold here, because the vocabulary follows large-v3's layout exactly: 50257 text tokens (the last one ""),
<|endoftext|>, <|startoftranscript|>, 100 language tokens (yue last), <|translate|>, <|transcribe|>, <|startoflm|>,
<|startofprev|>, <|nospeech|>, <|notimestamps|>, then 1501 timestamp tokens <|0.00|> ... <|30.00|> (51866 in all).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

# Whisper's language tokens in id order (large-v3 added yue at the end).
WHISPER_LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi",
    "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml",
    "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs",
    "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am",
    "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw",
    "ln", "ha", "ba", "jw", "su", "yue",
)
N_TEXT_TOKENS = 50257
N_TIMESTAMPS = 1501
TASK_TOKENS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
               "<|notimestamps|>")
N_MELS = 80


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table used by byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def special_tokens() -> list[str]:
    """Every added token after the text vocabulary, in id order."""
    langs = [f"<|{code}|>" for code in WHISPER_LANGUAGES]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)]
    return ["<|endoftext|>", "<|startoftranscript|>", *langs, *TASK_TOKENS, *stamps]


def build_tokenizer():
    """A byte-level BPE `tokenizers.Tokenizer` with Whisper's id layout (text merges are synthetic pairs)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    byte_chars = list(_bytes_to_unicode().values())  # 256 base symbols
    vocab: dict[str, int] = {c: i for i, c in enumerate(byte_chars)}
    merges: list[tuple[str, str]] = []
    # Fill the text vocabulary with two-symbol merges: lowercase letters and space first, so text looks wordy.
    common = [_bytes_to_unicode()[b] for b in b" etaoinshrdlucmfwypvbgkjqxz"]
    pairs = [(a, b) for a in common for b in common] + [(a, b) for a in byte_chars for b in byte_chars]
    for a, b in pairs:
        if len(vocab) >= N_TEXT_TOKENS - 1:
            break
        if a + b in vocab:
            continue
        vocab[a + b] = len(vocab)
        merges.append((a, b))
    vocab[""] = len(vocab)  # CTranslate2 reads "the vocabulary has an empty token" as "multilingual"
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens()])
    return tok


def _build_hf_model(model_dir: Path, tokenizer, seed: int, language: str) -> None:
    """A randomly initialised WhisperForConditionalGeneration with tiny widths, saved with its generation config."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    vocab_size = tokenizer.get_vocab_size()
    ids = {t: tokenizer.token_to_id(t) for t in ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>")}
    config = WhisperConfig(
        vocab_size=vocab_size, num_mel_bins=N_MELS, d_model=64, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    _script_decoder(model, tokenizer, seed, language)
    gen = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"],
        no_timestamps_token_id=ids["<|notimestamps|>"],
        suppress_tokens=[], begin_suppress_tokens=[ids["<|endoftext|>"]],
        lang_to_id={f"<|{c}|>": tokenizer.token_to_id(f"<|{c}|>") for c in WHISPER_LANGUAGES},
        task_to_id={"transcribe": tokenizer.token_to_id("<|transcribe|>"),
                    "translate": tokenizer.token_to_id("<|translate|>")},
        is_multilingual=True,
    )
    model.generation_config = gen
    model.save_pretrained(model_dir)


# What the tiny model says for any speech: byte-level pairs of "the weather is nice today" (Ġ = space).
SCRIPT_TEXT = "the weather is nice today"
_FIRST_TEXT_POSITION = 3  # decoder prompt: <|startoftranscript|> <|lang|> <|transcribe|> [<|notimestamps|>]
_POSITION_SCALE = 50.0  # position embeddings dominate the residual stream, so the position picks the output
_TOKEN_SCALE = 3.0  # logit of the scripted token ≈ 3·sqrt(d_model) = 24; random rows give ≈ ±0.2


def script_tokens(tokenizer) -> list[int]:
    """The scripted transcript as token ids: two-character pieces, all in the synthetic vocabulary."""
    chars = SCRIPT_TEXT.replace(" ", "Ġ")
    pieces = [chars[i:i + 2] for i in range(0, len(chars), 2)]
    ids = [tokenizer.token_to_id(p) for p in pieces]
    assert None not in ids, pieces
    return ids


def _script_decoder(model, tokenizer, seed: int, language: str) -> None:
    """Make the random decoder detect `language`, say SCRIPT_TEXT and stop, confidently, whatever the audio.

    Each decoder position gets a large embedding along one of a set of orthonormal directions; the output row of
    the token wanted at that position points the same way, so after the final layer norm that token wins by a
    wide margin (high avg log-prob: no temperature fallback, and few decoding steps even with beam search):
    position 0 → the language token (language detection reads it), positions 3.. → the script, then
    <|endoftext|>. Special and timestamp rows are shrunk so they never compete; the text rows stay random.
    """
    import torch

    eot = tokenizer.token_to_id("<|endoftext|>")
    lang = tokenizer.token_to_id(f"<|{language}|>")
    if lang is None:
        raise ValueError(f"{language!r} is not a Whisper language code.")
    script = script_tokens(tokenizer)
    targets = [lang, *dict.fromkeys(script), eot]  # distinct tokens that need a direction
    emb = model.model.decoder.embed_tokens.weight  # [V, d], tied with proj_out
    pos = model.model.decoder.embed_positions.weight  # [448, d]
    d = emb.shape[1]
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, len(targets), generator=gen))  # orthonormal columns [d, n]
    direction = {tok: basis[:, i] for i, tok in enumerate(targets)}
    with torch.no_grad():
        emb[eot:] *= 0.01
        for tok, vec in direction.items():
            emb[tok] = _TOKEN_SCALE * vec
        pos[0] = _POSITION_SCALE * direction[lang]
        for i, tok in enumerate(script):
            pos[_FIRST_TEXT_POSITION + i] = _POSITION_SCALE * direction[tok]
        pos[_FIRST_TEXT_POSITION + len(script):] = _POSITION_SCALE * direction[eot]


def preprocessor_config() -> dict:
    """What faster-whisper's FeatureExtractor reads (its keyword names)."""
    return {"feature_size": N_MELS, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400}


def make_tiny_whisper(out_dir: str | Path, seed: int = 0, language: str = "en") -> Path:
    """Write a tiny multilingual faster-whisper model folder at out_dir and return it (no network).

    `language` is the Whisper code it detects (e.g. "de" to exercise the "unsupported language" path)."""
    import ctranslate2.converters
    from transformers import PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    tokenizer = build_tokenizer()
    hf_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
        unk_token="<|endoftext|>", pad_token="<|endoftext|>",
    )

    class _Converter(ctranslate2.converters.TransformersConverter):
        """The stock converter, handed our in-memory tokenizer instead of looking one up by name."""

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return hf_tokenizer

    with tempfile.TemporaryDirectory(prefix="tiny-whisper-hf-") as tmp:
        hf_dir = Path(tmp)
        _build_hf_model(hf_dir, tokenizer, seed, language)
        staging = out_dir.parent / f".{out_dir.name}.partial"
        if staging.exists():
            shutil.rmtree(staging)
        _Converter(str(hf_dir)).convert(str(staging), quantization="float16", force=True)
    tokenizer.save(str(staging / "tokenizer.json"))
    (staging / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(), indent=2), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return out_dir


if __name__ == "__main__":
    import sys

    print(make_tiny_whisper(sys.argv[1] if len(sys.argv) > 1 else "pretrained_models/faster-whisper-tiny"))
