"""0 Slice tab: cut long recordings into clips at silences (in process, with a progress bar).

Thin: the form becomes `SliceOptions` and one call to `gpt_sovits.audio.slicer.slice_path`. Recordings can be
uploaded (files or a folder); they are copied into `datasets/<name>/raw/` by `gpt_sovits.audio.imports`, which is
then the default input. Paths typed here are taken from the data root.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gpt_sovits.audio.imports import import_recordings
from gpt_sovits.audio.slicer import SliceConflict, SliceOptions, slice_path
from gpt_sovits.paths import resolve_inside, validate_name
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.links import TabLinks


def output_dir_for(ctx: UiContext, dataset: str, output: str):
    """The folder clips go to: the one typed, else datasets/<dataset>/sliced."""
    roots = ctx.paths.allowed_roots
    if output and output.strip():
        return resolve_inside(output, roots, "output folder")
    return ctx.paths.dataset(validate_name(dataset or "", "dataset name")) / "sliced"


def input_for(ctx: UiContext, dataset: str, given: str) -> Path:
    """The recordings to slice: the path typed, else datasets/<dataset>/raw (where uploads go)."""
    if given and given.strip():
        return resolve_inside(given, ctx.paths.allowed_roots, "input path")
    return ctx.paths.dataset(validate_name(dataset or "", "dataset name")) / "raw"


def upload(ctx: UiContext, dataset: str, files: list[str] | None) -> tuple[str, str]:
    """Copy uploaded recordings into datasets/<dataset>/raw/; returns (message, the folder as the new input)."""
    raw = ctx.paths.dataset(validate_name(dataset or "", "dataset name")) / "raw"
    copied, present = import_recordings([Path(f) for f in files or []], raw)
    message = ctx.t("Copied {n} recording(s) into {path}.", n=len(copied), path=raw)
    if present:
        message += " " + ctx.t("{n} were already there.", n=len(present))
    return message, str(raw)


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    d = SliceOptions()
    gr.Markdown(t("Cut long recordings into clips of a few seconds at their silences. Clips are written as "
                  "32 kHz mono 16-bit wav files named `<source>_<start>_<end>.wav`."))
    with gr.Row():
        dataset = gr.Textbox(label=t("Dataset name"), placeholder="my_voice")
        input_path = gr.Textbox(label=t("Input: an audio file or a folder (inside the data root)"),
                                placeholder="datasets/<dataset>/raw")
        output_path = gr.Textbox(label=t("Output folder (empty: datasets/<dataset>/sliced)"))
    with gr.Row():
        files = gr.File(label=t("Upload recordings (copied into datasets/<dataset>/raw)"), file_count="multiple",
                        type="filepath")
        folder = gr.File(label=t("Upload a folder of recordings"), file_count="directory", type="filepath")
    with gr.Row():
        threshold = gr.Number(d.threshold_db, label=t("Threshold (dB): quieter is silence"))
        min_length = gr.Number(d.min_length_ms, label=t("Minimum clip length (ms)"), precision=0)
        min_interval = gr.Number(d.min_interval_ms, label=t("Minimum silence to cut (ms)"), precision=0)
        hop = gr.Number(d.hop_ms, label=t("Hop size (ms)"), precision=0)
        max_sil = gr.Number(d.max_sil_kept_ms, label=t("Silence kept around a clip (ms)"), precision=0)
        max_len = gr.Number(d.max_length_ms, label=t("Maximum clip length (ms)"), precision=0)
    with gr.Row():
        norm_max = gr.Slider(0, 1, value=d.norm_max, step=0.05, label=t("Normalisation peak (max)"))
        alpha = gr.Slider(0, 1, value=d.alpha, step=0.05, label=t("Share of the normalised signal (alpha_mix)"))
        workers = gr.Slider(1, 16, value=d.workers, step=1, label=t("Worker processes"))
    replace = gr.Checkbox(False, label=t("Replace: the output folder may hold clips of these recordings from an "
                                         "earlier run; move them into a dated subfolder and slice again"))
    start = gr.Button(t("Slice"), variant="primary")
    result = gr.Textbox(label=t("Result"), lines=6, interactive=False)
    output_shown = gr.Textbox(label=t("Clips folder (use it as the ASR input)"), interactive=False)

    def run(dataset_name, inp, out, thr, min_len, min_int, hop_ms, max_sil_ms, max_len_ms, peak, mix, n_workers,
            replace_old, progress=gr.Progress()):  # noqa: B008 (Gradio injects progress this way)
        try:
            source = input_for(ctx, dataset_name, inp)
            target = output_dir_for(ctx, dataset_name, out)
            options = SliceOptions(
                threshold_db=float(thr), min_length_ms=int(min_len), min_interval_ms=int(min_int), hop_ms=int(hop_ms),
                max_sil_kept_ms=int(max_sil_ms), max_length_ms=int(max_len_ms), norm_max=float(peak),
                alpha=float(mix), workers=int(n_workers),
            )
            options.validate()
        except (ValueError, TypeError) as e:
            return "⚠️ " + str(e), ""

        def on_progress(done: int, total: int, message: str) -> None:
            progress((done, total), desc=message)

        try:
            report = slice_path(source, target, options, on_progress, replace=bool(replace_old))
        except (FileNotFoundError, SliceConflict) as e:
            return "⚠️ " + str(e), ""
        return report.summary(), str(target)

    def on_upload(dataset_name, uploaded):
        try:
            return upload(ctx, dataset_name, uploaded if isinstance(uploaded, list) else [uploaded])
        except (ValueError, OSError) as e:
            return "⚠️ " + str(e), gr.skip()

    for box in (files, folder):
        box.upload(on_upload, inputs=[dataset, box], outputs=[result, input_path])
    start.click(run, inputs=[dataset, input_path, output_path, threshold, min_length, min_interval, hop, max_sil,
                             max_len, norm_max, alpha, workers, replace], outputs=[result, output_shown])
    if links is not None:  # the ASR tab takes the dataset name and the clips folder from here
        links.publish("slice.dataset", dataset)
        links.publish("slice.output_dir", output_shown)
