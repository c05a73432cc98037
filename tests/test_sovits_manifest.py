"""Full-size SoVITS networks have exactly upstream's state-dict keys, order, shapes and dtypes.

Built on the ``meta`` device (no memory, no init cost) from ``configs/s2.json`` and compared with the manifests that
were dumped from upstream's own modules.
"""

import json
from pathlib import Path

import pytest
import torch

from gpt_sovits.models.sovits import MultiPeriodDiscriminator, SynthesizerTrn, build_synthesizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _manifest(fixtures_dir: Path, name: str) -> dict:
    return json.loads((fixtures_dir / "manifests" / f"{name}.json").read_text())


def _layout(module: torch.nn.Module) -> list[tuple[str, list[int], str]]:
    return [(k, list(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in module.state_dict().items()]


def _expected(manifest: dict) -> list[tuple[str, list[int], str]]:
    return [(k, v["shape"], v["dtype"]) for k, v in manifest["state_dict"].items()]


CONFIG_OF = {"v1": "s2.json", "v2": "s2.json", "v2Pro": "s2v2Pro.json", "v2ProPlus": "s2v2ProPlus.json"}


@pytest.mark.parametrize("version", ["v2", "v1", "v2Pro", "v2ProPlus"])
def test_generator_matches_manifest(fixtures_dir, version):
    hps = json.loads((CONFIGS / CONFIG_OF[version]).read_text())
    manifest = _manifest(fixtures_dir, f"sovits_{version}_G")
    with torch.device("meta"):
        model = build_synthesizer(hps, version)
    assert isinstance(model, SynthesizerTrn)
    assert _layout(model) == _expected(manifest)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == manifest["summary"]["num_parameters"]
    buffers = sorted(name for name, _ in model.named_buffers())
    assert buffers == sorted(manifest["summary"]["buffers"])


@pytest.mark.parametrize("version", ["v2", "v2Pro", "v2ProPlus"])
def test_discriminator_matches_manifest(fixtures_dir, version):
    manifest = _manifest(fixtures_dir, f"sovits_{version}_D")
    with torch.device("meta"):
        model = MultiPeriodDiscriminator(use_spectral_norm=False, version=version)
    assert _layout(model) == _expected(manifest)


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_unsupported_generator_versions_are_refused(version):
    hps = json.loads((CONFIGS / "s2.json").read_text())
    with torch.device("meta"), pytest.raises(ValueError, match="not supported yet"):
        build_synthesizer(hps, version)


def test_sv_model_matches_manifest(fixtures_dir):
    """The speaker-verification ERes2NetV2 at its only (full) size: upstream's 1001 keys, shapes and dtypes."""
    from gpt_sovits.models.sv import build_eres2netv2

    manifest = _manifest(fixtures_dir, "sv_eres2netv2")
    with torch.device("meta"):
        model = build_eres2netv2()
    assert _layout(model) == _expected(manifest)
    assert sum(p.numel() for p in model.parameters()) == manifest["summary"]["num_parameters"]


def test_config_sections_are_required():
    with pytest.raises(ValueError, match="missing"):
        build_synthesizer({"model": {}}, "v2")


@pytest.mark.parametrize("kind", ["conv1d", "conv2d", "convtranspose1d"])
def test_weight_norm_matches_legacy_torch_api(kind):
    """Our weight-norm convs hold the same parameters (names, order, shapes) and compute the same numbers as
    ``torch.nn.utils.weight_norm``, which upstream uses."""
    import warnings

    from gpt_sovits.models.sovits.weight_norm import WNConv1d, WNConv2d, WNConvTranspose1d

    torch.manual_seed(0)
    ours_cls, plain_cls, args, x = {
        "conv1d": (WNConv1d, torch.nn.Conv1d, (6, 8, 5), torch.randn(2, 6, 20)),
        "conv2d": (WNConv2d, torch.nn.Conv2d, (3, 4, (5, 1)), torch.randn(2, 3, 9, 2)),
        "convtranspose1d": (WNConvTranspose1d, torch.nn.ConvTranspose1d, (8, 4, 16), torch.randn(2, 8, 7)),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy API is deprecated; it is only the reference here
        legacy = torch.nn.utils.weight_norm(plain_cls(*args, stride=1))
    ours = ours_cls(*args, stride=1)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in legacy.state_dict().items()
    ]
    with torch.no_grad():
        legacy.weight_g.mul_(1.7)  # g no longer equal to ‖v‖
    ours.load_state_dict(legacy.state_dict())
    assert torch.equal(ours(x), legacy(x))
