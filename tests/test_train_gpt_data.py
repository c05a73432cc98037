"""GPT trainer pieces on their own: data rules, the phone padding mask, schedule, optimiser state, model sources."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from gpt_sovits.dataset.gpt_data import (
    BucketBatchSampler, GPTDataset, GPTItem, clamp_batch_size, collate, read_name2semantic, repeat_small, select_items,
)
from gpt_sovits.dataset.outputs import SEMANTIC_HEADER, name2semantic_bytes
from gpt_sovits.dataset.readers import Name2TextRow
from gpt_sovits.models.checkpoints import load_gpt
from gpt_sovits.train.gpt_recipe import is_update_batch, learning_rate, make_optimizer, upstream_lr, warmup_cosine_lr
from gpt_sovits.train.gpt_step import disable_dropout


def _sample(phones: torch.Tensor, semantic: torch.Tensor, bert: torch.Tensor, name: str) -> dict:
    return {"name": name, "phoneme_ids": phones, "semantic_ids": semantic, "bert_feature": bert}


def test_unequal_phone_lengths_each_item_scores_as_if_alone(reference_bundle):
    """Items with 12 and 9 phones (and 20 vs 24 tokens) in one right-padded batch: per-item loss = loss alone.

    Upstream's left-padding mask would hide 3 real phones of the short item and read its first logit off a pad
    position; ours masks the pads the collate really writes.
    """
    t = load_file(str(reference_bundle / "train_cases.safetensors"))
    model = load_gpt(reference_bundle / "gpt_tiny_pretrained.ckpt").model
    disable_dropout(model)
    samples = []
    for label in ("A", "B"):
        k = f"s1_train_steps.batch{label}"
        n, m = int(t[f"{k}.phoneme_ids_len"][0]), int(t[f"{k}.semantic_ids_len"][0])
        samples.append(_sample(t[f"{k}.phoneme_ids"][0, :n], t[f"{k}.semantic_ids"][0, :m],
                               t[f"{k}.bert_feature"][0, :, :n].float(), label))
    batch = collate(samples)
    assert batch.phoneme_ids_len.tolist()[0] != batch.phoneme_ids_len.tolist()[1]
    with torch.no_grad():
        together = model(*batch.model_args())
        per_position = F.cross_entropy(together.logits.transpose(1, 2), together.targets, reduction="none")
        for row, sample in enumerate(samples):
            m = sample["semantic_ids"].numel()
            assert bool((together.targets[row, m:] == 1024).all())  # EOS at the end and on every pad (G4)
            alone = model(*collate([sample]).model_args()).loss
            torch.testing.assert_close(per_position[row, : m + 1].sum(), alone, rtol=1e-5, atol=1e-4)


def test_collate_pads_as_upstream():
    batch = collate([
        _sample(torch.tensor([5, 6, 7]), torch.tensor([1, 2]), torch.ones(1024, 3), "a"),
        _sample(torch.tensor([8]), torch.tensor([3, 4, 9, 10]), None, "b"),
    ])
    assert batch.phoneme_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.semantic_ids.tolist() == [[1, 2, 1024, 1024], [3, 4, 9, 10]]
    assert batch.bert_feature.shape == (2, 1024, 3) and batch.bert_feature[1].abs().sum() == 0
    assert batch.names == ["a", "b"] and batch.semantic_ids_len.tolist() == [2, 4]


def test_filters_report_every_dropped_item_with_its_reason(tmp_path):
    ok_phones = ["n", "i2", "h", "ao3"] * 3  # 12 phones
    rows = {
        "ok": ok_phones, "long": ok_phones, "many_phones": ["a1"] * 541, "slow": ["a1"] * 2,
        "fast": ["a1"] * 60, "bad_symbol": ["not-a-phone"],
    }
    name2text = {k: Name2TextRow(phones=v, word2ph=None, norm_text="") for k, v in rows.items()}
    sem = {"ok": [1] * 25, "long": [1] * 1351, "many_phones": [1] * 1300, "slow": [1] * 25, "fast": [1] * 50,
           "bad_symbol": [1] * 5, "no_text": [1] * 25}
    path = tmp_path / "6-name2semantic.tsv"
    path.write_bytes(name2semantic_bytes([(k, " ".join(map(str, v))) for k, v in sem.items()]))
    assert path.read_text().startswith(SEMANTIC_HEADER)
    assert read_name2semantic(path) == sem
    (tmp_path / "3-bert").mkdir()
    selection = select_items(name2text, read_name2semantic(path), tmp_path / "3-bert")
    assert [i.name for i in selection.items] == ["ok"] and selection.missing_bert == ["ok"]
    reasons = dict(selection.dropped)
    assert set(reasons) == {"long", "many_phones", "slow", "fast", "bad_symbol", "no_text"}
    assert "1351 semantic tokens > 1350" in reasons["long"]
    assert "541 phones > 540" in reasons["many_phones"]
    assert "2.0 phones per second" in reasons["slow"] and "30.0 phones per second" in reasons["fast"]
    assert "2-name2text" in reasons["no_text"] and "symbol table" in reasons["bad_symbol"]


def test_small_sets_are_repeated_and_batch_size_clamped():
    items = [GPTItem(str(i), [1], [1]) for i in range(3)]
    assert len(repeat_small(items)) == 99  # 100 // 3 copies
    assert len(repeat_small(items[:1])) == 100
    assert len(repeat_small(items * 20)) == 120  # 60 items: at least 2 copies
    assert clamp_batch_size(8, 100) == 8 and clamp_batch_size(8, 20) == 5 and clamp_batch_size(8, 3) == 1
    assert clamp_batch_size(8, 100, dpo=True) == 4


def test_bucket_sampler_covers_every_item_once_per_epoch_and_splits_ranks(tmp_path):
    items = [GPTItem(f"i{i}", [1], [1] * (10 + 7 * i)) for i in range(23)]
    dataset = GPTDataset(items, tmp_path)
    sampler = BucketBatchSampler(dataset, batch_size=4)
    orders = []
    for epoch in (0, 1, 0):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 6
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(23))
        orders.append(flat)
    assert orders[0] == orders[2] and orders[0] != orders[1]
    ranks = [BucketBatchSampler(dataset, 4, rank=r, world_size=2) for r in (0, 1)]
    both = [i for s in ranks for b in s for i in b]
    assert len(both) == 24 and set(both) == set(range(23))  # padded to a multiple of the world size


def test_step_rule_and_learning_rates():
    assert [b for b in range(17) if is_update_batch(b)] == [4, 8, 12, 16]
    assert [upstream_lr(k) for k in range(4)] == [0.01, 0.002, 0.002, 0.002]
    cfg = {"lr_init": 1e-5, "lr": 0.01, "lr_end": 1e-4, "warmup_steps": 10, "decay_steps": 20}
    assert warmup_cosine_lr(0, cfg) == pytest.approx(1e-5)
    assert warmup_cosine_lr(10, cfg) == pytest.approx(0.01)
    assert warmup_cosine_lr(15, cfg) == pytest.approx(1e-4 + 0.5 * (0.01 - 1e-4))
    assert warmup_cosine_lr(21, cfg) == pytest.approx(1e-4)
    assert learning_rate(3, "warmup-cosine", cfg) == warmup_cosine_lr(3, cfg)
    with pytest.raises(ValueError):
        learning_rate(0, "cosine", cfg)


def test_scaled_adam_state_round_trip_continues_identically(reference_bundle):
    """An optimiser restored from its state dict takes exactly the steps the original would (resume)."""
    model = load_gpt(reference_bundle / "gpt_tiny_pretrained.ckpt").model
    torch.manual_seed(0)
    grads = [{n: torch.randn_like(p) for n, p in model.named_parameters()} for _ in range(6)]

    def steps(m, opt, gs):
        for g in gs:
            for n, p in m.named_parameters():
                p.grad = g[n].clone()
            opt.step()

    opt = make_optimizer(model, lr=0.002)
    steps(model, opt, grads[:3])
    twin = copy.deepcopy(model)
    twin_opt = make_optimizer(twin, lr=0.002)
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    steps(model, opt, grads[3:])
    steps(twin, twin_opt, grads[3:])
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(a, b), name


def test_continue_from_a_lightning_checkpoint_or_a_weights_file(tiny_pretrained, tmp_path):
    """--continue-from takes the model weights of upstream's Lightning .ckpt ("state_dict") or a GPT weights file."""
    from gpt_sovits.models.checkpoints import save_gpt_weights
    from gpt_sovits.paths import ProjectPaths
    from gpt_sovits.train.control import TrainingError
    from gpt_sovits.train.gpt import GPTTrainOptions, build_model

    paths = ProjectPaths(tiny_pretrained)
    base = load_gpt(paths.pretrained_gpt())
    torch.manual_seed(3)
    changed = {k: v + 0.5 * torch.randn_like(v) for k, v in base.model.state_dict().items()}
    lightning = tmp_path / "epoch=3-step=40.ckpt"
    torch.save({"epoch": 3, "global_step": 40, "pytorch-lightning_version": "2.6.6",
                "state_dict": {f"model.{k}": v for k, v in changed.items()}, "optimizer_states": [{}]}, lightning)
    weights = save_gpt_weights(changed, base.config, tmp_path / "me-e3.ckpt", "GPT-e3")
    for source, tol in ((lightning, 0.0), (weights, 1e-2)):  # the weights file is fp16
        model, config, used = build_model(GPTTrainOptions(root=tiny_pretrained, exp="x", continue_from=source), paths)
        assert used == str(source) and config["model"] == base.config["model"]
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, changed[k], atol=tol, rtol=tol)
    wrong = tmp_path / "wrong.ckpt"
    torch.save({"state_dict": {"model.other.weight": torch.zeros(2)}}, wrong)
    with pytest.raises(TrainingError, match="does not fit"):
        build_model(GPTTrainOptions(root=tiny_pretrained, exp="x", continue_from=wrong), paths)


def test_scaled_adam_clips_only_after_the_first_median_estimate():
    """No clipping for updates 0..999; at update 1000 the threshold becomes 2x the median of the recorded norms."""
    from gpt_sovits.train.scaled_adam import ScaledAdam

    torch.manual_seed(0)
    weight, alpha = torch.nn.Parameter(torch.randn(3, 3)), torch.nn.Parameter(torch.ones(1))
    opt = ScaledAdam([weight, alpha], lr=0.002)
    factors, threshold, norms = [], None, None
    for k in range(1002):
        scale = 1000.0 if k == 1001 else 1.0  # one huge gradient after the threshold exists
        weight.grad, alpha.grad = torch.randn(3, 3) * scale, torch.randn(1) * scale
        opt.step()
        factors.append(opt.param_groups[0]["last_clipping_factor"])
        if k == 1000:
            threshold, norms = opt.state[weight]["model_norm_threshold"], opt.state[weight]["model_norms"].clone()
    assert factors[:1001] == [1.0] * 1001 and 0 < factors[1001] < 0.01
    assert threshold == 2 * float(norms.sort().values[500])
    assert torch.isfinite(weight).all() and torch.isfinite(alpha).all()
