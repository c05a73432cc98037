"""Numeric parity of the v2Pro/v2ProPlus additions with upstream, against the v2Pro bundle ($GSV_V2PRO_BUNDLE).

Data-driven like the v2 parity tests: cases, inputs, parameters, file names and expected outputs come from the
bundle's ``cases_index.json`` / ``cases.safetensors``, the tolerance from its ``CASES.md``. Every output the index
lists for a case must be produced by our code and match; a bundle with other inputs runs unchanged.

a: fbank · b: SV embedding · c: the formatting SV step (7-sv_cn) · d: the inference reference path · e: decode with
sv_emb (v2Pro and v2ProPlus) · f: one v2Pro training step (forward, D step, G step, AdamW updates).
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
from gpt_sovits.audio.spectrogram import mel_spectrogram, spec_to_mel
from gpt_sovits.models.checkpoints import load_sovits, load_sovits_pretrained_d, read_sovits_state
from gpt_sovits.models.sovits import build_synthesizer, losses
from gpt_sovits.models.sovits.commons import slice_segments
from gpt_sovits.models.sv import SpeakerEncoder, fbank
from gpt_sovits.models.sv.fbank import mel_banks, povey_window


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
        assert tuple(actual.shape) == tuple(expected.shape), f"{key}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
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
    for ref, params in bundle.case("d_infer_sv")["params"].items():
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


@pytest.mark.parametrize("version", ["v2Pro", "v2ProPlus"])
def test_e_decode(bundle, version):
    case = f"e_decode_{version}"
    loaded = load_sovits(bundle.root / bundle.meta["files"][version]["weights"])
    assert loaded.version == version and loaded.model.gin_channels == bundle.case(case)["params"]["gin_channels"]
    bundle.check_all(case, _decode_outputs(bundle, case, loaded.model))
