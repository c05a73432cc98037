"""1A dataset formatting: a `.list` → `logs/<exp>/` features in upstream's layout and file formats.

    from gpt_sovits.dataset import FormatOptions, format_dataset
    report = format_dataset(FormatOptions(list_path=Path("datasets/me/me.list"), exp_name="me", root=Path(".")))
    print(report.summary()); report.succeeded; report.warnings

Modules: `items` (the list's lines, basename collisions), `keys`/`hashing`/`manifest` (what must be recomputed),
`audio_prep` (upstream's peak mix and loudness filter), `steps` (per-line work of 1Aa/1Ab/1Ac), `parallel` (worker
processes), `outputs` (file formats), `format` (the orchestration and report), `cli` (`python -m gpt_sovits format`).
"""

from gpt_sovits.dataset.format import (
    FormatOptions,
    FormatReport,
    LineFailure,
    StepReport,
    format_dataset,
    format_hubert,
    format_semantic,
    format_text,
    parse_steps,
)
from gpt_sovits.dataset.items import FormatError

__all__ = [
    "FormatError", "FormatOptions", "FormatReport", "LineFailure", "StepReport", "format_dataset", "format_hubert",
    "format_semantic", "format_text", "parse_steps",
]
