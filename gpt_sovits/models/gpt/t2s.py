"""Text2SemanticDecoder: the GPT ("s1") that turns phones (+ BERT features) and a semantic prompt into 25 Hz tokens.

One sequence = [text (Tx) ; audio (Ty)] through a post-LN transformer with a prefix-LM mask: text rows see all text,
audio rows see all text and the audio up to themselves. Both streams get their own sinusoidal PE starting at 0,
scaled by a learnable alpha. Parameter names equal upstream's `Text2SemanticDecoder` (files add a `model.` prefix;
see checkpoints.py). Semantics follow ARCHITECTURE §3 and the reference bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gpt_sovits.models.gpt.decode import FlatDecoder, FlatSteps
from gpt_sovits.models.gpt.layers import KVCache, SinePositionalEmbedding, T2SStack, TokenEmbedding
from gpt_sovits.models.gpt.sampling import sample_next
from gpt_sovits.models.gpt.threads import ThreadGovernor, ThreadPolicy

BERT_DIM = 1024  # chinese-roberta-wwm-ext-large width; fixed by upstream's bert_proj
MAX_DECODE_STEPS = 1500  # upstream's hard loop cap (60 s of audio per sentence)
EOS_BLOCKED_STEPS = 11  # EOS column removed for the first 11 steps
DPO_BETA = 0.2


@dataclass(frozen=True)
class T2SModelConfig:
    """The `model:` section of an s1 yaml (only the keys the network uses)."""

    vocab_size: int = 1025
    phoneme_vocab_size: int = 732
    embedding_dim: int = 512
    hidden_dim: int = 512
    head: int = 16
    n_layer: int = 24
    dropout: float = 0.0
    EOS: int = 1024

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> T2SModelConfig:
        """Accept the full s1 config ({"model": {...}, ...}) or just its model section."""
        section = config.get("model", config)
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: section[k] for k in names if k in section})


@dataclass
class T2SForwardOutput:
    loss: torch.Tensor  # [] summed cross-entropy (+ DPO term in forward_dpo)
    acc: float  # top-3 accuracy over non-EOS targets (logging only)
    logits: torch.Tensor  # [B, Ty+1, V]
    targets: torch.Tensor  # [B, Ty+1]
    dpo: DPOTerms | None = None  # set by forward_dpo


@dataclass
class T2SInferResult:
    """What `infer` produced, with upstream's return convention kept alongside plain fields.

    y:   prompt ++ generated tokens [1, Tp + n] (upstream's `y`; the token of the step that hit EOS is removed).
    idx: upstream's second return value (the step index at which decoding stopped; 0 in reference-free mode).
    """

    y: torch.Tensor
    idx: int
    prompt_len: int
    ref_free: bool
    stopped_by_eos: bool
    step_logits: torch.Tensor | None = None  # [steps, V] raw logits per step when collected

    @property
    def generated(self) -> torch.Tensor:
        """All kept generated tokens [1, n]."""
        return self.y[:, self.prompt_len :]

    @property
    def pred_semantic(self) -> torch.Tensor:
        """What upstream's webui feeds to SoVITS: `y[:, -idx:]` ([1, n'] int64).

        Equals `generated` when EOS ended decoding; when a length cap ended it, the first generated token is dropped
        (upstream quirk, kept for parity). Reference-free: all of y. Deliberate fix: for idx == 0 with a prompt
        (only reachable with early_stop_num=0) upstream would return the prompt too; we return the generated tokens.
        """
        if self.ref_free:
            return self.y.long()
        if self.idx <= 0:
            return self.generated.long()
        return self.y[:, -self.idx :].long()


def prefix_lm_mask(x_len: int, y_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Bool [L, L] (True = may attend): text rows see text only; audio rows see text + causal audio."""
    L = x_len + y_len
    allowed = torch.zeros(L, L, dtype=torch.bool, device=device)
    allowed[:x_len, :x_len] = True
    allowed[x_len:, :x_len] = True
    allowed[x_len:, x_len:] = torch.ones(y_len, y_len, dtype=torch.bool, device=device).tril()
    return allowed


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool [B, max_len], True at real (non-pad) positions of right-padded sequences."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


