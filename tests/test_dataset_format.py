"""1A formatting on a 20-clip espeak-ng dataset (zh, en, ja) with the tiny models.

One dataset is formatted once per module; tests that change the list work on copies of it (audio, list and
experiment folder), so each re-run only computes what changed.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from dataset_helpers import (
    CLIPS,
    ESPEAK,
    EXTRA_CLIP,
    file_bytes,
    list_line,
    make_clips,
    output_files,
    speak,
    write_list,
)

from gpt_sovits.audio.io import load_audio
from gpt_sovits.dataset import cli as format_cli
from gpt_sovits.dataset.audio_prep import PeakTooHighError, prepare_audio
from gpt_sovits.dataset.format import FormatOptions, format_dataset, parse_steps
from gpt_sovits.dataset.items import FormatError
from gpt_sovits.dataset.outputs import SEMANTIC_HEADER
from gpt_sovits.paths import ProjectPaths

@pytest.fixture(autouse=True, scope="module")
def _espeak_required():
    if ESPEAK is None:
        pytest.fail("espeak-ng is needed to make the test dataset (apt install espeak-ng; tools/run_tests.sh does it)")

ZH = [c for c in CLIPS if c.lang.lower() == "zh"]


def _own_root(tiny_pretrained, folder: Path) -> Path:
    """A data root of our own (the shared tiny root is read-only) whose pretrained_models/ is the tiny one."""
    shared = Path(tiny_pretrained)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pretrained_models").symlink_to(shared / "pretrained_models", target_is_directory=True)
    return folder


class Dataset:
    """A root with the tiny models, a clip folder, its list and the experiment formatted from it."""

    def __init__(self, root: Path, clips_dir: Path, list_path: Path, exp: str):
        self.root, self.clips_dir, self.list_path, self.exp = root, clips_dir, list_path, exp
        self.paths = ProjectPaths(root)
        self.exp_paths = self.paths.experiment(exp)

    def options(self, **kw) -> FormatOptions:
        return FormatOptions(list_path=self.list_path, exp_name=self.exp, root=self.root, **kw)

    def format(self, **kw):
        return format_dataset(self.options(**kw))

    def lines(self) -> list[str]:
        return self.list_path.read_text(encoding="utf-8").splitlines()

    def write_lines(self, lines: list[str]) -> None:
        self.list_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def clips_src(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("espeak_clips")
    make_clips(folder)
    return folder


@pytest.fixture(scope="module")
def base(tiny_pretrained, clips_src, tmp_path_factory) -> Dataset:
    work = tmp_path_factory.mktemp("fmt_base")
    list_path = write_list(work / "base.list", clips_src)
    ds = Dataset(_own_root(tiny_pretrained, work / "root"), clips_src, list_path, "fmt_base")
    report = ds.format(threads=1)
    assert report.succeeded, report.summary()
    return ds


_clone_count = 0


def clone(base: Dataset, tmp_path: Path) -> Dataset:
    """A copy of the formatted dataset (own clips, list and experiment) that a test may change."""
    global _clone_count
    _clone_count += 1
    clips = tmp_path / "clips"
    shutil.copytree(base.clips_dir, clips)
    list_path = write_list(tmp_path / "copy.list", clips)
    exp = f"{base.exp}_c{_clone_count}"
    shutil.copytree(base.exp_paths.dir, base.paths.experiment(exp).dir)
    base.paths.experiment(exp).format_source.unlink()  # the copy belongs to copy.list: adopted on its first run
    return Dataset(base.root, clips, list_path, exp)


def _load_pt(path: Path) -> torch.Tensor:
    return torch.load(path, map_location="cpu", weights_only=True)


def _name2text(ds: Dataset) -> dict[str, str]:
    lines = ds.exp_paths.name2text.read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line for line in lines}


def _semantic(ds: Dataset) -> dict[str, str]:
    lines = ds.exp_paths.name2semantic.read_text(encoding="utf-8").splitlines()
    assert lines[0] == SEMANTIC_HEADER
    return dict(line.split("\t") for line in lines[1:])


# ---- the formatted dataset ----------------------------------------------------------------------------------

def test_every_output_exists_with_shape_and_dtype(base: Dataset):
    from gpt_sovits.models.bert import BertFeatureExtractor
    from gpt_sovits.models.hubert import HubertFeatureExtractor, prep_hubert_input, prep_wav32_int16

    ex = base.exp_paths
    hubert = HubertFeatureExtractor.from_pretrained(base.paths.hubert_dir())
    bert_hidden = BertFeatureExtractor.from_pretrained(base.paths.bert_dir()).hidden_size
    name2text = _name2text(base)
    assert list(name2text) == [c.name for c in CLIPS]  # list order
    assert ex.name2text.read_bytes().endswith(b"\n")
    for clip in CLIPS:
        n_phones = len(name2text[clip.name].split("\t")[1].split(" "))
        bert_file = ex.bert_dir / f"{clip.name}.pt"
        if clip in ZH:
            bert = _load_pt(bert_file)
            assert bert.dtype == torch.float32 and tuple(bert.shape) == (bert_hidden, n_phones)
        else:
            assert not bert_file.exists()
        # HuBERT features of upstream's prep-time input, computed directly, must equal the stored ones.
        audio32 = load_audio(base.clips_dir / clip.name, 32000)
        ssl = _load_pt(ex.hubert_dir / f"{clip.name}.pt")
        assert ssl.dtype == torch.float32 and ssl.dim() == 3 and ssl.shape[:2] == (1, hubert.hidden_size)
        torch.testing.assert_close(ssl, hubert.features(prep_hubert_input(audio32)), rtol=0, atol=0)
        wav_file = ex.wav32k_dir / clip.name  # keeps the list's name, even .flac
        info = sf.info(str(wav_file))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 32000, 1)
        stored, _ = sf.read(str(wav_file), dtype="int16")
        np.testing.assert_array_equal(stored, prep_wav32_int16(audio32))


def test_name2text_lines_match_clean_text(base: Dataset):
    from gpt_sovits.text.cleaner import clean_text

    name2text = _name2text(base)
    langs = {"zh": "zh", "ZH": "zh", "en": "en", "EN": "en", "ja": "ja", "JA": "ja"}
    for clip in CLIPS:
        c = clean_text(clip.text.replace("%", "-").replace("￥", ","), langs[clip.lang], "v2")
        w2p = "None" if c.word2ph is None else str(list(c.word2ph))
        assert name2text[clip.name] == f"{clip.name}\t{' '.join(c.phones)}\t{w2p}\t{c.norm_text}"
        if clip in ZH:
            assert w2p.startswith("[")


def test_semantic_tokens_equal_extract_latent(base: Dataset):
    from gpt_sovits.models.checkpoints import load_sovits

    model = load_sovits(base.paths.pretrained_sovits_g("v2")).model
    semantic = _semantic(base)
    assert list(semantic) == [c.name for c in CLIPS]
    for clip in CLIPS:
        ssl = _load_pt(base.exp_paths.hubert_dir / f"{clip.name}.pt")
        with torch.no_grad():
            codes = model.extract_latent(ssl)  # [1, 1, T/2]
        assert semantic[clip.name] == " ".join(str(int(i)) for i in codes[0, 0].tolist())
        assert codes.shape[-1] == ssl.shape[-1] // 2


def test_rerun_changes_nothing(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    before = output_files(ds.exp_paths.dir)
    report = ds.format()
    assert report.succeeded
    assert all(not s.computed and s.reused == len(CLIPS) for s in report.steps), report.summary()
    assert output_files(ds.exp_paths.dir) == before


# ---- incremental re-runs ------------------------------------------------------------------------------------

def test_editing_one_line_recomputes_only_that_line(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    before, old_text = output_files(ds.exp_paths.dir), _name2text(ds)
    lines = ds.lines()
    edited = ZH[2]
    lines[CLIPS.index(edited)] = list_line(ds.clips_dir, replace(edited, text="我喜欢吃香蕉。"))
    ds.write_lines(lines)
    report = ds.format()
    assert report.succeeded
    assert report.step("text").computed == [edited.name]
    assert not report.step("hubert").computed and not report.step("semantic").computed
    after, new_text = output_files(ds.exp_paths.dir), _name2text(ds)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {f"3-bert/{edited.name}.pt", "2-name2text.txt"}
    assert new_text[edited.name] != old_text[edited.name] and "香蕉" in new_text[edited.name]
    assert {k: v for k, v in new_text.items() if k != edited.name} == \
        {k: v for k, v in old_text.items() if k != edited.name}


def test_deleting_a_line_removes_its_outputs(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    before = output_files(ds.exp_paths.dir)
    gone = ZH[0]
    ds.write_lines([line for line in ds.lines() if f"/{gone.name}|" not in line])
    report = ds.format()
    assert report.succeeded and report.removed == [gone.name]
    after = output_files(ds.exp_paths.dir)
    for rel in (f"3-bert/{gone.name}.pt", f"4-cnhubert/{gone.name}.pt", f"5-wav32k/{gone.name}"):
        assert rel in before and rel not in after
    assert gone.name not in _name2text(ds) and gone.name not in _semantic(ds)
    kept = {k for k in after if k not in ("2-name2text.txt", "6-name2semantic.tsv")}
    assert all(after[k] == before[k] for k in kept)


def test_adding_a_clip_adds_only_its_outputs(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    before = output_files(ds.exp_paths.dir)
    speak(EXTRA_CLIP, ds.clips_dir / EXTRA_CLIP.name)
    ds.write_lines(ds.lines() + [list_line(ds.clips_dir, EXTRA_CLIP)])
    report = ds.format()
    assert report.succeeded
    for step in report.steps:
        assert step.computed == [EXTRA_CLIP.name] and step.reused == len(CLIPS)
    after = output_files(ds.exp_paths.dir)
    assert set(after) - set(before) == {f"4-cnhubert/{EXTRA_CLIP.name}.pt", f"5-wav32k/{EXTRA_CLIP.name}"}
    assert {k for k in before if after[k] != before[k]} == {"2-name2text.txt", "6-name2semantic.tsv"}
    assert list(_semantic(ds))[-1] == EXTRA_CLIP.name


def test_changed_audio_is_recomputed_through_semantic(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    target = CLIPS[9]
    speak(replace(target, spoken="Something else entirely."), ds.clips_dir / target.name)
    report = ds.format()
    assert report.step("text").computed == []
    assert report.step("hubert").computed == [target.name]
    assert report.step("semantic").computed == [target.name]


def test_unsupported_language_is_reported_and_others_go_on(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    lines = ds.lines()
    victim = ZH[1]
    lines[CLIPS.index(victim)] = lines[CLIPS.index(victim)].replace("|ZH|", "|fr|")
    ds.write_lines(lines)
    report = ds.format(steps=("text",))
    assert report.succeeded
    [failure] = report.step("text").failed
    assert failure.name == victim.name and "not supported" in failure.reason
    assert victim.name not in _name2text(ds)
    assert not (ds.exp_paths.bert_dir / f"{victim.name}.pt").exists()


def test_steps_alone_and_stale_outputs_of_unrun_steps(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    ds.exp_paths.name2semantic.unlink()
    report = ds.format(steps=("semantic",))
    assert report.step("semantic").reused == len(CLIPS)
    assert ds.exp_paths.name2semantic.read_bytes() == base.exp_paths.name2semantic.read_bytes()
    # Audio changes while only the text step runs: its HuBERT outputs and tokens must not survive as stale.
    target = CLIPS[10]
    speak(replace(target, spoken="Changed words here."), ds.clips_dir / target.name)
    report = ds.format(steps=("text",))
    assert f"{target.name}: hubert" in report.invalidated
    assert not (ds.exp_paths.hubert_dir / f"{target.name}.pt").exists()
    assert target.name not in _semantic(ds)


def test_fp16_outputs_and_precision_change_recomputes(base: Dataset, tmp_path):
    """fp16 is upstream's is_half (the default on CUDA); the same code path runs on CPU here."""
    ds = clone(base, tmp_path)
    keep = [ZH[0], CLIPS[7], CLIPS[14]]  # zh, en, ja
    ds.write_lines([list_line(ds.clips_dir, c) for c in keep])
    report = ds.format(half=True)
    assert report.succeeded and len(report.removed) == len(CLIPS) - 3
    assert report.step("text").computed == [ZH[0].name]  # only zh lines depend on the precision (BERT)
    assert report.step("hubert").computed == [c.name for c in keep]
    assert report.step("semantic").computed == [c.name for c in keep]
    assert _load_pt(ds.exp_paths.bert_dir / f"{ZH[0].name}.pt").dtype == torch.float16
    for clip in keep:
        ssl = _load_pt(ds.exp_paths.hubert_dir / f"{clip.name}.pt")
        assert ssl.dtype == torch.float16 and not torch.isnan(ssl).any()


