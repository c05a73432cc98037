"""A complete tiny `pretrained_models/` with random weights, under upstream's names and in upstream's file formats.

For tests and a newcomer's dry run: every loader, trainer and the inference pipeline runs on these through the real
code paths (transformers folders, torch checkpoint files, a CTranslate2 Whisper), fast, without downloads. The
models output noise. Everything is seeded, so the same seed writes the same weights.

Widths that the pipeline fixes are kept: HuBERT must output **768** channels (SoVITS `ssl_proj` is 768→768) and
BERT **1024** (the GPT's `bert_proj` is 1024→C), so both are "wide but shallow" (1 resp. 2 layers, tiny FFNs).
The SoVITS G/D use the bundle's tiny config (`configs/tiny_s2.json`; the discriminator has no size knobs upstream,
so it keeps its 46.7 M parameters). To keep the G/D files small, every floating tensor with ≥ 4096 elements is
stored as a window into one shared random fp16 vector (std 0.02), exactly like the reference bundle's files —
`torch.load` returns ordinary tensors; loaders copy them. The codebook is initialised (`inited = 1`) so no k-means
ever runs. The GPT uses `configs/tiny_s1.yaml`.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
import yaml

from gpt_sovits.audio.io import atomic_write_bytes
from gpt_sovits.paths import (
    BERT_DIR, HUBERT_DIR, PRETRAINED_GPT, PRETRAINED_SOVITS_D, PRETRAINED_SOVITS_G, PRETRAINED_SV, PROJECT_DIR,
)

log = logging.getLogger(__name__)

CONFIG_DIR = PROJECT_DIR / "configs"
TINY_S1 = CONFIG_DIR / "tiny_s1.yaml"
TINY_S2 = CONFIG_DIR / "tiny_s2.json"
TINY_S2_BY_VERSION = {"v1": TINY_S2, "v2": TINY_S2, "v2Pro": CONFIG_DIR / "tiny_s2v2Pro.json",
                      "v2ProPlus": CONFIG_DIR / "tiny_s2v2ProPlus.json"}
PRO_VERSIONS = ("v2Pro", "v2ProPlus")
SV_POOL = 1 << 20  # fp32 values shared by every big tensor of the tiny SV file (4 MiB instead of 214 MB)
WHISPER_SIZE = "tiny"
SHARED_MIN_NUMEL = 4096
SHARED_STD = 0.02
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NOTE_FILE = "TINY_RANDOM_MODELS.txt"

TINY_HUBERT = {
    "hidden_size": 768,  # fixed by SoVITS ssl_proj
    "num_hidden_layers": 1,
    "num_attention_heads": 12,
    "intermediate_size": 64,
    "conv_dim": [32] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],  # real layout: total stride 320 → 50 Hz at 16 kHz
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 16,
    "vocab_size": 32,
}
TINY_BERT = {
    "hidden_size": 1024,  # fixed by the GPT's bert_proj
    "num_hidden_layers": 2,  # hidden_states[-3] needs at least 2 layers
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}


def tiny_vocab() -> list[str]:
    """Special tokens, ASCII/CJK punctuation, digits, a-z and the 3755 GB2312 level-1 (most common) hanzi."""
    punct = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + list("，。！？、；：“”‘’（）《》…—·～")
    ascii_ = [str(d) for d in range(10)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    hanzi = []
    for hi in range(0xB0, 0xD8):  # GB2312 rows 16-55 = level-1 hanzi
        for lo in range(0xA1, 0xFF):
            try:
                hanzi.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    seen: set[str] = set()
    vocab = []
    for tok in SPECIAL_TOKENS + punct + ascii_ + hanzi:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    return vocab


def _seeded(seed: int):
    """Seed torch's global RNG for module init without leaking the change to the caller."""
    ctx = torch.random.fork_rng(devices=[])
    ctx.__enter__()
    torch.manual_seed(seed)
    return ctx