@dataclass(frozen=True)
class RejectDraws:
    """The random numbers of one DPO rejected batch (upstream's draw order: per row the choice, then the span).

    choice [B]: 0 = repeat a span, 1 = delete it; span [B, 2]: the two span ends as drawn (unsorted), in
    [0, padded width of the semantic batch).
    """

    choice: torch.Tensor
    span: torch.Tensor

    @classmethod
    def draw(cls, batch: int, width: int, generator: torch.Generator | None = None) -> RejectDraws:
        choice, span = [], []
        for _ in range(batch):
            choice.append(torch.randint(0, 2, (1,), generator=generator))
            span.append(torch.randint(0, max(width, 1), (2,), generator=generator))
        return cls(torch.cat(choice), torch.stack(span))


def make_rejected_semantic(y: torch.Tensor, draws: RejectDraws) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO negatives as upstream builds them (quirk G5): per row, repeat or delete the span [s, e) of the PADDED row.

    Because the span is drawn over the padded width, a short row's negative can contain pad tokens (1024), and they
    count in its length. Rows are then right-padded with 0 (the pad value does not matter: pads are masked).
    """
    rows: list[torch.Tensor] = []
    for b in range(y.size(0)):
        s, e = sorted(int(v) for v in draws.span[b])
        row = y[b]
        if int(draws.choice[b]) == 0:
            rows.append(torch.cat([row[:s], row[s:e], row[s:e], row[e:]]))
        else:
            rows.append(torch.cat([row[:s], row[e:]]))
    lens = torch.tensor([r.numel() for r in rows], dtype=torch.long, device=y.device)
    out = torch.zeros(len(rows), max(int(lens.max()), 1), dtype=y.dtype, device=y.device)
    for b, row in enumerate(rows):
        out[b, : row.numel()] = row
    return out, lens


@dataclass
class DPOTerms:
    """What the DPO objective adds, kept for logging and for the parity test."""

    loss: torch.Tensor  # [] mean(-logsigmoid(beta * (logp_chosen - logp_rejected)))
    logp_chosen: torch.Tensor  # [B] sum over all target positions (EOS and pad targets included)
    logp_rejected: torch.Tensor  # [B]
    rejected: torch.Tensor  # [B, Tr] rejected sequences, zero-padded
    rejected_len: torch.Tensor  # [B]


def sequence_logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row sum of log p(target) over every position [B]."""
    return logits.float().log_softmax(-1).gather(2, targets[..., None]).squeeze(2).sum(-1)


