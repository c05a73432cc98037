"""The GPT trainer's view of `logs/<exp>/`: semantic tokens, phones, BERT features; upstream's filters and batching.

Upstream (`AR/data/dataset.py`, `bucket_sampler.py`, `data_module.py`) drops items silently; we keep its rules but
report every dropped item by name and reason. Rules: items longer than max_sec·25 tokens (1350), with more than
max_sec·25/2.5 phones (540), or with phones per second outside [3, 25] are dropped; a set under 100 items is
repeated max(2, 100 // n) times; a missing BERT file gives zeros; batches are consecutive runs of a length-bucketed,
per-epoch shuffled order; the collate pads phones with 0 and semantic tokens with 1024 (EOS).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gpt_sovits.dataset.outputs import SEMANTIC_HEADER
from gpt_sovits.dataset.readers import Name2TextRow
from gpt_sovits.text.cleaner import cleaned_text_to_sequence

HZ = 25  # semantic tokens per second
MIN_PHONES_PER_SECOND = 3
MAX_PHONES_PER_SECOND = 25
MIN_ITEMS = 100
PHONE_PAD = 0
SEMANTIC_PAD = 1024  # = EOS
BERT_DIM = 1024
BUCKET_SECONDS = 2.0


@dataclass
class GPTBatch:
    """A collated batch: phones right-padded with 0, semantic tokens right-padded with 1024, BERT [B, 1024, Tx]."""

    phoneme_ids: torch.Tensor  # [B, Tx] int64
    phoneme_ids_len: torch.Tensor  # [B]
    semantic_ids: torch.Tensor  # [B, Ty] int64
    semantic_ids_len: torch.Tensor  # [B]
    bert_feature: torch.Tensor  # [B, 1024, Tx] float32
    names: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> GPTBatch:
        return GPTBatch(
            self.phoneme_ids.to(device), self.phoneme_ids_len.to(device), self.semantic_ids.to(device),
            self.semantic_ids_len.to(device), self.bert_feature.to(device), self.names,
        )

    def model_args(self) -> tuple[torch.Tensor, ...]:
        return (self.phoneme_ids, self.phoneme_ids_len, self.semantic_ids, self.semantic_ids_len, self.bert_feature)

    @property
    def tokens(self) -> int:
        """Target positions the summed loss covers (semantic width + EOS, every row)."""
        return int(self.semantic_ids.size(0) * (self.semantic_ids.size(1) + 1))


def read_name2semantic(path: str | Path) -> dict[str, list[int]]:
    """`6-name2semantic.tsv`: the header line, then `name \\t space-separated tokens` per item, in file order."""
    rows: dict[str, list[int]] = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if (i == 0 and line.strip() == SEMANTIC_HEADER) or not line.strip():
            continue
        name, _, tokens = line.partition("\t")
        try:
            rows[name] = [int(t) for t in tokens.split()]
        except ValueError as err:
            raise ValueError(f"{path}: line {i + 1} ({name!r}) is not a list of integer tokens: {err}") from err
    return rows


def bert_path(bert_dir: Path, name: str) -> Path:
    return bert_dir / f"{name}.pt"


class BadItemError(ValueError):
    """A formatted file does not fit its item (written for other phones, truncated...); the message names it."""


def read_bert(bert_dir: Path, name: str, n_phones: int) -> torch.Tensor | None:
    """BERT features [1024, n_phones] of one item, or None when 1A wrote none (non-Chinese text)."""
    path = bert_path(bert_dir, name)
    if not path.is_file():
        return None
    try:
        feature = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise BadItemError(f"{path}: cannot be read ({err}). Run 1A again for this experiment.") from err
    if not isinstance(feature, torch.Tensor) or feature.dim() != 2 or feature.shape != (BERT_DIM, n_phones):
        shape = tuple(feature.shape) if isinstance(feature, torch.Tensor) else type(feature).__name__
        raise BadItemError(
            f"{path}: BERT features of shape {shape}, expected ({BERT_DIM}, {n_phones}) for its {n_phones} phones; "
            "the 1A text step wrote it for other phones. Run 1A again for this experiment."
        )
    return feature.float()


@dataclass(frozen=True)
class GPTItem:
    name: str
    phoneme_ids: list[int]
    semantic_ids: list[int]

    @property
    def seconds(self) -> float:
        return len(self.semantic_ids) / HZ


@dataclass
class GPTSelection:
    items: list[GPTItem]  # kept items, each once, in 6-name2semantic.tsv order
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    missing_bert: list[str] = field(default_factory=list)  # kept items trained with zero BERT features


def select_items(
    name2text: dict[str, Name2TextRow], name2semantic: dict[str, list[int]], bert_dir: Path,
    max_sec: int = 54, version: str = "v2",
) -> GPTSelection:
    """Upstream's item filters, each dropped item with its reason."""
    max_tokens = max_sec * HZ
    max_phones = max_sec * HZ / 2.5
    selection = GPTSelection(items=[])
    for name, semantic in name2semantic.items():
        row = name2text.get(name)
        if row is None:
            selection.dropped.append((name, "no phones in 2-name2text.txt"))
            continue
        if not semantic:
            selection.dropped.append((name, "no semantic tokens"))
            continue
        if len(semantic) > max_tokens:
            reason = f"{len(semantic)} semantic tokens > {max_tokens} (longer than {max_sec} s)"
            selection.dropped.append((name, reason))
            continue
        try:
            phones = cleaned_text_to_sequence(row.phones, version)
        except (KeyError, ValueError) as err:
            selection.dropped.append((name, f"phone not in the {version} symbol table: {err}"))
            continue
        if len(phones) > max_phones:
            selection.dropped.append((name, f"{len(phones)} phones > {max_phones:g}"))
            continue
        ratio = len(phones) / (len(semantic) / HZ)
        if not MIN_PHONES_PER_SECOND <= ratio <= MAX_PHONES_PER_SECOND:
            selection.dropped.append(
                (name, f"{ratio:.1f} phones per second, outside [{MIN_PHONES_PER_SECOND}, {MAX_PHONES_PER_SECOND}]")
            )
            continue
        if not bert_path(bert_dir, name).is_file():
            selection.missing_bert.append(name)
        selection.items.append(GPTItem(name, phones, semantic))
    return selection


