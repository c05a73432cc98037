"""1B Train tab: finetune SoVITS, GPT, or both in a row, and watch it learn.

Thin: the form becomes trainer command lines (`gpt_sovits.train.plan.TrainerSettings`), run as jobs by the job
runner (`train-chain`, `train-sovits`, `train-gpt`, `train-estimate`, `train-preview`). Everything shown — progress,
loss curves, the weights written and their audio previews — is read back from files, so a page reload or a WebUI
restart finds it all again.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import gradio as gr

from gpt_sovits.devices import DeviceInfo, device_info
from gpt_sovits.jobs import RUNNING, JobError
from gpt_sovits.paths import PathError
from gpt_sovits.train.plan import (
    TAB_VERSIONS, TrainerSettings, default_version, experiment_weights, formatted_experiments, load_form_settings,
    save_form_settings, train_defaults, version_files,
)
from gpt_sovits.train.preview import pending_previews, preview_path
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.job_panel import JobRequest, job_panel
from gpt_sovits.ui.links import TabLinks

VERSIONS = TAB_VERSIONS
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
STOP_GRACE_S = 180.0  # Stop lets the trainer finish its step and save before anything is killed
TICK_S = 3.0
ESTIMATE_FILE = "train_estimate.json"


def experiment_choices(ctx: UiContext) -> list[tuple[str, str]]:
    return [(s.label, s.name) for s in formatted_experiments(ctx.paths)]


def device_choices(info: DeviceInfo) -> list[tuple[str, str]]:
    gpus = [(f"GPU {g.index}: {g.name} ({g.memory_gb - 0.4:.0f} GB)", f"cuda:{g.index}") for g in info.usable_gpus]
    ram = f" ({info.ram_gb:.0f} GB RAM)" if info.ram_gb else ""
    return gpus + [(f"CPU{ram}", "cpu")]


def _settings(values: dict[str, Any], trainer: str) -> TrainerSettings:
    p = f"{trainer}_"
    pretrained = ((values["pre_g"], values["pre_d"]) if trainer == "sovits" else (values["pre_gpt"],))
    return TrainerSettings(
        epochs=int(values[p + "epochs"]), batch_size=int(values[p + "batch"]), save_every=int(values[p + "save_every"]),
        keep_latest=bool(values[p + "keep_latest"]), save_every_weights=bool(values[p + "save_weights"]),
        device=values["device"] or "cpu", precision=values["precision"] or "auto", version=values["version"] or "v2",
        pretrained=tuple(str(v or "").strip() for v in pretrained),
        continue_from=str(values[p + "continue"] or "").strip(),
        text_low_lr_rate=float(values["text_lr"]) if trainer == "sovits" else None,
        dpo=bool(values["dpo"]) if trainer == "gpt" else False,
        min_items=None if values.get("min_items") in (None, "") else int(values["min_items"]),
    )


FORM_KEYS = ("exp", "version", "device", "precision", "pre_g", "pre_d", "pre_gpt",
             "sovits_batch", "sovits_epochs", "sovits_save_every", "text_lr", "sovits_keep_latest",
             "sovits_save_weights", "sovits_continue",
             "gpt_batch", "gpt_epochs", "gpt_save_every", "dpo", "gpt_keep_latest", "gpt_save_weights", "gpt_continue",
             "min_items")


def version_markdown(ctx: UiContext, version: Any) -> str:
    """Which pretrained files of the chosen version are missing and where each belongs ('' when all are there)."""
    note = version_files(ctx.paths, str(version or "v2")).note()
    return (ctx.t("Pretrained files missing for this version:") + "\n" + note) if note else ""


def _experiment(ctx: UiContext, name: Any) -> str:
    if not name:
        raise ValueError(ctx.t("Choose an experiment formatted by 1A first (refresh the list after formatting)."))
    return ctx.paths.experiment(str(name)).name


def train_request(ctx: UiContext, what: str, values: dict[str, Any]) -> JobRequest:
    """The job for 'chain', 'sovits' or 'gpt' from the form's values (raises ValueError with a message)."""
    exp = _experiment(ctx, values["exp"])
    sovits, gpt = _settings(values, "sovits"), _settings(values, "gpt")
    if what == "chain":
        argv = ctx.stage_argv("train-chain", "--exp", exp, "--sovits-args", shlex.join(sovits.args("sovits")),
                              "--gpt-args", shlex.join(gpt.args("gpt")))
    elif what in ("sovits", "gpt"):
        settings = sovits if what == "sovits" else gpt
        argv = ctx.stage_argv(f"train-{what}", "--exp", exp, *settings.args(what))
    else:
        raise ValueError(f"unknown training job {what!r}")
    save_form_settings(ctx.paths, exp, values)
    return JobRequest(exp=exp, argv=argv)


