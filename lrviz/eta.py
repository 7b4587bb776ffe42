"""How long a tournament has left, from the pace of its trials so far (no Optuna, no files).

A trial's time is its epochs plus a little around them; a worker's *first* trial also pays the
worker's start-up (importing TensorFlow, loading the data: often longer than the epochs on a
laptop). Averaging whole trials counted that start-up in every trial left: "3 min 40 s left" at
1 of 8 trials of a tournament that ended 75 s later (issue 19). So the pace is measured in parts
(:func:`trial_pace`), and one trial left is estimated as::

    trial_s = overhead_s + first_epoch_s + (epochs - 1) * epoch_s

* ``first_epoch_s``: the median first epoch (every trial builds a new model, so its first epoch
  traces it);
* ``epoch_s``: the median of the later epochs (``epoch_time_s`` of ``history.csv``: training
  and validation of one epoch);
* ``overhead_s``: the median time outside the epochs (duration less the epochs' seconds) of the
  ended trials that were not their worker's first: building the model, evaluating it, writing
  its files. Before any worker has ended a second trial it is 0: a few seconds left out, where
  counting the start-up would add it to every trial.

Trials of an older lrviz recorded no epoch times: the mean whole-trial duration stands in.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from lrviz.trials import TrialRecord

__all__ = ["TrialPace", "trial_pace", "eta_seconds"]


@dataclass(frozen=True)
class TrialPace:
    """Seconds of one trial's parts (see the module docstring); ``trial_s`` is set instead when
    no epoch was timed (the mean whole-trial duration)."""

    first_epoch_s: float | None = None
    epoch_s: float | None = None
    overhead_s: float = 0.0
    trial_s: float | None = None

    def left(self, epochs: int, done: int) -> float:
        """Seconds a trial of ``epochs`` epochs has left after ``done`` of them. Its overhead counts
        whole even under way: most of it comes after the last epoch (evaluating the model, saving
        it and its charts), and the split is not measured."""
        done = min(max(done, 0), epochs)
        if self.first_epoch_s is None:
            return (self.trial_s or 0.0) * (epochs - done) / max(epochs, 1)
        later = self.epoch_s if self.epoch_s is not None else self.first_epoch_s
        first = self.first_epoch_s if done == 0 else 0.0
        return self.overhead_s + first + (epochs - max(done, 1)) * later


def trial_pace(trials: Iterable[TrialRecord]) -> TrialPace | None:
    """The pace of the trials so far (see the module docstring), as soon as any trial, a running
    one included, has timed its first epoch (later epochs and the overhead stand in by the first
    epoch and 0 until measured). Trials that timed no epoch (an older lrviz): the mean duration of
    the completed ones. None while neither is known: there is no honest pace yet."""
    ts = sorted(trials, key=lambda t: t.number)
    ended = [t for t in ts if t.state in ("complete", "pruned") and t.duration_s]
    first = [t.epoch_times[1] for t in ts if 1 in t.epoch_times]
    later = [s for t in ts for e, s in t.epoch_times.items() if e >= 2]
    if not first:
        durations = [t.duration_s for t in ts if t.state == "complete" and t.duration_s]
        return TrialPace(trial_s=sum(durations) / len(durations)) if durations else None
    firsts: dict[str, int] = {}
    for t in ts:
        if t.worker is not None:
            firsts.setdefault(t.worker, t.number)
    outside = [t.duration_s - sum(t.epoch_times.values()) for t in ended  # type: ignore[operator]
               if t.worker is not None and firsts[t.worker] != t.number and _timed(t)]
    outside = [s for s in outside if s >= 0]  # a resumed trial's epochs include its parent's
    return TrialPace(first_epoch_s=statistics.median(first), epoch_s=statistics.median(later) if later else None,
                     overhead_s=statistics.median(outside) if outside else 0.0)


def _timed(t: TrialRecord) -> bool:
    """Every epoch the trial ran has its seconds (its time outside them can be told)."""
    return bool(t.epoch_times) and set(t.epoch_times) == set(range(1, max(t.epoch_times) + 1)) and \
        len(t.epoch_times) >= len(t.curve)


def eta_seconds(trials: Iterable[TrialRecord], pairs: int, epochs: int, parallel: int) -> float | None:
    """Seconds until each of the ``pairs`` (schedule, seed) has a completed or pruned trial: the
    time each one left needs at :func:`trial_pace` (a pair's latest attempt, when running, by the
    epochs it has done), over the trials that can run side by side (``parallel`` workers, at most
    one per pair left). None while :func:`trial_pace` is: no trial has timed its first epoch (nor,
    without epoch times, completed)."""
    ts = sorted(trials, key=lambda t: t.number)
    latest: dict[tuple[str, int], TrialRecord] = {}
    settled: set[tuple[str, int]] = set()
    for t in ts:
        latest[(t.schedule, t.seed)] = t
        if t.state in ("complete", "pruned"):
            settled.add((t.schedule, t.seed))
    n_left = max(pairs - len(settled), 0)
    if n_left == 0:
        return 0.0
    pace = trial_pace(ts)
    if pace is None:
        return None
    done = [len(t.curve) if t.state == "running" else 0 for key, t in latest.items() if key not in settled]
    done += [0] * max(n_left - len(done), 0)  # pairs no trial was made for yet
    side_by_side = max(1, min(parallel, n_left))
    return sum(pace.left(epochs, d) for d in done[:n_left]) / side_by_side