def repeat_small(items: list[GPTItem], min_items: int = MIN_ITEMS) -> list[GPTItem]:
    """Upstream repeats a small set max(2, min_items // n) times so that an epoch is not a handful of batches."""
    if not items or len(items) >= min_items:
        return list(items)
    return list(items) * max(2, int(min_items / len(items)))


class GPTDataset(torch.utils.data.Dataset):
    """Items (already filtered and repeated) → dicts the collate turns into a GPTBatch."""

    def __init__(self, items: list[GPTItem], bert_dir: Path) -> None:
        self.items = items
        self.bert_dir = Path(bert_dir)

    def __len__(self) -> int:
        return len(self.items)

    def seconds(self, index: int) -> float:
        return self.items[index].seconds

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        return {
            "name": item.name,
            "phoneme_ids": torch.tensor(item.phoneme_ids, dtype=torch.long),
            "semantic_ids": torch.tensor(item.semantic_ids, dtype=torch.long),
            "bert_feature": read_bert(self.bert_dir, item.name, len(item.phoneme_ids)),
        }


def collate(samples: list[dict]) -> GPTBatch:
    """Right-pad phones with 0 and semantic tokens with 1024; BERT zero-padded (zeros for items without a file)."""
    B = len(samples)
    tx = max(int(s["phoneme_ids"].numel()) for s in samples)
    ty = max(int(s["semantic_ids"].numel()) for s in samples)
    phones = torch.full((B, tx), PHONE_PAD, dtype=torch.long)
    semantic = torch.full((B, ty), SEMANTIC_PAD, dtype=torch.long)
    bert = torch.zeros(B, BERT_DIM, tx)
    for b, s in enumerate(samples):
        n, m = s["phoneme_ids"].numel(), s["semantic_ids"].numel()
        phones[b, :n] = s["phoneme_ids"]
        semantic[b, :m] = s["semantic_ids"]
        if s["bert_feature"] is not None:
            bert[b, :, :n] = s["bert_feature"]
    return GPTBatch(
        phones, torch.tensor([s["phoneme_ids"].numel() for s in samples]), semantic,
        torch.tensor([s["semantic_ids"].numel() for s in samples]), bert, [s["name"] for s in samples],
    )


def clamp_batch_size(requested: int, n_items: int, dpo: bool = False) -> int:
    """Upstream's data module: halved with DPO, then at most a quarter of the (repeated) set, at least 1."""
    batch = requested // 2 if dpo else requested
    return max(min(batch, n_items // 4), 1)


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Upstream's DistributedBucketSampler + DataLoader batching, as batches of indices.

    Items sorted by duration are cut into 2-second-wide buckets; every epoch each bucket is shuffled, the
    concatenation is cut into groups of batch·world items, the groups are shuffled (Python's `random` seeded with
    seed + epoch, as upstream), padded to a multiple of the world size, and every rank takes every world-th index.
    """

    def __init__(self, dataset: GPTDataset, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        by_length = sorted(range(len(dataset)), key=dataset.seconds)
        self.buckets: list[list[int]] = []
        current: list[int] = []
        edge = BUCKET_SECONDS
        for index in by_length:
            if dataset.seconds(index) < edge:
                current.append(index)
            else:
                self.buckets.append(current)
                current = [index]
                edge += BUCKET_SECONDS
        if current:
            self.buckets.append(current)
        self.per_rank = math.ceil(len(dataset) / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
        rng = random.Random(self.seed + self.epoch)
        shuffled: list[list[int]] = []
        for bucket in self.buckets:
            copy = list(bucket)
            rng.shuffle(copy)
            shuffled.append(copy)
        flat = list(itertools.chain(*shuffled))
        group = self.batch_size * self.world_size
        groups = [flat[i : i + group] for i in range(0, len(flat), group)]
        rng.shuffle(groups)
        order = list(itertools.chain(*groups))
        total = self.per_rank * self.world_size
        order += order[: total - len(order)]
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        order = self.indices()
        for i in range(0, len(order), self.batch_size):
            yield order[i : i + self.batch_size]

    def __len__(self) -> int:
        return math.ceil(self.per_rank / self.batch_size)
