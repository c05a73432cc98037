"""Upstream's whole classic `get_tts_wav`, reproduced on recorded end-to-end requests (E2E_CASES.md).

The cases folder is `$GSV_E2E_CASES` (default: the copy under tests/fixtures/bundle/e2e). Each recorded request is
replayed through `TTSPipeline` with upstream's decode noise injected; every recorded output (HuBERT input/output,
prompt tokens, reference spectrograms, per sentence phones, BERT, GPT output, tokens, target phones, decoded audio,
and the final int16 wave) and the index metadata (get_phones_and_bert calls, token counts, lengths) must match
within the file's acceptance rule. Language segmentation is checked on its own; where our splitter legitimately
differs from the recorder's stand-in (only around punctuation), the recorded segments are fed so the rest of the
glue is still compared. A perturbed copy of the cases must fail.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from e2e_cases import (
    GPT_WEIGHTS, INDEX, NOTES, SOVITS_WEIGHTS, TENSORS, E2ECases, Replay, compare, project_root, recorded_segments,
    replay, segmentation_difference,
)
from gpt_sovits.infer.pipeline import TTSPipeline
from gpt_sovits.text.cleaner import clean_text, cleaned_text_to_sequence
from gpt_sovits.text.langseg import segment_text

CASES_DIR = Path(os.environ.get("GSV_E2E_CASES", Path(__file__).parent / "fixtures" / "bundle" / "e2e"))
CASES = E2ECases(CASES_DIR)  # read at collection: a missing or malformed folder fails loudly, never skips


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> TTSPipeline:
    pipe = TTSPipeline(project_root(CASES, tmp_path_factory.mktemp("e2e_root")), device="cpu", half=False)
    pipe.load_gpt(CASES.weights(GPT_WEIGHTS))
    pipe.load_sovits(CASES.weights(SOVITS_WEIGHTS))
    return pipe


@pytest.fixture(scope="module")
def replayed(pipeline, tmp_path_factory):
    """Replays run once per request and shared by the tests below."""
    done: dict[str, Replay] = {}
    folder = tmp_path_factory.mktemp("e2e_refs")

    def get(key: str) -> Replay:
        if key not in done:
            done[key] = replay(CASES, key, pipeline, folder)
        return done[key]

    return get


def test_cases_folder_holds_requests():
    assert CASES.requests, f"{CASES_DIR / INDEX} lists no requests"


@pytest.mark.slow
@pytest.mark.parametrize("key", CASES.requests)
def test_request_reproduces_upstream(key, replayed):
    run = replayed(key)
    errors, worst = compare(CASES, key, run)
    print(f"{key}: " + ", ".join(f"{k[len(key) + 1:]} {v:.3g}" for k, v in worst.items()))
    for note in run.segmenter.replaced:
        print(f"{key}: recorded segments fed for {note}")
    assert not errors, f"{key} differs from upstream:\n" + "\n".join(errors)


@pytest.mark.parametrize("key", CASES.requests)
def test_language_segments_match_recorded(key):
    """Our splitter against the segments upstream used, call by call, and each segment's frontend output."""
    entry = CASES.index["requests"][key]
    grouped = recorded_segments(entry)
    problems = []
    for call in entry["gpb_calls"]:
        text = re.sub(r" {2,}", " ", call["text"])
        if text not in grouped:
            problems.append(f"no recorded segments for the call {text!r}")
            continue
        diff = segmentation_difference(segment_text(text, call["language"]), grouped[text])
        if diff is not None and not diff.startswith("legitimate"):
            problems.append(f"{text!r}: {diff}")
    for seg in entry["segments"]:
        cleaned = clean_text(seg["text"], seg["lang"], "v2")
        phones = list(cleaned_text_to_sequence(cleaned.phones, "v2"))
        word2ph = list(cleaned.word2ph) if cleaned.word2ph is not None else None
        for name, ours in (("phones", phones), ("word2ph", word2ph), ("norm_text", cleaned.norm_text)):
            if ours != seg[name]:
                problems.append(f"segment {seg['text']!r} ({seg['lang']}) {name}: {ours!r}, upstream {seg[name]!r}")
    assert not problems, "\n".join(problems)


def _perturb(tensor: torch.Tensor, lsb: int, float_abs: float) -> torch.Tensor:
    changed = tensor.clone()
    flat = changed.view(-1)
    position = flat.numel() // 2
    if tensor.is_floating_point():
        flat[position] += 10 * float_abs
    elif tensor.dtype == torch.int16:
        flat[position] = flat[position] + (lsb + 1) if flat[position] < 0 else flat[position] - (lsb + 1)
    else:
        flat[position] += 1
    return changed


@pytest.mark.slow
def test_a_perturbed_copy_of_the_cases_fails(replayed, tmp_path):
    """Every recorded output, changed by a little more than the rule allows, is caught; within the rule it is not."""
    from safetensors.torch import save_file

    key = CASES.requests[0]
    run = replayed(key)
    copy = tmp_path / "e2e"
    copy.mkdir()
    for name in (INDEX, NOTES):
        shutil.copy(CASES.root / name, copy / name)
    for name in ("hubert_768", "bert_1024"):
        (copy / name).symlink_to((CASES.root / name).resolve(), target_is_directory=True)
    tol = CASES.tolerance
    baseline = set(compare(CASES, key, run)[0])

    # On disk: the final wave off by one LSB more than allowed at one sample.
    tensors = dict(CASES.tensors)
    tensors[f"{key}.out_int16"] = _perturb(tensors[f"{key}.out_int16"], tol.int16_lsb, tol.float_abs)
    save_file(tensors, str(copy / TENSORS))
    perturbed = E2ECases(copy)
    new = [e for e in compare(perturbed, key, run)[0] if e not in baseline]
    assert any(f"{key}.out_int16" in e for e in new), new

    # In memory: each recorded output in turn.
    outputs = [k for k in CASES.tensor_keys(key)
               if not re.search(r"\.ref_.+_int16$|\.s\d+\.noise$", k)]
    assert f"{key}.out_int16" in outputs and len(outputs) > 5
    for name in outputs:
        perturbed.tensors = dict(CASES.tensors)
        perturbed.tensors[name] = _perturb(CASES.tensors[name], tol.int16_lsb, tol.float_abs)
        new = [e for e in compare(perturbed, key, run)[0] if e not in baseline]
        assert any(name in e for e in new), f"perturbing {name} went unnoticed"

    # Within the rule: a sample where we agree exactly, moved by exactly the allowed LSBs, still passes.
    perturbed.tensors = dict(CASES.tensors)
    shifted = CASES.tensors[f"{key}.out_int16"].clone()
    same = (torch.from_numpy(run.out.astype("int64")) == shifted.long()).nonzero()
    assert len(same) > 0 and len(run.out) == len(shifted)
    at = int(same[len(same) // 2])
    shifted[at] += -tol.int16_lsb if shifted[at] > 0 else tol.int16_lsb
    perturbed.tensors[f"{key}.out_int16"] = shifted
    assert set(compare(perturbed, key, run)[0]) == baseline

    # Metadata: a recorded phone of a get_phones_and_bert call and the output length.
    perturbed.tensors = dict(CASES.tensors)
    entry = perturbed.index["requests"][key]
    entry["gpb_calls"][0]["phones"][0] += 1
    entry["n_out"] += 1
    new = [e for e in compare(perturbed, key, run)[0] if e not in baseline]
    assert any(".gpb0.phones" in e for e in new) and any("output samples" in e for e in new), new
