"""1A Format tab: turn a `.list` into the training features of an experiment, as a job with progress.

Thin: the form becomes a `python -m gpt_sovits format ...` command (see `gpt_sovits.dataset.cli`); all work and all
decisions (what is unchanged, what failed) are in `gpt_sovits.dataset`. One format job per experiment runs at a
time, since the steps share the experiment's manifest; the step choice picks one-click (1Aa+1Ab+1Ac) or one step.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gpt_sovits.paths import resolve_inside
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.job_panel import JobRequest, job_panel
from gpt_sovits.ui.links import TabLinks

STEP_CHOICES = [  # (English label, --steps value)
    ("One click: 1Aa + 1Ab + 1Ac", "text,hubert,sv,semantic"),  # sv: v2Pro/v2ProPlus only, skipped otherwise
    ("1Aa: text → phones + BERT features", "text"),
    ("1Ab: audio → 32 kHz wav + HuBERT features", "hubert"),
    ("1Ac: HuBERT features → semantic tokens", "semantic"),
]


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def format_request(ctx: UiContext, list_path: str, exp_name: str, steps: str, wav_dir: str, workers: float,
                   device: str, version: str, bert_dir: str, hubert_dir: str, s2g: str,
                   replace: bool = False) -> JobRequest:
    """The job for the form's values; raises ValueError/PathError with a message the tab shows."""
    exp = ctx.paths.experiment(exp_name or "")
    roots = ctx.paths.allowed_roots
    list_file = resolve_inside(list_path or "", roots, "list file")
    if not list_file.is_file():
        raise ValueError(ctx.t("The list file does not exist: {path}", path=list_file))
    argv: list[object] = ["--list", list_file, "--exp", exp.name, "--steps", steps, "--workers", int(workers or 1),
                          "--device", (device or "cpu").strip(), "--version", version]
    if wav_dir and wav_dir.strip():
        argv += ["--wav-dir", resolve_inside(wav_dir, roots, "audio folder")]
    for flag, value, what in (("--bert-dir", bert_dir, "BERT folder"), ("--hubert-dir", hubert_dir, "HuBERT folder"),
                              ("--pretrained-s2g", s2g, "pretrained SoVITS G")):
        if value and value.strip():
            argv += [flag, resolve_inside(value, roots, what)]
    if replace:
        argv.append("--replace")
    outputs: list[str | Path] = []
    if "text" in steps:
        outputs.append(exp.name2text)
    if "hubert" in steps:
        outputs.append(str(exp.hubert_dir / "*.pt"))
    if "semantic" in steps:
        outputs.append(exp.name2semantic)
    if version in ("v2Pro", "v2ProPlus") and ("hubert" in steps or "sv" in steps):
        outputs.append(str(exp.sv_dir / "*.pt"))
    return JobRequest(exp=exp.name, argv=ctx.stage_argv("format", *argv), outputs=outputs)


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    paths = ctx.paths
    gr.Markdown(t("Formats a .list into logs/<experiment>/: phones and BERT features (1Aa), 32 kHz audio and "
                  "HuBERT features (1Ab), semantic tokens (1Ac). Running it again only redoes lines that changed "
                  "and removes the outputs of lines that were deleted from the list."))
    with gr.Row():
        exp = gr.Textbox(label=t("Experiment name"), placeholder="my_voice", scale=2)
        list_path = gr.Textbox(label=t("List file (.list)"), placeholder=str(paths.datasets / "name" / "name.list"),
                               scale=4)
        wav_dir = gr.Textbox(label=t("Audio folder (optional; looks clips up by file name)"), scale=3)
    with gr.Row():
        steps = gr.Radio([(t(label), value) for label, value in STEP_CHOICES], value=STEP_CHOICES[0][1],
                         label=t("What to run"), scale=4)
        workers = gr.Number(value=1, minimum=1, maximum=32, precision=0, label=t("Worker processes"), scale=1)
        device = gr.Textbox(value=_default_device(), label=t("Device (cpu, cuda, or cuda:0,cuda:1)"), scale=2)
        version = gr.Dropdown(["v2", "v1", "v2Pro", "v2ProPlus"], value="v2", label=t("Model version"), scale=1)
    with gr.Accordion(t("Pretrained models used"), open=False):
        bert_dir = gr.Textbox(value=str(paths.bert_dir()), label=t("BERT folder"))
        hubert_dir = gr.Textbox(value=str(paths.hubert_dir()), label=t("HuBERT folder"))
        s2g = gr.Textbox(value=str(paths.pretrained_sovits_g("v2")), label=t("Pretrained SoVITS G"))
    version.change(lambda v: str(paths.pretrained_sovits_g(v)), inputs=version, outputs=s2g)
    replace = gr.Checkbox(False, label=t("Replace: the experiment may hold features of another list; replace them "
                                         "(kept aside until this run succeeds)"))

    def make_job(*values) -> JobRequest:
        return format_request(ctx, *values)

    panel = job_panel(ctx, kind="format", inputs=[list_path, exp, steps, wav_dir, workers, device, version,
                                                  bert_dir, hubert_dir, s2g, replace],
                      make_job=make_job, exp_input=exp, start_label="Start formatting")
    if links is not None:
        # the list ASR wrote (or the Labels tab opened) is the one to format, into an experiment of the same name
        links.follow("labels.list", list_path)
        links.follow("labels.list", exp, lambda p: Path(p).stem if p else gr.skip())
        formatted = gr.Textbox(visible=False)
        panel.result.change(lambda r, e: e if r.endswith(":succeeded") else gr.skip(), inputs=[panel.result, exp],
                            outputs=formatted, show_progress="hidden")
        links.publish("format.exp", formatted)
