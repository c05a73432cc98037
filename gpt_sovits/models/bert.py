"""Phone-level BERT features (chinese-roberta-wwm-ext-large) for Chinese text, as upstream computes them.

tokenizer(norm_text) → masked-LM model with all hidden states → hidden_states[-3] (third from last) → drop [CLS] and
[SEP] → one vector per character → each repeated word2ph[i] times → [hidden, n_phones]. Only zh segments get these;
other languages use zeros (the caller's job, see text/phones.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from gpt_sovits.models.hubert import WEIGHT_FILE_NAMES, check_model_folder

HIDDEN_LAYER = -3


class BertFeatureExtractor:
    """AutoTokenizer + AutoModelForMaskedLM from a local folder."""

    def __init__(self, tokenizer, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.tokenizer = tokenizer
        self.model = model.eval().to(device)
        self.device = torch.device(device)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None) -> BertFeatureExtractor:
        """`dtype` None: as upstream (the folder's own dtype); torch.bfloat16: the fast CPU mode (loaded directly
        in bf16, so the fp32 weights never coexist with it; features differ by ~1 % relative)."""
        path = Path(path)
        check_model_folder(
            path, "BERT (chinese-roberta-wwm-ext-large)", ("config.json",),
            (WEIGHT_FILE_NAMES, ("tokenizer.json", "vocab.txt")),
        )
        from transformers import AutoModelForMaskedLM, AutoTokenizer  # heavy import, only when loading

        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        # In the dtype transformers loads it in (the folder's config `dtype`, fp32 when unset), as upstream does:
        # a folder stored as fp16 gives fp16 features there even without is_half, so forcing fp32 would differ.
        if dtype is None:
            model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
        else:
            model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True, dtype=dtype)
        return cls(tokenizer, model, device)

    @torch.no_grad()
    def char_features(self, norm_text: str) -> torch.Tensor:
        """One hidden-layer(-3) vector per token of norm_text, [CLS]/[SEP] dropped → [n_tokens, hidden] float32."""
        inputs = self.tokenizer(norm_text, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        # the encoder alone (`base_model`): the masked-LM head's 21128-way projection is never used, and skipping it
        # leaves the hidden states bit-identical
        out = self.model.base_model(**inputs, output_hidden_states=True)
        return out.hidden_states[HIDDEN_LAYER][0, 1:-1].float().cpu()

    def phone_features(self, norm_text: str, word2ph: Sequence[int]) -> torch.Tensor:
        """[hidden, sum(word2ph)]: character i's vector repeated word2ph[i] times."""
        chars = self.char_features(norm_text)  # [n_chars, hidden]
        counts = torch.as_tensor(list(word2ph), dtype=torch.long)
        if chars.size(0) != counts.numel():
            raise ValueError(
                f"BERT tokenised {norm_text!r} into {chars.size(0)} tokens but word2ph has {counts.numel()} entries; "
                "upstream requires one token per character of the normalised Chinese text."
            )
        return torch.repeat_interleave(chars, counts, dim=0).T.contiguous()  # [hidden, n_phones]
