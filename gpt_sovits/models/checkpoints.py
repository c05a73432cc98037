"""Read and write upstream GPT-SoVITS weight files (WEIGHT_FILES.md), ready-to-use models out, upstream-readable files in.

SoVITS files: `{"weight": fp16 state dict (no enc_q in finetuned files), "config": hps, "info": str}`; v1/v2 are
plain zips, v2Pro/v2ProPlus finetuned files carry upstream's 2-byte header "05"/"06" instead of the zip magic (see
safe_load; we write it too). GPT files: `{"weight": fp16 state dict with the
Lightning "model." prefix, "config": s1 yaml dict, "info": str}`. Loading never unpickles code (safe_load); writing
is atomic and produces plain-dict configs, which upstream's loaders accept.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gpt_sovits.audio.io import atomic_write_bytes
from gpt_sovits.models.gpt.t2s import Text2SemanticDecoder
from gpt_sovits.models.safe_load import CheckpointContents, CheckpointError, load_checkpoint, to_plain

__all__ = [
    "SUPPORTED_VERSIONS",
    "CheckpointError",
    "LoadedGPT",
    "LoadedSoVITS",
    "detect_sovits_version",
    "load_gpt",
    "load_sovits",
    "load_sovits_pretrained_d",
    "read_sovits_state",
    "save_gpt_weights",
    "save_sovits_weights",
]

SUPPORTED_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")
PRO_VERSIONS = ("v2Pro", "v2ProPlus")
# upstream's my_save2 overwrites the zip magic "PK" with these bytes for the versions it tags on save
SAVE_HEADERS = {"v2Pro": b"05", "v2ProPlus": b"06"}
GPT_PREFIX = "model."
TEXT_EMBEDDING_KEY = "enc_p.text_embedding.weight"
V1_SYMBOL_ROWS = 322
V1_PHONEME_VOCAB = 512

# md5 of the first 8192 bytes of upstream's official pretrained G files (WEIGHT_FILES.md §1.2): their version, which
# their bytes alone do not tell (no header). v3/v4 are recognised but cannot run here.
_PRETRAINED_HASHES = {
    "43797be674a37c1c83ee81081941ed0f": "v3",
    "4f26b9476d0c5033e04162c486074374": "v4",
    "c7e9fce2223f3db685cdfa1e6368728a": "v2Pro",
    "66b313e39455b57ab1b0bc0b239c9d0a": "v2ProPlus",
}


def _not_supported(path: Path, version: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: this is a GPT-SoVITS {version} SoVITS file. {version} models are not supported yet "
        f"(this version runs v1, v2, v2Pro and v2ProPlus). Pick one of those SoVITS weight files."
    )


@dataclass
class LoadedSoVITS:
    model: nn.Module  # SynthesizerTrn in eval mode, fp32
    hps: dict[str, Any]  # the full s2 config (train/data/model), plain dicts, model.version set
    version: str  # "v1" | "v2" | "v2Pro" | "v2ProPlus"
    info: str | None = None
    path: Path | None = None

    @property
    def needs_sv(self) -> bool:
        """v2Pro/v2ProPlus: every reference needs its speaker-verification embedding."""
        return self.version in PRO_VERSIONS


@dataclass
class LoadedGPT:
    model: Text2SemanticDecoder  # eval mode, fp32
    config: dict[str, Any]  # the s1 config dict as stored in the file
    version: str  # "v1" | "v2"
    info: str | None = None
    path: Path | None = None

    @property
    def max_sec(self) -> int:
        return int(self.config.get("data", {}).get("max_sec", 54))


# ---------------------------------------------------------------------------------------------------- SoVITS
def _head_md5(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.md5(f.read(8192)).hexdigest()


def _weights(contents: CheckpointContents, path: Path) -> dict[str, torch.Tensor]:
    weight = contents.data.get("weight")
    if not isinstance(weight, Mapping) or not weight:
        keys = ", ".join(map(str, list(contents.data)[:8]))
        raise CheckpointError(
            f"{path}: no 'weight' state dict in this file (top-level keys: {keys}). Expected an upstream weight file "
            "(SoVITS_weights*/...pth, GPT_weights*/...ckpt or a pretrained model)."
        )
    return dict(weight)


def _pro_version(contents: CheckpointContents, weight: Mapping[str, torch.Tensor]) -> str:
    """v2Pro or v2ProPlus for an untagged file with SV layers: the config's model.version when it names one, else the
    decoder's first upsampling kernel (ProPlus widens it to 20 taps; v2Pro keeps v2's 16)."""
    config = contents.data.get("config")
    named = config.get("model", {}).get("version") if isinstance(config, dict) else None
    if named in PRO_VERSIONS:
        return named
    ups0 = weight.get("dec.ups.0.weight_v")
    return "v2ProPlus" if ups0 is not None and ups0.shape[-1] == 20 else "v2Pro"


def _sovits_version(contents: CheckpointContents, weight: Mapping[str, torch.Tensor], path: Path,
                    hashed: str | None = None) -> str:
    """Version from, in order: the 2-byte header, the official-file md5 (``hashed``), the keys (SV layers → v2Pro
    family; v3/v4 layers → refused), the text-embedding rows (v1/v2). Never from the file size."""
    versions = contents.header_versions
    if versions is not None and versions[1] not in SUPPORTED_VERSIONS:
        raise _not_supported(path, versions[1] + (" LoRA" if versions[2] else ""))
    if any(k.startswith(("cfm.", "bridge.", "wns1.")) for k in weight) or "lora_rank" in contents.data:
        raise _not_supported(path, "v3/v4")
    has_sv = any(k.startswith(("sv_emb.", "ge_to512.", "prelu.")) for k in weight)
    claimed = versions[1] if versions is not None else hashed
    if claimed in PRO_VERSIONS or has_sv:
        if not has_sv:
            raise CheckpointError(f"{path}: marked as a {claimed} file but has no sv_emb/ge_to512/prelu weights.")
        return claimed if claimed in PRO_VERSIONS else _pro_version(contents, weight)
    emb = weight.get(TEXT_EMBEDDING_KEY)
    if emb is None:
        raise CheckpointError(f"{path}: no {TEXT_EMBEDDING_KEY} in the weights: not a SoVITS generator file.")
    return "v1" if emb.shape[0] == V1_SYMBOL_ROWS else "v2"


def _check_pretrained_hash(path: Path) -> str | None:
    """The version of an official pretrained file recognised by its md5; v3/v4 ones are refused."""
    version = _PRETRAINED_HASHES.get(_head_md5(path))
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise _not_supported(path, version)
    return version


def _float_state(weight: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 on disk → fp32 in memory (integer/bool tensors kept)."""
    return {k: (v.float() if v.is_floating_point() else v) for k, v in weight.items()}


