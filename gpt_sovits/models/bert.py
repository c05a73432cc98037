"""Phone-level BERT features (chinese-roberta-wwm-ext-large) for Chinese text, as upstream computes them.

tokenizer(norm_text) → masked-LM model with all hidden states → hidden_states[-3] (third from last) → drop [CLS] and
[SEP] → one vector per character → each repeated word2ph[i] times → [hidden, n_phones]. Only zh segments get these;
other languages use zeros (the caller's job, see text/phones.py).

The last two encoder layers only feed states nobody reads, so they are dropped at load (bit-identical features, ~8 %
less time and ~100 MB less memory at full size). In the fast CPU mode (bf16) the encoder's linears run on weights
re-ordered once for oneDNN: the same bf16 products as `F.linear` here (checked bit-identical at full size), about
twice as fast for the few tokens of a sentence, whose matmuls are bound by reading the weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from gpt_sovits.models.hubert import WEIGHT_FILE_NAMES, check_model_folder

HIDDEN_LAYER = -3

log = logging.getLogger(__name__)


class _PackedLinear(torch.nn.Module):
    """An nn.Linear whose weight oneDNN re-ordered once (CPU, bf16): same inputs and outputs, no re-packing per call."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        # plain attributes, not buffers: oneDNN's opaque tensors cannot be moved or copied like ordinary ones
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach().contiguous(), 1)
        self.bias = None if linear.bias is None else linear.bias.detach().contiguous()
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def _drop_unused_layers(model: torch.nn.Module) -> None:
    """Keep the encoder layers up to the one whose output is hidden_states[HIDDEN_LAYER]; the rest are never read."""
    layers = model.base_model.encoder.layer
    keep = len(layers) + 1 + HIDDEN_LAYER  # hidden_states = (embeddings, layer 1, ..., layer n)
    if keep < 0:
        raise ValueError(f"the BERT has {len(layers)} layers; its features need at least {-HIDDEN_LAYER - 1}")
    model.base_model.encoder.layer = layers[:keep]


def _pack_linears(module: torch.nn.Module) -> None:
    """Swap every bf16 nn.Linear under `module` for a _PackedLinear (raises where oneDNN cannot pack one)."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, _PackedLinear(child))
        else:
            _pack_linears(child)


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
        _drop_unused_layers(model)
        extractor = cls(tokenizer, model, device)
        if extractor.device.type == "cpu" and extractor.dtype == torch.bfloat16 and hasattr(torch.ops.mkldnn,
                                                                                            "_linear_pointwise"):
            try:
                _pack_linears(model.base_model.encoder)
            except (RuntimeError, AttributeError) as err:  # linears not yet packed keep F.linear: same values, slower
                log.warning("BERT: oneDNN could not pack its bf16 linears (%s); using the slower F.linear", err)
        return extractor

    @torch.no_grad()
    def char_features(self, norm_text: str) -> torch.Tensor:
        """One hidden-layer(-3) vector per token of norm_text, [CLS]/[SEP] dropped → [n_tokens, hidden] float32."""
        inputs = self.tokenizer(norm_text, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        # the encoder alone (`base_model`): the masked-LM head's 21128-way projection is never used, and skipping it
        # leaves the hidden states bit-identical
        out = self.model.base_model(**inputs)  # its last layer is the one HIDDEN_LAYER names (see above)
        return out.last_hidden_state[0, 1:-1].float().cpu()

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
