"""g2p_en's neural spelling → ARPAbet predictor, run in numpy from the weights shipped in the g2p_en wheel.

Why not ``g2p_en.G2p``: importing ``g2p_en`` calls ``nltk.download`` when NLTK data is missing, and its constructor
reads NLTK's cmudict corpus. We only locate the package folder (``importlib.util.find_spec`` does not execute it)
and read ``checkpoint20.npz`` and ``homographs.en`` from there.

Model: character embedding → GRU encoder (PyTorch gate layout r, z, n) → last hidden state → GRU decoder fed its own
previous phone, greedy argmax, at most 20 phones, stop at ``</s>``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from gpt_sovits.text.errors import TextFrontendError

GRAPHEMES = ["<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz"]
_ARPABET_WITH_BARE_UW = (
    "AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 ER0 ER1 ER2 "
    "EY0 EY1 EY2 F G HH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P R S SH T TH UH0 UH1 UH2 "
    "UW UW0 UW1 UW2 V W Y Z ZH"
)
PHONEMES = ["<pad>", "<unk>", "<s>", "</s>", *_ARPABET_WITH_BARE_UW.split()]  # the model's output vocabulary (74)
_START, _END = PHONEMES.index("<s>"), PHONEMES.index("</s>")
_MAX_PHONES = 20


def g2p_en_dir() -> Path:
    """Folder of the installed g2p_en package (found without importing it)."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise TextFrontendError("English text needs the g2p_en package (pip install g2p_en==2.1.0) for its model")
    return Path(next(iter(spec.submodule_search_locations)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class GruCell:
    """One GRU layer's weights; ``step`` is PyTorch's GRUCell formula."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray) -> None:
        self.w_ih_t = w_ih.T  # [in, 3H]
        self.w_hh_t = w_hh.T  # [H, 3H]
        self.b_ih = b_ih
        self.b_hh = b_hh
        self.hidden = w_hh.shape[1]

    def step(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """x [1, in], h [1, H] → new h [1, H]."""
        gi = x @ self.w_ih_t + self.b_ih  # [1, 3H]
        gh = h @ self.w_hh_t + self.b_hh  # [1, 3H]
        split = 2 * self.hidden
        rz = _sigmoid(gi[:, :split] + gh[:, :split])
        r, z = rz[:, : self.hidden], rz[:, self.hidden :]
        n = np.tanh(gi[:, split:] + r * gh[:, split:])
        return (1 - z) * n + z * h


class NeuralG2P:
    """Predicts ARPAbet for a lower-case word the dictionary does not know."""

    def __init__(self, checkpoint: Path | None = None) -> None:
        path = checkpoint or g2p_en_dir() / "checkpoint20.npz"
        with np.load(path) as w:
            self.enc_emb = w["enc_emb"]  # [29, E]
            self.dec_emb = w["dec_emb"]  # [74, E]
            self.encoder = GruCell(w["enc_w_ih"], w["enc_w_hh"], w["enc_b_ih"], w["enc_b_hh"])
            self.decoder = GruCell(w["dec_w_ih"], w["dec_w_hh"], w["dec_b_ih"], w["dec_b_hh"])
            self.fc_w_t = w["fc_w"].T  # [H, 74]
            self.fc_b = w["fc_b"]  # [74]
        self._g2idx = {g: i for i, g in enumerate(GRAPHEMES)}

    def predict(self, word: str) -> list[str]:
        unk = self._g2idx["<unk>"]
        ids = [self._g2idx.get(ch, unk) for ch in word] + [self._g2idx["</s>"]]
        h = np.zeros((1, self.encoder.hidden), np.float32)
        for i in ids:
            h = self.encoder.step(self.enc_emb[i : i + 1], h)
        phones: list[str] = []
        prev = _START
        for _ in range(_MAX_PHONES):
            h = self.decoder.step(self.dec_emb[prev : prev + 1], h)
            logits = h @ self.fc_w_t + self.fc_b  # [1, 74]
            prev = int(logits.argmax())
            if prev == _END:
                break
            phones.append(PHONEMES[prev] if prev < len(PHONEMES) else "<unk>")
        return phones


def load_homographs(path: Path | None = None) -> dict[str, tuple[list[str], list[str], str]]:
    """g2p_en's homograph table: word → (pronunciation if the POS tag matches, otherwise, POS tag prefix)."""
    path = path or g2p_en_dir() / "homographs.en"
    table: dict[str, tuple[list[str], list[str], str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        head, pron1, pron2, pos = line.strip().split("|")
        table[head.lower()] = (pron1.split(), pron2.split(), pos)
    return table