class ModuleSteps:
    """The decode steps through the model's own modules (training-time code, hooks, CUDA, half precision)."""

    def __init__(self, model: Text2SemanticDecoder, capacity: int, dtype: torch.dtype, device: torch.device) -> None:
        self.model = model
        self.cache = KVCache(len(model.h.layers), 1, model.num_head, model.model_dim // model.num_head,
                             capacity=capacity, dtype=dtype, device=device)

    def logits(self, xy: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """xy [1, T, C] new positions, mask [1, 1, T, S] or None → logits [1, V] of the last position."""
        self.cache.reserve(xy.size(1))
        h = self.model.h(xy, mask, self.cache)  # [1, T, C]
        return self.model.ar_predict_layer(h[:, -1])

    def embed(self, token: torch.Tensor, position: int) -> torch.Tensor:
        """token [1, 1] at audio position `position` → [1, 1, C]."""
        return self.model.ar_audio_position(self.model.ar_audio_embedding(token), offset=position)


class Text2SemanticDecoder(nn.Module):
    """The s1 GPT. Build from the upstream s1 config dict (`{"model": {...}, "data": {...}, ...}`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        cfg = T2SModelConfig.from_config(config)
        if cfg.embedding_dim != cfg.hidden_dim:
            raise ValueError("embedding_dim must equal hidden_dim (upstream feeds embeddings straight into the stack)")
        self.cfg = cfg
        self.model_dim = cfg.hidden_dim
        self.num_head = cfg.head
        self.EOS = cfg.EOS
        self.bert_proj = nn.Linear(BERT_DIM, cfg.embedding_dim)
        self.ar_text_embedding = TokenEmbedding(cfg.embedding_dim, cfg.phoneme_vocab_size, cfg.dropout)
        self.ar_text_position = SinePositionalEmbedding(cfg.embedding_dim, dropout=0.1)
        self.ar_audio_embedding = TokenEmbedding(cfg.embedding_dim, cfg.vocab_size, cfg.dropout)
        self.ar_audio_position = SinePositionalEmbedding(cfg.embedding_dim, dropout=0.1)
        # FFN width is 4·hidden in upstream (the yaml's linear_units is unused).
        self.h = T2SStack(cfg.hidden_dim, cfg.head, cfg.n_layer, 4 * cfg.hidden_dim, dropout=0.1)
        self.ar_predict_layer = nn.Linear(cfg.hidden_dim, cfg.vocab_size, bias=False)

    # ------------------------------------------------------------------ embeddings
    def embed_text(self, phoneme_ids: torch.Tensor, bert_feature: torch.Tensor) -> torch.Tensor:
        """phones [B, Tx], bert [B, 1024, Tx] → [B, Tx, C] (embedding + bert_proj, then text PE)."""
        x = self.ar_text_embedding(phoneme_ids)
        x = x + self.bert_proj(bert_feature.transpose(1, 2))
        return self.ar_text_position(x)

    # ------------------------------------------------------------------ training
    def _teacher_forced_logits(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_ids_len: torch.Tensor,
        semantic_ids: torch.Tensor,
        semantic_ids_len: torch.Tensor,
        bert_feature: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, Ty+1, V] and targets [B, Ty+1] for right-padded phones and semantic tokens.

        Targets = codes with EOS at the end of each sequence and at every pad position; decoder input = targets
        without the last column (pads read as EOS), as upstream.

        Deliberate fix of upstream quirk §7.10: upstream masks the *left* phone positions of right-padded phones and
        reads the first-token logit at x_len_max − 1. We mask the actual pad positions (right) and read each item's
        first-token logit at its own last phone. With equal phone lengths in a batch (always true for batch 1, and
        the only case upstream handles correctly) the results are identical.
        """
        B, Tx = phoneme_ids.shape
        Ty = semantic_ids.size(1)
        x = self.embed_text(phoneme_ids, bert_feature)  # [B, Tx, C]
        x_real = length_mask(phoneme_ids_len, Tx)  # [B, Tx]
        y_real = length_mask(semantic_ids_len, Ty)  # [B, Ty]
        codes = semantic_ids.long() * y_real.long()
        targets = F.pad(codes, (0, 1), value=0) + self.EOS * F.pad((~y_real).long(), (0, 1), value=1)  # [B, Ty+1]
        y_in = targets[:, :-1]  # [B, Ty]
        y_pos = self.ar_audio_position(self.ar_audio_embedding(y_in))  # [B, Ty, C]
        xy = torch.cat([x, y_pos], dim=1)  # [B, Tx+Ty, C]
        key_ok = torch.cat([x_real, y_real], dim=1)  # [B, L]
        mask = prefix_lm_mask(Tx, Ty, xy.device)[None] & key_ok[:, None, :]  # [B, L, L]
        dec = self.h(xy, mask[:, None])  # [B, L, C]
        last_phone = (phoneme_ids_len.long() - 1).clamp(min=0)
        first = dec[torch.arange(B, device=dec.device), last_phone][:, None]  # [B, 1, C]
        logits = self.ar_predict_layer(torch.cat([first, dec[:, Tx:]], dim=1))  # [B, Ty+1, V]
        return logits, targets

    def top3_accuracy(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Micro top-3 accuracy over positions whose target is not EOS (upstream's logging metric)."""
        keep = targets != self.EOS
        if not bool(keep.any()):
            return 0.0
        top3 = logits.topk(min(3, logits.size(-1)), dim=-1).indices  # [B, T, 3]
        hit = (top3 == targets[..., None]).any(-1)
        return float(hit[keep].float().mean())

    def forward(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_ids_len: torch.Tensor,
        semantic_ids: torch.Tensor,
        semantic_ids_len: torch.Tensor,
        bert_feature: torch.Tensor,
    ) -> T2SForwardOutput:
        """Training loss: cross-entropy **summed** over batch and positions (pads trained to predict EOS)."""
        logits, targets = self._teacher_forced_logits(
            phoneme_ids, phoneme_ids_len, semantic_ids, semantic_ids_len, bert_feature
        )
        loss = F.cross_entropy(logits.transpose(1, 2).float(), targets, reduction="sum")
        return T2SForwardOutput(loss, self.top3_accuracy(logits.detach(), targets), logits, targets)

    def forward_dpo(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_ids_len: torch.Tensor,
        semantic_ids: torch.Tensor,
        semantic_ids_len: torch.Tensor,
        bert_feature: torch.Tensor,
        generator: torch.Generator | None = None,
        draws: RejectDraws | None = None,
    ) -> T2SForwardOutput:
        """Upstream's DPO objective: CE_sum(chosen) + mean(−logσ(β·(Σlogp_chosen − Σlogp_rejected))).

        The rejected sequences come from `draws` (inject recorded ones) or are drawn from `generator`.
        """
        if draws is None:
            draws = RejectDraws.draw(semantic_ids.size(0), semantic_ids.size(1), generator)
        rejected, rejected_len = make_rejected_semantic(semantic_ids, draws)
        logits, targets = self._teacher_forced_logits(
            phoneme_ids, phoneme_ids_len, semantic_ids, semantic_ids_len, bert_feature
        )
        r_logits, r_targets = self._teacher_forced_logits(
            phoneme_ids, phoneme_ids_len, rejected, rejected_len, bert_feature
        )
        ce = F.cross_entropy(logits.transpose(1, 2).float(), targets, reduction="sum")
        chosen_logp = sequence_logp(logits, targets)
        rejected_logp = sequence_logp(r_logits, r_targets)
        dpo = -F.logsigmoid(DPO_BETA * (chosen_logp - rejected_logp)).mean()
        terms = DPOTerms(dpo, chosen_logp.detach(), rejected_logp.detach(), rejected, rejected_len)
        return T2SForwardOutput(ce + dpo, self.top3_accuracy(logits.detach(), targets), logits, targets, terms)

    # ------------------------------------------------------------------ inference
    def prepare_inference(self, precision: str = "fp32", adaptive_threads: bool = True,
                          keep_weights: bool = True, fp32_kind: str | None = None) -> bool:
        """Build the CPU decode path `infer` then uses (decode.FlatDecoder: packed weights, flat step, thread policy).

        precision "fp32" is exact mode; "bf16"/"int8" are fast modes (see decode.py). Returns False and builds
        nothing when the model is not an fp32 model on the CPU (CUDA and half precision keep the module path).
        The packed weights are rebuilt by `infer` when the parameters were reloaded, moved or retyped since.
        adaptive_threads: let threads.ThreadPolicy choose between the caller's thread count and 1 from measured
        step times (False: always the caller's count, e.g. to measure one count).
        keep_weights=False: an inference-only model. The module lets go of its linears' weights as they are
        prepared: exact mode (fp32) computes on views of those same tensors, so memory is unchanged either way;
        bf16/int8 packed copies replace the fp32 weights (saving memory); training, state_dict(), moving the model
        and the module path are then unavailable (load the file again for those).
        fp32_kind: how fp32 linears run (decode.FP32_KINDS); None measures which is faster on this machine.
        """
        if self.__dict__.get("_weights_released"):
            raise RuntimeError("this GPT was prepared inference-only (its weights were freed); load it again")
        self.__dict__["_flat"] = None
        if not self._flat_possible():
            return False
        self.__dict__["_flat"] = FlatDecoder(self, precision, keep_weights, fp32_kind)
        self.__dict__["_weights_released"] = not keep_weights
        self.__dict__["_adaptive_threads"] = bool(adaptive_threads)
        return True

    def release_inference(self) -> None:
        """Drop the packed CPU decode path (infer goes back to the module path)."""
        if self.__dict__.get("_weights_released"):
            raise RuntimeError("this GPT was prepared inference-only (its weights were freed); load it again")
        self.__dict__["_flat"] = None

    @property
    def inference_precision(self) -> str | None:
        """The precision of the prepared CPU decode path, or None when infer uses the module path."""
        flat = self.__dict__.get("_flat")
        return None if flat is None else flat.precision

    def _flat_possible(self) -> bool:
        p = self.ar_predict_layer.weight
        return p.device.type == "cpu" and p.dtype == torch.float32

    def _ready_flat_decoder(self, device: torch.device) -> FlatDecoder | None:
        """The prepared decode path, rebuilt if the weights changed since; None for the module path."""
        flat = self.__dict__.get("_flat")
        if flat is None or self.training or device.type != "cpu":
            return None
        if not flat.matches(self):
            if self.__dict__.get("_weights_released"):
                raise RuntimeError("this GPT was prepared inference-only and its parameters changed since (moved, "
                                   "retyped or reloaded); load it again from its file")
            if not self._flat_possible():
                self.release_inference()
                return None
            flat = FlatDecoder(self, flat.precision, fp32_kind=flat.fp32_kind)  # weights kept: fp32 views them
            # again, bf16/int8 re-pack
            self.__dict__["_flat"] = flat
        return flat

    def _thread_policy(self) -> ThreadPolicy | None:
        """The thread policy of this model's decodes (kept across sentences); None when the caller uses 1 thread."""
        threads = torch.get_num_threads()
        if threads <= 1 or not self.__dict__.get("_adaptive_threads", True):
            return None
        policy = self.__dict__.get("_threads")
        if policy is None or policy.high != threads:
            policy = ThreadPolicy(threads)
            self.__dict__["_threads"] = policy
        return policy

    @torch.no_grad()
    def infer(
        self,
        phoneme_ids: torch.Tensor,
        bert_feature: torch.Tensor,
        prompt: torch.Tensor | None = None,
        *,
        top_k: int | None = 15,
        top_p: float | None = 1.0,
        temperature: float = 1.0,
        repetition_penalty: float = 1.35,
        early_stop_num: int = -1,
        max_steps: int = MAX_DECODE_STEPS,
        generator: torch.Generator | None = None,
        collect_logits: bool = False,
        on_step: Callable[[int], None] | None = None,
        on_token: Callable[[int], None] | None = None,
        threads_taken: Callable[[], bool] | None = None,
    ) -> T2SInferResult:
        """Autoregressive decoding for one sentence (batch 1), upstream's `infer_panel` semantics.

        phoneme_ids [1, N] (reference + target phones), bert_feature [1, 1024, N], prompt [1, Tp] reference
        semantic tokens or None for reference-free mode. Stops when the sample or the argmax of the (penalised)
        logits is EOS (that step's token is dropped), when more than `early_stop_num` tokens were generated
        (-1: off), or after `max_steps` steps. `on_token(id)` is called with each kept token as soon as it is
        written (token streaming decodes audio while the loop goes on). `threads_taken()` turning True tells the
        thread policy that the caller now sets this decode's thread count (threads.ThreadGovernor).
        """
        if phoneme_ids.dim() != 2 or phoneme_ids.size(0) != 1:
            raise ValueError(f"infer expects phoneme_ids of shape [1, N], got {tuple(phoneme_ids.shape)}")
        device = phoneme_ids.device
        flat = self._ready_flat_decoder(device)  # the packed CPU path when prepared (decode.py), else None
        x = self.embed_text(phoneme_ids, bert_feature)  # [1, Tx, C]
        Tx = x.size(1)
        ref_free = prompt is None
        if ref_free:
            y = torch.zeros(1, 0, dtype=torch.long, device=device)
            xy = x
        else:
            y = prompt.to(device=device, dtype=torch.long)
            xy = torch.cat([x, self.ar_audio_position(self.ar_audio_embedding(y))], dim=1)
        Tp = y.size(1)
        steps_cap = max_steps if early_stop_num < 0 else min(max_steps, early_stop_num + 1)
        capacity = xy.size(1) + min(steps_cap, 512)  # grows by doubling
        steps = FlatSteps(flat, capacity) if flat is not None else ModuleSteps(self, capacity, xy.dtype, device)
        governor = ThreadGovernor(self._thread_policy() if flat is not None else None, threads_taken)
        mask = prefix_lm_mask(Tx, Tp, device)[None, None]  # [1, 1, L, L]
        tokens = torch.empty(1, Tp + steps_cap, dtype=torch.long, device=device)  # prompt ++ generated, in place
        tokens[:, :Tp] = y
        n = Tp  # tokens written so far
        logits_log: list[torch.Tensor] = []
        stopped_by_eos = False
        idx = 0
        try:
            for idx in range(max_steps):
                governor.tick()
                logits = steps.logits(xy, mask)  # [1, V] for the last position
                mask = None  # after the prefill every new token sees the whole cache
                if collect_logits:
                    logits_log.append(logits[0].clone())
                if idx < EOS_BLOCKED_STEPS:
                    logits = logits[:, :-1]  # a view: the in-place penalty below writes through it
                token = sample_next(
                    logits, tokens[:, :n], top_k=top_k, top_p=top_p, temperature=temperature,
                    repetition_penalty=repetition_penalty, generator=generator,
                )  # [1, 1]
                if on_step is not None:
                    on_step(idx)
                if int(torch.argmax(logits, dim=-1)[0]) == self.EOS or int(token[0, 0]) == self.EOS:
                    stopped_by_eos = True  # this step's token is not kept
                    break
                tokens[:, n] = token[:, 0]
                n += 1
                if on_token is not None:
                    on_token(int(token[0, 0]))
                if early_stop_num >= 0 and n - Tp > early_stop_num:
                    break
                # the new token sits at position Tp + idx of the audio stream
                xy = steps.embed(token, Tp + idx)
        finally:
            governor.close()
        y_out = tokens[:, :n].clone()
        return T2SInferResult(
            y=y_out,
            idx=0 if ref_free else idx,
            prompt_len=Tp,
            ref_free=ref_free,
            stopped_by_eos=stopped_by_eos,
            step_logits=torch.stack(logits_log) if collect_logits else None,
        )
