"""A tournament's verdict: whether the winner's lead over the runner-up is more than the luck of
the seed (decided only with :data:`MIN_SEEDS` seeds and a paired t-test below :data:`ALPHA`; see
:class:`Verdict` for the rule). Pure: it reads :func:`lrviz.tournament.leaderboard` rows and the
:class:`~lrviz.trials.TrialRecord` they were made from.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrviz.errors import FieldError
from lrviz.trials import TrialRecord

__all__ = ["ALPHA", "MIN_SEEDS", "POWER", "SEEDS_SHOWN", "Verdict", "verdict"]

# The verdict's rule, stated once (README "Tournament" and tests/test_verdict_simulation.py).
ALPHA = 0.05  # level of the test: between equal schedules a "clear win" is called at most this often
MIN_SEEDS = 3  # completed seeds both leaders need (paired: seeds both completed) before any verdict
POWER = 0.8  # the chance of a verdict that the "seeds needed" estimate aims at
SEEDS_SHOWN = 100  # an estimate above this reads "more than 100 seeds"


@dataclass
class Verdict:
    """Whether the winner's lead over the runner-up is more than the luck of the seed.

    **The rule.** ``decisive`` is True only when the data can carry it: at least ``min_seeds``
    (:data:`MIN_SEEDS`) completed seeds for both leaders, *and* a two-sided t-test of their
    difference below ``alpha`` (:data:`ALPHA`), *and* the tested difference in the winner's
    favour (it agrees with the lead). A tournament's trials share their seeds (the same initial
    weights and data order for every schedule), so the test is **paired** over the seeds both
    completed::

        d = [a[seed] - b[seed] for seed in seeds both completed]      # winner minus runner-up
        t = mean(d) / (stdev(d) / sqrt(n));  p = 2 * t_sf(|t|, n - 1)  # scipy.stats.ttest_rel

    When fewer than ``min_seeds`` seeds are shared but each leader has ``min_seeds`` of its own
    (trials pruned, failed or still running on different seeds), Welch's t-test
    (``ttest_ind(equal_var=False)``) on all completed values stands in: it takes the values as
    independent, and where the seeds they share correlate positively (the usual case: a seed
    that suits one schedule tends to suit the other) that only makes it more cautious. Otherwise
    nothing is tested. ``decisive`` is None before any test (too few seeds), False when tested and not
    decided. With no spread at all (every seed differs by the same margin: accuracies are
    counts) the exact test stands in for the infinite t: a sign test, ``p = 2 * 0.5**n``
    (paired), or a rank test (Welch); identical values give p = 1.

    **Seeds needed** (``seeds_needed``, None once decided or when nothing estimates it): the
    seeds at which a difference the size of the observed one would be found with probability
    :data:`POWER`, from the observed mean difference ``m`` and the sd ``s`` of one seed's
    difference (paired; ``sqrt(sa**2 + sb**2)`` unpaired)::

        n = ceil(((z(1 - alpha/2) + z(POWER)) * s / m) ** 2 + z(1 - alpha/2) ** 2 / 2)

    (the normal approximation plus Guenther's small-sample term), at least ``min_seeds`` and
    more than the seeds already tested; with no spread, the fewest seeds the sign test can decide
    with (6 at alpha 0.05). Rough by nature: ``m`` and ``s`` come from few seeds. The text says
    "more than 100 seeds" above :data:`SEEDS_SHOWN`.

    ``lead``: difference of the leaderboard means (all completed seeds); ``spread``: the larger
    of the two sample stds (information only, no longer part of the rule); ``mean_diff``: the
    difference tested (the paired mean, or ``lead`` for Welch); ``test``: ``"paired t-test"``,
    ``"Welch's t-test"`` or None; ``n_pairs``: seeds both completed; ``n_winner``,
    ``n_runner_up``: completed seeds of each."""

    winner: str | None
    runner_up: str | None
    lead: float | None
    spread: float | None
    decisive: bool | None
    p_value: float | None
    text: str
    test: str | None = None
    n_pairs: int = 0
    n_winner: int = 0
    n_runner_up: int = 0
    mean_diff: float | None = None
    seeds_needed: int | None = None
    alpha: float = ALPHA
    min_seeds: int = MIN_SEEDS


def verdict(rows: Sequence[Mapping[str, Any]], trials: Iterable[TrialRecord] = (), *, alpha: float = ALPHA,
            min_seeds: int = MIN_SEEDS) -> Verdict:
    """The verdict on a :func:`leaderboard` (see :class:`Verdict` for the rule); ``trials``: the
    records it was made from (the test needs each seed's value; without them nothing is tested).
    ``FieldError`` for an ``alpha`` outside (0, 1) or ``min_seeds`` below 2."""
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise FieldError("alpha", "a number > 0 and < 1", alpha)
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 2:
        raise FieldError("min_seeds", "an integer >= 2", min_seeds)
    ranked = [r for r in rows if r.get("rank") is not None]
    if not ranked:
        return Verdict(None, None, None, None, None, None, "No completed trial yet.", alpha=alpha, min_seeds=min_seeds)
    top = ranked[0]
    if len(ranked) == 1:
        return Verdict(top["schedule"], None, None, None, None, None,
                       f"{top['schedule']} is the only one ranked: nothing to compare it with yet.", alpha=alpha,
                       min_seeds=min_seeds)
    second = ranked[1]
    lead = float(top["mean_val_accuracy"] - second["mean_val_accuracy"])
    stds = [top["std_val_accuracy"], second["std_val_accuracy"]]
    spread = None if any(s is None or math.isnan(s) for s in stds) else float(max(stds))
    trials = list(trials)
    a, b = _finals(trials, top["schedule"]), _finals(trials, second["schedule"])
    shared = sorted(set(a) & set(b))
    v = Verdict(top["schedule"], second["schedule"], lead, spread, None, None, "", n_pairs=len(shared),
                n_winner=len(a), n_runner_up=len(b), alpha=alpha, min_seeds=min_seeds)
    if len(shared) >= min_seeds:
        v.test, diffs = "paired t-test", [a[s] - b[s] for s in shared]
        v.mean_diff, sd = statistics.fmean(diffs), statistics.stdev(diffs)
        n = len(diffs)
        v.p_value = _t_p(v.mean_diff, sd / math.sqrt(n), n - 1, exact=2 * 0.5**n)  # sign test: n alike
        m, tested = v.mean_diff, n
    elif len(a) >= min_seeds and len(b) >= min_seeds:
        v.test, v.mean_diff = "Welch's t-test", statistics.fmean(a.values()) - statistics.fmean(b.values())
        va, vb = statistics.variance(a.values()) / len(a), statistics.variance(b.values()) / len(b)
        df = (va + vb) ** 2 / ((va**2 / (len(a) - 1)) + (vb**2 / (len(b) - 1))) if va + vb > 0 else 1.0
        v.p_value = _t_p(v.mean_diff, math.sqrt(va + vb), df, exact=2 / math.comb(len(a) + len(b), len(a)))
        m, sd, tested = v.mean_diff, _unpaired_sd(a, b), min(len(a), len(b))
    else:  # nothing tested: estimate from what there is (paired if 2 seeds are shared)
        diffs = [a[s] - b[s] for s in shared]
        m, sd = (statistics.fmean(diffs), statistics.stdev(diffs)) if len(diffs) >= 2 else (lead, _unpaired_sd(a, b))
        tested = 0
    # the tested difference and the means point different ways (seeds one of them lacks): no verdict
    disagree = v.test is not None and abs(v.mean_diff) > _NO_SPREAD and (v.mean_diff > 0) != (lead > 0)
    if v.test is not None and v.p_value is not None:
        v.decisive = v.p_value < alpha and not disagree and lead > 0
    if not v.decisive and not disagree:
        v.seeds_needed = _seeds_needed(m, sd, alpha, max(min_seeds, tested + 1))
    v.text = _verdict_text(v, disagree, m, sd)
    return v


def _finals(trials: Iterable[TrialRecord], schedule: str) -> dict[int, float]:
    """Seed -> final validation accuracy of the schedule's completed trials (a seed completed
    twice, after a retry or a resume: its latest trial)."""
    out: dict[int, tuple[int, float]] = {}
    for t in trials:
        if t.schedule == schedule and t.state == "complete" and t.value is not None and math.isfinite(t.value):
            if t.seed not in out or t.number > out[t.seed][0]:
                out[t.seed] = (t.number, float(t.value))
    return {seed: value for seed, (_, value) in out.items()}


def _unpaired_sd(a: Mapping[int, float], b: Mapping[int, float]) -> float | None:
    """The sd of one seed's difference if the two were independent: sqrt(var a + var b)."""
    if len(a) < 2 or len(b) < 2:
        return None
    return math.sqrt(statistics.variance(a.values()) + statistics.variance(b.values()))


def _t_p(diff: float, se: float, df: float, *, exact: float) -> float | None:
    """Two-sided p of the t statistic ``diff / se`` with ``df`` degrees of freedom (None without
    scipy). With no spread at all (``se`` below float noise: accuracies are counts, so every seed
    can differ by the same margin) t is infinite and says nothing about the luck of the seed; the
    exact test of the same data stands in: ``exact`` (a sign test, ``2 * 0.5**n``, when paired; a
    rank test, ``2 / comb(na + nb, na)``, when not), and 1 when there is no difference."""
    if se <= _NO_SPREAD * max(1.0, abs(diff)):
        return 1.0 if abs(diff) <= _NO_SPREAD else min(1.0, exact)
    try:
        from scipy import stats
    except ImportError:  # scikit-learn requires scipy: not expected
        return None
    return float(min(1.0, 2 * stats.t.sf(abs(diff / se), df)))


_NO_SPREAD = 1e-9  # a spread or difference below this is float noise (accuracies step by >= 1e-6)


def _seeds_needed(diff: float | None, sd: float | None, alpha: float, at_least: int) -> int | None:
    """Seeds at which a true difference ``diff`` with per-seed sd ``sd`` is found with probability
    POWER (see :class:`Verdict`); with no spread, the seeds a sign test needs; None when there is
    nothing to estimate from or no number would do (no difference)."""
    if diff is None or sd is None or not math.isfinite(diff) or not math.isfinite(sd) or abs(diff) <= _NO_SPREAD:
        return None
    if sd <= _NO_SPREAD * max(1.0, abs(diff)):
        return max(at_least, math.floor(math.log2(2 / alpha)) + 1)  # the fewest n with 2 * 0.5**n < alpha
    z = statistics.NormalDist().inv_cdf
    za = z(1 - alpha / 2)
    n = ((za + z(POWER)) * sd / abs(diff)) ** 2 + za**2 / 2
    return max(at_least, math.ceil(n))


def _verdict_text(v: Verdict, disagree: bool, diff: float | None, sd: float | None) -> str:
    """One statement of the verdict; each sentence follows from the fields, so none contradicts another."""
    n_w, n_r = v.n_winner, v.n_runner_up
    seeds = f"{_seeds(n_w)} each" if n_w == n_r else f"{n_w} and {_seeds(n_r)}"
    if v.lead == 0:
        head = f"{v.winner} and {v.runner_up} are level on mean final validation accuracy ({seeds})"
    else:
        head = f"{v.winner} leads {v.runner_up} by {v.lead:.4f} in mean final validation accuracy ({seeds})"
    paired = v.test == "paired t-test"
    test = ("a paired t-test over the " + _seeds(v.n_pairs) + " both completed") if paired else \
        "Welch's t-test over all completed seeds"
    if v.decisive:
        mean = "" if not paired or abs(v.mean_diff - v.lead) < 5e-5 else f", {v.mean_diff:.4f} on average"
        return f"{head}: a clear win ({test}{mean}: p={v.p_value:.3g}, below {v.alpha:g})."
    if v.test is None:
        why = f"too few seeds ({v.n_pairs} of the {v.min_seeds} that a verdict needs, counting seeds both completed)"
    elif disagree:
        p = "" if v.p_value is None else f" gives p={v.p_value:.3g}"
        why = f"{test}{p} for a difference of {v.mean_diff:+.4f}, which the lead does not share"
    elif v.p_value is None:
        why = "no t-test available (scipy is not installed)"
    else:
        why = f"{test} gives p={v.p_value:.3g}, not below {v.alpha:g}"
    text = f"{head}. Not decided yet: {why}."
    if disagree or (v.p_value is None and v.test is not None):
        return text
    if v.seeds_needed is not None and v.seeds_needed <= SEEDS_SHOWN:
        return text + f" About {v.seeds_needed} seeds would decide a difference this size, if it is real."
    level = diff is not None and abs(diff) <= _NO_SPREAD
    if v.seeds_needed is not None or (level and sd and sd > _NO_SPREAD):
        return text + f" More than {SEEDS_SHOWN} seeds would be needed to decide a difference this small."
    if level and sd is not None:
        return text + " They are level on every seed: no number of seeds would separate them."
    return text + f" Run at least {v.min_seeds} seeds of each."


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"
