"""The SoVITS training data of `logs/<exp>/`: items, dataset, collate and length-bucket sampler (upstream's rules).

Upstream (`module/data_utils.py`) keeps the clips present in all of 2-name2text, 4-cnhubert and 5-wav32k, with
0.6 s < duration < 54 s (duration from the WAV file size), repeats a set of fewer than 100 items
``max(2, int(100 / n))`` times and shuffles it with ``random.seed(1234)``; its bucket sampler then drops clips of
≤ 32 or > 1900 spectrogram frames. It does all of that silently; here every clip left out is reported with its
name and the reason (:class:`Skipped`), and training goes on with the rest.

v2Pro/v2ProPlus also read each clip's speaker-verification embedding from ``7-sv_cn/<name>.pt`` ([1, 20480]).
Upstream keeps only the clips that have one (its item set is the intersection with 7-sv_cn, so a missing file drops
the clip silently; only a file that fails to load becomes zeros, together with a zero wave). Here a clip without a
usable embedding is left out and reported, like any other clip with a missing or unreadable 1A output.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from gpt_sovits.audio.spectrogram import spectrogram
from gpt_sovits.dataset.readers import read_name2text
from gpt_sovits.dataset.steps import SV_VERSIONS, sv_path
from gpt_sovits.paths import ExperimentPaths
from gpt_sovits.text.symbols import symbol_to_id

MIN_ITEMS = 100  # smaller sets are repeated up to about this many items per epoch
MIN_SECONDS, MAX_SECONDS = 0.6, 54.0  # upstream keeps min < duration < max (duration from the file size)
BUCKET_BOUNDARIES = (32, *range(300, 2000, 100))  # spectrogram frames (20 ms); outside (32, 1900] is not trained
SHUFFLE_SEED = 1234
SV_DIM = 20480  # width of a stored speaker-verification embedding (7-sv_cn/<name>.pt holds [1, SV_DIM])


@dataclass(frozen=True)
class SoVITSItem:
    name: str  # file name in 5-wav32k/ (the key of every 1A output)
    phone_ids: tuple[int, ...]
    frames: int  # spectrogram frames estimated from the file size, as upstream's sampler sees them


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class SoVITSData:
    """The items one epoch draws from (after upstream's repetition and shuffle) and the clips left out."""

    items: list[SoVITSItem]
    unique: int  # distinct clips that train
    skipped: list[Skipped]


class SoVITSSample(NamedTuple):
    """One clip as the dataset yields it (upstream's 4-tuple, 5 with sv_emb for v2Pro, plus the name)."""

    ssl: torch.Tensor  # [1, 768, T]
    spec: torch.Tensor  # [1025, T]
    wav: torch.Tensor  # [1, samples]
    text: torch.Tensor  # [N] phone ids
    name: str
    sv_emb: torch.Tensor | None = None  # [1, 20480] float32 for v2Pro/v2ProPlus


@dataclass
class SoVITSBatch:
    """A collated batch in upstream's order: rows sorted by spectrogram length, longest first."""

    ssl: torch.Tensor  # [B, 768, T'] float32, T' = 2·(max_len//2 + 1)
    ssl_lengths: torch.Tensor  # [B]
    spec: torch.Tensor  # [B, 1025, T'] linear magnitude
    spec_lengths: torch.Tensor  # [B]
    wav: torch.Tensor  # [B, 1, max samples] in [-1, 1]
    wav_lengths: torch.Tensor  # [B]
    text: torch.Tensor  # [B, N] phone ids, zero-padded
    text_lengths: torch.Tensor  # [B]
    names: list[str]
    sv_emb: torch.Tensor | None = None  # [B, 20480] float32 (v2Pro/v2ProPlus), rows in the same order

    def to(self, device: torch.device | str) -> "SoVITSBatch":
        moved = {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                 for k, v in vars(self).items()}
        return SoVITSBatch(**moved)


def scan_items(exp: ExperimentPaths, sampling_rate: int, hop_length: int, version: str = "v2",
               min_items: int = MIN_ITEMS) -> SoVITSData:
    """Upstream's item rules over `logs/<exp>/`, with every clip it would leave out named in ``skipped``.

    ``min_items``: a set with fewer clips is repeated ``max(2, min_items // n)`` times per epoch (upstream: 100;
    0 turns the repetition off, which tests use to keep epochs short).
    """
    phones = {name: row.phones for name, row in read_name2text(exp.name2text).items()}
    hubert = {p.name[:-3] for p in exp.hubert_dir.glob("*.pt")}
    wavs = {p.name for p in exp.wav32k_dir.iterdir() if p.is_file()}
    sources = [("text (2-name2text)", set(phones)), ("HuBERT features (4-cnhubert)", hubert),
               ("32 kHz audio (5-wav32k)", wavs)]
    with_sv = version in SV_VERSIONS
    if with_sv:
        found = {p.name[:-3] for p in exp.sv_dir.glob("*.pt")} if exp.sv_dir.is_dir() else set()
        sources.append(("speaker embedding (7-sv_cn: format with v2Pro/v2ProPlus)", found))
    complete = set.intersection(*(have for _, have in sources))
    skipped: list[Skipped] = []
    for name in sorted((set(phones) | wavs) - complete):
        missing = [what for what, have in sources if name not in have]
        skipped.append(Skipped(name, "missing " + " and ".join(missing)))

    table = symbol_to_id(version)
    kept: list[SoVITSItem] = []
    for name in sorted(complete):
        unknown = [s for s in phones[name] if s not in table]
        if unknown:
            skipped.append(Skipped(name, f"phones not in the {version} symbol table: {' '.join(unknown[:5])}"))
            continue
        size = os.path.getsize(exp.wav32k_dir / name)
        seconds = size / sampling_rate / 2  # upstream counts the WAV header too
        if not MIN_SECONDS < seconds < MAX_SECONDS:
            skipped.append(Skipped(name, f"duration {seconds:.2f} s is outside ({MIN_SECONDS} s, {MAX_SECONDS:.0f} s)"))
            continue
        frames = size // (2 * hop_length)
        if not BUCKET_BOUNDARIES[0] < frames <= BUCKET_BOUNDARIES[-1]:
            limit = (f"too short: at most {BUCKET_BOUNDARIES[0]} frames (0.64 s)" if frames <= BUCKET_BOUNDARIES[0]
                     else f"too long: over {BUCKET_BOUNDARIES[-1]} frames (38 s)")
            skipped.append(Skipped(name, f"{limit}; upstream's length buckets leave it out too"))
            continue
        problem = _unreadable(exp, name, sampling_rate, with_sv)
        if problem:
            skipped.append(Skipped(name, problem))
            continue
        kept.append(SoVITSItem(name, tuple(table[s] for s in phones[name]), frames))

    items = list(kept)
    if 0 < len(kept) < min_items:
        items = kept * max(2, min_items // len(kept))
    random.Random(SHUFFLE_SEED).shuffle(items)
    return SoVITSData(items=items, unique=len(kept), skipped=skipped)


def _unreadable(exp: ExperimentPaths, name: str, sampling_rate: int, with_sv: bool = False) -> str | None:
    """Why this clip's files cannot be trained on, or None (upstream would silently train on zeros instead)."""
    try:
        info = sf.info(str(exp.wav32k_dir / name))
        ssl = torch.load(exp.hubert_dir / f"{name}.pt", map_location="cpu", weights_only=True)
        emb = torch.load(sv_path(exp, name), map_location="cpu", weights_only=True) if with_sv else None
    except Exception as err:  # noqa: BLE001 -- any unreadable file is a reason to skip this clip
        return f"unreadable 1A output ({type(err).__name__}: {err}); rerun the 1A audio step"
    if with_sv and not (isinstance(emb, torch.Tensor) and emb.numel() == SV_DIM and emb.is_floating_point()):
        shape = tuple(emb.shape) if isinstance(emb, torch.Tensor) else type(emb).__name__
        return f"speaker embedding of shape {shape}, expected [1, {SV_DIM}]; rerun the 1A audio step"
    if info.samplerate != sampling_rate:
        return f"5-wav32k file at {info.samplerate} Hz, expected {sampling_rate} Hz; rerun the 1A audio step"
    if not isinstance(ssl, torch.Tensor) or ssl.dim() != 3 or ssl.shape[:2] != (1, 768) or ssl.shape[-1] < 1:
        shape = tuple(ssl.shape) if isinstance(ssl, torch.Tensor) else type(ssl).__name__
        return f"HuBERT features of shape {shape}, expected [1, 768, frames]; rerun the 1A audio step"
    return None


class SoVITSDataset(torch.utils.data.Dataset):
    """One item = :class:`SoVITSSample` as upstream builds it (v2Pro/v2ProPlus: with the stored SV embedding)."""

    def __init__(self, exp: ExperimentPaths, items: Sequence[SoVITSItem], data_hps: dict,
                 version: str = "v2") -> None:
        self.exp = exp
        self.with_sv = version in SV_VERSIONS
        self.items = list(items)
        self.lengths = [item.frames for item in self.items]
        self.filter_length = int(data_hps["filter_length"])
        self.hop_length = int(data_hps["hop_length"])
        self.win_length = int(data_hps["win_length"])
        self.sampling_rate = int(data_hps["sampling_rate"])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> SoVITSSample:
        item = self.items[index]
        wav = self.load_wav(self.exp.wav32k_dir / item.name)
        spec = spectrogram(wav, self.filter_length, self.hop_length, self.win_length)[0]  # [F, T]
        ssl = torch.load(self.exp.hubert_dir / f"{item.name}.pt", map_location="cpu", weights_only=True)
        if ssl.shape[-1] != spec.shape[-1]:
            # upstream pads by ONE replicated frame whenever the lengths differ (quirk S8)
            ssl = F.pad(ssl.float(), (0, 1), mode="replicate").to(ssl.dtype)
        sv_emb = None
        if self.with_sv:  # fp16 when 1A ran with half precision on a GPU; training reads float32 (as upstream)
            sv_emb = torch.load(sv_path(self.exp, item.name), map_location="cpu", weights_only=True)
            sv_emb = sv_emb.reshape(1, SV_DIM).float()
        return SoVITSSample(ssl, spec, wav, torch.tensor(item.phone_ids, dtype=torch.long), item.name, sv_emb)

    def load_wav(self, path: Path) -> torch.Tensor:
        """int16 WAV → float32 ``[1, samples]`` = value / 32768 (what upstream's ffmpeg f32le decode gives)."""
        data, sr = sf.read(str(path), dtype="int16", always_2d=True)
        if sr != self.sampling_rate:
            raise ValueError(f"{path.name}: sample rate {sr} Hz, expected {self.sampling_rate} Hz (rerun 1A)")
        mono = data.astype(np.float32).mean(axis=1) if data.shape[1] > 1 else data[:, 0].astype(np.float32)
        return torch.from_numpy(mono / 32768.0).unsqueeze(0)


def collate(batch: Sequence[SoVITSSample]) -> SoVITSBatch:
    """Upstream's TextAudioSpeakerCollate: sort by spectrogram length (descending), zero-pad ssl/spec to the even
    length ``2·(max//2 + 1)``, waves to the longest wave, phone ids with 0; SV embeddings (when the samples have
    them) stacked into ``[B, 20480]`` in the same order."""
    spec_lens = torch.tensor([x[1].size(1) for x in batch], dtype=torch.long)
    order = torch.sort(spec_lens, descending=True, stable=True).indices.tolist()
    max_ssl = 2 * (max(x[0].size(2) for x in batch) // 2 + 1)
    max_spec = 2 * (int(spec_lens.max()) // 2 + 1)
    max_wav = max(x[2].size(1) for x in batch)
    max_text = max(x[3].size(0) for x in batch)
    n = len(batch)
    ssl = torch.zeros(n, batch[0][0].size(1), max_ssl)
    spec = torch.zeros(n, batch[0][1].size(0), max_spec)
    wav = torch.zeros(n, 1, max_wav)
    text = torch.zeros(n, max_text, dtype=torch.long)
    lengths = torch.zeros(4, n, dtype=torch.long)
    with_sv = len(batch[0]) > 5 and batch[0][5] is not None
    sv_emb = torch.zeros(n, SV_DIM) if with_sv else None
    names = []
    for i, j in enumerate(order):
        s, sp, w, t, name = batch[j][:5]
        if sv_emb is not None:
            sv_emb[i] = batch[j][5].reshape(SV_DIM)
        ssl[i, :, : s.size(2)] = s[0]
        spec[i, :, : sp.size(1)] = sp
        wav[i, :, : w.size(1)] = w
        text[i, : t.size(0)] = t
        lengths[:, i] = torch.tensor([s.size(2), sp.size(1), w.size(1), t.size(0)])
        names.append(name)
    return SoVITSBatch(ssl=ssl, ssl_lengths=lengths[0], spec=spec, spec_lengths=lengths[1], wav=wav,
                       wav_lengths=lengths[2], text=text, text_lengths=lengths[3], names=names, sv_emb=sv_emb)


class BucketSampler(torch.utils.data.Sampler[list[int]]):
    """Upstream's DistributedBucketSampler: batches of similar length, one bucket per boundary interval.

    Each bucket is padded (by repeating its own shuffled indices) to a multiple of ``world_size·batch_size``; the
    bucket and batch order are shuffled with a generator seeded by the epoch, so every rank and every restart sees
    the same batches. ``skip`` drops the first batches of the epoch (resuming in the middle of an epoch).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, boundaries: Sequence[int] = BUCKET_BOUNDARIES,
                 world_size: int = 1, rank: int = 0, shuffle: bool = True) -> None:
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0
        edges = list(boundaries)
        buckets: list[list[int]] = [[] for _ in range(len(edges) - 1)]
        for i, length in enumerate(lengths):
            for b in range(len(edges) - 1):
                if edges[b] < length <= edges[b + 1]:
                    buckets[b].append(i)
                    break
        self.buckets = [b for b in buckets if b]
        total = world_size * batch_size
        self.samples_per_bucket = [len(b) + (total - len(b) % total) % total for b in self.buckets]
        self.num_samples = sum(self.samples_per_bucket) // world_size

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip

    def batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch, in training order."""
        g = torch.Generator()
        g.manual_seed(self.epoch)
        if self.shuffle:
            orders = [torch.randperm(len(b), generator=g).tolist() for b in self.buckets]
        else:
            orders = [list(range(len(b))) for b in self.buckets]
        batches = []
        for bucket, ids, wanted in zip(self.buckets, orders, self.samples_per_bucket):
            rem = wanted - len(bucket)
            ids = ids + ids * (rem // len(bucket)) + ids[: rem % len(bucket)]
            ids = ids[self.rank :: self.world_size]
            for j in range(len(ids) // self.batch_size):
                batches.append([bucket[k] for k in ids[j * self.batch_size : (j + 1) * self.batch_size]])
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches()[self.skip :])

    def __len__(self) -> int:
        return self.num_samples // self.batch_size
