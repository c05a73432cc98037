"""Numeric parity of the SoVITS side with upstream, against the reference bundle ($GSV_REFERENCE_BUNDLE).

Everything is data-driven: the cases, their inputs, parameters and expected outputs come from ``cases_index.json`` /
``cases.safetensors``, the network sizes from the bundle's ``s2_tiny.json``, the tolerance from ``CASES.md``. Every
output the index lists for a case must be produced and match; a bundle with other sizes or inputs runs unchanged.
"""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpt_sovits.audio.spectrogram import mel_filterbank, mel_spectrogram, spec_to_mel, spectrogram
from gpt_sovits.models.safe_load import load_checkpoint_dict
from gpt_sovits.models.sovits import MultiPeriodDiscriminator, build_synthesizer, losses
from gpt_sovits.models.sovits.discriminator import PERIODS

FINETUNED_G = "sovits_tiny_weights.pth"
PRETRAINED_G = "sovits_tiny_pretrained_G.pth"
PRETRAINED_D = "sovits_tiny_pretrained_D.pth"


class Bundle:
    """Resolves case tensors (stored, ``same_as`` or ``derived``) and checks outputs against the stated rule."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = json.loads((root / "cases_index.json").read_text())
        self.tensors = load_file(str(root / "cases.safetensors"))
        self.hps = json.loads((root / "s2_tiny.json").read_text())
        self.atol, self.rtol = self._tolerance((root / "CASES.md").read_text())

    @staticmethod
    def _tolerance(cases_md: str) -> tuple[float, float]:
        match = re.search(r"\|a-b\| <= ([0-9.eE+-]+) \+ ([0-9.eE+-]+)\*\|b\|", cases_md)
        assert match, "CASES.md does not state an acceptance rule of the form |a-b| <= atol + rtol*|b|"
        return float(match.group(1)), float(match.group(2))

    def case(self, name: str) -> dict:
        if name not in self.index:
            pytest.fail(f"case {name!r} missing from {self.root / 'cases_index.json'}")
        return self.index[name]

    def entry(self, key: str) -> dict:
        case = self.case(key.split(".", 1)[0])
        for item in case["inputs"] + case["outputs"]:
            if item["name"] == key:
                return item
        raise KeyError(key)

    def get(self, key: str) -> torch.Tensor:
        if key in self.tensors:
            return self.tensors[key]
        item = self.entry(key)
        if "same_as" in item:
            return self.get(item["same_as"])
        if "derived" in item:
            sliced = re.fullmatch(r"(\S+)\[:, (\d+):(\d+)\]", item["derived"])
            assert sliced, f"unknown derivation {item['derived']!r} for {key}"
            return self.get(sliced.group(1))[:, int(sliced.group(2)) : int(sliced.group(3))]
        raise KeyError(f"{key}: not stored, no same_as/derived rule")

    def check(self, key: str, actual: torch.Tensor) -> float:
        """Exact for integer outputs, ``atol + rtol·|b|`` for floating ones; returns the max |diff|."""
        expected = self.get(key)
        actual = actual.detach().to("cpu")
        assert tuple(actual.shape) == tuple(expected.shape), f"{key}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        if not expected.is_floating_point():
            assert torch.equal(actual.to(expected.dtype), expected), f"{key}: integer output differs"
            return 0.0
        diff = (actual.float() - expected.float()).abs()
        limit = self.atol + self.rtol * expected.float().abs()
        worst = float(diff.max()) if diff.numel() else 0.0
        assert bool((diff <= limit).all()), f"{key}: max |diff| {worst:.3g} exceeds {self.atol} + {self.rtol}*|b|"
        print(f"{key}: max |diff| = {worst:.3g}")
        return worst

    def check_all(self, case_name: str, computed: dict[str, torch.Tensor]) -> None:
        """Every output listed for the case must have been computed and must match."""
        for item in self.case(case_name)["outputs"]:
            key = item["name"]
            short = key.split(".", 1)[1]
            assert short in computed, f"{key} is listed by the bundle but was not computed"
            self.check(key, computed[short])


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in load_checkpoint_dict(path)["weight"].items()}


def _sovits_version(state: dict[str, torch.Tensor]) -> str:
    # upstream's rule: a 322-row text embedding means the v1 symbol table
    return "v1" if state["enc_p.text_embedding.weight"].shape[0] == 322 else "v2"


@pytest.fixture(scope="module")
def bundle(reference_bundle) -> Bundle:
    if not (reference_bundle / "cases_index.json").is_file():
        pytest.fail(f"reference bundle not found at {reference_bundle}")
    return Bundle(reference_bundle)


def _build_generator(bundle: Bundle, filename: str, keep_enc_q: bool):
    state = _load_state(bundle.root / filename)
    model = build_synthesizer(bundle.hps, _sovits_version(state))
    if not keep_enc_q:
        model.enc_q = None  # as upstream's inference loader (del enc_q)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def finetuned_g(bundle):
    """The finetuned-format file: no enc_q keys, everything else must load strictly."""
    return _build_generator(bundle, FINETUNED_G, keep_enc_q=False)


@pytest.fixture(scope="module")
def pretrained_g(bundle):
    return _build_generator(bundle, PRETRAINED_G, keep_enc_q=True)


@pytest.fixture(scope="module")
def discriminator(bundle):
    state = _load_state(bundle.root / PRETRAINED_D)
    n_disc = 1 + max(int(k.split(".")[1]) for k in state)
    version = next(v for v, periods in PERIODS.items() if len(periods) + 1 == n_disc)
    model = MultiPeriodDiscriminator(bool(bundle.hps["model"].get("use_spectral_norm", False)), version=version)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.slow  # librosa's first filterbank call imports a lot (several seconds on a busy box)
def test_a_spectrogram(bundle):
    p = bundle.case("a_spectrogram")["params"]
    wav = bundle.get("a_spectrogram.wav")
    spec = spectrogram(wav, p["n_fft"], p["hop"], p["win"])
    seg = bundle.get("a_spectrogram.segment")
    computed = {
        "spec": spec,
        "mel": spec_to_mel(spec, p["n_fft"], p["n_mels"], p["sr"], p["fmin"], p["fmax"]),
        "segment_mel": mel_spectrogram(seg, p["n_fft"], p["n_mels"], p["sr"], p["hop"], p["win"], p["fmin"],
                                       p["fmax"]),
        "mel_basis": mel_filterbank(p["sr"], p["n_fft"], p["n_mels"], p["fmin"], p["fmax"], torch.device("cpu"),
                                    torch.float32),
    }
    bundle.check_all("a_spectrogram", computed)


def test_b_extract_latent(bundle, finetuned_g):
    codes = finetuned_g.extract_latent(bundle.get("b_extract_latent.ssl"))
    bundle.check_all("b_extract_latent", {"codes": codes})


def test_c_decode(bundle, finetuned_g):
    case = bundle.case("c_decode")
    p = case["params"]
    codes, phones = bundle.get("c_decode.codes"), bundle.get("c_decode.phones")
    computed = {}
    for out_name, speed in p["speeds"].items():
        refers = [bundle.get(f"c_decode.{r}") for r in p["refers"][out_name]]
        computed[out_name] = finetuned_g.decode(codes, phones, refers, noise_scale=p["noise_scale"], speed=speed)
        if len(refers) == 1:  # a bare tensor and a one-element list are the same call
            bare = finetuned_g.decode(codes, phones, refers[0], noise_scale=p["noise_scale"], speed=speed)
            assert torch.equal(bare, computed[out_name])
    bundle.check_all("c_decode", computed)


def test_d_ref_enc(bundle, finetuned_g):
    ge = finetuned_g.reference_embedding(bundle.get("d_ref_enc.spec"), bundle.get("d_ref_enc.mask"))
    bundle.check_all("d_ref_enc", {"ge": ge})


def test_d_enc_p(bundle, finetuned_g):
    g = bundle.get
    with torch.no_grad():
        x, m_p, logs_p, y_mask = finetuned_g.enc_p(g("d_enc_p.quantized"), g("d_enc_p.y_lengths"), g("d_enc_p.text"),
                                                   g("d_enc_p.text_lengths"), g("d_enc_p.ge"))
    bundle.check_all("d_enc_p", {"x": x, "m_p": m_p, "logs_p": logs_p, "y_mask": y_mask})


def test_d_flow(bundle, finetuned_g):
    g = bundle.get
    with torch.no_grad():
        z_p = finetuned_g.flow(g("d_flow.z"), g("d_flow.mask"), g=g("d_flow.ge"))
        z_rev = finetuned_g.flow(g("d_flow.z_p_in"), g("d_flow.mask"), g=g("d_flow.ge"), reverse=True)
    bundle.check_all("d_flow", {"z_p": z_p, "z_reverse": z_rev})


def test_d_dec(bundle, finetuned_g):
    with torch.no_grad():
        o = finetuned_g.dec(bundle.get("d_dec.z"), g=bundle.get("d_dec.ge"))
    bundle.check_all("d_dec", {"o": o})


def test_d_enc_q(bundle, pretrained_g):
    g = bundle.get
    with torch.no_grad():
        _z, m_q, logs_q, y_mask = pretrained_g.enc_q(g("d_enc_q.spec"), g("d_enc_q.lengths"), g=g("d_enc_q.g"))
    bundle.check_all("d_enc_q", {"m_q": m_q, "logs_q": logs_q, "y_mask": y_mask})


def test_d_kl_loss(bundle):
    g = bundle.get
    kl = losses.kl_loss(g("d_kl_loss.z_p"), g("d_kl_loss.logs_q"), g("d_kl_loss.m_p"), g("d_kl_loss.logs_p"),
                        g("d_kl_loss.z_mask"))
    bundle.check_all("d_kl_loss", {"kl": kl})


def test_d_discriminator(bundle, discriminator):
    case = bundle.case("d_discriminator")
    with torch.no_grad():
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = discriminator(bundle.get("d_discriminator.y"),
                                                         bundle.get("d_discriminator.y_hat"))
    loss_disc, losses_r, losses_g = losses.discriminator_loss(y_d_rs, y_d_gs)
    loss_gen, losses_gen = losses.generator_loss(y_d_gs)
    computed = {
        "loss_disc": loss_disc,
        "losses_disc_r": torch.stack(losses_r),
        "losses_disc_g": torch.stack(losses_g),
        "loss_gen": loss_gen,
        "losses_gen": torch.stack(losses_gen),
        "loss_fm": losses.feature_loss(fmap_rs, fmap_gs),
    }
    for i, (y_d_r, y_d_g) in enumerate(zip(y_d_rs, y_d_gs)):
        computed[f"y_d_r_{i}"] = y_d_r
        computed[f"y_d_g_{i}"] = y_d_g
    bundle.check_all("d_discriminator", computed)

    # feature maps are not stored; the bundle records their shapes and mean |fmap_r − fmap_g| per layer
    p = case["params"]
    assert [[list(f.shape) for f in fm] for fm in fmap_rs] == p["fmap_shapes"]
    for d, (fr, fg) in enumerate(zip(fmap_rs, fmap_gs)):
        terms = torch.tensor([float((r - q).abs().mean()) for r, q in zip(fr, fg)])
        expected = torch.tensor(p["feature_loss_terms_mean_abs"][d])
        assert bool(((terms - expected).abs() <= bundle.atol + bundle.rtol * expected.abs()).all()), d
