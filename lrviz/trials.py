"""One tournament trial as the leaderboard, the verdict and the time-left estimate read it.

The job builds these from Optuna's trials (:func:`lrviz.jobs.tournament.trial_records`); the
pure modules that read them (:mod:`lrviz.tournament`, :mod:`lrviz.verdict`, :mod:`lrviz.eta`)
need no Optuna, no Keras and no files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrialRecord"]


@dataclass
class TrialRecord:
    """One trial as the leaderboard sees it (built from an Optuna trial by the job).

    ``state``: ``complete``, ``running``, ``waiting``, ``pruned``, ``failed`` or ``stopped``;
    ``value``: the final-epoch validation accuracy (complete trials); ``curve``: validation
    accuracy by 1-based epoch; ``retry``: this trial re-runs a failed one; ``epoch_times``:
    seconds of each 1-based epoch (``history.csv``'s ``epoch_time_s``; empty when unknown);
    ``worker``: the process that ran it (``host:pid``; None when unknown): a worker's first trial
    also paid its start-up."""

    number: int
    schedule: str
    seed: int
    state: str
    value: float | None = None
    curve: dict[int, float] = field(default_factory=dict)
    duration_s: float | None = None
    retry: bool = False
    run_id: str | None = None
    epoch_times: dict[int, float] = field(default_factory=dict)
    worker: str | None = None