def _read_sovits(path: Path) -> tuple[CheckpointContents, dict[str, torch.Tensor], dict[str, Any] | None, str]:
    hashed = _check_pretrained_hash(path) if path.is_file() else None
    contents = load_checkpoint(path)
    weight = _weights(contents, path)
    version = _sovits_version(contents, weight, path, hashed)
    config = contents.data.get("config")
    return contents, _float_state(weight), (config if isinstance(config, dict) else None), version


def read_sovits_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None, str]:
    """(fp32 state dict, config or None, version) of a SoVITS G file — for training init from a pretrained G."""
    _, state, config, version = _read_sovits(Path(path))
    return state, config, version


def detect_sovits_version(path: str | Path) -> str:
    """"v1", "v2", "v2Pro" or "v2ProPlus"; raises CheckpointError ("not supported yet") for v3/v4 files."""
    return read_sovits_state(path)[2]


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, ignore_prefix: str | None) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not (ignore_prefix and k.startswith(ignore_prefix))]
    unexpected = [k for k in result.unexpected_keys if not (ignore_prefix and k.startswith(ignore_prefix))]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the network built from its config: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})."
        )


def load_sovits(
    path: str | Path, device: str | torch.device = "cpu", keep_enc_q: bool | None = None,
) -> LoadedSoVITS:
    """Load a SoVITS generator file (finetuned or pretrained) into an fp32 model in eval mode.

    keep_enc_q None → keep the posterior encoder only if the file has its weights (pretrained G files); upstream
    deletes it unless the path contains "pretrained" — the same outcome for upstream's own files.
    """
    from gpt_sovits.models.sovits import build_synthesizer  # the SoVITS networks

    path = Path(path)
    contents, state, config, version = _read_sovits(path)
    if config is None:
        raise CheckpointError(
            f"{path}: this SoVITS file has no 'config' (train/data/model sections), so the network cannot be built. "
            "Is it a discriminator (s2D*.pth) or a bare state dict?"
        )
    hps = copy.deepcopy(config)
    hps.setdefault("model", {})
    hps["model"]["version"] = version
    hps["model"]["semantic_frame_rate"] = "25hz"
    has_enc_q = any(k.startswith("enc_q.") for k in state)
    keep = has_enc_q if keep_enc_q is None else keep_enc_q
    try:
        model = build_synthesizer(hps, version)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config cannot build a SoVITS {version} network: {err}") from err
    if not keep and getattr(model, "enc_q", None) is not None:
        model.enc_q = None  # inference never uses the posterior encoder
    _load_into(model, state, path, ignore_prefix=None if keep else "enc_q.")
    model.eval().to(device)
    info = contents.data.get("info")
    return LoadedSoVITS(model=model, hps=hps, version=version, info=info if isinstance(info, str) else None, path=path)


