"""Job kinds: what a run computes. One module per kind, registered here by one line.

=========  =====================================  ================================
kind       module                                 writes
=========  =====================================  ================================
train      :mod:`lrviz.jobs.training`             history.csv, report, model, ...
lr_find    :mod:`lrviz.jobs.lr_find`              lr_find.csv, suggestions.json
tournament :mod:`lrviz.jobs.tournament`           leaderboard.csv, trials.csv, ...
fit        :mod:`lrviz.jobs.fit`                  a user's own fit (lrviz.keras.Dashboard)
=========  =====================================  ================================

Adding a kind: a module with a :class:`lrviz.jobs.base.Job` subclass, and its line in
:data:`JOBS`. The store, the worker and the runs API find it through :func:`job_for`.

A kind with several concerns is a package, one concern a module: :mod:`lrviz.jobs.tournament`
holds ``config`` (its settings), ``job`` (the Job and its run), ``resume``, ``storage`` (Optuna
storage, claim lock, heartbeat), ``study`` (recorded settings, trials, enqueueing), ``pool``
(local worker processes), ``worker`` (the trial worker, ``python -m lrviz.jobs.tournament.worker``)
and ``read`` (the page's read API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrviz.jobs.base import Job, WorkerContext
from lrviz.jobs.fit import FitJob
from lrviz.jobs.lr_find import LRFindJob
from lrviz.jobs.tournament import TournamentJob
from lrviz.jobs.training import TrainingJob

__all__ = ["JOBS", "DEFAULT_KIND", "Job", "WorkerContext", "job_for", "kind_of", "progress_text"]

JOBS: dict[str, type[Job]] = {
    TrainingJob.kind: TrainingJob,
    LRFindJob.kind: LRFindJob,
    TournamentJob.kind: TournamentJob,
    FitJob.kind: FitJob,
}
DEFAULT_KIND = TrainingJob.kind  # runs written before kinds existed are training runs


def kind_of(config: Any) -> str:
    """The kind of a run config (``DEFAULT_KIND`` when absent or unknown)."""
    kind = config.get("kind") if isinstance(config, Mapping) else None
    return kind if isinstance(kind, str) and kind in JOBS else DEFAULT_KIND  # a tampered list is no kind


def job_for(config_or_kind: Any) -> type[Job]:
    """The job class of a config (by its ``kind``) or of a kind name."""
    if isinstance(config_or_kind, str):
        return JOBS.get(config_or_kind, JOBS[DEFAULT_KIND])
    return JOBS[kind_of(config_or_kind)]


def progress_text(status: Mapping[str, Any]) -> str:
    """An active run's progress in words (the store's busy messages use it)."""
    return job_for(kind_of(status)).progress_text(status)
