"""1A: format a `.list` into `logs/<exp>/` (2-name2text, 3-bert, 4-cnhubert, 5-wav32k, 6-name2semantic, and for
v2Pro/v2ProPlus 7-sv_cn: one speaker-verification embedding per clip; that step is skipped for v1/v2).

`format_dataset` runs the requested steps in order. It is incremental: every (line, step) has a key in the manifest
(see `keys.py`); unchanged lines are reused, changed lines recomputed, and outputs of lines that left the list (or
whose inputs changed while their step was not run) are deleted, so nothing stale survives. A failing line is
reported with its reason and the others go on; a step fails only when it leaves no usable line at all.

An experiment remembers the list it was formatted from (`format_source.json`). Formatting a different list into it
is refused unless `replace` is set; then the old outputs are moved into `replaced-<time>/` and deleted only once the
new run succeeds (a failed or interrupted run puts them back).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.audio.io import atomic_write_bytes
from gpt_sovits.dataset.hashing import FileHashCache
from gpt_sovits.dataset.items import BadLine, FormatError, FormatItem, check_collisions, read_items
from gpt_sovits.dataset.keys import KeyMaker
from gpt_sovits.dataset.manifest import Manifest
from gpt_sovits.dataset.outputs import name2semantic_bytes, name2text_bytes, remove_file, write_if_changed
from gpt_sovits.dataset.parallel import StepPlan, run_plans
from gpt_sovits.dataset.steps import (
    HUBERT,
    SEMANTIC,
    STEP_TITLES,
    SV,
    SV_VERSIONS,
    TEXT,
    ItemResult,
    StepSettings,
    Task,
    bert_path,
    step_outputs,
)
from gpt_sovits.paths import ExperimentPaths, ProjectPaths
from gpt_sovits.progress import Progress
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon_files import lexicon_files, load_lexicon

ALL_STEPS = (TEXT, HUBERT, SV, SEMANTIC)
ProgressFactory = Callable[[int, str], Progress]


@dataclass(frozen=True)
class FormatOptions:
    list_path: Path
    exp_name: str
    root: Path
    steps: tuple[str, ...] = ALL_STEPS
    wav_dir: Path | None = None       # look audio up here by basename instead of the list's paths
    workers: int = 1                  # processes; worker i runs every step on lines i, i+N, i+2N, ...
    devices: tuple[str, ...] = ("cpu",)
    threads: int | None = None        # torch threads per process; None: in-process as is, workers cores/N
    half: bool | None = None          # fp16 features; None = fp16 when every device is CUDA (upstream's is_half)
    version: str = "v2"
    bert_dir: Path | None = None      # defaults: the project's pretrained_models/ under upstream's names
    hubert_dir: Path | None = None
    pretrained_s2g: Path | None = None
    sv_model: Path | None = None      # default: pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt
    replace: bool = False             # format a different list into an existing experiment (old outputs moved aside)

    @property
    def use_half(self) -> bool:
        if self.half is not None:
            return self.half
        return all(d.startswith("cuda") for d in self.devices)


@dataclass(frozen=True)
class LineFailure:
    name: str
    reason: str


@dataclass
class StepReport:
    step: str
    lines: int = 0                                  # lines of the list this step covers
    computed: list[str] = field(default_factory=list)
    reused: int = 0
    failed: list[LineFailure] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return len(self.computed) + self.reused

    @property
    def ok(self) -> bool:
        return self.usable > 0

    def summary(self) -> str:
        text = (f"{STEP_TITLES[self.step]}: {self.usable}/{self.lines} lines ready "
                f"({len(self.computed)} computed, {self.reused} unchanged), {len(self.failed)} failed")
        if not self.ok:
            text += " — nothing usable was produced"
        return text


@dataclass
class FormatReport:
    exp_dir: Path
    steps: list[StepReport] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)       # lines that left the list: their outputs were deleted
    invalidated: list[str] = field(default_factory=list)   # "name: step" outputs deleted because inputs changed
    bad_lines: list[BadLine] = field(default_factory=list)
    replaced: str = ""                                     # what happened to the outputs of a replaced list

    @property
    def succeeded(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def warnings(self) -> list[str]:
        out = [f"line {b.line_no}: {b.reason}" for b in self.bad_lines]
        for s in self.steps:
            out += [f"{STEP_TITLES[s.step]}: {f.name}: {f.reason}" for f in s.failed]
        return out

    def step(self, name: str) -> StepReport:
        return next(s for s in self.steps if s.step == name)

    def summary(self) -> str:
        lines = [s.summary() for s in self.steps]
        if self.removed:
            lines.append(f"removed the outputs of {len(self.removed)} line(s) no longer in the list")
        if self.invalidated:
            lines.append(f"removed {len(self.invalidated)} out-of-date output(s) of steps not run this time: "
                         + ", ".join(self.invalidated[:10]) + (" ..." if len(self.invalidated) > 10 else ""))
        if self.bad_lines:
            lines.append(f"{len(self.bad_lines)} line(s) of the list could not be read")
        if self.replaced:
            lines.append(self.replaced)
        return "\n".join(lines)


def _default_progress(total: int, stage: str) -> Progress:
    return Progress(total, stage)


class _Formatter:
    """State of one formatting run (the manifest, the keys, the report)."""

    def __init__(self, options: FormatOptions, progress: ProgressFactory):
        unknown = [s for s in options.steps if s not in ALL_STEPS]
        if unknown or not options.steps:
            raise FormatError(f"Unknown step(s) {unknown}; choose from {', '.join(ALL_STEPS)}.")
        if options.version not in SV_VERSIONS and SV in options.steps:
            from dataclasses import replace

            options = replace(options, steps=tuple(s for s in options.steps if s != SV))  # v1/v2 train without it
            if not options.steps:
                raise FormatError(f"The speaker-embedding step is only for v2Pro/v2ProPlus, not {options.version}.")
        elif options.version in SV_VERSIONS and HUBERT in options.steps and SV not in options.steps:
            from dataclasses import replace  # as upstream's step 1b: the Pro versions embed each clip after HuBERT

            options = replace(options, steps=tuple(s for s in ALL_STEPS if s in options.steps or s == SV))
        self.options = options
        self.progress = progress
        paths = ProjectPaths(options.root)
        self.exp: ExperimentPaths = paths.experiment(options.exp_name)
        self.bert_dir = Path(options.bert_dir or paths.bert_dir())
        self.hubert_dir = Path(options.hubert_dir or paths.hubert_dir())
        self.sovits_g = Path(options.pretrained_s2g or paths.pretrained_sovits_g(options.version))
        self.sv_model = Path(options.sv_model or paths.pretrained_sv())
        items, bad = read_items(options.list_path, options.wav_dir, paths.root)
        if not items:
            reasons = "; ".join(f"line {b.line_no}: {b.reason}" for b in bad[:5])
            if len(bad) > 5:
                reasons += f"; and {len(bad) - 5} more bad lines"
            raise FormatError(f"The list {options.list_path} has no usable lines" + (f" ({reasons})." if bad else "."))
        check_collisions(items)
        self.items: list[FormatItem] = items
        self.report = FormatReport(self.exp.dir, bad_lines=bad)
        try:
            self.lexicon = load_lexicon(lexicon_files(paths, options.exp_name))
        except TextFrontendError as e:
            raise FormatError(f"The user lexicon cannot be read: {e}") from None
        self.source = str(Path(options.list_path).expanduser().resolve())
        self.previous_source = self._check_source()
        self._load_state()

    def _load_state(self) -> None:
        self.manifest = Manifest.load(self.exp.format_manifest)
        self.hashes = FileHashCache(self.manifest.file_hashes)
        self.keys = KeyMaker(self.hashes, self.bert_dir, self.hubert_dir, self.sovits_g, self.options.use_half,
                             self.options.version, self.sv_model, self.lexicon)

    # ---- which list the experiment belongs to -------------------------------------------------------------
    def _check_source(self) -> str | None:
        """The other list this experiment was formatted from (to be replaced), None when it is ours or new."""
        try:
            recorded = json.loads(self.exp.format_source.read_text(encoding="utf-8")).get("list")
        except (OSError, ValueError, AttributeError):
            recorded = None  # never formatted, or formatted before sources were recorded: adopted
        if not recorded or recorded == self.source:
            return None
        if not self.options.replace:
            raise FormatError(
                f"The experiment '{self.exp.name}' holds features formatted from {recorded}; formatting "
                f"{self.source} into it would replace them. Choose another experiment name, or choose \"replace\" "
                "(--replace): the old features are moved aside and deleted only when the new run succeeds.")
        return recorded

    def _outputs_to_move(self) -> list[Path]:
        e = self.exp
        return [p for p in (e.name2text, e.bert_dir, e.hubert_dir, e.wav32k_dir, e.sv_dir, e.name2semantic,
                            e.format_manifest, e.format_source) if p.exists()]

    def _set_aside(self) -> Path:
        aside = self.exp.dir / time.strftime("replaced-%Y%m%d-%H%M%S")
        n = 1
        while aside.exists():
            n += 1
            aside = aside.with_name(time.strftime("replaced-%Y%m%d-%H%M%S") + f"-{n}")
        aside.mkdir(parents=True)
        for path in self._outputs_to_move():
            path.rename(aside / path.name)
        self._load_state()  # a fresh start: nothing of the old list is reused
        return aside

    def _put_back(self, aside: Path) -> None:
        for path in self._outputs_to_move():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        for path in aside.iterdir():
            path.rename(self.exp.dir / path.name)
        aside.rmdir()

    def _record_source(self) -> None:
        # the model version too: the trainers default to it and warn about another (readers.formatted_version)
        data = json.dumps({"list": self.source, "version": self.options.version}, ensure_ascii=False).encode("utf-8")
        if not self.exp.format_source.is_file() or self.exp.format_source.read_bytes() != data:
            atomic_write_bytes(self.exp.format_source, data)

    # ---- models -------------------------------------------------------------------------------------------
    def _check_models(self) -> None:
        """Refuse to start a step whose model is missing (one clear message instead of N identical failures)."""
        steps = self.options.steps
        needed = []
        if TEXT in steps and any(i.lang == "zh" for i in self.items):
            needed.append(("BERT model folder", self.bert_dir, "--bert-dir"))
        if HUBERT in steps:
            needed.append(("HuBERT model folder", self.hubert_dir, "--hubert-dir"))
        if SV in steps:
            needed.append(("speaker-verification model", self.sv_model, "--sv-model"))
        if SEMANTIC in steps:
            needed.append(("pretrained SoVITS G file", self.sovits_g, "--pretrained-s2g"))
        if (SV in steps or SEMANTIC in steps) and HUBERT not in steps:  # the features' keys say if they are current
            needed.append(("HuBERT model folder", self.hubert_dir, "--hubert-dir"))
        missing = [f"{what} not found: {path} (put the upstream file there or pass {flag})"
                   for what, path, flag in needed if self.keys.model_hash(path) is None]
        if missing:
            raise FormatError("Cannot start formatting:\n  " + "\n  ".join(missing))

    # ---- outputs on disk ----------------------------------------------------------------------------------
    def _outputs(self, name: str, step: str) -> list[Path]:
        return step_outputs(self.exp, step, name)

    def _outputs_present(self, name: str, step: str, record: dict) -> bool:
        if step == TEXT:
            return not record.get("bert") or bert_path(self.exp, name).is_file()
        return all(p.is_file() for p in self._outputs(name, step))

    def _forget(self, name: str, step: str) -> None:
        for path in self._outputs(name, step):
            remove_file(path)
        self.manifest.drop(name, step)

    def _remove_departed(self) -> None:
        """Delete every output of lines no longer in the list, and stray files in the 1A folders."""
        names = {i.name for i in self.items}
        for name in sorted(set(self.manifest.items) - names):
            for step in ALL_STEPS:
                self._forget(name, step)
            self.manifest.drop(name)
            self.report.removed.append(name)
        for folder, suffix in ((self.exp.bert_dir, ".pt"), (self.exp.hubert_dir, ".pt"), (self.exp.wav32k_dir, ""),
                               (self.exp.sv_dir, ".pt")):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith("."):
                    continue  # temp files of atomic writes in progress
                stem = path.name[: -len(suffix)] if suffix and path.name.endswith(suffix) else path.name
                if path.is_file() and (stem not in names or (suffix and not path.name.endswith(suffix))):
                    remove_file(path)

    # ---- keys ---------------------------------------------------------------------------------------------
    def expected_key(self, item: FormatItem, step: str) -> str | None:
        if step == TEXT:
            return self.keys.text(item)
        if step == HUBERT:
            return self.keys.hubert(item)
        if step == SV:
            return self.keys.sv(self.keys.hubert(item))
        return self.keys.semantic(self.keys.hubert(item))

    def _is_current(self, item: FormatItem, step: str, key: str | None) -> bool:
        record = self.manifest.get(item.name, step)
        return (key is not None and record is not None and record.get("key") == key
                and self._outputs_present(item.name, step, record))

    def _invalidate_unrun_steps(self) -> None:
        """Outputs of steps not run now whose inputs changed are deleted rather than left stale."""
        for step in ALL_STEPS:
            if step in self.options.steps:
                continue
            for item in self.items:
                record = self.manifest.get(item.name, step)
                if record is None:
                    continue
                if step == TEXT and item.lang == "zh" and self.keys.model_hash(self.bert_dir) is None:
                    continue  # cannot tell without the BERT files; keep
                if step in (HUBERT, SV, SEMANTIC) and self.keys.model_hash(self.hubert_dir) is None:
                    continue
                if step == SV and self.keys.model_hash(self.sv_model) is None:
                    continue
                if step == SEMANTIC and self.keys.model_hash(self.sovits_g) is None:
                    continue
                if not self._is_current(item, step, self.expected_key(item, step)):
                    self._forget(item.name, step)
                    self.report.invalidated.append(f"{item.name}: {step}")

    # ---- planning and running -----------------------------------------------------------------------------
    def plan(self) -> list[StepPlan]:
        """Per requested step: the lines to compute; unchanged lines are counted as reused, hopeless ones failed."""
        plans: list[StepPlan] = []
        hubert_planned: set[str] = set()
        for step in ALL_STEPS:
            if step not in self.options.steps:
                continue
            report = StepReport(step, lines=len(self.items))
            self.report.steps.append(report)
            tasks: list[Task] = []
            for item in self.items:
                key = self.expected_key(item, step)
                if step in (SV, SEMANTIC) and item.name not in hubert_planned and \
                        not self._is_current(item, HUBERT, self.keys.hubert(item)):
                    self._fail_early(report, item, self._no_hubert_reason(item))
                    continue
                if self._is_current(item, step, key):
                    report.reused += 1
                    continue
                if key is None:
                    why = (f"audio file not found or unreadable: {item.audio_path}" if step != TEXT
                           else f"BERT model folder not found: {self.bert_dir}")
                    self._fail_early(report, item, why)
                    continue
                tasks.append(Task(item, key))
            if step == HUBERT:
                hubert_planned = {t.item.name for t in tasks}
            settings = StepSettings(step, self.exp.dir, self._model_path(step), self.options.devices[0],
                                    self.options.use_half, self.options.version,
                                    lexicon=self.lexicon if step == TEXT else None)
            plans.append(StepPlan(settings, tasks))
        return plans

    def _fail_early(self, report: StepReport, item: FormatItem, reason: str) -> None:
        self._forget(item.name, report.step)
        report.failed.append(LineFailure(item.name, reason))

    def _no_hubert_reason(self, item: FormatItem) -> str:
        hubert = next((s for s in self.report.steps if s.step == HUBERT), None)
        if hubert is not None:
            why = next((f.reason for f in hubert.failed if f.name == item.name), None)
            if why:
                return f"no HuBERT features (step 1Ab: {why})"
        return "no HuBERT features for this line (run step 1Ab first; its audio is new or changed)"

    def run_plans(self, plans: list[StepPlan]) -> None:
        reports = {r.step: r for r in self.report.steps}
        total = sum(len(p.tasks) for p in plans)
        steps = "+".join(STEP_TITLES[p.settings.step].split()[0] for p in plans)
        with self.progress(total, f"1A format ({steps})") as bar:
            for plan in plans:
                report = reports[plan.settings.step]
                title = STEP_TITLES[report.step]
                bar.message(f"{title}: {len(plan.tasks)} line(s) to compute, {report.reused} unchanged")
                for failure in report.failed:
                    bar.message(f"{title}: {failure.name}: {failure.reason}", "warning")
            done = 0

            def on_result(result: ItemResult) -> None:
                nonlocal done
                report = reports[result.step]
                if result.record is not None:
                    self.manifest.put(result.name, result.step, result.record)
                    report.computed.append(result.name)
                else:
                    self._forget(result.name, result.step)
                    report.failed.append(LineFailure(result.name, result.error or "unknown error"))
                    bar.message(f"{STEP_TITLES[result.step]}: {result.name}: {result.error}", "warning")
                done += 1
                if done % 100 == 0:
                    self.save_manifest()
                bar.update(1)

            run_plans(plans, self.options.workers, list(self.options.devices), on_result, self.options.threads)
        order = {item.name: item.index for item in self.items}
        for report in self.report.steps:
            report.computed.sort(key=order.__getitem__)
            report.failed.sort(key=lambda f: order[f.name])

    def _model_path(self, step: str) -> Path:
        return {TEXT: self.bert_dir, HUBERT: self.hubert_dir, SV: self.sv_model, SEMANTIC: self.sovits_g}[step]

    # ---- merged files -------------------------------------------------------------------------------------
    def write_merged(self) -> None:
        """2-name2text.txt and 6-name2semantic.tsv from the current records, in list order."""
        text_lines, semantic_rows = [], []
        for item in self.items:
            record = self.manifest.get(item.name, TEXT)
            if record is not None:
                text_lines.append(record["line"])
            record = self.manifest.get(item.name, SEMANTIC)
            if record is not None:
                semantic_rows.append((item.name, record["tokens"]))
        if TEXT in self.options.steps or self.exp.name2text.exists():
            write_if_changed(self.exp.name2text, name2text_bytes(text_lines))
        if SEMANTIC in self.options.steps or self.exp.name2semantic.exists():
            write_if_changed(self.exp.name2semantic, name2semantic_bytes(semantic_rows))

    def save_manifest(self) -> None:
        self.manifest.file_hashes = self.hashes.entries
        self.manifest.save(self.exp.format_manifest)

    def run(self) -> FormatReport:
        self._check_models()
        self.exp.dir.mkdir(parents=True, exist_ok=True)
        aside = self._set_aside() if self.previous_source else None
        try:
            self._record_source()
            self._remove_departed()
            self._invalidate_unrun_steps()
            try:
                self.run_plans(self.plan())
            finally:
                self.write_merged()
                self.manifest.file_hashes = self.hashes.pruned()
                self.manifest.save(self.exp.format_manifest)
        except BaseException:
            if aside is not None:
                self._put_back(aside)
            raise
        if aside is not None:
            if self.report.succeeded:
                shutil.rmtree(aside)
                self.report.replaced = f"replaced the features formatted from {self.previous_source}"
            else:
                self._put_back(aside)
                self.report.replaced = (f"the new list produced nothing usable, so the features formatted from "
                                        f"{self.previous_source} were put back")
        return self.report


def format_dataset(options: FormatOptions, progress: ProgressFactory | None = None) -> FormatReport:
    """Run the requested 1A steps; raises `FormatError` when the run cannot start (bad list, missing model)."""
    return _Formatter(options, progress or _default_progress).run()


def format_text(options: FormatOptions, progress: ProgressFactory | None = None) -> FormatReport:
    """1Aa alone: 2-name2text.txt and 3-bert/."""
    return format_dataset(_only(options, TEXT), progress)


def format_hubert(options: FormatOptions, progress: ProgressFactory | None = None) -> FormatReport:
    """1Ab alone: 5-wav32k/ and 4-cnhubert/."""
    return format_dataset(_only(options, HUBERT), progress)


def format_sv(options: FormatOptions, progress: ProgressFactory | None = None) -> FormatReport:
    """The v2Pro/v2ProPlus speaker-embedding step alone: 7-sv_cn/ (needs 1Ab's 5-wav32k audio)."""
    return format_dataset(_only(options, SV), progress)


def format_semantic(options: FormatOptions, progress: ProgressFactory | None = None) -> FormatReport:
    """1Ac alone: 6-name2semantic.tsv (needs 1Ab's features)."""
    return format_dataset(_only(options, SEMANTIC), progress)


def _only(options: FormatOptions, step: str) -> FormatOptions:
    from dataclasses import replace

    return replace(options, steps=(step,))


def parse_steps(text: str | Sequence[str]) -> tuple[str, ...]:
    """`"text,hubert"` or a list → steps in run order; also accepts upstream's names a, b, c."""
    aliases = {"a": TEXT, "1aa": TEXT, "b": HUBERT, "1ab": HUBERT, "c": SEMANTIC, "1ac": SEMANTIC, "sv_cn": SV}
    parts = text.split(",") if isinstance(text, str) else list(text)
    chosen = set()
    for part in parts:
        part = part.strip().lower()
        if not part:
            continue
        if part == "all":
            chosen.update(ALL_STEPS)
            continue
        step = aliases.get(part, part)
        if step not in ALL_STEPS:
            raise FormatError(f"Unknown step {part!r}; choose from text, hubert, sv, semantic (or all).")
        chosen.add(step)
    if not chosen:
        raise FormatError("No step chosen; choose from text, hubert, sv, semantic (or all).")
    return tuple(s for s in ALL_STEPS if s in chosen)