# ---- failures -----------------------------------------------------------------------------------------------

def _run_job(ds: Dataset, tmp_path: Path):
    from gpt_sovits.jobs import JobRunner

    runner = JobRunner(tmp_path / "jobs")
    argv = [sys.executable, "-m", "gpt_sovits", "format", "--root", str(ds.root), "--list", str(ds.list_path),
            "--exp", ds.exp]
    job = runner.start("format", ds.exp, argv)
    job = runner.wait(job.id, timeout=240)
    return job, runner.log_tail(job.id, 200)


@pytest.mark.slow
def test_one_corrupt_clip_job_succeeds_with_warning(base: Dataset, tmp_path):
    from gpt_sovits.jobs import SUCCEEDED

    ds = clone(base, tmp_path)
    bad = CLIPS[4]
    (ds.clips_dir / bad.name).write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    job, log = _run_job(ds, tmp_path)
    assert job.status == SUCCEEDED, log
    assert f"{bad.name}: cannot read the audio" in log and "warning" in log
    assert f"{len(CLIPS) - 1}/{len(CLIPS)} lines ready" in log
    assert len(_semantic(ds)) == len(CLIPS) - 1 and bad.name not in _semantic(ds)
    for folder in (ds.exp_paths.hubert_dir, ds.exp_paths.wav32k_dir):
        assert not any(p.name.startswith(bad.name) for p in folder.iterdir())


