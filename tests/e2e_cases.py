"""Upstream's recorded `get_tts_wav` runs (E2E_CASES.md): loading, replaying through our pipeline, comparing.

Kept apart from the test module so the comparison itself can be tested (a perturbed copy must fail). Everything is
data-driven: requests, options, tolerances and the list of recorded outputs come from the cases folder, and every
recorded tensor must be either a known input or compared — an unknown one fails instead of being ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file

from gpt_sovits.infer.hooks import RunHooks
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.infer.request import TTSRequest
from gpt_sovits.paths import BERT_DIR, HUBERT_DIR, ProjectPaths
from gpt_sovits.text.langseg import segment_text

INDEX = "e2e_index.json"
TENSORS = "e2e_cases.safetensors"
NOTES = "E2E_CASES.md"
SOVITS_WEIGHTS = "sovits_tiny_weights.pth"
GPT_WEIGHTS = "gpt_tiny_weights.ckpt"

# Upstream's WebUI option labels (its zh_CN i18n keys) → our codes: `dict_language` (v2) and the cut radio.
LANGUAGES = {"中文": "all_zh", "粤语": "all_yue", "英文": "en", "日文": "all_ja", "韩文": "all_ko", "中英混合": "zh",
             "粤英混合": "yue", "日英混合": "ja", "韩英混合": "ko", "多语种混合": "auto", "多语种混合(粤语)": "auto_yue"}
CUTS = {"不切": "cut0", "凑四句一切": "cut1", "凑50字一切": "cut2", "按中文句号。切": "cut3", "按英文句号.切": "cut4",
        "按标点符号切": "cut5"}
SENTENCE_FLOATS = ("bert", "decoded")
SENTENCE_INTS = ("all_phoneme_ids", "gpt_y", "pred_semantic", "phones2")
SENTENCE_INPUTS = ("noise",)


@dataclass(frozen=True)
class Tolerance:
    float_abs: float  # max |Δ| for float tensors
    int16_lsb: int  # max |Δ| for the final int16 output


def parse_tolerance(notes: str) -> Tolerance:
    """The acceptance rule as E2E_CASES.md states it (float |Δ| and int16 LSBs)."""
    floats = re.search(r"float tensors \|Δ\| <= ([0-9.eE+-]+)", notes)
    lsb = re.search(r"out_int16`? \|Δ\| <= (\d+) LSB", notes)
    if not floats or not lsb:
        raise AssertionError(f"{NOTES} does not state the acceptance rule (float |Δ| <= x, out_int16 |Δ| <= n LSB)")
    return Tolerance(float(floats.group(1)), int(lsb.group(1)))


class E2ECases:
    """One cases folder: index, tensors, tolerance, and where the tiny weights and HF model folders are."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for name in (INDEX, TENSORS, NOTES, "hubert_768", "bert_1024"):
            if not (self.root / name).exists():
                raise AssertionError(f"e2e cases folder {self.root} lacks {name}")
        self.index = json.loads((self.root / INDEX).read_text(encoding="utf-8"))
        self.tensors = load_file(str(self.root / TENSORS))
        self.tolerance = parse_tolerance((self.root / NOTES).read_text(encoding="utf-8"))
        labels = {shown: key for key, shown in self.index.get("i18n", {}).items()}
        self.label = lambda shown: labels.get(shown, shown)  # noqa: E731 - shown option string → zh_CN key

    @property
    def requests(self) -> list[str]:
        return list(self.index["requests"])

    def weights(self, name: str) -> Path:
        """The tiny weights sit next to the cases or in the bundle folder above them."""
        for folder in (self.root, self.root.parent):
            if (folder / name).is_file():
                return folder / name
        raise AssertionError(f"{name} found neither in {self.root} nor in {self.root.parent}")

    def tensor_keys(self, key: str) -> list[str]:
        return sorted(k for k in self.tensors if k.startswith(key + "."))


# ---- language segments ---------------------------------------------------------------------------------------------

def _collapse_spaces(text: str) -> str:
    return re.sub(r" {2,}", " ", text)


