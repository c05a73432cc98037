"""GPT training parity with upstream (TRAIN_CASES.md cases s1_train_steps and s1_dpo_forward).

Data-driven: batches, their order, the update points, learning rates and every recorded parameter snapshot come from
$GSV_REFERENCE_BUNDLE's train_cases index, so the test runs unchanged against another bundle of the same layout.
"""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpt_sovits.models.checkpoints import load_gpt
from gpt_sovits.models.gpt.t2s import RejectDraws
from gpt_sovits.train.gpt_recipe import make_optimizer, upstream_lr
from gpt_sovits.dataset.gpt_data import GPTBatch
from gpt_sovits.train.gpt_step import batch_loss, disable_dropout, train_batch

S1 = "s1_train_steps"
DPO = "s1_dpo_forward"


class TrainCases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = json.loads((root / "train_cases_index.json").read_text())
        self.tensors = load_file(str(root / "train_cases.safetensors"))

    def get(self, case: str, name: str) -> torch.Tensor:
        return self.tensors[f"{case}.{name}"]

    def names(self, case: str) -> list[str]:
        return list(self.index[case]["tensors"])

    def batch(self, case: str, label: str) -> GPTBatch:
        def t(key: str) -> torch.Tensor:
            return self.get(case, f"batch{label}.{key}")

        return GPTBatch(t("phoneme_ids"), t("phoneme_ids_len"), t("semantic_ids"), t("semantic_ids_len"),
                        t("bert_feature").float())


@pytest.fixture(scope="module")
def cases(reference_bundle) -> TrainCases:
    return TrainCases(reference_bundle)


def pretrained(reference_bundle):
    model = load_gpt(reference_bundle / "gpt_tiny_pretrained.ckpt").model
    disable_dropout(model)
    return model.train()


def assert_loss(actual: float, expected: float, what: str) -> None:
    assert abs(actual - expected) <= 1e-5 * abs(expected) + 1e-4, f"{what}: {actual} vs {expected}"


def assert_params(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """≥ 99.9 % of elements within 1e-5 + 1e-5|b|, all within 1e-2·rms(b) (sign-flip allowance of the rule)."""
    assert actual.shape == expected.shape, what
    diff = (actual - expected).abs()
    tight = diff <= 1e-5 + 1e-5 * expected.abs()
    assert tight.float().mean().item() >= 0.999, f"{what}: {int((~tight).sum())} of {diff.numel()} elements off"
    rms = expected.pow(2).mean().sqrt().item()
    assert diff.max().item() <= 1e-2 * rms, f"{what}: max |diff| {diff.max().item():.3g} > 1e-2 rms {rms:.3g}"


def test_s1_train_steps(cases, reference_bundle):
    scalars = cases.index[S1]["scalars"]
    sequence = scalars["batch_sequence"]
    batches = {label: cases.batch(S1, label) for label in sorted(set(sequence))}
    losses, accs = cases.get(S1, "loss"), cases.get(S1, "acc")
    assert losses.numel() == len(sequence) == accs.numel()
    snapshots: dict[int, list[str]] = {}
    for name in cases.names(S1):
        m = re.fullmatch(r"after_step(\d+)/(.+)", name)
        if m:
            snapshots.setdefault(int(m.group(1)), []).append(name)
    assert snapshots, "the case records no parameter snapshots"

    torch.manual_seed(4321)  # nothing may depend on the global RNG
    model = pretrained(reference_bundle)
    optimizer = make_optimizer(model)
    params = dict(model.named_parameters())
    updates, update_batches, lrs, norms, compared = 0, [], [], [], 0
    for batch_idx, label in enumerate(sequence):
        result = train_batch(model, optimizer, batches[label], batch_idx, updates, upstream_lr)
        assert_loss(result.loss, losses[batch_idx].item(), f"loss of batch {batch_idx}")
        assert torch.tensor(result.acc, dtype=torch.float32).item() == accs[batch_idx].item(), f"acc {batch_idx}"
        if result.updated:
            updates += 1
            update_batches.append(batch_idx)
            lrs.append(result.lr)
            norms.append(result.grad_norm)
            for name in snapshots.get(updates, []):
                key = name.split("/", 1)[1].removeprefix("model.")
                assert_params(params[key].detach(), cases.get(S1, name), name)
                compared += 1
    assert update_batches == scalars["opt_step_batch_idx"]
    assert lrs == pytest.approx(scalars["opt_step_lr"], rel=1e-12)
    assert norms == pytest.approx(scalars["opt_step_grad_norm"], rel=1e-4)
    assert compared == sum(len(v) for v in snapshots.values())


def test_s1_dpo_forward(cases, reference_bundle):
    model = pretrained(reference_bundle)
    batch = cases.batch(S1, "A")
    draws = RejectDraws(cases.get(DPO, "rand_choice"), cases.get(DPO, "rand_span_raw"))
    torch.manual_seed(999)
    with torch.no_grad():
        out = batch_loss(model, batch, dpo=True, draws=draws)
    terms = out.dpo
    assert torch.equal(terms.rejected, cases.get(DPO, "reject_y"))
    assert torch.equal(terms.rejected_len, cases.get(DPO, "reject_y_lens"))
    for name, actual in (("logps_chosen", terms.logp_chosen), ("logps_rejected", terms.logp_rejected)):
        expected = cases.get(DPO, name)
        assert bool(((actual - expected).abs() <= 1e-4 * expected.abs()).all()), (name, actual, expected)
    assert_loss(terms.loss.item(), cases.get(DPO, "loss_dpo").item(), "loss_dpo")
    assert_loss(out.loss.item(), cases.get(DPO, "loss_total").item(), "loss_total")
    assert torch.tensor(out.acc, dtype=torch.float32).item() == cases.get(DPO, "acc").item()