def test_all_corrupt_clips_fail_with_clear_message(base: Dataset, tmp_path, capsys):
    """Exit status 1 (the job runner turns it into a failed job) and a message saying why."""
    ds = clone(base, tmp_path)
    for clip in CLIPS:
        (ds.clips_dir / clip.name).write_bytes(b"\x00garbage")
    assert format_cli.run(_cli_args(ds)) == 1
    err = capsys.readouterr().err
    assert "1Ab audio + HuBERT: 0/20 lines ready" in err and "nothing usable was produced" in err
    assert _semantic(ds) == {}
    assert not any(ds.exp_paths.hubert_dir.iterdir()) and not any(ds.exp_paths.wav32k_dir.iterdir())


def test_loud_clip_is_skipped_and_reported(base: Dataset, tmp_path):
    ds = clone(base, tmp_path)
    loud = CLIPS[11]
    audio, sr = sf.read(str(ds.clips_dir / loud.name), dtype="float32")
    sf.write(str(ds.clips_dir / loud.name), audio / np.abs(audio).max() * 2.5, sr, subtype="FLOAT")
    report = ds.format()
    assert report.succeeded
    [failure] = report.step("hubert").failed
    assert failure.name == loud.name and "2.2" in failure.reason
    assert report.step("semantic").failed[0].name == loud.name
    assert not (ds.exp_paths.hubert_dir / f"{loud.name}.pt").exists()
    assert loud.name in _name2text(ds) and loud.name not in _semantic(ds)


