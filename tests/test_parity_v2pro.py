"""Numeric parity of the v2Pro/v2ProPlus additions with upstream, against the v2Pro bundle ($GSV_V2PRO_BUNDLE).

Data-driven like the v2 parity tests: cases, inputs, parameters, file names and expected outputs come from the
bundle's ``cases_index.json`` / ``cases.safetensors``, the tolerance from its ``CASES.md``. Every output the index
lists for a case must be produced by our code and match; a bundle with other inputs runs unchanged.

a: fbank · b: SV embedding · c: the formatting SV step (7-sv_cn) · d: the inference reference path · e: decode with
sv_emb (v2Pro and v2ProPlus) · f: one v2Pro training step through the SoVITS trainer's step (forward, D step, G
step, AdamW updates).
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from gpt_sovits.audio.sinc_resample import sinc_resample
from gpt_sovits.dataset.sovits_data import SoVITSBatch
from gpt_sovits.models.checkpoints import load_sovits
from gpt_sovits.models.sovits import build_discriminator, build_synthesizer
from gpt_sovits.models.sv import SpeakerEncoder, fbank
from gpt_sovits.models.sv.fbank import mel_banks, povey_window
from gpt_sovits.train.sovits_init import initialise
from gpt_sovits.train.sovits_step import StepDraws, disable_dropout, make_optimizers, set_epoch_lr, train_step


class ProBundle:
    """Case tensors (stored or ``same_as``), their listing, and the acceptance rule ``|a-b| <= atol + rtol·|b|``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = json.loads((root / "cases_index.json").read_text())
        self.meta = self.index["_meta"]
        # cloned: tensors straight out of safetensors may be misaligned, which changes CPU GEMM rounding (CASES.md)
        self.tensors = {k: v.clone() for k, v in load_file(str(root / "cases.safetensors")).items()}
        match = re.search(r"\|a-b\| <= ([0-9.eE+-]+) \+ ([0-9.eE+-]+)\*\|b\|", (root / "CASES.md").read_text())
        assert match, "CASES.md states no acceptance rule of the form |a-b| <= atol + rtol*|b|"
        self.atol, self.rtol = float(match.group(1)), float(match.group(2))

    def case(self, name: str) -> dict:
        if name not in self.index:
            pytest.fail(f"case {name!r} missing from {self.root / 'cases_index.json'}")
        return self.index[name]

    def cases(self, prefix: str) -> list[str]:
        return [c for c in self.index if c.startswith(prefix)]

    def get(self, key: str) -> torch.Tensor:
        if key in self.tensors:
            return self.tensors[key]
        case = self.case(key.split(".", 1)[0])
        item = next((i for i in case["inputs"] + case["outputs"] if i["name"] == key), None)
        assert item is not None and "same_as" in item, f"{key}: not stored and no same_as"
        return self.get(item["same_as"])

    def input(self, case: str, short: str) -> torch.Tensor:
        return self.get(f"{case}.{short}").clone()

    def check(self, key: str, actual: torch.Tensor, atol: float | None = None, rtol: float | None = None) -> float:
        expected = self.get(key)
        actual = actual.detach().cpu()
        assert actual.shape == expected.shape, f"{key}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        if not expected.is_floating_point():
            assert torch.equal(actual.to(expected.dtype), expected), f"{key}: integer output differs"
            return 0.0
        atol = self.atol if atol is None else atol
        rtol = self.rtol if rtol is None else rtol
        diff = (actual.double() - expected.double()).abs()
        worst = float(diff.max()) if diff.numel() else 0.0
        assert bool((diff <= atol + rtol * expected.double().abs()).all()), \
            f"{key}: max |diff| {worst:.3g} exceeds {atol} + {rtol}*|b|"
        print(f"{key}: max |diff| = {worst:.3g}")
        return worst

    def check_all(self, case: str, produced: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
        """Every output listed for ``case`` must have been produced (and match), except those checked elsewhere."""
        for item in self.case(case)["outputs"]:
            short = item["name"].split(".", 1)[1]
            if short.startswith(skip):
                continue
            assert short in produced, f"{item['name']} is listed by the bundle but was not produced"
            self.check(item["name"], produced[short])


@pytest.fixture(scope="module")
def bundle(v2pro_bundle) -> ProBundle:
    if not (v2pro_bundle / "cases_index.json").is_file():
        pytest.fail(f"v2Pro reference bundle not found at {v2pro_bundle}")
    return ProBundle(v2pro_bundle)


@pytest.fixture(scope="module")
def sv(bundle) -> SpeakerEncoder:
    return SpeakerEncoder.load(bundle.root / bundle.meta["files"]["sv"])


# ---------------------------------------------------------------------------------------------------- a, b: SV
def test_a_fbank(bundle):
    wav = bundle.input("a_fbank", "wav16k")
    feats = torch.stack([fbank(row) for row in wav])
    bundle.check_all("a_fbank", {"fbank": feats, "mel_banks": mel_banks(), "povey_window": povey_window()})


@pytest.mark.slow  # the SV network at full size (53 M parameters) on two rows
def test_b_sv_embedding(bundle, sv):
    wav = bundle.input("b_sv_embedding", "wav16k")
    feats = sv.features(wav)
    bundle.check("b_sv_embedding.fbank", feats)
    with torch.no_grad():
        maps = sv.model.feature_map(feats)
    produced = {"emb": maps["fuse34"].flatten(1, 2).mean(-1)}
    produced.update({f"stage_mean_{k}": v.mean(dim=(2, 3)) for k, v in maps.items()})
    bundle.check_all("b_sv_embedding", produced)
    assert torch.equal(sv.embed(wav[:1]), sv.embed(wav)[:1])  # one row alone = that row of the batch


# ---------------------------------------------------------------------------------------------------- c: 7-sv_cn
@pytest.mark.slow
def test_c_prep_sv_writes_7_sv_cn(bundle, tmp_path):
    """The formatting SV step, run through our worker on the clip's 5-wav32k file, writes upstream's tensor."""
    from gpt_sovits.dataset.items import FormatItem
    from gpt_sovits.dataset.steps import SV, StepSettings, Task, make_worker, sv_input, sv_path, wav32k_path
    from gpt_sovits.paths import ExperimentPaths

    case = bundle.case("c_prep_sv")
    stored = Path(case["params"]["file"])  # 7-sv_cn/<wav name>.pt
    name = stored.name.removesuffix(".pt")
    exp = ExperimentPaths(tmp_path / "exp")
    samples = bundle.input("c_prep_sv", "wav32k_int16").numpy().astype(np.int16)
    wav32k_path(exp, name).parent.mkdir(parents=True)
    sf.write(str(wav32k_path(exp, name)), samples, 32000, subtype="PCM_16")

    worker = make_worker(StepSettings(SV, exp.dir, bundle.root / bundle.meta["files"]["sv"]))
    item = FormatItem(index=0, line_no=1, name=name, audio_path=wav32k_path(exp, name), lang="zh", raw_lang="zh",
                      text="")
    result = worker.process(Task(item, "key"))
    assert result.error is None and result.record == {"key": "key"}
    assert sv_path(exp, name) == exp.dir / stored
    emb = torch.load(sv_path(exp, name), map_location="cpu", weights_only=True)
    assert emb.dtype == getattr(torch, case["params"]["stored_dtype"])
    wav16k = sv_input(wav32k_path(exp, name))
    bundle.check_all("c_prep_sv", {"wav16k": wav16k, "fbank": worker.encoder.features(wav16k), "emb": emb})


# ---------------------------------------------------------------------------------------------------- d: inference
@pytest.mark.slow
def test_d_infer_reference_path(bundle):
    """Reference files → spectrogram, 16 kHz SV input and embedding, through the inference pipeline's own cache."""
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.infer.reference import read_reference, reference_audio
    from gpt_sovits.paths import ProjectPaths

    pipeline = TTSPipeline(ProjectPaths(bundle.root), device="cpu")  # the bundle mirrors pretrained_models/
    pipeline.load_sovits(bundle.root / bundle.meta["files"]["v2Pro"]["weights"])
    data = pipeline.sovits.hps["data"]
    produced = {}
    refs = {k: v for k, v in bundle.case("d_infer_sv")["params"].items() if isinstance(v, dict) and "file" in v}
    assert refs, "d_infer_sv lists no reference files"
    for ref, params in refs.items():
        samples, sr = read_reference(bundle.root / params["file"])
        assert sr == params["sr"]
        bundle.check(f"d_infer_sv.{ref}_file_samples", samples)
        ours = reference_audio(samples, sr, data, with_sv=True)
        spec, emb = pipeline.reference(bundle.root / params["file"])
        assert torch.equal(spec, ours.spec)
        mono = samples.mean(0, keepdim=True) if samples.shape[0] > 1 else samples
        produced.update({f"{ref}_spec": spec, f"{ref}_audio16k": ours.wav16k, f"{ref}_emb": emb,
                         f"{ref}_audio32k": sinc_resample(mono, sr, 32000)})
        assert pipeline.reference(bundle.root / params["file"])[1] is emb  # cached with the reference
    bundle.check_all("d_infer_sv", produced)


# ---------------------------------------------------------------------------------------------------- e: decode
def _decode_outputs(bundle: ProBundle, case: str, model) -> dict[str, torch.Tensor]:
    params = bundle.case(case)["params"]
    codes, phones = bundle.input(case, "codes"), bundle.input(case, "phones")
    specs = {r: bundle.input(case, f"{r}_spec") for refs in params["refers"].values() for r in refs}
    embs = {r: bundle.input(case, f"{r}_emb") for r in specs}
    produced = {}
    for r in specs:  # per-reference intermediates (they do not depend on the other references)
        with torch.no_grad():
            mask = torch.ones(1, 1, specs[r].shape[-1])  # one whole reference, as decode's mask
            produced[f"ref_enc_{r}"] = model.ref_enc(specs[r][:, : model.ref_bins] * mask, mask)
            produced[f"sv_linear_{r}"] = model.sv_emb(embs[r])
            produced[f"ge_{r}"] = model.reference_embedding(specs[r], sv_emb=embs[r])
    for i, (wav_name, refs) in enumerate(params["refers"].items()):
        suffix = wav_name.removeprefix("wav")  # "_speed1", "_two_refs", ...
        with torch.no_grad():
            wav = model.decode(codes, phones, [specs[r] for r in refs], noise_scale=params["noise_scale"],
                               speed=params["speeds"][wav_name], sv_emb=[embs[r] for r in refs])
            ge = torch.stack([model.reference_embedding(specs[r], sv_emb=embs[r]) for r in refs]).mean(0)
            ge512 = model.mrte_condition(ge)
        produced[wav_name] = wav
        produced[f"ge512{suffix}"] = ge512
        if i == 0:
            produced["ge512"] = ge512
        for r in refs:
            for what in ("ref_enc", "sv_linear", "ge"):
                produced[f"{what}_{r}{suffix}"] = produced[f"{what}_{r}"]
    return produced


def test_e_decode(bundle):
    """Every e_decode_<version> case of the bundle, with that version's finetuned file (header 05/06)."""
    cases = bundle.cases("e_decode_")
    assert cases, "the bundle has no e_decode_* case"
    for case in cases:
        version = case.removeprefix("e_decode_")
        loaded = load_sovits(bundle.root / bundle.meta["files"][version]["weights"])
        assert loaded.version == version and loaded.model.gin_channels == bundle.case(case)["params"]["gin_channels"]
        bundle.check_all(case, _decode_outputs(bundle, case, loaded.model))


# ---------------------------------------------------------------------------------------------------- f: training
def _case_f_rules(cases_md: str) -> tuple[float, float, tuple[str, ...]]:
    """(wide, narrow) gradient tolerances relative to the tensor's max and the prefixes that get the wide one."""
    section = cases_md[cases_md.index("Suggested acceptance rule for this case"):]
    rules = re.findall(r"\|a-b\| <= ([0-9.eE+-]+) \* max\|b\|", section)
    prefixes = re.search(r"for ((?:[a-z_0-9]+\.\*(?:, )?)+)", section)
    assert len(rules) >= 2 and prefixes, "CASES.md states no gradient rule for the training-step case"
    return float(rules[0]), float(rules[1]), tuple(p.strip().rstrip("*") for p in prefixes.group(1).split(","))


def _grad_norm(named: list[tuple[str, torch.Tensor]]) -> float:
    return sum(float(g.double().norm(2)) ** 2 for _, g in named) ** 0.5


@pytest.mark.slow  # full-size discriminator (63 M parameters): forward/backward on two 0.64 s segments
def test_f_training_step(bundle):
    """The recorded step through the SoVITS trainer's own pieces: pretrained init, optimizer groups, lr rule and
    ``train_step`` on a collated batch with the clips' sv_emb, the two random draws injected."""
    cases = bundle.cases("f_s2_train_step_")
    assert cases, "the bundle has no f_s2_train_step_* case"
    for case in cases:
        _check_training_step(bundle, case)


def _check_training_step(bundle: ProBundle, case: str) -> None:
    c = bundle.case(case)
    params, meta = c["params"], c["meta"]
    version = case.removeprefix("f_s2_train_step_")
    files = bundle.meta["files"][version]
    config = bundle.root / f"s2{version}_tiny.json"
    assert config.is_file(), f"{case}: the bundle has no {config.name} (the tiny config the case was run with)"
    hps = json.loads(config.read_text())
    hps["model"]["version"] = version  # what upstream's webui writes into the config before training
    torch.manual_seed(4321)  # another seed than upstream's: every draw that matters is injected
    net_g, net_d = build_synthesizer(hps, version), build_discriminator(hps, version)
    report = initialise(net_g, net_d, bundle.root / files["G"], bundle.root / files["D"], version)
    assert not report.missing and not report.unexpected, report.lines()  # G non-strict, all keys matched
    assert len(net_d.discriminators) == meta["n_discriminators"]
    disable_dropout(net_g, net_d)  # the case switches every dropout off
    optim_g, optim_d = make_optimizers(net_g, net_d, hps["train"])
    assert [len(g["params"]) for g in optim_g.param_groups] == meta["group_sizes_G"]
    decay = float(hps["train"]["lr_decay"])
    lr_g, lr_d = set_epoch_lr(optim_g, decay, 1), set_epoch_lr(optim_d, decay, 1)
    assert lr_g == pytest.approx(params["lr_in_step_G_groups"]) and lr_d == pytest.approx(params["lr_in_step_D"])

    x = {k: bundle.input(case, k) for k in ("ssl", "ssl_lengths", "spec", "spec_lengths", "text", "text_lengths",
                                             "sv_emb", "rand_enc_q_noise", "rand_slice_u", "wav_int16", "wav_lengths")}
    produced = {}
    with torch.no_grad():  # the timbre path with the weights the step's forward uses
        mask = (torch.arange(x["spec"].shape[-1])[None] < x["spec_lengths"][:, None]).float()[:, None]
        produced["ref_enc_ge"] = net_g.ref_enc(x["spec"][:, : net_g.ref_bins] * mask, mask)
        produced["sv_linear"] = net_g.sv_emb(x["sv_emb"])
        produced["ge512"] = net_g.mrte_condition(net_g.reference_embedding(x["spec"], mask, x["sv_emb"]))
    batch = SoVITSBatch(ssl=x["ssl"].float(), ssl_lengths=x["ssl_lengths"], spec=x["spec"],
                        spec_lengths=x["spec_lengths"], wav=x["wav_int16"].float() / 32768.0,
                        wav_lengths=x["wav_lengths"], text=x["text"], text_lengths=x["text_lengths"], names=[],
                        sv_emb=x["sv_emb"])
    grads: dict[str, dict[str, torch.Tensor]] = {"d": {}, "g": {}}

    def keep(which: str) -> None:
        net = net_d if which == "d" else net_g
        grads[which].update({n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None})

    net_g.train()
    net_d.train()
    result = train_step(net_g, net_d, optim_g, optim_d, batch, hps, torch.amp.GradScaler("cpu", enabled=False),
                        draws=StepDraws(noise=x["rand_enc_q_noise"], slice_rand=x["rand_slice_u"]), on_grads=keep)
    out = result.out
    produced.update({k: getattr(out, k) for k in ("z", "z_p", "m_p", "logs_p", "m_q", "logs_q", "y_hat", "ids_slice",
                                                  "ge")})
    produced.update(y_mel=result.y_mel, y_hat_mel=result.y_hat_mel, losses_disc_r=torch.stack(result.losses_disc_r),
                    losses_disc_g=torch.stack(result.losses_disc_g), losses_gen=torch.stack(result.losses_gen),
                    kl_ssl=result.losses["kl_ssl"])
    produced.update({f"loss_{k}": result.losses[k] for k in ("disc_all", "gen", "fm", "mel", "kl", "gen_all")})
    produced.update({f"d_step_y_d_hat_g_{i}": g for i, g in enumerate(result.d_fake_before_update)})
    bundle.check_all(case, produced, skip=("G_after/", "G_grad/", "D_after/", "D_grad/"))

    # the norms the trainer logs (float64, no clipping)
    for name, logged in (("g", result.grad_norm_g), ("d", result.grad_norm_d)):
        total = params[f"grad_norm_{name}"]
        assert abs(logged - total) <= 1e-4 * (1 + abs(total)), f"logged grad_norm_{name} {logged} != {total}"
    _compare_grads_and_updates(bundle, case, grads["g"], grads["d"], net_g, net_d, optim_g.param_groups,
                               optim_d.param_groups)


def _compare_grads_and_updates(bundle: ProBundle, case: str, g_grads: dict, d_grads: dict, net_g, net_d,
                               g_groups: list[dict], d_groups: list[dict]) -> None:
    """Gradient norms in total and per module (the modules behind the just-updated D get the wide rule), gradients
    before and parameters after the step (rows as listed in the index where only rows are stored)."""
    c = bundle.case(case)
    params, meta = c["params"], c["meta"]
    wide, narrow, wide_prefixes = _case_f_rules((bundle.root / "CASES.md").read_text())
    for name, grads, total in (("G", g_grads, params["grad_norm_g"]), ("D", d_grads, params["grad_norm_d"])):
        ours = _grad_norm(list(grads.items()))
        assert abs(ours - total) <= 1e-4 * (1 + abs(total)), f"grad_norm_{name.lower()} {ours} != {total}"
        for module, norm in params[f"grad_norm_{name}_by_module"].items():
            mine = _grad_norm([(n, g) for n, g in grads.items() if n.startswith(module + ".")])
            limit = wide * norm if name == "G" and (module + ".").startswith(wide_prefixes) else 1e-4 * (1 + norm)
            assert abs(mine - norm) <= limit, f"{name} {module}: grad norm {mine} != {norm}"
    models = {"G": (net_g, g_grads, g_groups), "D": (net_d, d_grads, d_groups)}
    for item in c["outputs"]:
        short = item["name"].split(".", 1)[1]
        kind, _, pname = short.partition("/")
        if kind not in ("G_after", "G_grad", "D_after", "D_grad"):
            continue
        net, grads, groups = models[kind[0]]
        rows = meta.get("rows", {}).get(f"{kind[0]}_after/{pname}")
        take = (lambda t: t[rows]) if rows is not None else (lambda t: t)
        expected = bundle.get(item["name"])
        if kind.endswith("_grad"):
            assert pname in grads, f"{item['name']}: no gradient computed"
            rel = wide if kind == "G_grad" and pname.startswith(wide_prefixes) else narrow
            bundle.check(item["name"], take(grads[pname]), atol=rel * float(expected.abs().max()), rtol=0.0)
            continue
        param = dict(net.named_parameters())[pname]
        after = take(param.detach())
        if pname not in grads:  # no gradient (frozen SSL projection): AdamW left it untouched
            bundle.check(item["name"], after, atol=0.0, rtol=0.0)
            continue
        grad_key = f"{item['name'].split('.', 1)[0]}.{kind[0]}_grad/{pname}"
        g_ref = bundle.get(grad_key) if grad_key in bundle.tensors else take(grads[pname])
        lr = next(g["lr"] for g in groups if any(p is param for p in g["params"]))
        small = g_ref.abs() <= 1e-3 * g_ref.abs().max()
        diff = (after.double() - expected.double()).abs()
        ok = torch.where(small, diff <= 2.001 * lr, diff <= 1e-6 + 1e-6 * expected.double().abs())
        assert bool(ok.all()), f"{item['name']}: parameter after the step differs (max |diff| {float(diff.max()):.3g})"
