"""A reusable Gradio widget for one long stage run as a job: Start/Stop, progress bar, ETA, status line, log tail.

Usage inside a tab's `build(ctx)`:

    from gpt_sovits.ui.job_panel import JobRequest, job_panel

    exp = gr.Textbox(label=ctx.t("Experiment name"))
    batch = gr.Slider(1, 40, value=8, label=ctx.t("Batch size"))

    def make_job(exp_name: str, batch_size: float) -> JobRequest:
        # Turn the form's values into a command. Raise ValueError/PathError with a message for the user
        # if an input is wrong: the panel shows it in its status line and starts nothing.
        ex = ctx.paths.experiment(exp_name)              # validates the name
        return JobRequest(
            exp=ex.name,
            argv=ctx.stage_argv("format", "--exp", ex.name, "--batch-size", int(batch_size)),
            outputs=[ex.name2semantic],                  # must exist after exit 0, else the job is "failed"
        )

    panel = job_panel(ctx, kind="format", inputs=[exp, batch], make_job=make_job, exp_input=exp)
    panel.result.change(refresh_my_dropdowns, inputs=panel.result, outputs=...)   # optional

Everything shown is read from the job folder (`ctx.jobs`), not kept in the browser session, so after a page
reload or a WebUI restart the panel finds the latest job of its `kind` for the experiment named in `exp_input`
and shows it again (running or finished). One job per (kind, experiment) runs at a time; a second Start shows
the runner's refusal. The refresh timer ticks every second while a job runs and every few seconds otherwise.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from gpt_sovits.jobs import RUNNING, SUCCEEDED, Job, JobError, JobProgress
from gpt_sovits.paths import PathError, validate_name
from gpt_sovits.ui.context import UiContext

RUNNING_TICK_S = 1.0
IDLE_TICK_S = 5.0


@dataclass
class JobRequest:
    """What `make_job` returns: the experiment (job key), the command (argv list, no shell), declared outputs."""

    exp: str
    argv: Sequence[str]
    outputs: Sequence[str | Path] = ()
    env: Mapping[str, str] | None = None  # additions to the child's environment
    cwd: str | Path | None = None


@dataclass
class JobPanel:
    """The components of one panel, for callers that want to wire more events to them.

    `result` is a hidden Textbox set to "<job id>:<status>" when a job is seen finished (listen to `.change` to
    refresh model lists after training, for example). `job_id` holds the id of the job shown ("" for none).
    """

    start: gr.Button
    stop: gr.Button
    status: gr.Markdown
    progress: gr.HTML
    log: gr.Textbox
    timer: gr.Timer
    job_id: gr.Textbox
    result: gr.Textbox
    loss_plot: gr.HTML | None = None


@dataclass
class PanelView:
    """Everything the panel shows for a job, computed without Gradio (so it can be tested directly)."""

    job_id: str = ""
    running: bool = False
    status_md: str = ""
    progress_html: str = ""
    log: str = ""
    result: str = ""
    losses: list[dict[str, Any]] = field(default_factory=list)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta_text(progress: JobProgress, t: Callable[..., str]) -> str:
    """'ETA m:ss'; in a chain with stages still to come, the whole chain's ETA when the 1B Estimate lets us predict
    them, else a plain statement that the ETA covers the running stage only."""
    stage_eta = format_duration(progress.eta_s)
    if not progress.chain or progress.chain[0] >= progress.chain[1]:
        return f"{html.escape(t('ETA'))} {stage_eta}"
    if progress.chain_later_s is None:
        return f"{html.escape(t('ETA of this stage'))} {stage_eta} ({html.escape(t('run Estimate for the whole chain'))})"
    whole = format_duration((progress.eta_s or 0.0) + progress.chain_later_s)
    return f"{html.escape(t('ETA of this stage'))} {stage_eta}, {html.escape(t('whole chain'))} ≈ {whole}"


def progress_bar_html(progress: JobProgress | None, running: bool, t: Callable[..., str]) -> str:
    """A plain HTML progress bar with 'step / total', percentage, epoch and ETA."""
    if progress is None or (progress.events == 0 and not running):
        return ""
    frac = progress.fraction
    pct = 0.0 if frac is None else 100.0 * frac
    parts = []
    if progress.chain:
        parts.append(f"{html.escape(t('stage'))} {progress.chain[0]}/{progress.chain[1]}")
    if progress.stage:
        parts.append(html.escape(str(progress.stage)))
    if progress.total:
        parts.append(f"{progress.step} / {progress.total} ({pct:.0f}%)")
    elif progress.step:
        parts.append(f"{progress.step}")
    if progress.epoch is not None:
        parts.append(f"{html.escape(t('epoch'))} {html.escape(str(progress.epoch))}")
    if running and progress.items_per_s:
        parts.append(f"{progress.items_per_s:.3g} {html.escape(t('items/s'))}")
    if running and progress.eta_s is not None:
        parts.append(eta_text(progress, t))
    if progress.loss:
        parts.append(", ".join(f"{html.escape(str(k))}={v:.4g}" for k, v in progress.loss.items()
                               if isinstance(v, (int, float))))
    width = f"{pct:.1f}%" if frac is not None else ("100%" if running else "0%")
    stripes = "" if frac is not None else "opacity:0.35;"
    return (
        '<div class="gsv-job-progress" style="width:100%">'
        '<div style="background:var(--neutral-200,#e5e7eb);border-radius:4px;height:14px;overflow:hidden">'
        f'<div style="background:var(--color-accent,#f97316);height:14px;width:{width};{stripes}"></div></div>'
        f'<div style="font-size:0.9em;margin-top:2px">{" · ".join(parts)}</div></div>'
    )


def status_markdown(job: Job | None, progress: JobProgress | None, t: Callable[..., str]) -> str:
    """One status line (plus the failure reason) for people."""
    if job is None:
        return t("No job has run yet.")
    started = _clock(job.start_time)
    if job.status == RUNNING:
        line = t("Running since {time} ({elapsed}), job {id}.", time=started, elapsed=format_duration(job.elapsed),
                 id=job.id)
        if progress is not None and progress.message:
            line += "  \n" + _md_escape(progress.message)
        return "⏳ " + line
    took = format_duration(job.elapsed)
    if job.status == SUCCEEDED:
        return "✅ " + t("Succeeded: job {id} finished in {took}.", id=job.id, took=took)
    if job.status == "stopped":
        return "⏹ " + t("Stopped: job {id} was stopped after {took}.", id=job.id, took=took)
    reason = job.reason or t("unknown reason")
    return "❌ " + t("Failed: job {id} (exit code {code}).", id=job.id, code=job.exit_code) + \
        f"\n\n```\n{reason.replace('```', '`‵`')}\n```"


def view_job(ctx: UiContext, kind: str, job_id: str, exp: str, log_lines: int = 30) -> PanelView:
    """What to show: the job `job_id` if given and of this kind+exp, else the latest such job."""
    job = None
    if job_id:
        try:
            job = ctx.jobs.get(job_id)
        except JobError:
            job = None
        if job is not None and (job.kind != kind or job.exp != exp):
            job = None
    if job is None:
        job = ctx.jobs.latest(kind, exp)
    if job is None:
        return PanelView(status_md=status_markdown(None, None, ctx.t))
    progress = ctx.jobs.progress(job.id)
    running = job.status == RUNNING
    return PanelView(
        job_id=job.id,
        running=running,
        status_md=status_markdown(job, progress, ctx.t),
        progress_html=progress_bar_html(progress, running, ctx.t),
        log=ctx.jobs.log_tail(job.id, log_lines),
        result="" if running else f"{job.id}:{job.status}",
        losses=list(progress.losses),
    )


def start_job(ctx: UiContext, kind: str, make_job: Callable[..., JobRequest], values: Sequence[Any]) -> tuple[str, str]:
    """Build the request from the form values and start it. Returns (job id or "", error message or "")."""
    try:
        req = make_job(*values)
        if req.exp:
            validate_name(req.exp)
        job = ctx.jobs.start(kind, req.exp, list(req.argv), outputs=list(req.outputs), env=req.env, cwd=req.cwd)
    except (JobError, ValueError, OSError) as e:  # PathError is a ValueError
        return "", str(e)
    return job.id, ""


def _exp_value(value: Any) -> str:
    if value is None:
        return ""
    name = str(value).strip()
    try:
        return validate_name(name) if name else ""
    except PathError:
        return ""


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _md_escape(text: str) -> str:
    return html.escape(text).replace("*", "\\*").replace("_", "\\_")


_PLOT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def loss_plot_svg(losses: list[dict[str, Any]], width: int = 640, height: int = 200, max_points: int = 400) -> str:
    """An inline SVG line chart of every loss series against the step (plain HTML: no plotting library)."""
    series: dict[str, list[tuple[float, float]]] = {}
    stage = losses[-1].get("stage") if losses else None  # a chained job plots the stage that runs now
    for point in losses:
        if point.get("stage") != stage:
            continue
        for name, value in point.items():
            if name not in ("t", "step", "epoch", "stage") and isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault(name, []).append((float(point["step"]), float(value)))
    if not series:
        return ""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 48, 8, 8, 22
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    svg_open = (f'<svg class="gsv-loss-plot" viewBox="0 0 {width} {height}" width="100%" '
                f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg" font-size="11" fill="currentColor">')
    parts = [svg_open,
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#9ca3af"/>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{y1:.4g}</text>',
             f'<text x="{left - 4}" y="{top + ph}" text-anchor="end">{y0:.4g}</text>',
             f'<text x="{left}" y="{height - 6}">{x0:.0f}</text>',
             f'<text x="{left + pw}" y="{height - 6}" text-anchor="end">step {x1:.0f}</text>']
    legend = []
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = _PLOT_COLORS[i % len(_PLOT_COLORS)]
        stride = max(1, len(pts) // max_points)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts[::stride] + ([pts[-1]] if stride > 1 else []))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        legend.append(f'<span style="color:{color}">■ {html.escape(name)} {pts[-1][1]:.4g}</span>')
    parts.append("</svg>")
    return "".join(parts) + '<div style="font-size:0.85em">' + " &nbsp; ".join(legend) + "</div>"


def job_panel(
    ctx: UiContext,
    kind: str,
    inputs: Sequence[gr.components.Component],
    make_job: Callable[..., JobRequest],
    exp_input: gr.components.Component | None = None,
    start_label: str = "Start",
    stop_label: str = "Stop",
    log_lines: int = 30,
    loss_plot: bool = False,
    stop_grace_s: float = 5.0,
    elem_id: str | None = None,
) -> JobPanel:
    """Render the panel in the current Blocks context and wire its events; see the module docstring.

    `inputs` are the form components whose values `make_job` receives (in order). `exp_input` is the component
    holding the experiment name, used to find the job again after a reload (None: jobs of this kind use exp "").
    `loss_plot=True` adds a line chart (inline SVG) of the `loss` values the stage reports. `stop_grace_s` is how
    long Stop waits after SIGTERM before it kills (a trainer finishes its step and saves a checkpoint meanwhile).
    `elem_id` names the panel's parts in the page (`<id>-start`, `-stop`, `-status`, `-progress`, `-plot`, `-log`).
    """
    t = ctx.t
    def part(name: str) -> str | None:
        return f"{elem_id}-{name}" if elem_id else None

    with gr.Group():
        with gr.Row():
            start_btn = gr.Button(t(start_label), variant="primary", elem_id=part("start"))
            stop_btn = gr.Button(t(stop_label), variant="stop", interactive=False, elem_id=part("stop"))
        status = gr.Markdown(t("No job has run yet."), elem_id=part("status"))
        progress = gr.HTML("", elem_id=part("progress"))
        plot = gr.HTML("", elem_id=part("plot")) if loss_plot else None
        log = gr.Textbox(label=t("Log"), lines=8, max_lines=16, interactive=False, autoscroll=True,
                         elem_id=part("log"))
    job_id = gr.Textbox(visible=False)
    result = gr.Textbox(visible=False)
    timer = gr.Timer(RUNNING_TICK_S)

    exp_components = [exp_input] if exp_input is not None else []
    outputs: list[Any] = [job_id, status, progress, log, result, start_btn, stop_btn, timer]
    if plot is not None:
        outputs.append(plot)

    def render(view: PanelView, error: str = "") -> list[Any]:
        status_md = view.status_md
        if error:
            status_md = "⚠️ " + _md_escape(error) + ("\n\n" + status_md if view.job_id else "")
        out: list[Any] = [
            view.job_id, status_md, view.progress_html, view.log, view.result,
            gr.Button(interactive=not view.running), gr.Button(interactive=view.running),
            gr.Timer(RUNNING_TICK_S if view.running else IDLE_TICK_S),
        ]
        if plot is not None:
            out.append(loss_plot_svg(view.losses))
        return out

    def refresh(current_id: str, *exp_value: Any) -> list[Any]:
        exp = _exp_value(exp_value[0]) if exp_value else ""
        return render(view_job(ctx, kind, current_id or "", exp, log_lines))

    n_inputs = len(inputs)

    def on_start(*values: Any) -> list[Any]:
        form, exp_value = values[:n_inputs], values[n_inputs:]
        new_id, error = start_job(ctx, kind, make_job, form)
        if new_id:
            job = ctx.jobs.get(new_id)
            return render(view_job(ctx, kind, new_id, job.exp, log_lines))
        exp = _exp_value(exp_value[0]) if exp_value else ""
        return render(view_job(ctx, kind, "", exp, log_lines), error)

    def on_stop(current_id: str, *exp_value: Any) -> list[Any]:
        error = ""
        if current_id:
            try:
                ctx.jobs.stop(current_id, grace_s=stop_grace_s)
            except JobError as e:
                error = str(e)
        exp = _exp_value(exp_value[0]) if exp_value else ""
        return render(view_job(ctx, kind, current_id, exp, log_lines), error)

    timer.tick(refresh, inputs=[job_id, *exp_components], outputs=outputs, show_progress="hidden",
               concurrency_limit=None)  # cheap reads: never wait behind a slow handler
    start_btn.click(on_start, inputs=[*inputs, *exp_components], outputs=outputs)
    stop_btn.click(on_stop, inputs=[job_id, *exp_components], outputs=outputs)
    if exp_input is not None:
        exp_input.change(lambda *v: refresh("", *v), inputs=exp_components, outputs=outputs, show_progress="hidden",
                         concurrency_limit=None)
    return JobPanel(start=start_btn, stop=stop_btn, status=status, progress=progress, log=log, timer=timer,
                    job_id=job_id, result=result, loss_plot=plot)