def _cli_args(ds: Dataset, *extra: str):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path)
    format_cli.configure(parser)
    return parser.parse_args(["--root", str(ds.root), "--list", str(ds.list_path), "--exp", ds.exp, *extra])


def test_cli_exit_codes(base: Dataset, tmp_path, capsys):
    ds = clone(base, tmp_path)
    assert format_cli.run(_cli_args(ds, "--steps", "hubert,semantic")) == 0
    assert "1Ab audio + HuBERT: 20/20 lines ready" in capsys.readouterr().out
    ds.list_path = tmp_path / "nope.list"
    assert format_cli.run(_cli_args(ds)) == 2
    assert "does not exist" in capsys.readouterr().err


def test_basename_collisions_are_refused_up_front(tmp_path, clips_src):
    (tmp_path / "other").mkdir()
    shutil.copy(clips_src / CLIPS[0].name, tmp_path / "other" / CLIPS[0].name)
    list_path = write_list(tmp_path / "c.list", clips_src)
    with list_path.open("a", encoding="utf-8") as f:
        f.write(list_line(tmp_path / "other", CLIPS[0]) + "\n")
    options = FormatOptions(list_path=list_path, exp_name="collide", root=tmp_path / "root")
    with pytest.raises(FormatError) as err:
        format_dataset(options)
    assert CLIPS[0].name in str(err.value) and str(tmp_path / "other") in str(err.value)
    assert "line 1" in str(err.value) and f"line {len(CLIPS) + 1}" in str(err.value)
    assert not (tmp_path / "root" / "logs" / "collide").exists()


