"""Which model version a training run trains: the one asked for, else the one 1A formatted the experiment for.

Both trainers (and the estimate) call :func:`training_version` before anything heavy, so a run that cannot work
stops with one sentence that says what to do; a run of another version than the formatted one is allowed (the data
may serve both) but warned about through :func:`version_note`.
"""

from __future__ import annotations

from gpt_sovits.dataset.readers import formatted_version
from gpt_sovits.dataset.steps import SV_VERSIONS
from gpt_sovits.paths import ExperimentPaths
from gpt_sovits.train.control import EXIT_BAD_DATA, TrainingError

SOVITS_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")
GPT_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")  # v2Pro/v2ProPlus finetune the v2 GPT (upstream's s1v3.ckpt)


def _has_sv(exp: ExperimentPaths) -> bool:
    return exp.sv_dir.is_dir() and any(exp.sv_dir.glob("*.pt"))


def training_version(exp: ExperimentPaths, requested: str | None, choices: tuple[str, ...]) -> str:
    """``requested``, or (None) the version 1A recorded for the experiment (v2 when it recorded none).

    Refused: a version outside ``choices``; no version given for an experiment with speaker embeddings but no
    recorded version (v2Pro or v2ProPlus: the data cannot tell). The trainers check the data itself (v2Pro runs need
    ``7-sv_cn/``) and the pretrained files (their version must be the run's).
    """
    recorded = formatted_version(exp)
    if requested is None:
        if recorded is None and _has_sv(exp):
            raise TrainingError(f"The experiment {exp.name!r} has speaker embeddings (7-sv_cn) but no recorded model "
                                "version: pass --version v2Pro or --version v2ProPlus.", EXIT_BAD_DATA)
        requested = recorded or "v2"
    if requested not in choices:
        raise TrainingError(f"This trainer trains {', '.join(choices)} models, not {requested!r}.", EXIT_BAD_DATA)
    return requested


def version_note(exp: ExperimentPaths, version: str, trainer: str) -> str | None:
    """A warning when the run's version is not the one 1A formatted the experiment for (None when it is, or when 1A
    recorded none). Not refused: the SoVITS data of v2Pro and v2ProPlus are the same (and a superset of v2's); the
    GPT's semantic tokens were made with the formatted version's pretrained G, which may use another codebook."""
    recorded = formatted_version(exp)
    if recorded is None or recorded == version:
        return None
    what = ("its semantic tokens come from the " + recorded + " pretrained SoVITS G" if trainer == "gpt"
            else "its features were made for " + recorded)
    return (f"the experiment {exp.name!r} was formatted (1A) for {recorded} and this run trains {version}: {what}. "
            f"If that is not what you meant, format it again with {version} or train it as {recorded}.")
