"""SoVITS v1/v2/v2Pro/v2ProPlus networks with upstream GPT-SoVITS state-dict keys, shapes and maths.

``build_synthesizer(hps, version)`` builds the generator from a full upstream s2 config dict
(``{"train": ..., "data": ..., "model": ...}``) the way upstream does:
``SynthesizerTrn(data.filter_length // 2 + 1, train.segment_size // data.hop_length,
n_speakers=data.n_speakers, **model)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .discriminator import MultiPeriodDiscriminator
from .synthesizer import SUPPORTED_VERSIONS, SynthesizerTrainOutput, SynthesizerTrn

__all__ = [
    "SUPPORTED_VERSIONS",
    "MultiPeriodDiscriminator",
    "SynthesizerTrainOutput",
    "SynthesizerTrn",
    "build_discriminator",
    "build_synthesizer",
]


def _as_dict(section: Any, name: str) -> dict:
    """Accept plain dicts and attribute bags (e.g. an unpickled upstream ``HParams``)."""
    if isinstance(section, Mapping):
        return dict(section)
    if hasattr(section, "__dict__"):
        return dict(vars(section))
    raise ValueError(f"SoVITS config section {name!r} must be a mapping, got {type(section).__name__}")


def build_synthesizer(hps: Mapping[str, Any], version: str = "v2") -> SynthesizerTrn:
    """Build ``SynthesizerTrn`` from an upstream s2 config; ``version`` (v1, v2, v2Pro, v2ProPlus) overrides
    ``model.version``."""
    hps = _as_dict(hps, "hps")
    try:
        data = _as_dict(hps["data"], "data")
        train = _as_dict(hps["train"], "train")
        model = _as_dict(hps["model"], "model")
        spec_channels = data["filter_length"] // 2 + 1
        segment_frames = train["segment_size"] // data["hop_length"]
        n_speakers = data.get("n_speakers", 0)
    except KeyError as exc:
        raise ValueError(f"SoVITS config is missing {exc.args[0]!r} (needs data.filter_length, data.hop_length, "
                         "train.segment_size and a model section)") from None
    model["version"] = version
    return SynthesizerTrn(spec_channels, segment_frames, n_speakers=n_speakers, **model)


def build_discriminator(hps: Mapping[str, Any], version: str = "v2") -> MultiPeriodDiscriminator:
    """``MultiPeriodDiscriminator(model.use_spectral_norm, version)`` as upstream's trainer builds it."""
    model = _as_dict(_as_dict(hps, "hps").get("model", {}), "model")
    return MultiPeriodDiscriminator(bool(model.get("use_spectral_norm", False)), version=version)