@pytest.mark.slow
def test_two_workers_give_byte_identical_outputs(base: Dataset, tmp_path):
    ds = Dataset(base.root, base.clips_dir, base.list_path, base.exp + "_w2")
    report = ds.format(workers=2, threads=1)  # byte-identity holds for equal torch threads per process
    assert report.succeeded, report.summary()
    assert file_bytes(ds.exp_paths.dir) == file_bytes(base.exp_paths.dir)


# ---- audio rules and options ---------------------------------------------------------------------------------

def test_prep_matches_upstream_case_and_skips_loud_clips(reference_bundle):
    from safetensors.numpy import load_file

    cases = load_file(str(reference_bundle / "cases.safetensors"))
    prep = prepare_audio(cases["f_hubert_prep.wav32"])
    np.testing.assert_array_equal(prep.wav32k_int16, cases["f_hubert_prep.wav32_int16"])
    np.testing.assert_array_equal(prep.hubert_input, cases["f_hubert_prep.hubert_input_16k"])
    with pytest.raises(PeakTooHighError, match="2.2"):
        prepare_audio(np.full(100, 2.5, dtype=np.float32))


def test_parse_steps():
    assert parse_steps("semantic,text") == ("text", "semantic")
    assert parse_steps("all") == ("text", "hubert", "sv", "semantic")  # sv runs for v2Pro/v2ProPlus only
    assert parse_steps("sv,b") == ("hubert", "sv")
    assert parse_steps("a,b") == ("text", "hubert")
    with pytest.raises(FormatError):
        parse_steps("bert")


@pytest.mark.slow  # importing gradio takes seconds
def test_format_tab_builds_and_makes_the_command(tmp_path, clips_src):
    import gradio as gr

    from gpt_sovits.paths import PathError
    from gpt_sovits.ui.context import UiContext
    from gpt_sovits.ui.tabs import format as format_tab

    ctx = UiContext.create(str(tmp_path), "zh_CN")
    with gr.Blocks():
        format_tab.build(ctx)
    list_path = write_list(tmp_path / "a.list", clips_src)
    req = format_tab.format_request(ctx, str(list_path), "voice", "hubert", "", 2, "cpu", "v2", "", "", "")
    argv = [str(a) for a in req.argv]
    assert argv[argv.index("format") + 1:][:2] == ["--root", str(ctx.paths.root)]
    for flag, value in (("--list", str(list_path)), ("--exp", "voice"), ("--steps", "hubert"), ("--workers", "2")):
        assert argv[argv.index(flag) + 1] == value
    assert req.exp == "voice"
    assert [str(o) for o in req.outputs] == [str(ctx.paths.experiment("voice").hubert_dir / "*.pt")]
    with pytest.raises(PathError):
        format_tab.format_request(ctx, str(list_path), "../x", "text", "", 1, "cpu", "v2", "", "", "")
    with pytest.raises(PathError):  # outside the data root
        format_tab.format_request(ctx, str(clips_src / "x.list"), "voice", "text", "", 1, "cpu", "v2", "", "", "")


