"""Experiment names and user-given paths: any script allowed, escapes refused."""

from __future__ import annotations

import os

import pytest

from gpt_sovits.paths import PathError, ProjectPaths, resolve_inside, validate_name


@pytest.mark.parametrize("name", ["my_voice", "测试实验", "テスト話者", "한국어", "voice v2.1", "a-b_c"])
def test_names_in_any_script_are_allowed(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "   ", "..", ".", "a/b", "a\\b", "../x", "x/..", "a..b", "a\x00b", "c:x",
                                  "what?", "x" * 300])
def test_bad_names_are_refused(name):
    with pytest.raises(PathError):
        validate_name(name)


def test_experiment_paths_use_the_validated_name(tmp_path):
    paths = ProjectPaths(tmp_path)
    assert paths.experiment("声音").dir == tmp_path.resolve() / "logs" / "声音"
    with pytest.raises(PathError):
        paths.experiment("../outside")
    with pytest.raises(PathError):
        paths.dataset("a/b")


def test_resolve_inside_accepts_paths_under_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "datasets" / "説明").mkdir(parents=True)
    assert resolve_inside(root / "datasets" / "説明", [root]) == (root / "datasets" / "説明").resolve()
    assert resolve_inside(str(root), [root]) == root.resolve()
    # `..` that stays inside is fine once resolved
    assert resolve_inside(root / "datasets" / ".." / "datasets", [root]) == (root / "datasets").resolve()


def test_resolve_inside_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(PathError):
        resolve_inside(root / ".." / "outside", [root])
    with pytest.raises(PathError):
        resolve_inside(outside, [root])
    with pytest.raises(PathError):
        resolve_inside("/etc/passwd", [root])
    with pytest.raises(PathError):
        resolve_inside("", [root])
    # a sibling whose name starts with the root's name is not inside it
    (tmp_path / "root2").mkdir()
    with pytest.raises(PathError):
        resolve_inside(tmp_path / "root2", [root])


def test_symlink_escaping_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    link = root / "innocent.txt"
    os.symlink(secret, link)
    with pytest.raises(PathError):
        resolve_inside(link, [root])
    dir_link = root / "data"
    os.symlink(tmp_path, dir_link)
    with pytest.raises(PathError):
        resolve_inside(dir_link / "secret.txt", [root])
    # a symlink that points inside the root is fine
    (root / "real.wav").write_bytes(b"")
    os.symlink(root / "real.wav", root / "alias.wav")
    assert resolve_inside(root / "alias.wav", [root]) == (root / "real.wav").resolve()


def test_relative_paths_are_taken_from_the_data_root_not_the_working_folder(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "datasets" / "me").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resolve_inside("datasets/me", [root]) == (root / "datasets" / "me").resolve()
    assert resolve_inside(" datasets/me/x.list ", [root]) == (root / "datasets" / "me" / "x.list").resolve()
    with pytest.raises(PathError):
        resolve_inside("../elsewhere", [root])
