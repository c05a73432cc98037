"""The WebUI: a status area (pretrained models, device) and one tab per stage.

Each stage's tab lives in `gpt_sovits/ui/tabs/<module>.py` and provides `build(ctx: UiContext) -> None`; a
stage whose module does not exist yet shows a plain "not available yet" message instead.
"""

from __future__ import annotations

import html
import importlib
import inspect
import sys
import traceback

import gradio as gr

from gpt_sovits.devices import DeviceInfo, describe, device_info
from gpt_sovits.pretrained import PretrainedItem, pretrained_status
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.links import TabLinks

# (tab label, module under gpt_sovits.ui.tabs)
TABS: tuple[tuple[str, str], ...] = (
    ("0 Slice", "slice"),
    ("0 ASR", "asr"),
    ("0 Labels", "labels"),
    ("1A Format", "format"),
    ("1B Train", "train"),
    ("1C Inference", "infer"),
)
TITLE = "GPT-SoVITS WebUI"


def pretrained_table_md(items: list[PretrainedItem], ctx: UiContext) -> str:
    """A Markdown table: present/missing, name, the path it belongs in (relative to the root), what it is for."""
    t = ctx.t
    rows = [
        f"| {t('Status')} | {t('Model')} | {t('Where it belongs')} | {t('Used for')} |",
        "|---|---|---|---|",
    ]
    for item in items:
        try:
            where = item.path.relative_to(ctx.paths.root).as_posix()
        except ValueError:
            where = item.path.as_posix()
        if item.present:
            mark = "✅ " + t("present")
        else:
            label = t("missing") if item.required else t("missing (optional)")
            mark = "❌ " + label if item.required else "➖ " + label
            if item.problem and item.problem != "missing":
                mark += f" — {html.escape(t(item.problem))}"
        rows.append(f"| {mark} | {html.escape(item.name)} | `{where}` | {html.escape(t(item.purpose))} |")
    missing = [i for i in items if i.required and not i.present]
    if missing:
        summary = t("{n} required pretrained file(s) missing. Put upstream's files at the paths below "
                    "(see pretrained_models/README.md).", n=len(missing))
    else:
        summary = t("All required pretrained files are present.")
    return summary + "\n\n" + "\n".join(rows)


def device_md(info: DeviceInfo, ctx: UiContext) -> str:
    return "\n".join(f"- {ctx.t(line)}" for line in describe(info))


def _tab_body(ctx: UiContext, module_name: str, strict: bool, links: TabLinks) -> None:
    full_name = f"gpt_sovits.ui.tabs.{module_name}"
    try:
        module = importlib.import_module(full_name)
    except ModuleNotFoundError as e:
        if e.name != full_name:
            if strict:
                raise
            _tab_error(ctx, full_name, e)
            return
        gr.Markdown(ctx.t("This stage is not available yet in this version."))
        return
    except Exception as e:  # a broken tab must not take the whole WebUI down; it says what broke instead
        if strict:
            raise
        _tab_error(ctx, full_name, e)
        return
    try:
        if len(inspect.signature(module.build).parameters) >= 2:
            module.build(ctx, links)  # a tab that passes values on to later tabs, or takes them from earlier ones
        else:
            module.build(ctx)
    except Exception as e:
        if strict:
            raise
        _tab_error(ctx, full_name, e)


def _tab_error(ctx: UiContext, full_name: str, error: BaseException) -> None:
    traceback.print_exception(error, file=sys.stderr)
    gr.Markdown(ctx.t("This tab could not be loaded: {error}", error=html.escape(f"{type(error).__name__}: "
                                                                                f"{error}")))


def build_app(ctx: UiContext, strict: bool = False, devices: DeviceInfo | None = None) -> gr.Blocks:
    """Build the whole WebUI. `strict=True` lets an error in a tab propagate (tests); otherwise the tab shows it.

    `devices` defaults to probing this machine (`gpt_sovits.devices.device_info`).
    """
    t = ctx.t
    devices = devices if devices is not None else device_info()
    items = pretrained_status(ctx.paths)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}\n" + t("Data folder: `{root}`", root=ctx.paths.root))
        any_missing = any(i.required and not i.present for i in items)
        with gr.Accordion(t("Status: pretrained models and device"), open=any_missing):
            device_box = gr.Markdown(device_md(devices, ctx), elem_id="gsv-device")
            table = gr.Markdown(pretrained_table_md(items, ctx), elem_id="gsv-pretrained")
            refresh = gr.Button(t("Check again"), size="sm")
            refresh.click(lambda: pretrained_table_md(pretrained_status(ctx.paths), ctx), outputs=table)
        links = TabLinks()
        with gr.Tabs():
            for label, module_name in TABS:
                with gr.Tab(t(label), id=module_name):
                    _tab_body(ctx, module_name, strict, links)
        del device_box
    return app
