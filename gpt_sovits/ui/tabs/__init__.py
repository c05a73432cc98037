"""One module per WebUI tab: slice, asr, labels, format, train, infer.

Each defines `build(ctx: gpt_sovits.ui.context.UiContext) -> None`, which `gpt_sovits.ui.app.build_app` calls
inside `with gr.Tab(...)`. A tab holds no logic of its own: it calls core functions, or starts a stage as a job
through `gpt_sovits.ui.job_panel.job_panel`. Its zh_CN strings go in `gpt_sovits/ui/locale/zh_CN/<tab>.json`.
"""
