"""lrviz.eta: a tournament's time left, against estimates worked by hand."""

from __future__ import annotations

import pytest

from lrviz.eta import eta_seconds, trial_pace
from lrviz.trials import TrialRecord

EPOCH_1, LATER = 8.0, 5.0  # s: the first epoch traces the model (every trial), the rest train at a steady pace
TIMES = {1: EPOCH_1, 2: LATER, 3: LATER, 4: LATER}  # 23 s of epochs
START_UP = 45.0  # s: the worker's first trial also imports TensorFlow and loads the data (once per worker)


def _issue_19(**first):
    """The tournament of issue 19 at 1 of 8 trials: 4 schedules x 2 seeds, 4 epochs, 2 workers.
    Worker A's first trial took 68 s, 45 s of them the worker's start-up; worker B's first trial
    is 2 epochs in; 6 trials wait."""
    ts = [TrialRecord(0, "a", 1, "complete", 0.8, {1: .5, 2: .6, 3: .7, 4: .8}, duration_s=START_UP + 23.0,
                      epoch_times=dict(TIMES), worker="A", **first),
          TrialRecord(1, "b", 1, "running", curve={1: .5, 2: .6}, worker="B")]
    ts += [TrialRecord(n, s, seed, "waiting") for n, (s, seed) in
           enumerate([("c", 1), ("d", 1), ("a", 2), ("b", 2), ("c", 2), ("d", 2)], start=2)]
    return ts


def test_the_first_estimate_counts_the_start_up_once_not_in_every_trial():
    """Issue 19: "3 min 40 s left" at 1 of 8 trials, and the tournament finished 75 s later. The
    old estimate took the first trial's 68 s (start-up included) as every trial's pace:
    (7 - 2/4 trials) x 68 s / 2 workers = 221 s. By hand, each trial left takes its epochs, 8 + 3 x 5
    = 23 s: 6 waiting trials x 23 s, plus worker B's 2 epochs left x 5 s, shared by 2 workers."""
    by_hand = (6 * (EPOCH_1 + 3 * LATER) + 2 * LATER) / 2
    assert by_hand == 74.0
    assert eta_seconds(_issue_19(), 8, 4, 2) == pytest.approx(by_hand)
    old = (7 - 2 / 4) * (START_UP + 23.0) / 2
    assert old / by_hand > 2.9  # the error the issue saw


def test_a_trial_overhead_is_measured_on_a_workers_later_trials():
    """Once a worker's second trial ends, its time outside the epochs (building the model,
    evaluating it, writing its files) is known apart from the start-up, and counts per trial."""
    ts = _issue_19()
    ts.append(TrialRecord(8, "c", 1, "complete", 0.7, {1: .5, 2: .6, 3: .7, 4: .7}, duration_s=26.0,
                          epoch_times={1: 7.0, 2: 5.0, 3: 5.0, 4: 6.0}, worker="A"))  # 23 s of epochs + 3 s
    ts = [t for t in ts if t.number != 2]  # trial 8 ran pair (c, 1)
    pace = trial_pace(ts)
    # epoch 1: median of 8 and 7; later epochs: median of 5, 5, 5, 5, 5, 6; overhead: trial 8's 3 s only
    assert (pace.first_epoch_s, pace.epoch_s, pace.overhead_s) == (7.5, 5.0, 3.0)
    by_hand = (5 * (3.0 + 7.5 + 3 * 5.0) + (3.0 + 2 * 5.0)) / 2  # worker B's trial: 2 epochs and its overhead
    assert eta_seconds(ts, 8, 4, 2) == pytest.approx(by_hand)


def test_without_epoch_times_the_whole_trials_set_the_pace():
    """Trials of an older lrviz recorded no epoch times: the mean trial duration stands in."""
    ts = [TrialRecord(0, "a", 1, "complete", 0.8, duration_s=10.0), TrialRecord(1, "b", 1, "complete", 0.8,
                                                                                duration_s=14.0),
          TrialRecord(2, "a", 2, "running", curve={1: 0.5}), TrialRecord(3, "b", 2, "waiting")]
    assert eta_seconds(ts, 4, 4, 1) == pytest.approx((0.75 + 1) * 12)
    assert eta_seconds(ts, 4, 4, 4) == pytest.approx((0.75 + 1) * 12 / 2)  # one worker per trial left
    assert eta_seconds(ts[2:], 4, 4, 1) is None  # nothing finished: no honest pace yet
    assert eta_seconds(ts[:2], 2, 4, 1) == 0.0


def test_the_job_reads_the_pace_from_optunas_trials():
    """End to end from the study: the worker's ``worker`` and ``epoch_time_s`` user attrs and
    Optuna's start and end times make the records the estimate reads (issue 19's case again)."""
    from datetime import datetime, timedelta

    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from lrviz.jobs.tournament import trial_records

    pairs = [(s, seed) for seed in (1, 2) for s in "abcd"]
    dist = {"schedule": CategoricalDistribution(list("abcd")), "seed": CategoricalDistribution([1, 2])}
    t0 = datetime(2026, 12, 7, 12, 0, 0)
    first = create_trial(params={"schedule": "a", "seed": 1}, distributions=dist, value=0.8,
                         intermediate_values={1: .5, 2: .6, 3: .7, 4: .8},
                         user_attrs={"worker": "host:11", "epoch_time_s": list(TIMES.values())})
    first.datetime_start, first.datetime_complete = t0, t0 + timedelta(seconds=START_UP + 23.0)
    running = create_trial(state=TrialState.RUNNING, params={"schedule": "b", "seed": 1}, distributions=dist,
                           intermediate_values={1: .5, 2: .6}, user_attrs={"worker": "host:12"})
    waiting = [create_trial(state=TrialState.WAITING, params={"schedule": s, "seed": seed}, distributions=dist)
               for s, seed in pairs[2:]]
    for n, t in enumerate([first, running, *waiting]):
        t.number = n
    records = trial_records([first, running, *waiting])
    assert [r.worker for r in records[:3]] == ["host:11", "host:12", None]
    assert eta_seconds(records, 8, 4, 2) == pytest.approx((6 * (EPOCH_1 + 3 * LATER) + 2 * LATER) / 2)


def test_eta_is_the_work_left_at_the_pace_of_completed_trials():
    four = {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}
    ts = [TrialRecord(0, "a", 1, "complete", 0.8, four, duration_s=10.0),
          TrialRecord(1, "b", 1, "complete", 0.8, four, duration_s=14.0),
          TrialRecord(2, "a", 2, "running", curve={1: 0.5}),  # a quarter done
          TrialRecord(3, "b", 2, "failed", curve={1: 0.4, 2: 0.5}),  # killed: its retry (4) starts over
          TrialRecord(4, "b", 2, "waiting"),
          TrialRecord(5, "c", 1, "pruned", curve={1: 0.2})]
    # 6 pairs (a, b, c x seeds 1, 2), 3 settled; left 3 - 1/4 = 2.75 trials of 12 s on average
    assert eta_seconds(ts, 6, 4, 2) == pytest.approx(2.75 * 12 / 2)
    assert eta_seconds(ts, 6, 4, 8) == pytest.approx(2.75 * 12 / 3)  # at most one worker per trial left
    assert eta_seconds(ts, 6, 4, 1) == pytest.approx(2.75 * 12)
    assert eta_seconds(ts[2:], 6, 4, 2) is None  # no trial completed: no honest pace yet
    assert eta_seconds(ts[:2], 2, 4, 1) == 0.0
