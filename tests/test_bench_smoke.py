"""The benchmark entry points run end to end on the tiny models and the README table is made from their output.

Nothing here looks at how fast anything is (speed is read from bench/, never asserted): the checks are that every
stage produced a figure, that the floors were measured, and that the README's table is replaced, not duplicated.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

from bench import bench_speed
from tools import speed_table

BENCH_DIR = Path(bench_speed.__file__).resolve().parent
STAGE_KEYS = ("gpt_ms_per_token", "gpt_prefill_s", "sovits_s_per_audio_s", "bert_ms_per_sentence",
              "frontend_ms_per_sentence", "e2e_s", "first_audio_s")


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    path = out / "speed.json"
    assert bench_speed.main(["--tiny", "--threads", "1", "--rounds", "1", "--tokens", "40", "--no-busy", "--root",
                             str(out / "root"), "--json", str(path)]) == 0
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_bench_speed_measures_every_stage_and_floor_in_both_modes(tiny_result):
    assert set(tiny_result["modes"]) == {"exact", "fast"}
    for mode in tiny_result["modes"].values():
        for key in STAGE_KEYS:
            stat = mode[key]
            assert len(stat["values"]) == 1 and math.isfinite(stat["median"]) and stat["min"] <= stat["max"]
        assert mode["gpt_floor_ms"] > 0 and mode["gpt_floor_ratio"] > 0
    assert set(tiny_result["floors"]) == {"1"}
    assert all(v > 0 for v in tiny_result["floors"]["1"].values())
    assert tiny_result["upstream_reference"]["note"].startswith("upstream, from issue #18")


@pytest.mark.slow
def test_speed_table_replaces_the_readme_section_in_place(tiny_result, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro\n\n## Text frontend\n\ntext\n", encoding="utf-8")
    result = tmp_path / "speed.json"
    result.write_text(json.dumps(tiny_result), encoding="utf-8")
    assert speed_table.main([str(result), "--readme", str(readme)]) == 0
    first = readme.read_text(encoding="utf-8")
    assert first.index("## Speed") < first.index("## Text frontend")
    median = tiny_result["modes"]["exact"]["e2e_s"]["median"]
    assert f"{median:.2f}" in first
    tiny_result["modes"]["exact"]["e2e_s"].update(median=987.65, min=987.65, max=987.65)
    result.write_text(json.dumps(tiny_result), encoding="utf-8")
    assert speed_table.main([str(result), "--readme", str(readme)]) == 0
    second = readme.read_text(encoding="utf-8")
    assert second.count("## Speed") == 1 and second.count(speed_table.END) == 1
    assert "987.65" in second and second.endswith("## Text frontend\n\ntext\n")


def test_every_bench_script_says_how_to_run_it():
    for script in sorted(BENCH_DIR.glob("*.py")):
        if script.name == "__init__.py":
            continue
        module = importlib.import_module(f"bench.{script.stem}")
        assert module.__doc__ and "python " in module.__doc__, f"{script.name} has no usage line in its docstring"


def test_bench_gpu_static_step_computes_what_the_module_path_does(tmp_path):
    """bench/bench_gpu.py's static-shape decode step (the one it captures in a CUDA graph on a GPU) must be the same
    computation as the pipeline's module path: on a CPU in fp32, every greedy token and the logits agree. The CUDA
    graph row says plainly that it was not measured."""
    from bench import bench_gpu

    path = tmp_path / "gpu.json"
    assert bench_gpu.main(["--device", "cpu", "--dtypes", "fp32", "--tiny", "--tokens", "24", "--repeats", "1",
                           "--no-train", "--no-pipeline", "--json", str(path)]) == 0
    row = json.loads(path.read_text(encoding="utf-8"))["gpt"]["fp32"]
    check = row["static_vs_module"]
    assert check["compared"] >= 24 and check["agree_before_first_difference"] == check["compared"]
    assert check["logits_max_abs_diff"] < 1e-4
    assert row["module_ms_per_token"] > 0 and row["static_ms_per_token"] > 0
    assert row["graph_ms_per_token"] is None and "not measured" in row["graph_note"]
