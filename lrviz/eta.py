"""How long a tournament has left, from the pace of its trials so far (no Optuna, no files)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from lrviz.trials import TrialRecord

__all__ = ["eta_seconds"]


def eta_seconds(trials: Iterable[TrialRecord], pairs: int, epochs: int, parallel: int) -> float | None:
    """Seconds until each of the ``pairs`` (schedule, seed) has a completed or pruned trial, at the
    pace of the trials completed so far: the work left, in trials (a pair's latest attempt counts
    by the epochs it has done), times their mean duration (start-up, training and evaluation
    included), over the trials that can run side by side (``parallel`` workers, at most one per
    trial left). None before any trial has completed: there is no honest pace yet."""
    ts = sorted(trials, key=lambda t: t.number)
    latest: dict[tuple[str, int], TrialRecord] = {}
    settled: set[tuple[str, int]] = set()
    for t in ts:
        latest[(t.schedule, t.seed)] = t
        if t.state in ("complete", "pruned"):
            settled.add((t.schedule, t.seed))
    left = float(max(pairs - len(settled), 0))
    for key, t in latest.items():
        if key not in settled and t.state == "running":
            left -= min(len(t.curve), epochs) / max(epochs, 1)
    if left <= 0:
        return 0.0
    durations = [t.duration_s for t in ts if t.state == "complete" and t.duration_s]
    if not durations:
        return None
    side_by_side = max(1, min(parallel, math.ceil(left)))
    return left * (sum(durations) / len(durations)) / side_by_side