def estimate_request(ctx: UiContext, values: dict[str, Any]) -> JobRequest:
    exp = _experiment(ctx, values["exp"])
    sovits, gpt = _settings(values, "sovits"), _settings(values, "gpt")
    both = (("sovits", sovits), ("gpt", gpt))
    out = ctx.paths.experiment(exp).dir / ESTIMATE_FILE
    argv = ctx.stage_argv("train-estimate", "--exp", exp, "--device", sovits.device, "--precision", sovits.precision,
                          "--version", sovits.version, "--sovits-epochs", sovits.epochs, "--gpt-epochs", gpt.epochs,
                          "--sovits-batch-size", sovits.batch_size, "--gpt-batch-size", gpt.batch_size,
                          "--sovits-save-every", sovits.save_every, "--gpt-save-every", gpt.save_every,
                          "--keep-all", ",".join(n for n, st in both if not st.keep_latest),
                          "--final-weights-only", ",".join(n for n, st in both if not st.save_every_weights),
                          *(("--dpo",) if gpt.dpo else ()),
                          *_flags(("--pretrained-g", "--pretrained-d"), sovits.pretrained),
                          *_flags(("--pretrained-gpt",), gpt.pretrained),
                          "--output", out)
    return JobRequest(exp=exp, argv=argv, outputs=[out])


def _flags(names: tuple[str, ...], values: tuple[str, ...]) -> list[str]:
    return [part for name, value in zip(names, values) if value for part in (name, value)]


def estimate_markdown(ctx: UiContext, exp: Any) -> str:
    """The last estimate of this experiment, in words."""
    t = ctx.t
    try:
        path = ctx.paths.experiment(str(exp or "")).dir / ESTIMATE_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
    except (PathError, FileNotFoundError, ValueError, OSError):
        return t("No estimate yet: it runs a few real training steps on the longest clips to find the batch size "
                 "that fits and how long the run will take.")
    lines = []
    for key, title in (("sovits", "SoVITS"), ("gpt", "GPT")):
        e = data.get(key)
        if not isinstance(e, dict):
            continue
        if e.get("error"):
            lines.append(f"- **{title}**: {e['error']}")
            continue
        lines.append(t("- **{title}**: largest batch size that fits {fit}; {sps:.2f} s/step at batch {bs}; "
                       "{total} for {epochs} epochs; peak memory {mem}; checkpoints need {disk}.",
                       title=title, fit=e.get("max_batch_size", "?"), sps=float(e.get("seconds_per_step", 0)),
                       bs=e.get("batch_size", "?"), total=_duration(e.get("predicted_seconds")),
                       epochs=e.get("epochs", "?"), mem=_size(e.get("peak_memory_bytes")),
                       disk=_size(e.get("disk_bytes"))))
    for problem in data.get("problems") or []:
        lines.append(f"- ⚠️ {problem}")
    return "\n".join(lines) or t("The estimate file is empty.")


def _duration(seconds: Any) -> str:
    try:
        s = int(round(float(seconds)))
    except (TypeError, ValueError):
        return "?"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def _size(n: Any) -> str:
    try:
        value = float(n)
    except (TypeError, ValueError):
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "?"