def load_sovits_pretrained_d(path: str | Path, version: str = "v2", device: str | torch.device = "cpu") -> nn.Module:
    """Upstream's pretrained discriminator file (`{"weight": MPD state dict}`) → fp32 MultiPeriodDiscriminator."""
    from gpt_sovits.models.sovits import MultiPeriodDiscriminator

    path = Path(path)
    contents = load_checkpoint(path)
    state = _float_state(_weights(contents, path))
    model = MultiPeriodDiscriminator(use_spectral_norm=False, version=version)
    _load_into(model, state, path, ignore_prefix=None)
    return model.to(device)


# ---------------------------------------------------------------------------------------------------- GPT
def gpt_version(config: Mapping[str, Any]) -> str:
    """v1 when the phone vocabulary is 512 (s1longer.yaml), else v2 (732, s1longer-v2.yaml)."""
    return "v1" if int(config.get("model", {}).get("phoneme_vocab_size", 732)) == V1_PHONEME_VOCAB else "v2"


def load_gpt(path: str | Path, device: str | torch.device = "cpu") -> LoadedGPT:
    """Load a GPT weight file (finetuned or pretrained, "model."-prefixed keys) into an fp32 model in eval mode."""
    path = Path(path)
    contents = load_checkpoint(path)
    weight = _weights(contents, path)
    config = contents.data.get("config")
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError(f"{path}: no s1 'config' with a 'model' section: not a GPT weight file.")
    if any(k.startswith(("enc_p.", "dec.", "flow.")) for k in weight):
        raise CheckpointError(f"{path}: this is a SoVITS file, not a GPT file. Choose it in the SoVITS list.")
    state = {(k.removeprefix(GPT_PREFIX)): v for k, v in weight.items()}
    try:
        model = Text2SemanticDecoder(config)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config cannot build the GPT network: {err}") from err
    _load_into(model, _float_state(state), path, ignore_prefix=None)
    model.eval().to(device)
    info = contents.data.get("info")
    return LoadedGPT(model=model, config=config, version=gpt_version(config), info=info if isinstance(info, str) else None,
                     path=path)


# ---------------------------------------------------------------------------------------------------- writers
def _state_of(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(model_or_state, nn.Module):
        return dict(model_or_state.state_dict())
    return dict(model_or_state)


def _half_copy(t: torch.Tensor) -> torch.Tensor:
    # every tensor .half() like upstream (codebook buffers included); clone → one compact storage per tensor
    return t.detach().to("cpu").half().clone()


def _write(obj: dict[str, Any], path: Path, header: bytes | None = None) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    if header is not None:  # upstream's my_save2: the version tag replaces the zip magic "PK"
        data = header + data[2:]
    atomic_write_bytes(path, data)
    return path


def save_sovits_weights(
    model_or_state: nn.Module | Mapping[str, torch.Tensor], hps: Mapping[str, Any], path: str | Path, info: str,
    version: str | None = None,
) -> Path:
    """Finetuned-SoVITS file: fp16 weights without enc_q, plain-dict config, info "<E>epoch_<S>iteration".

    ``version`` (default: the config's model.version) picks upstream's header: "05"/"06" for v2Pro/v2ProPlus,
    a plain zip for v1/v2, as upstream's trainer writes them.
    """
    state = _state_of(model_or_state)
    weight = {k: _half_copy(v) for k, v in state.items() if "enc_q" not in k}
    if TEXT_EMBEDDING_KEY not in weight:
        raise CheckpointError(f"refusing to write {path}: the state dict has no {TEXT_EMBEDDING_KEY} (not a SoVITS G)")
    config = to_plain(dict(hps))
    if version is None:
        version = config.get("model", {}).get("version", "v2")
    if version in PRO_VERSIONS and not any(k.startswith("sv_emb.") for k in weight):
        raise CheckpointError(f"refusing to write {path} as {version}: the state dict has no sv_emb weights")
    return _write({"weight": weight, "config": config, "info": str(info)}, Path(path), SAVE_HEADERS.get(version))


def save_gpt_weights(
    model_or_state: nn.Module | Mapping[str, torch.Tensor], config: Mapping[str, Any], path: str | Path, info: str,
) -> Path:
    """Finetuned-GPT file: fp16 weights with the "model." prefix, plain-dict config, info "GPT-e<E>"."""
    state = _state_of(model_or_state)
    weight = {(k if k.startswith(GPT_PREFIX) else GPT_PREFIX + k): _half_copy(v) for k, v in state.items()}
    return _write({"weight": weight, "config": to_plain(dict(config)), "info": str(info)}, Path(path))
