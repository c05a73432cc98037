"""What every WebUI tab receives: where the data lives, the job runner, and the translator.

Tab modules (`gpt_sovits/ui/tabs/<stage>.py`) define `build(ctx: UiContext) -> None`; `app.build_app` calls it
inside `with gr.Tab(...)`. A tab uses:

    ctx.paths  -- `gpt_sovits.paths.ProjectPaths`: every folder/file name under the data root (`--root`)
    ctx.jobs   -- `gpt_sovits.jobs.JobRunner` over `ctx.paths.jobs`: start/stop/watch long stages
                  (most tabs just use `gpt_sovits.ui.job_panel.job_panel`, which wraps it)
    ctx.t      -- `ctx.t("English text")` → the text in the UI language (see `gpt_sovits.ui.i18n`);
                  placeholders: `ctx.t("Found {n} clips", n=3)` (the key keeps `{n}`; str.format fills it)
    ctx.python -- the interpreter for child stages; argv usually starts `[ctx.python, "-m", "gpt_sovits", ...]`
    ctx.stage_argv("format", "--exp", name) -- that argv with `--root` filled in

No state of one browser session lives here: it is shared by all sessions and must stay read-only after start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from gpt_sovits.jobs import JobRunner
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.ui.i18n import Translator


@dataclass(frozen=True)
class UiContext:
    paths: ProjectPaths
    jobs: JobRunner
    t: Callable[..., str] = field(default_factory=Translator)
    python: str = sys.executable

    @classmethod
    def create(cls, root: str | None = None, lang: str = "en") -> UiContext:
        """The usual context: data root `root` (default: the project folder), jobs in `<root>/logs/.jobs`."""
        paths = ProjectPaths(root) if root else ProjectPaths()
        return cls(paths=paths, jobs=JobRunner(paths.jobs), t=Translator(lang))

    def stage_argv(self, stage: str, *args: object) -> list[str]:
        """argv to run `python -m gpt_sovits <stage> --root <root> <args...>` as a job."""
        return [self.python, "-m", "gpt_sovits", stage, "--root", str(self.paths.root), *(str(a) for a in args)]
