"""The browser test's stage checks name the stage that broke (issue: a broken stage must not pass unnoticed)."""

import numpy as np
import pytest
from e2e_stages import StageFailure, check_formatted, check_list, check_sliced, check_trained


def test_a_formatting_that_writes_nothing_fails_as_format(tmp_path):
    (tmp_path / "logs" / "e2e").mkdir(parents=True)
    with pytest.raises(StageFailure) as e:
        check_formatted(tmp_path, "e2e", items=3)
    assert e.value.stage == "format" and "0 text lines" in str(e.value)


def test_a_trainer_that_writes_no_weights_fails_with_its_name(tmp_path):
    from gpt_sovits.paths import ProjectPaths

    with pytest.raises(StageFailure) as e:
        check_trained(tmp_path, "e2e", epochs=2, log="[train-sovits] finished")
    assert e.value.stage == "train-sovits"
    sovits_dir = ProjectPaths(tmp_path).sovits_weights_dir("v2")
    sovits_dir.mkdir(parents=True)
    (sovits_dir / "e2e_e2_s8.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(StageFailure) as e:
        check_trained(tmp_path, "e2e", epochs=2)
    assert e.value.stage == "train-gpt"


def test_slice_and_list_checks_name_their_stage(tmp_path):
    from gpt_sovits.asr.listfile import ListEntry, write_list
    from gpt_sovits.audio.io import save_wav

    with pytest.raises(StageFailure) as e:
        check_sliced(tmp_path, minimum=1)
    assert e.value.stage == "slice"
    clip = save_wav(tmp_path / "a.wav", np.zeros(3200, np.float32), 32000)
    with pytest.raises(StageFailure) as e:
        check_list(tmp_path / "missing.list", [clip])
    assert e.value.stage == "asr"
    listed = write_list(tmp_path / "x.list", [ListEntry(str(clip), "s", "en", "old text")])
    with pytest.raises(StageFailure) as e:
        check_list(listed, [clip], {"a.wav": "new text"})
    assert e.value.stage == "labels"
