"""lrviz.verdict: whether a tournament's lead is more than the luck of the seed. The tests'
p-values are scipy's (``ttest_rel``, ``ttest_ind``), computed here; seeds needed are worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tournament_fakes import FINAL, finished_trials

from lrviz.tournament import leaderboard
from lrviz.trials import TrialRecord
from lrviz.verdict import verdict


def _verdict(final, extra=()):
    trials = finished_trials(final, extra)
    return verdict(leaderboard(trials, list(final)), trials)


def test_the_verdict_tests_the_two_leaders_paired_over_their_seeds():
    v = _verdict(FINAL)
    first, second = sorted(FINAL, key=lambda k: -np.mean(FINAL[k]))[:2]
    assert (v.winner, v.runner_up) == (first, second) == ("A", "C")
    assert v.lead == pytest.approx(np.mean(FINAL["A"]) - np.mean(FINAL["C"]))
    assert v.spread == pytest.approx(max(np.std(FINAL["A"], ddof=1), np.std(FINAL["C"], ddof=1)))
    assert (v.test, v.n_pairs, v.n_winner, v.n_runner_up, v.alpha, v.min_seeds) == ("paired t-test", 3, 3, 3, 0.05, 3)
    assert v.p_value == pytest.approx(stats.ttest_rel(FINAL["A"], FINAL["C"]).pvalue, rel=1e-9)  # 0.899
    assert v.mean_diff == pytest.approx(np.mean(np.subtract(FINAL["A"], FINAL["C"])))
    assert v.decisive is False and "a clear win" not in v.text
    assert "Not decided yet: a paired t-test over the 3 seeds both completed gives p=0.899, not below 0.05" in v.text
    assert "More than 100 seeds would be needed" in v.text  # lead 0.0033 against a per-seed sd of 0.04

    clear = {"A": [0.95, 0.965, 0.955], "B": [0.80, 0.81, 0.805]}
    v2 = _verdict(clear)
    assert v2.p_value == pytest.approx(stats.ttest_rel(clear["A"], clear["B"]).pvalue, rel=1e-9)
    assert v2.p_value < 0.05 and v2.decisive is True and v2.seeds_needed is None
    assert v2.text.startswith("A leads B by 0.1517") and "a clear win (a paired t-test over the 3 seeds" in v2.text
    assert "Not decided" not in v2.text


def test_two_seeds_are_never_decisive():
    for final in ({"A": [0.99, 0.98], "B": [0.10, 0.11]}, {"A": [0.9, 0.8], "B": [0.8, 0.7]}):
        v = _verdict(final)
        assert v.decisive is None and v.p_value is None and v.test is None
        assert "Not decided yet: too few seeds (2 of the 3 that a verdict needs" in v.text
        assert "a clear win" not in v.text


def test_the_issues_example_is_not_decided():
    """The tutorial preset, 5 epochs, 2 seeds, once read: "Time-based leads Constant by 0.1194, more
    than the spread (0.1108): a clear win. Welch's t-test p=0.352" (decisive). Two seeds with that
    lead and that spread:"""
    final = {"Time-based": [0.6, 0.7567], "Constant": [0.5236, 0.5943]}
    assert np.mean(final["Time-based"]) - np.mean(final["Constant"]) == pytest.approx(0.1194)
    assert np.std(final["Time-based"], ddof=1) == pytest.approx(0.1108, abs=1e-4)
    v = _verdict(final)
    assert v.decisive is None and "a clear win" not in v.text
    assert v.text.startswith("Time-based leads Constant by 0.1194 in mean final validation accuracy (2 seeds each). "
                             "Not decided yet: too few seeds (2 of the 3")
    # seeds needed, by hand: paired differences 0.0764 and 0.1624 (mean 0.1194, sd 0.06081):
    # ((1.959964 + 0.841621) * 0.06081 / 0.1194) ** 2 + 1.959964 ** 2 / 2 = 2.036 + 1.921 -> 4
    assert v.seeds_needed == 4 and "About 4 seeds would decide a difference this size" in v.text


def test_seeds_needed_by_hand():
    # four paired differences with mean 0.01 and sd 0.02: t = 1, p = 0.39, not decided;
    # ((1.959964 + 0.841621) * 0.02 / 0.01) ** 2 + 1.959964 ** 2 / 2 = 31.396 + 1.921 = 33.3 -> 34
    steps = np.array([-1.5, -0.5, 0.5, 1.5]) / np.std([-1.5, -0.5, 0.5, 1.5], ddof=1)
    v = _verdict({"A": list(0.8 + 0.01 + 0.02 * steps), "B": [0.8] * 4})
    assert v.p_value == pytest.approx(2 * stats.t.sf(1.0, 3)) and v.decisive is False
    assert v.seeds_needed == 34 and "About 34 seeds would decide" in v.text
    # a gap of 0.001 against the same sd: (2.801585 * 20) ** 2 + 1.92 = 3141 -> "more than 100"
    v2 = _verdict({"A": list(0.8 + 0.001 + 0.02 * steps), "B": [0.8] * 4})
    assert v2.seeds_needed == 3142 and "More than 100 seeds would be needed" in v2.text


def test_no_spread_is_judged_by_the_exact_test_not_an_infinite_t():
    # the same margin on every seed (accuracies are counts): the sign test, 2 * 0.5 ** n
    v3 = _verdict({"A": [0.9, 0.8, 0.7], "B": [0.8, 0.7, 0.6]})
    assert v3.p_value == pytest.approx(0.25) and v3.decisive is False
    assert "About 6 seeds would decide" in v3.text  # the fewest n with 2 * 0.5 ** n < 0.05
    v6 = _verdict({"A": [0.9, 0.8, 0.7, 0.9, 0.8, 0.7], "B": [0.8, 0.7, 0.6, 0.8, 0.7, 0.6]})
    assert v6.p_value == pytest.approx(2 * 0.5**6) and v6.decisive is True
    level = _verdict({"A": [0.9, 0.8, 0.7], "B": [0.9, 0.8, 0.7]})
    assert level.p_value == 1.0 and level.decisive is False and level.seeds_needed is None
    assert level.text.startswith("A and B are level on mean final validation accuracy (3 seeds each)")
    assert "no number of seeds would separate them" in level.text


def test_welch_stands_in_when_the_leaders_share_too_few_seeds():
    trials = [TrialRecord(k, "A", seed, "complete", v) for k, (seed, v) in enumerate([(1, 0.9), (2, 0.8), (3, 0.7)])]
    trials += [TrialRecord(10 + k, "B", seed, "complete", v) for k, (seed, v) in enumerate([(3, 0.69), (4, 0.6),
                                                                                              (5, 0.7)])]
    trials += [TrialRecord(20, "B", 1, "pruned"), TrialRecord(21, "A", 4, "running")]
    v = verdict(leaderboard(trials, ["A", "B"]), trials)
    assert (v.test, v.n_pairs, v.n_winner, v.n_runner_up) == ("Welch's t-test", 1, 3, 3)
    assert v.p_value == pytest.approx(stats.ttest_ind([0.9, 0.8, 0.7], [0.69, 0.6, 0.7], equal_var=False).pvalue)
    assert v.decisive is False and "Welch's t-test over all completed seeds gives p=0.127" in v.text


def test_a_paired_difference_against_the_lead_is_not_a_win():
    # A leads on its means only through two seeds B has not completed; on the shared seeds B is ahead
    v = _verdict({"A": [0.5, 0.6, 0.7, 0.99, 0.99], "B": [0.52, 0.62, 0.72]})
    assert v.lead > 0 and v.mean_diff == pytest.approx(-0.02) and v.decisive is False
    assert "a clear win" not in v.text and "which the lead does not share" in v.text


def test_the_latest_trial_of_a_seed_counts_and_one_seed_or_none_decides_nothing():
    # seed 1 of A completed twice (a retry): its latest trial, 0.95, pairs with B's seed 1
    extra = [TrialRecord(99, "A", 1, "complete", 0.95)]
    v = _verdict({"A": [0.91, 0.95, 0.93], "B": [0.80, 0.84, 0.79]}, extra)
    assert v.n_pairs == 3 and v.mean_diff == pytest.approx(np.mean([0.95 - 0.80, 0.95 - 0.84, 0.93 - 0.79]))
    one = _verdict({"A": [0.9], "B": [0.8]})
    assert one.decisive is None and one.p_value is None and one.lead == pytest.approx(0.1)
    assert "(1 seed each)" in one.text and one.text.endswith("Run at least 3 seeds of each.")
    assert verdict(leaderboard([], ["A"])).winner is None
    alone = _verdict({"A": [0.9, 0.8, 0.7]})
    assert alone.decisive is None and "only one ranked" in alone.text


def test_the_verdict_is_json_with_the_fields_callers_read():
    import json
    from dataclasses import asdict

    for final in (FINAL, {"A": [0.9], "B": [0.8]}, {"A": [0.9, 0.8, 0.7], "B": [0.9, 0.8, 0.7]}):
        d = json.loads(json.dumps(asdict(_verdict(final)), allow_nan=False))
        assert {"text", "decisive", "p_value", "lead", "spread", "test", "n_pairs", "seeds_needed", "alpha",
                "min_seeds"} <= set(d)
