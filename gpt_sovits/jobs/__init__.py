"""The job runner: long stages run as child processes with a folder each (state, log, progress events)."""

from gpt_sovits.jobs.runner import (
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    Job,
    JobConflict,
    JobError,
    JobProgress,
    JobRunner,
    read_log_tail,
)

__all__ = [
    "FAILED", "RUNNING", "STOPPED", "SUCCEEDED",
    "Job", "JobConflict", "JobError", "JobProgress", "JobRunner", "read_log_tail",
]