def recorded_segments(entry: dict) -> dict[str, list[tuple[str, str]]]:
    """Segments upstream used, keyed by the (space-collapsed) text of the get_phones_and_bert call they belong to.

    The index lists every call and every segment in order; a call's segments are the consecutive ones whose texts
    concatenate to the call's text (a retry's text starts with the added ".").
    """
    targets = {_collapse_spaces(c["text"]) for c in entry["gpb_calls"]}
    targets |= {"." + t for t in targets}
    grouped: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for seg in entry["segments"]:
        current.append((seg["text"], seg["lang"]))
        joined = "".join(t for t, _ in current)
        if joined in targets:
            grouped.setdefault(joined, list(current))
            current = []
    if current:
        raise AssertionError(f"segments {current} do not complete any recorded get_phones_and_bert call")
    return grouped


def _letters(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(lang, letters) per segment holding letters: what a segmentation says about the words themselves."""
    out = [(lang, "".join(c for c in text if c.isalpha())) for text, lang in segments]
    return [(lang, letters) for lang, letters in out if letters]


def segmentation_difference(ours: list[tuple[str, str]], recorded: list[tuple[str, str]]) -> str | None:
    """None when equal; "legitimate: ..." when only the placement of punctuation, spaces or digits differs (the
    recorder's script-based stand-in attaches them to the preceding run); otherwise a description of the error."""
    if ours == recorded:
        return None
    if "".join(t for t, _ in ours) != "".join(t for t, _ in recorded):
        return f"segments do not cover the same text: ours {ours} vs recorded {recorded}"
    if _letters(ours) == _letters(recorded):
        return f"legitimate: boundaries differ only around non-letters: ours {ours} vs recorded {recorded}"
    return f"languages differ: ours {ours} vs recorded {recorded}"


@dataclass
class ReplaySegmenter:
    """Our segmenter, except where it legitimately differs from the recorded segments: then the recorded ones."""

    recorded: dict[str, list[tuple[str, str]]]
    replaced: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def __call__(self, text: str, option: str) -> list[tuple[str, str]]:
        ours = segment_text(text, option)
        if text not in self.recorded:
            return ours
        diff = segmentation_difference(ours, self.recorded[text])
        if diff is None:
            return ours
        (self.replaced if diff.startswith("legitimate") else self.wrong).append(f"{text!r}: {diff}")
        return self.recorded[text]


# ---- replay ----------------------------------------------------------------------------------------------------------

@dataclass
class Replay:
    observed: dict[str, Any]
    gpb: list[dict]
    out: np.ndarray  # int16
    sample_rate: int
    segmenter: ReplaySegmenter


def project_root(cases: E2ECases, folder: Path) -> ProjectPaths:
    """A data root whose pretrained_models/ links the cases' HuBERT and BERT folders under upstream's names."""
    models = folder / "pretrained_models"
    models.mkdir(parents=True, exist_ok=True)
    for name, source in ((HUBERT_DIR, "hubert_768"), (BERT_DIR, "bert_1024")):
        link = models / name
        if not link.exists():
            link.symlink_to((cases.root / source).resolve(), target_is_directory=True)
    return ProjectPaths(folder)


def _write_ref(cases: E2ECases, key: str, name: str, folder: Path) -> Path:
    path = folder / f"{key}_{name}.wav"
    samples = cases.tensors[f"{key}.ref_{name}_int16"].numpy()
    sf.write(str(path), samples, int(cases.index["refs"][name]["sr"]), subtype="PCM_16")
    return path


def build_request(cases: E2ECases, key: str, folder: Path) -> TTSRequest:
    entry = cases.index["requests"][key]
    r = entry["request"]
    unsupported = {k: r[k] for k in ("if_freeze", "if_sr") if r.get(k)}
    if unsupported:  # upstream state across requests / v3 only: fail rather than replay something else
        raise AssertionError(f"{key}: request options this replay cannot reproduce: {unsupported}")
    gpt = entry["sentences"][0]["gpt_kwargs"] if entry["sentences"] else {}
    return TTSRequest(
        text=r["text"], text_lang=LANGUAGES[cases.label(r["text_lang"])],
        ref_audio_path=_write_ref(cases, key, r["ref"], folder),
        prompt_text=r["prompt_text"], prompt_lang=LANGUAGES[cases.label(r["prompt_lang"])],
        aux_ref_audio_paths=[_write_ref(cases, key, name, folder) for name in r.get("inp_refs") or []],
        top_k=int(gpt.get("top_k", 15)), top_p=float(gpt.get("top_p", 1.0)),
        temperature=float(gpt.get("temperature", 1.0)),
        repetition_penalty=float(gpt.get("repetition_penalty", 1.35)),
        text_split_method=CUTS[cases.label(r["cut"])], speed_factor=float(r["speed"]),
        fragment_interval=float(r["pause"]), seed=0, ref_free=bool(r.get("ref_free", False)),
        noise_scale=float(entry["sentences"][0]["noise_scale"]) if entry["sentences"] else 0.5,
        split_variant="inference_webui",
    )


def replay(cases: E2ECases, key: str, pipeline: TTSPipeline, folder: Path) -> Replay:
    """Run our pipeline on a recorded request with upstream's decode noise and (where needed) segments."""
    entry = cases.index["requests"][key]
    noise = [cases.tensors[f"{key}.s{j}.noise"] for j in range(len(entry["sentences"]))]
    early_stop = entry["sentences"][0]["gpt_kwargs"]["early_stop_num"] if entry["sentences"] else None
    observed: dict[str, Any] = {}
    gpb: list[dict] = []

    def observe(name: str, value: Any) -> None:
        if name == "gpb":
            gpb.append(value)
        else:
            observed[name] = value

    segmenter = ReplaySegmenter(recorded_segments(entry))
    hooks = RunHooks(decode_noise=noise, segmenter=segmenter, early_stop_num=early_stop, observe=observe)
    result = pipeline.synthesize(build_request(cases, key, folder), hooks=hooks)
    return Replay(observed, gpb, result.audio, result.sample_rate, segmenter)


# ---- comparison ------------------------------------------------------------------------------------------------------

def _as_ours(name: str, value: torch.Tensor) -> torch.Tensor:
    value = torch.as_tensor(value).detach().cpu()
    if name == "hubert_out":  # ours [1, 768, frames]; upstream's last_hidden_state [1, frames, 768]
        value = value.transpose(1, 2)
    return value


def compare(cases: E2ECases, key: str, run: Replay) -> tuple[list[str], dict[str, float]]:
    """Every recorded output of one request against the replay → (mismatches, max |Δ| per compared tensor)."""
    entry = cases.index["requests"][key]
    tol = cases.tolerance
    errors: list[str] = []
    worst: dict[str, float] = {}
    n_sentences = len(entry["sentences"])
    for full in cases.tensor_keys(key):
        name = full[len(key) + 1 :]
        if re.fullmatch(r"ref_.+_int16", name) or re.fullmatch(r"s\d+\.(%s)" % "|".join(SENTENCE_INPUTS), name):
            continue  # inputs
        expected = cases.tensors[full]
        if name == "out_int16":
            got = torch.from_numpy(run.out.astype(np.int64))
            if got.shape != expected.shape:
                errors.append(f"{full}: {got.numel()} samples, upstream {expected.numel()}")
                continue
            diff = int((got - expected.long()).abs().max()) if got.numel() else 0
            worst[full] = float(diff)
            if diff > tol.int16_lsb:
                errors.append(f"{full}: max |Δ| {diff} LSB > {tol.int16_lsb}")
            continue
        sentence_field = re.fullmatch(r"s\d+\.(\w+)", name)
        kind = sentence_field.group(1) if sentence_field else re.sub(r"\d+$", "", name)
        if kind not in SENTENCE_FLOATS + SENTENCE_INTS + ("hubert_in", "hubert_out", "prompt_semantic", "refer"):
            errors.append(f"{full}: recorded output this test does not know how to compare")
            continue
        if name not in run.observed:
            errors.append(f"{full}: recorded by upstream, not produced by our pipeline")
            continue
        got = _as_ours(name, run.observed[name])
        if tuple(got.shape) != tuple(expected.shape):
            errors.append(f"{full}: shape {tuple(got.shape)}, upstream {tuple(expected.shape)}")
            continue
        if expected.is_floating_point():
            diff = float((got.float() - expected.float()).abs().max()) if got.numel() else 0.0
            worst[full] = diff
            if not diff <= tol.float_abs:  # also catches NaN
                errors.append(f"{full}: max |Δ| {diff:.3g} > {tol.float_abs}")
        elif not torch.equal(got.long(), expected.long()):
            worst[full] = float((got.long() - expected.long()).abs().max())
            errors.append(f"{full}: integer values differ")
        else:
            worst[full] = 0.0
    recorded = {k[len(key) + 1 :] for k in cases.tensor_keys(key)}
    for name in run.observed:
        produced_sentence = re.fullmatch(r"s(\d+)\.(\w+)", name)
        if produced_sentence and produced_sentence.group(2) in ("text", "idx"):
            if int(produced_sentence.group(1)) >= n_sentences:
                errors.append(f"{key}: our pipeline made sentence {produced_sentence.group(1)}, upstream "
                              f"{n_sentences} sentences")
            continue
        if name not in recorded:
            errors.append(f"{key}.{name}: produced by our pipeline, not by upstream (e.g. a prompt in ref-free mode)")
    errors += _compare_metadata(cases, key, run)
    return errors, worst


def _compare_metadata(cases: E2ECases, key: str, run: Replay) -> list[str]:
    entry = cases.index["requests"][key]
    errors: list[str] = []
    if run.sample_rate != entry["sr"]:
        errors.append(f"{key}: sample rate {run.sample_rate}, upstream {entry['sr']}")
    if len(run.out) != entry["n_out"]:
        errors.append(f"{key}: {len(run.out)} output samples, upstream {entry['n_out']}")
    ref_free = "prompt_semantic" not in run.observed
    n_refer = len([n for n in run.observed if re.fullmatch(r"refer\d+", n)])
    for j, sentence in enumerate(entry["sentences"]):
        tokens = run.observed.get(f"s{j}.pred_semantic")
        if tokens is None:
            errors.append(f"{key}.s{j}: recorded by upstream, not synthesised by our pipeline")
            continue
        if run.observed.get(f"s{j}.idx") != sentence["idx"]:
            errors.append(f"{key}.s{j}: GPT idx {run.observed.get(f's{j}.idx')}, upstream {sentence['idx']}")
        if tokens.shape[-1] != sentence["n_tokens"]:
            errors.append(f"{key}.s{j}: {tokens.shape[-1]} tokens, upstream {sentence['n_tokens']}")
        if ref_free != sentence["prompt_none"]:
            errors.append(f"{key}.s{j}: reference-free {ref_free}, upstream {sentence['prompt_none']}")
        if n_refer != sentence["n_refer"]:
            errors.append(f"{key}.s{j}: {n_refer} timbre references, upstream {sentence['n_refer']}")
    decoded = len([n for n in run.observed if re.fullmatch(r"s\d+\.decoded", n)])
    if decoded != entry.get("n_decode_noise", len(entry["sentences"])):
        errors.append(f"{key}: {decoded} decodes, upstream drew decode noise {entry.get('n_decode_noise')} times")
    calls = [c for c in entry["gpb_calls"] if not c.get("final")]
    if len(run.gpb) != len(calls):
        errors.append(f"{key}: {len(run.gpb)} get_phones_and_bert calls, upstream {len(calls)} "
                      f"({[c['text'] for c in run.gpb]} vs {[c['text'] for c in calls]})")
    for i, (ours, theirs) in enumerate(zip(run.gpb, calls)):
        for field_name in ("text", "language", "phones", "norm_text"):
            if ours[field_name] != theirs[field_name]:
                errors.append(f"{key}.gpb{i}.{field_name}: {ours[field_name]!r}, upstream {theirs[field_name]!r}")
        if list(ours["bert"].shape) != list(theirs["bert_shape"]):
            errors.append(f"{key}.gpb{i}.bert_shape: {list(ours['bert'].shape)}, upstream {theirs['bert_shape']}")
    errors += [f"{key}: segmenter {w}" for w in run.segmenter.wrong]
    return errors