def test_read_items_paths_languages_and_bad_lines(tmp_path):
    from gpt_sovits.dataset.items import clean_path, read_items

    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "a.wav").write_bytes(b"x")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "b.wav").write_bytes(b"x")
    list_path = tmp_path / "l.list"
    list_path.write_text(
        "rel/a.wav|s|JP|あ\n"
        "\n"
        "b.wav|s|fr|bonjour\n"
        "too|few|fields\n"
        "' D:\\\\data\\\\c.wav '|s|Yue|你好\n",
        encoding="utf-8",
    )
    items, bad = read_items(list_path, root=tmp_path / "root")
    assert [(i.name, i.lang, i.line_no) for i in items] == [("a.wav", "ja", 1), ("b.wav", None, 3), ("c.wav", "yue", 5)]
    assert items[0].audio_path == tmp_path / "rel" / "a.wav"
    assert items[1].audio_path == tmp_path / "root" / "b.wav"
    assert [b.line_no for b in bad] == [4] and "4 fields" in bad[0].reason
    items, _ = read_items(list_path, wav_dir=tmp_path / "w")
    assert {i.audio_path for i in items} == {tmp_path / "w" / n for n in ("a.wav", "b.wav", "c.wav")}
    assert clean_path('"/x/y.wav/"\u202a') == "/x/y.wav"


# ---- another list into an existing experiment -------------------------------------------------------------

def test_another_list_is_refused_then_replaces_with_replace(base: Dataset, tmp_path, capsys):
    ds = clone(base, tmp_path)
    assert ds.format().succeeded  # adopts the experiment for copy.list
    before = output_files(ds.exp_paths.dir)
    other = tmp_path / "other.list"
    other.write_text("".join(line + "\n" for line in ds.lines()[:2]), encoding="utf-8")
    with pytest.raises(FormatError, match="formatted from .*copy.list.*replace"):
        format_dataset(FormatOptions(list_path=other, exp_name=ds.exp, root=ds.root))
    assert output_files(ds.exp_paths.dir) == before  # A's features intact
    args = _cli_args(ds)
    args.list_path = other
    code = format_cli.run(args)
    assert code == 2 and "--replace" in capsys.readouterr().err and output_files(ds.exp_paths.dir) == before

    broken = tmp_path / "broken.list"  # replace with a list that produces nothing: the old features come back
    broken.write_text("missing.wav|s|en|hello\n", encoding="utf-8")
    report = format_dataset(FormatOptions(list_path=broken, exp_name=ds.exp, root=ds.root, replace=True,
                                          steps=("hubert",)))
    assert not report.succeeded and "put back" in report.summary()
    assert output_files(ds.exp_paths.dir) == before

    report = format_dataset(FormatOptions(list_path=other, exp_name=ds.exp, root=ds.root, replace=True, threads=1))
    assert report.succeeded and "replaced the features" in report.summary()
    names = [line.split("\t")[0] for line in ds.exp_paths.name2text.read_text(encoding="utf-8").splitlines()]
    assert names == [CLIPS[0].name, CLIPS[1].name]  # B's features
    assert sorted(p.name for p in ds.exp_paths.hubert_dir.iterdir()) == sorted(f"{n}.pt" for n in names)
    assert not list(ds.exp_paths.dir.glob("replaced-*"))