def _save_torch(obj: dict[str, Any], path: Path) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _shared_window_state(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """fp16 copy of `state` whose big floating tensors are windows into one shared random vector (small files)."""
    big = {k: v for k, v in state.items() if v.is_floating_point() and v.numel() >= SHARED_MIN_NUMEL}
    out: dict[str, torch.Tensor] = {}
    if big:
        n_max = max(v.numel() for v in big.values())
        length = n_max + 65_537
        gen = torch.Generator().manual_seed(seed)
        shared = (torch.randn(length, generator=gen) * SHARED_STD).half()
    for i, (k, v) in enumerate(state.items()):
        if k in big:
            off = (i * 7919) % (length - v.numel() + 1)
            out[k] = shared[off : off + v.numel()].view(v.shape)
        else:
            out[k] = v.detach().half().clone()
    # an initialised codebook: embed_avg = embed, cluster_size = 1, inited = 1 (so no k-means ever runs)
    for k in list(out):
        if k.endswith("_codebook.embed"):
            base = k[: -len("embed")]
            out[base + "embed_avg"] = out[k]
            out[base + "cluster_size"] = torch.ones_like(out[base + "cluster_size"])
            out[base + "inited"] = torch.ones_like(out[base + "inited"])
    return out


def tiny_s2_config(version: str = "v2") -> dict[str, Any]:
    hps = json.loads(TINY_S2_BY_VERSION[version].read_text(encoding="utf-8"))
    hps["model"]["version"] = version
    return hps


def tiny_s1_config() -> dict[str, Any]:
    return yaml.safe_load(TINY_S1.read_text(encoding="utf-8"))


def write_tiny_hubert(out_dir: Path, seed: int) -> Path:
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    ctx = _seeded(seed)
    try:
        model = HubertModel(HubertConfig(**TINY_HUBERT)).eval()
    finally:
        ctx.__exit__(None, None, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(str(out_dir))
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    ).save_pretrained(str(out_dir))
    return out_dir


def write_random_bert(out_dir: Path, seed: int, config: dict, vocab_size: int | None = None,
                      half: bool = False) -> Path:
    """A seeded random BertForMaskedLM + its tokenizer in `out_dir`: the tiny vocabulary, padded with [unusedN]
    entries up to `vocab_size` when given (a full-size model for benchmarks), weights in fp16 when `half`."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = tiny_vocab()
    vocab += [f"[unused{i}]" for i in range((vocab_size or len(vocab)) - len(vocab))]
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = out_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab_file=str(vocab_file), do_lower_case=True, tokenize_chinese_chars=True)
    ctx = _seeded(seed)
    try:
        settings = {k: v for k, v in config.items() if k != "vocab_size"}
        model = BertForMaskedLM(BertConfig(vocab_size=len(vocab), pad_token_id=0, **settings)).eval()
    finally:
        ctx.__exit__(None, None, None)
    (model.half() if half else model).save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def write_tiny_bert(out_dir: Path, seed: int) -> Path:
    return write_random_bert(out_dir, seed, TINY_BERT, half=True)


def write_tiny_sovits(g_path: Path, d_path: Path, seed: int, version: str = "v2") -> tuple[Path, Path]:
    from gpt_sovits.models.sovits import MultiPeriodDiscriminator, build_synthesizer

    hps = tiny_s2_config(version)
    ctx = _seeded(seed)
    try:
        generator = build_synthesizer(copy.deepcopy(hps), version)
        discriminator = MultiPeriodDiscriminator(use_spectral_norm=False, version=version)
    finally:
        ctx.__exit__(None, None, None)
    g_state = _shared_window_state(dict(generator.state_dict()), seed + 1)
    d_state = _shared_window_state(dict(discriminator.state_dict()), seed + 2)
    _save_torch({"weight": g_state, "config": hps, "info": "pretrained_s2G_tiny_random"}, g_path)
    _save_torch({"weight": d_state}, d_path)
    return g_path, d_path


def _pooled_view(pool: torch.Tensor, shape: torch.Size, offset: int) -> torch.Tensor:
    """A tensor of ``shape`` that reads from ``pool``: a window when it fits, else rows that overlap (dim-0 stride
    below a row), so that ``torch.save`` stores the pool once."""
    n = math.prod(shape)
    if n <= pool.numel():
        start = offset % (pool.numel() - n + 1)
        return pool[start : start + n].view(shape)
    row = n // shape[0]
    inner = [math.prod(shape[i + 1 :]) for i in range(1, len(shape))]
    stride0 = max(1, (pool.numel() - row) // (shape[0] - 1))
    return pool.as_strided(tuple(shape), (stride0, *inner), 0)


def write_tiny_sv(path: Path, seed: int) -> Path:
    """upstream's SV model file (a bare ERes2NetV2 state dict) with random weights; the network cannot shrink, so
    its big tensors are views into one shared random vector. BatchNorm layers start as identities."""
    from gpt_sovits.models.sv import build_eres2netv2

    with torch.device("meta"):
        layout = build_eres2netv2().state_dict()
    gen = torch.Generator().manual_seed(seed)
    pool = torch.randn(SV_POOL, generator=gen) * SHARED_STD
    state: dict[str, torch.Tensor] = {}
    for i, (k, v) in enumerate(layout.items()):
        leaf = k.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[k] = torch.zeros((), dtype=torch.long)
        elif leaf == "running_var" or (leaf == "weight" and v.dim() == 1):  # BN scale and variance
            state[k] = torch.ones(v.shape)
        elif leaf in ("running_mean", "bias"):
            state[k] = torch.zeros(v.shape)
        else:
            state[k] = _pooled_view(pool, v.shape, i * 7919)
    return _save_torch(state, path)


def write_tiny_pro(pretrained_dir: str | Path, version: str, seed: int = 1234) -> dict[str, Path]:
    """The files a v2Pro/v2ProPlus workflow adds: SoVITS G/D of that version, the v2-architecture GPT under its
    pretrained name (s1v3.ckpt) and the SV model; HuBERT/BERT are shared with v2 (``make_tiny_pretrained``)."""
    if version not in PRO_VERSIONS:
        raise ValueError(f"{version!r} is not a v2Pro-family version ({', '.join(PRO_VERSIONS)})")
    root = Path(pretrained_dir)
    out: dict[str, Path] = {}
    g_path, d_path = root / PRETRAINED_SOVITS_G[version], root / PRETRAINED_SOVITS_D[version]
    out[f"sovits_g_{version}"], out[f"sovits_d_{version}"] = write_tiny_sovits(g_path, d_path, seed + 40, version)
    gpt_path = root / PRETRAINED_GPT[version]
    out[f"gpt_{version}"] = gpt_path if gpt_path.is_file() else write_tiny_gpt(gpt_path, seed + 50)
    sv_path = root / PRETRAINED_SV
    out["sv"] = sv_path if sv_path.is_file() else write_tiny_sv(sv_path, seed + 60)
    return out


def write_tiny_gpt(path: Path, seed: int) -> Path:
    from gpt_sovits.models.checkpoints import save_gpt_weights
    from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder

    config = tiny_s1_config()
    ctx = _seeded(seed)
    try:
        model = Text2SemanticDecoder(config)
    finally:
        ctx.__exit__(None, None, None)
    return save_gpt_weights(model, config, path, "GPT-tiny-random")


def make_tiny_pretrained(pretrained_dir: str | Path, seed: int = 1234, whisper: bool = True,
                         pro_versions: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the tiny models into `pretrained_dir` (a `pretrained_models/` folder); return name → path.

    Keys: hubert, bert, sovits_g, sovits_d, gpt, whisper (absent when the Whisper builder cannot be used; the reason
    is logged and written to the note file); with ``pro_versions`` (v2Pro, v2ProPlus) also their files and sv.
    """
    root = Path(pretrained_dir)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    out["hubert"] = write_tiny_hubert(root / HUBERT_DIR, seed)
    out["bert"] = write_tiny_bert(root / BERT_DIR, seed + 10)
    g_path, d_path = root / PRETRAINED_SOVITS_G["v2"], root / PRETRAINED_SOVITS_D["v2"]
    out["sovits_g"], out["sovits_d"] = write_tiny_sovits(g_path, d_path, seed + 20)
    out["gpt"] = write_tiny_gpt(root / PRETRAINED_GPT["v2"], seed + 30)
    for version in pro_versions:
        out.update(write_tiny_pro(root, version, seed))
    whisper_note = ""
    if whisper:
        try:
            from gpt_sovits.tiny.whisper import make_tiny_whisper
        except ImportError as err:
            whisper_note = f"faster-whisper model skipped: {err}"
            log.warning(whisper_note)
        else:
            out["whisper"] = make_tiny_whisper(root / f"faster-whisper-{WHISPER_SIZE}", seed=seed)
    else:
        whisper_note = "faster-whisper model skipped on request."
    note = (
        "These are tiny models with RANDOM weights, written by tools/make_tiny_models.py for tests and dry runs.\n"
        "They load and run through every stage but produce noise. Replace them with upstream's pretrained files.\n"
        + (whisper_note + "\n" if whisper_note else "")
    )
    (root / NOTE_FILE).write_text(note, encoding="utf-8")
    return out