def weights_signature(ctx: UiContext, exp: Any) -> str:
    """Changes whenever a weights file or a preview of the experiment appears (drives the list's re-render)."""
    try:
        name = ctx.paths.experiment(str(exp or "")).name
    except PathError:
        return ""
    entries = [(str(w.path), preview_path(ctx.paths, name, w.path).is_file())
               for w in experiment_weights(ctx.paths, name)]
    return json.dumps([name, entries])


def maybe_start_previews(ctx: UiContext, exp: Any) -> str:
    """Start a preview job when weights lack a preview and none was tried since they appeared; '' or a note."""
    try:
        name = ctx.paths.experiment(str(exp or "")).name
    except PathError:
        return ""
    todo = pending_previews(ctx.paths, name)
    if not todo:
        return ""
    last = ctx.jobs.latest("train-preview", name)
    newest = max(w.path.stat().st_mtime for w in todo)
    if last is not None and (last.status == RUNNING or last.start_time >= newest):
        return ""
    try:
        ctx.jobs.start("train-preview", name, ctx.stage_argv("train-preview", "--exp", name))
    except (JobError, OSError) as e:
        return str(e)
    return ""


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    paths = ctx.paths
    info = device_info()
    defaults = train_defaults(info)
    exps = experiment_choices(ctx)
    start_version = default_version(paths, exps[0][1] if exps else None)

    gr.Markdown(t("Finetunes SoVITS (the timbre) and then GPT (rhythm and prosody) on an experiment formatted by "
                  "1A. Stop saves a checkpoint; starting again continues from it. Weights go to weights/ and appear "
                  "below with a short audio preview each."))
    with gr.Row():
        exp = gr.Dropdown(exps, value=exps[0][1] if exps else None, label=t("Experiment (formatted by 1A)"), scale=4,
                          elem_id="gsv-train-exp")
        refresh = gr.Button(t("Refresh"), size="sm", scale=1)
        version = gr.Dropdown(list(VERSIONS), value=start_version, label=t("Model version"), scale=1,
                              elem_id="gsv-train-version")
        devices = device_choices(info)
        device = gr.Dropdown(devices, value=devices[0][1], label=t("Device"), scale=2)
        precision = gr.Dropdown(list(PRECISIONS), value="auto", scale=1,
                                label=t("Precision (auto: fp16 on GPU, fp32 on CPU)"))
    version_md = gr.Markdown(version_markdown(ctx, start_version), elem_id="gsv-train-version-files")
    with gr.Accordion(t("Pretrained models, or continue from your own weights"), open=False):
        with gr.Row():
            pre_g = gr.Textbox(str(paths.pretrained_sovits_g(start_version)), label=t("Pretrained SoVITS G"))
            pre_d = gr.Textbox(str(paths.pretrained_sovits_d(start_version)), label=t("Pretrained SoVITS D"))
            pre_gpt = gr.Textbox(str(paths.pretrained_gpt(start_version)), label=t("Pretrained GPT"))
        with gr.Row():
            sovits_continue = gr.Textbox("", label=t("Continue SoVITS from a weights file (optional)"))
            gpt_continue = gr.Textbox("", label=t("Continue GPT from a weights file (optional)"))

    def on_version(v: str):
        return (str(paths.pretrained_sovits_g(v)), str(paths.pretrained_sovits_d(v)), str(paths.pretrained_gpt(v)),
                version_markdown(ctx, v))

    version.change(on_version, inputs=version, outputs=[pre_g, pre_d, pre_gpt, version_md])
    min_items = gr.Number(100, precision=0, minimum=0, elem_id="gsv-train-min-items",
                          label=t("Repeat a small dataset to about this many items per epoch (upstream: 100; 0: never)"))
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### " + t("SoVITS (1Ba)"))
            sovits_batch = gr.Slider(1, defaults.sovits_batch_max, value=defaults.sovits_batch, step=1,
                                     label=t("Batch size"), elem_id="gsv-train-sovits-batch")
            sovits_epochs = gr.Slider(1, defaults.sovits_epochs_max, value=defaults.sovits_epochs, step=1,
                                      label=t("Epochs"), elem_id="gsv-train-sovits-epochs")
            sovits_save_every = gr.Slider(1, defaults.sovits_epochs_max, value=defaults.sovits_save_every, step=1,
                                          label=t("Save every N epochs (the last epoch is always saved)"),
                                          elem_id="gsv-train-sovits-save-every")
            text_lr = gr.Slider(0.2, 0.6, value=0.4, step=0.05, label=t("Text-module learning-rate weight"))
            sovits_keep_latest = gr.Checkbox(True, label=t("Keep only the latest resume checkpoint"))
            sovits_save_weights = gr.Checkbox(True, label=t("Write weights at every save (else only at the end)"))
        with gr.Column():
            gr.Markdown("#### " + t("GPT (1Bb)"))
            gpt_batch = gr.Slider(1, defaults.gpt_batch_max, value=defaults.gpt_batch, step=1, label=t("Batch size"),
                                  elem_id="gsv-train-gpt-batch")
            gpt_epochs = gr.Slider(2, defaults.gpt_epochs_max, value=defaults.gpt_epochs, step=1, label=t("Epochs"),
                                   elem_id="gsv-train-gpt-epochs")
            gpt_save_every = gr.Slider(1, defaults.gpt_epochs_max, value=defaults.gpt_save_every, step=1,
                                       label=t("Save every N epochs (the last epoch is always saved)"),
                                       elem_id="gsv-train-gpt-save-every")
            dpo = gr.Checkbox(False, label=t("DPO training (experimental; halves the batch)"))
            gpt_keep_latest = gr.Checkbox(True, label=t("Keep only the latest resume checkpoint"))
            gpt_save_weights = gr.Checkbox(True, label=t("Write weights at every save (else only at the end)"))

    form = [exp, version, device, precision, pre_g, pre_d, pre_gpt, sovits_batch, sovits_epochs, sovits_save_every,
            text_lr, sovits_keep_latest, sovits_save_weights, sovits_continue, gpt_batch, gpt_epochs, gpt_save_every,
            dpo, gpt_keep_latest, gpt_save_weights, gpt_continue, min_items]
    if len(form) != len(FORM_KEYS):
        raise RuntimeError("the 1B form and FORM_KEYS disagree")  # a programming error, caught by the UI tests

    def values_of(args: tuple) -> dict[str, Any]:
        return dict(zip(FORM_KEYS, args))

    def restore(name: Any) -> list[Any]:
        """The form as the experiment's last run left it (unchanged fields when it never ran; the version then
        follows the experiment's formatting and the pretrained files present)."""
        saved = load_form_settings(ctx.paths, str(name)) if name else {}
        if name and "version" not in saved:
            saved["version"] = default_version(ctx.paths, str(name))
        return [gr.update(value=saved[k]) if k in saved and k != "exp" else gr.skip() for k in FORM_KEYS[1:]]

    exp.change(restore, inputs=exp, outputs=form[1:], show_progress="hidden")

    with gr.Accordion(t("Estimate: batch size that fits, time and memory (runs a few real steps)"), open=False):
        estimate_md = gr.Markdown(estimate_markdown(ctx, exp.value), elem_id="gsv-train-estimate-result")
        est_panel = job_panel(ctx, kind="train-estimate", inputs=form, exp_input=exp,
                              make_job=lambda *v: estimate_request(ctx, values_of(v)), start_label="Estimate",
                              elem_id="gsv-train-estimate")
        est_panel.result.change(lambda _r, e: estimate_markdown(ctx, e), inputs=[est_panel.result, exp],
                                outputs=estimate_md)

    with gr.Tabs():
        with gr.Tab(t("SoVITS then GPT"), id="train-chain"):
            chain = job_panel(ctx, kind="train-chain", inputs=form, exp_input=exp, loss_plot=True,
                              make_job=lambda *v: train_request(ctx, "chain", values_of(v)),
                              start_label="Train SoVITS then GPT", stop_grace_s=STOP_GRACE_S,
                              elem_id="gsv-train-chain")
        with gr.Tab(t("SoVITS only"), id="train-sovits"):
            sovits_panel = job_panel(ctx, kind="train-sovits", inputs=form, exp_input=exp, loss_plot=True,
                                     make_job=lambda *v: train_request(ctx, "sovits", values_of(v)),
                                     start_label="Train SoVITS", stop_grace_s=STOP_GRACE_S,
                                     elem_id="gsv-train-sovits")
        with gr.Tab(t("GPT only"), id="train-gpt"):
            gpt_panel = job_panel(ctx, kind="train-gpt", inputs=form, exp_input=exp, loss_plot=True,
                                  make_job=lambda *v: train_request(ctx, "gpt", values_of(v)),
                                  start_label="Train GPT", stop_grace_s=STOP_GRACE_S,
                                  elem_id="gsv-train-gpt")
    if links is not None:
        # a run that ended (any of the three) tells the inference tab to look for new weights of this experiment
        finished = gr.Textbox(visible=False)
        for panel in (chain, sovits_panel, gpt_panel):
            panel.result.change(lambda r, e: f"{e}|{r}" if r else "", inputs=[panel.result, exp], outputs=finished,
                                show_progress="hidden")
        links.publish("train.finished", finished)
        links.publish("train.exp", exp)

    gr.Markdown("#### " + t("Weights written, with a preview each"), elem_id="gsv-train-weights-title")
    signature = gr.Textbox(weights_signature(ctx, exp.value), visible=False)
    preview_note = gr.Markdown()

    @gr.render(inputs=[exp, signature])
    def weights_list(exp_name: Any, _sig: str) -> None:
        try:
            name = ctx.paths.experiment(str(exp_name or "")).name
        except PathError:
            return
        files = experiment_weights(ctx.paths, name)
        if not files:
            gr.Markdown(t("No weights yet for this experiment."))
            return
        for w in files:
            with gr.Row(elem_classes="gsv-weights-row"):
                rel = w.path.relative_to(ctx.paths.root) if w.path.is_relative_to(ctx.paths.root) else w.path
                gr.Markdown(f"**{'SoVITS' if w.kind == 'sovits' else 'GPT'}** · {t('epoch')} {w.epoch} · `{rel}`")
                preview = preview_path(ctx.paths, name, w.path)
                if preview.is_file():
                    gr.Audio(str(preview), type="filepath", interactive=False, show_label=False,
                             elem_classes="gsv-preview")
                else:
                    gr.Markdown(t("preview being made…"))

    def on_tick(exp_name: Any) -> tuple[str, str]:
        return weights_signature(ctx, exp_name), maybe_start_previews(ctx, exp_name)

    timer = gr.Timer(TICK_S)
    timer.tick(on_tick, inputs=exp, outputs=[signature, preview_note], show_progress="hidden",
               concurrency_limit=None)

    def on_refresh(current: Any):
        choices = experiment_choices(ctx)
        names = [v for _, v in choices]
        return gr.update(choices=choices, value=current if current in names else (names[0] if names else None))

    refresh.click(on_refresh, inputs=exp, outputs=exp)

    def on_page_load():
        """A page (re)load offers the experiments formatted since the WebUI started; the newest is chosen. Nothing is
        sent for a list unchanged since start-up: a value arriving after the user picked another while the page was
        still loading would undo their choice."""
        choices = experiment_choices(ctx)
        if choices == exps:
            return gr.skip()
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    # no inputs: with inputs, gr.on(triggers=None) would also run on every change of them
    gr.on(triggers=None, fn=on_page_load, inputs=None, outputs=exp, show_progress="hidden")
    if links is not None:  # an experiment just formatted in 1A is offered and chosen here
        def after_format(name: Any):
            choices = experiment_choices(ctx)
            names = [v for _, v in choices]
            return gr.update(choices=choices, value=name if name in names else gr.skip())

        links.follow("format.exp", exp, after_format)
    gr.Markdown(t("TensorBoard: the trainers write their curves, mel images and audio samples to "
                  "`{logs}/<experiment>/logs_s2_<version>/` and `logs_s1_<version>/`. Nothing is started for you; "
                  "to look at them run: `tensorboard --logdir {logs}`", logs=str(paths.logs)))
