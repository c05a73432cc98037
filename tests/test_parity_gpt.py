"""GPT parity with upstream (bundle cases e_*): logits/loss of the training forward, greedy tokens, sampling.

Data-driven: shapes, parameters and expected values come from $GSV_REFERENCE_BUNDLE (see conftest), so the same tests
run unchanged against another bundle with the same layout.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpt_sovits.models.checkpoints import load_gpt


def close(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Assert CASES.md's acceptance rule |a-b| <= 1e-4 + 1e-4|b|; return max |a-b| for the log."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual.float() - expected.float()).abs()
    bound = 1e-4 + 1e-4 * expected.float().abs()
    assert bool((diff <= bound).all()), f"max |diff| {diff.max().item():.3g}"
    return diff.max().item()


class Bundle:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = json.loads((root / "cases_index.json").read_text())
        self.tensors = load_file(str(root / "cases.safetensors"))

    def case(self, name: str) -> dict:
        return self.index[name]

    def get(self, key: str) -> torch.Tensor:
        """A tensor by key, following the index's same_as links."""
        if key in self.tensors:
            return self.tensors[key]
        case = self.index[key.split(".")[0]]
        for entry in case.get("inputs", []) + case.get("outputs", []):
            if entry["name"] == key and "same_as" in entry:
                return self.get(entry["same_as"])
        raise KeyError(key)

    def params(self, name: str) -> dict:
        return self.index[name].get("params", {})


@pytest.fixture(scope="module")
def bundle(reference_bundle) -> Bundle:
    return Bundle(reference_bundle)


@pytest.fixture(scope="module")
def gpt(reference_bundle):
    return load_gpt(reference_bundle / "gpt_tiny_weights.ckpt").model


def _infer(gpt, bundle, name, prompt_key, generator=None, collect_logits=True):
    p = bundle.params(name)
    prompt = bundle.get(prompt_key) if prompt_key else None
    return gpt.infer(
        bundle.get(f"{name}.phoneme_ids"),
        bundle.get(f"{name}.bert_feature"),
        prompt,
        top_k=p["top_k"],
        top_p=p["top_p"],
        temperature=p["temperature"],
        repetition_penalty=p["repetition_penalty"],
        early_stop_num=p["early_stop_num"],
        generator=generator,
        collect_logits=collect_logits,
    )


def test_pretrained_and_finetuned_files_hold_the_same_model(reference_bundle, gpt):
    other = load_gpt(reference_bundle / "gpt_tiny_pretrained.ckpt").model
    for k, v in gpt.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k


def test_training_forward_logits_loss_acc(gpt, bundle):
    n = "e_gpt_forward"
    out = gpt(
        bundle.get(f"{n}.phoneme_ids"), bundle.get(f"{n}.phoneme_ids_len"), bundle.get(f"{n}.semantic_ids"),
        bundle.get(f"{n}.semantic_ids_len"), bundle.get(f"{n}.bert_feature"),
    )
    print("logits max|diff|", close(out.logits.detach(), bundle.get(f"{n}.logits")))
    print("loss max|diff|", close(out.loss.detach(), bundle.get(f"{n}.loss")))
    assert out.acc == pytest.approx(bundle.get(f"{n}.acc").item(), abs=1e-6)


def test_training_forward_loss_is_differentiable(gpt, bundle):
    n = "e_gpt_forward"
    gpt.zero_grad()
    out = gpt(
        bundle.get(f"{n}.phoneme_ids"), bundle.get(f"{n}.phoneme_ids_len"), bundle.get(f"{n}.semantic_ids"),
        bundle.get(f"{n}.semantic_ids_len"), bundle.get(f"{n}.bert_feature"),
    )
    out.loss.backward()
    assert gpt.ar_predict_layer.weight.grad is not None and gpt.ar_predict_layer.weight.grad.abs().sum() > 0
    gpt.zero_grad()


def test_greedy_tokens_identical(gpt, bundle):
    n = "e_gpt_greedy"
    res = _infer(gpt, bundle, n, f"{n}.prompt")
    assert torch.equal(res.y.long(), bundle.get(f"{n}.y").long())
    assert res.idx == int(bundle.get(f"{n}.idx"))
    assert torch.equal(res.generated[0], bundle.get(f"{n}.generated").long())
    assert torch.equal(res.pred_semantic, bundle.get(f"{n}.webui_pred_semantic").long())
    print("step logits max|diff|", close(res.step_logits, bundle.get(f"{n}.step_logits")))


