"""0 ASR tab: transcribe a folder of clips with faster-whisper into a `.list`, as a job.

Thin: the form becomes `python -m gpt_sovits asr ...` (see `gpt_sovits.asr.cli`); finding the model and every
decision about what is written live in `gpt_sovits.asr.whisper`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gpt_sovits.asr.whisper import (
    ASR_LANGUAGES, COMPUTE_TYPES, DEVICES, WhisperModelNotFound, find_whisper_model, latest_output,
)
from gpt_sovits.paths import WHISPER_SIZES, resolve_inside, validate_name
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.job_panel import JobRequest, job_panel
from gpt_sovits.ui.links import TabLinks


def asr_request(ctx: UiContext, dataset: str, input_dir: str, output_list: str, size: str, model_dir: str,
                language: str, device: str, precision: str, replace: bool = False) -> JobRequest:
    """The job for the form; defaults: input datasets/<name>/sliced, output datasets/<name>/<name>.list."""
    name = validate_name(dataset or "", "dataset name")
    roots = ctx.paths.allowed_roots
    folder = ctx.paths.dataset(name)
    inp = resolve_inside(input_dir, roots, "input folder") if input_dir and input_dir.strip() else folder / "sliced"
    if not inp.is_dir():
        raise ValueError(ctx.t("The input folder does not exist: {path}", path=inp))
    out = (resolve_inside(output_list, roots, "output list") if output_list and output_list.strip()
           else folder / f"{name}.list")
    if out.suffix != ".list":
        raise ValueError(ctx.t("The output file must end in .list: {path}", path=out))
    mdir = resolve_inside(model_dir, roots, "model folder") if model_dir and model_dir.strip() else None
    find_whisper_model(ctx.paths, size, mdir)  # a missing model is said before a job starts
    argv: list[object] = [inp, "--output", out, "--model-size", size, "--language", language, "--device", device,
                          "--precision", precision, "--speaker", name]
    if mdir is not None:
        argv += ["--model-dir", mdir]
    if replace:
        argv.append("--replace")
    return JobRequest(exp=name, argv=ctx.stage_argv("asr", *argv), outputs=[out])


def asr_request_output(ctx: UiContext, dataset: str, output_list: str) -> Path:
    """The output list a run of the form asks for (default datasets/<name>/<name>.list)."""
    name = validate_name(dataset or "", "dataset name")
    if output_list and output_list.strip():
        return resolve_inside(output_list, ctx.paths.allowed_roots, "output list")
    return ctx.paths.dataset(name) / f"{name}.list"


def model_status(ctx: UiContext, size: str, model_dir: str) -> str:
    try:
        mdir = resolve_inside(model_dir, ctx.paths.allowed_roots, "model folder") if model_dir and model_dir.strip() \
            else None
        return "✅ " + ctx.t("Model found: {path}", path=find_whisper_model(ctx.paths, size, mdir))
    except (WhisperModelNotFound, ValueError) as e:
        return "❌ " + str(e)


def default_size(ctx: UiContext) -> str:
    """The largest installed model, preferring large-v3 (upstream's default) when it is there."""
    installed = []
    for size in WHISPER_SIZES:
        try:
            find_whisper_model(ctx.paths, size)
            installed.append(size)
        except (WhisperModelNotFound, ValueError):
            continue
    if not installed or "large-v3" in installed:
        return "large-v3"
    return installed[-1]


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    initial_size = default_size(ctx)
    gr.Markdown(t("Transcribe clips with faster-whisper into a .list file (path|speaker|language|text). Clips in a "
                  "language training cannot use are held back and listed in the log for review."))
    with gr.Row():
        dataset = gr.Textbox(label=t("Dataset name"), placeholder="my_voice")
        input_dir = gr.Textbox(label=t("Clips folder (empty: datasets/<dataset>/sliced)"))
        output_list = gr.Textbox(label=t("Output .list (empty: datasets/<dataset>/<dataset>.list)"))
    with gr.Row():
        size = gr.Dropdown(list(WHISPER_SIZES), value=initial_size, label=t("Model size"))
        model_dir = gr.Textbox(label=t("Model folder (empty: pretrained_models/faster-whisper-<size>)"))
        language = gr.Dropdown(list(ASR_LANGUAGES), value="auto", label=t("Language"))
        device = gr.Dropdown(list(DEVICES), value="auto", label=t("Device"))
        precision = gr.Dropdown(list(COMPUTE_TYPES), value="auto",
                                label=t("Precision (auto: int8 on CPU, float16 on CUDA)"))
    replace = gr.Checkbox(False, label=t("Overwrite the output list even if it was corrected by hand (its current "
                                         "content is kept in its history); otherwise the result goes beside it"))
    status = gr.Markdown(model_status(ctx, initial_size, ""))
    for comp in (size, model_dir):
        comp.change(lambda s, m: model_status(ctx, s, m), inputs=[size, model_dir], outputs=status)

    def make_job(*values) -> JobRequest:
        return asr_request(ctx, *values)

    panel = job_panel(ctx, kind="asr", inputs=[dataset, input_dir, output_list, size, model_dir, language, device,
                                               precision, replace],
                      make_job=make_job, exp_input=dataset, start_label="Start ASR")
    if links is not None:
        links.follow("slice.dataset", dataset, lambda v: v if v else gr.skip())
        links.follow("slice.output_dir", input_dir, lambda v: v if v else gr.skip())
        written = gr.Textbox(visible=False)

        def on_result(result: str, name: str, out: str):
            """After a successful run: the list it wrote (itself, or the copy beside a hand-corrected one)."""
            if not result.endswith(":succeeded"):
                return gr.skip()
            try:
                req = asr_request_output(ctx, name, out)
            except ValueError:
                return gr.skip()
            found = latest_output(req)
            return str(found) if found else gr.skip()

        panel.result.change(on_result, inputs=[panel.result, dataset, output_list], outputs=written,
                            show_progress="hidden")
        links.publish("asr.list", written)