def test_greedy_reference_free(gpt, bundle):
    n = "e_gpt_greedy_ref_free"
    res = _infer(gpt, bundle, n, None)
    assert torch.equal(res.y.long(), bundle.get(f"{n}.y").long())
    assert res.idx == int(bundle.get(f"{n}.idx"))
    assert torch.equal(res.pred_semantic, bundle.get(f"{n}.y").long())
    print("step logits max|diff|", close(res.step_logits, bundle.get(f"{n}.step_logits")))


def test_sampled_tokens_match_upstream_rng(gpt, bundle):
    """Informational case in the bundle: reproducible because we draw Exp(1) noise exactly like upstream."""
    n = "e_gpt_sampled"
    gen = torch.Generator().manual_seed(int(bundle.params(n)["seed"]))
    res = _infer(gpt, bundle, n, f"{n}.prompt", generator=gen, collect_logits=False)
    assert torch.equal(res.y.long(), bundle.get(f"{n}.y").long())
    assert res.idx == int(bundle.get(f"{n}.idx"))


def test_same_seed_same_tokens_other_seed_differs(gpt, bundle):
    n = "e_gpt_sampled"
    runs = [
        _infer(gpt, bundle, n, f"{n}.prompt", generator=torch.Generator().manual_seed(s), collect_logits=False).y
        for s in (7, 7, 8)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_eos_stops_and_is_not_kept(gpt, bundle):
    """Force EOS as soon as it is allowed: decoding stops at step 11 and the EOS step's token is dropped."""
    n = "e_gpt_greedy"

    def favour_eos(module, inputs, output):
        output = output.clone()
        output[..., gpt.EOS] = output.abs().max() + 100.0
        return output

    hook = gpt.ar_predict_layer.register_forward_hook(favour_eos)
    try:
        res = gpt.infer(bundle.get(f"{n}.phoneme_ids"), bundle.get(f"{n}.bert_feature"), bundle.get(f"{n}.prompt"),
                        top_k=1, early_stop_num=-1)
    finally:
        hook.remove()
    assert res.stopped_by_eos
    assert res.idx == 11 and res.generated.shape[1] == 11
    assert gpt.EOS not in res.generated
    assert torch.equal(res.pred_semantic, res.generated)


def test_max_steps_cap(gpt, bundle):
    n = "e_gpt_greedy"
    res = gpt.infer(bundle.get(f"{n}.phoneme_ids"), bundle.get(f"{n}.bert_feature"), bundle.get(f"{n}.prompt"),
                    top_k=1, max_steps=30)
    if not res.stopped_by_eos:
        assert res.generated.shape[1] == 30 and res.idx == 29
        assert torch.equal(res.pred_semantic, res.generated[:, 1:])  # upstream drops the first token on a cap


def test_unequal_phone_lengths_match_single_item_runs(gpt, bundle):
    """Our deliberate fix of upstream's left-mask quirk: each item of a right-padded batch scores as if alone."""
    n = "e_gpt_forward"
    phones, sem = bundle.get(f"{n}.phoneme_ids"), bundle.get(f"{n}.semantic_ids")
    sem_len, bert = bundle.get(f"{n}.semantic_ids_len"), bundle.get(f"{n}.bert_feature")
    short = phones.size(1) - 3
    x_len = torch.tensor([phones.size(1), short])
    padded = phones.clone()
    padded[1, short:] = 0
    bert_padded = bert.clone()
    bert_padded[1, :, short:] = 0
    batch = gpt(padded, x_len, sem, sem_len, bert_padded)
    alone = gpt(phones[1:, :short], x_len[1:], sem[1:], sem_len[1:], bert[1:, :, :short])
    torch.testing.assert_close(batch.logits[1, : alone.logits.size(1)], alone.logits[0], atol=1e-4, rtol=1e-4)


def test_dpo_objective(gpt, bundle):
    n = "e_gpt_forward"
    args = [bundle.get(f"{n}.{k}") for k in
            ("phoneme_ids", "phoneme_ids_len", "semantic_ids", "semantic_ids_len", "bert_feature")]
    plain = gpt(*args)
    gpt.zero_grad()
    dpo = gpt.forward_dpo(*args, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(dpo.loss) and dpo.loss.item() >= plain.loss.item()  # CE + a non-negative −logσ term
    dpo.loss.backward()
    assert gpt.h.layers[0].self_attn.in_proj_weight.grad is not None
    gpt.zero_grad()
    again = gpt.forward_dpo(*args, generator=torch.Generator().manual_seed(0))
    assert again.loss.item() == pytest.approx(dpo.loss.item(), rel=1e-6)
