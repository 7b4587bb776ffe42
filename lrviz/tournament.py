"""A schedule tournament, the pure part: which schedules, and who won.

A tournament trains MiniVGGNet once per (schedule, seed) and ranks the schedules by their
mean final validation accuracy over the seeds (the package :mod:`lrviz.jobs.tournament` runs it on
Optuna).
This module holds what needs no Optuna, no Keras and no files:

* :func:`parse_spec` reads ``'step:factor=0.5,drop_every=5'`` into a schedule config, and a
  grid ``'step:factor=0.25|0.5|0.75,drop_every=5|10'`` into one config per combination
  (:func:`grid` does the same from Python);
* :data:`PRESETS`: ``tutorial`` is the four schedules of the tutorial over 40 epochs;
* :func:`leaderboard` turns trial records into one row per schedule; :func:`verdict` says
  whether the winner's lead is more than the luck of the seed: decided only with
  :data:`MIN_SEEDS` seeds and a paired t-test below :data:`ALPHA` (see :class:`Verdict`).

**Leaderboard statistics.** A schedule's score is over its *completed* trials (pruned, failed
and stopped trials do not count): ``mean_val_accuracy`` = mean of the final-epoch validation
accuracies, ``std_val_accuracy`` = their sample standard deviation (``ddof=1``, NaN with a
single seed); ``rank`` 1 = highest mean (ties share the smaller rank; schedules without a
completed trial have no rank and come last).

**Time to accuracy.** Per schedule, over its completed seeds: a seed *reaches* the target
``t`` at the first (1-based) epoch ``e`` whose validation accuracy is ``>= t`` (less
:data:`REACHED_SLACK`), and takes the seconds of epochs 1..e (``epoch_time_s`` of
``history.csv``: each epoch's training and validation, not the start-up)::

    e = min(k for k in curve if curve[k] >= t - REACHED_SLACK);  s = sum(times[k] for k in 1..e)

``seeds_reached`` = how many seeds reached it; ``epochs_to_target`` / ``seconds_to_target`` =
the means of ``e`` / ``s`` over those seeds (seconds over the seeds whose every epoch up to ``e``
has a time); empty (NaN) when no seed reached it, which the page and the CLI say as "not reached".
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lrviz.errors import FieldError
from lrviz.schedules import REGISTRY, Schedule

__all__ = ["PRESETS", "BOOK_ACCURACY", "LEADERBOARD_COLUMNS", "ALPHA", "MIN_SEEDS", "TrialRecord", "Verdict",
           "eta_seconds", "parse_spec", "leaderboard_columns", "TARGET_ACCURACY", "default_target", "time_to_target",
           "reached_text",
           "grid", "schedule_labels", "preset", "book_accuracy", "leaderboard", "verdict", "winner_schedule",
           "trial_pairs"]

# What the book reports for MiniVGGNet on the CIFAR-10 test set (40 epochs, batch 64, SGD 0.01
# Nesterov): step decay F=0.25 -> 0.75, F=0.5 -> 0.78; Keras 2 time-based decay -> about 0.83.
_STEP = {"lr": 0.01, "drop_every": 5}
PRESETS: dict[str, dict[str, Any]] = {
    "tutorial": {
        "schedules": [
            {"name": "constant", "params": {"lr": 0.01}},
            {"name": "time_keras2", "params": {"lr": 0.01, "decay": 0.01 / 40}},
            {"name": "step", "params": {**_STEP, "factor": 0.25}},
            {"name": "step", "params": {**_STEP, "factor": 0.5}},
        ],
        "epochs": 40,
    },
}
BOOK_ACCURACY: dict[str, float] = {
    Schedule.from_config(PRESETS["tutorial"]["schedules"][1]).label(): 0.83,
    Schedule.from_config(PRESETS["tutorial"]["schedules"][2]).label(): 0.75,
    Schedule.from_config(PRESETS["tutorial"]["schedules"][3]).label(): 0.78,
}

LEADERBOARD_COLUMNS = ["rank", "schedule", "mean_val_accuracy", "std_val_accuracy", "trials", "best_epoch",
                       "min_val_accuracy", "max_val_accuracy", "running", "waiting", "pruned", "failed", "retried",
                       "stopped", "mean_time_s", "target_accuracy", "seeds_reached", "epochs_to_target",
                       "seconds_to_target", "notes", "schedule_index"]
# The target a tournament times its schedules to when it names none (see TARGET_ACCURACY's note).
TARGET_ACCURACY: dict[str, float] = {"digits": 0.95, "cifar10": 0.70}
REACHED_SLACK = 1e-6  # Keras reports accuracy as float32: 95 of 100 right reads 0.949999988, which reached 0.95



def leaderboard_columns(dataset: str = "digits") -> list[str]:
    """The columns of ``leaderboard.csv``: :data:`LEADERBOARD_COLUMNS`, and ``book_accuracy``
    on CIFAR-10 (the book's figures are for its test set)."""
    return [*LEADERBOARD_COLUMNS, *(["book_accuracy"] if dataset == "cifar10" else [])]


_PAIR = re.compile(r",\s*(?=[A-Za-z_]\w*\s*=)")  # a comma that starts the next name=value


# --------------------------------------------------------------------------- which schedules


def parse_spec(spec: str) -> list[dict[str, Any]]:
    """Schedule configs from ``NAME[:param=value,...]``; ``a|b|c`` as a value makes a grid.

    Lists (piecewise ``boundaries``, ``values``) keep their commas:
    ``'piecewise:boundaries=10,20,values=0.01,0.005,0.001'``. Flags take ``true``/``false``.

        >>> [c["params"]["factor"] for c in parse_spec("step:factor=0.25|0.5,drop_every=5")]
        [0.25, 0.5]

    ``FieldError`` (field ``schedule`` or the parameter) for an unknown name, a malformed pair
    or a bad value.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise FieldError("schedule", "a spec NAME[:param=value,...]", spec)
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if name not in REGISTRY:
        raise FieldError("schedule", f"one of {', '.join(REGISTRY)}", name)
    axes: dict[str, list[str]] = {}
    for pair in _PAIR.split(rest.strip()) if rest.strip() else []:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise FieldError("schedule", "name=value pairs separated by commas (e.g. step:factor=0.5,drop_every=5)",
                             spec)
        if key in axes:
            raise FieldError("schedule", f"a spec that gives `{key}` once", spec)
        axes[key] = [v.strip() for v in value.split("|")]
    return grid(name, axes)


MAX_TRIALS = 1000  # schedules x seeds of one tournament: 1,000 trials of 40 CIFAR epochs are ~40,000 GPU-minutes


def grid(name: str, axes: Mapping[str, Sequence[Any]] | None = None, **fixed: Any) -> list[dict[str, Any]]:
    """One validated schedule config per combination of ``axes`` (the first axis varies slowest),
    with ``fixed`` parameters in each: ``grid("step", {"factor": [0.25, 0.5, 0.75],
    "drop_every": [5, 10]})`` gives 6 step decays."""
    axes = {k: list(v) for k, v in (axes or {}).items()}
    for k, values in axes.items():
        if not values:
            raise FieldError(k, "a non-empty list of values", values)
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_TRIALS:  # refused before a single config is built (a grid of 10^8 would take minutes)
        raise FieldError("schedules", f"a grid of at most {MAX_TRIALS:,} schedules", size,
                         message=f"Argument `schedules` must be a grid of at most {MAX_TRIALS:,} schedules (a "
                                 f"tournament has at most {MAX_TRIALS:,} trials). Received: "
                                 + " × ".join(f"{len(v):,} {k}" for k, v in axes.items()) + f" = {size:,}")
    out = []
    for combo in itertools.product(*axes.values()):
        params = {**fixed, **dict(zip(axes, combo))}  # flags as text are read (or refused) by Schedule.create
        out.append(Schedule.create(name, params).to_config())
    return out


def schedule_labels(schedules: Iterable[Mapping[str, Any]]) -> list[str]:
    """The label of each schedule config (what the leaderboard and Optuna's ``schedule`` show);
    ``FieldError`` on a bad config or on the same schedule twice. Linear in the number of
    schedules (a set of the labels seen): a grid of 1,000 labels in a few milliseconds."""
    labels: list[str] = []
    seen: set[str] = set()
    for i, cfg in enumerate(schedules):
        try:
            label = Schedule.from_config(cfg).label()
        except FieldError as e:
            raise FieldError(f"schedules[{i}].{e.field}", e.rule, e.value, message=f"schedules[{i}]: {e}") from None
        if label in seen:
            raise FieldError("schedules", f"distinct schedules ({label} is given twice)", cfg)
        seen.add(label)
        labels.append(label)
    return labels


def preset(name: str) -> dict[str, Any]:
    """A copy of a preset (``schedules`` and ``epochs``); ``FieldError`` for an unknown one."""
    if name not in PRESETS:
        raise FieldError("preset", f"one of {', '.join(PRESETS)}", name)
    p = PRESETS[name]
    return {"schedules": [dict(s, params=dict(s["params"])) for s in p["schedules"]], "epochs": p["epochs"]}


def book_accuracy(label: str, dataset: str) -> float | None:
    """The book's CIFAR-10 test accuracy for a tutorial schedule (None elsewhere)."""
    return BOOK_ACCURACY.get(label) if dataset == "cifar10" else None


def trial_pairs(n_schedules: int, seeds: Sequence[int]) -> list[tuple[int, int]]:
    """``(schedule index, seed)`` of every trial, seed by seed: the first pass gives every
    schedule one result before any gets a second (an early leaderboard, and a fair pruner)."""
    return [(i, s) for s in seeds for i in range(n_schedules)]


# --------------------------------------------------------------------------- who won


@dataclass
class TrialRecord:
    """One trial as the leaderboard sees it (built from an Optuna trial by the job).

    ``state``: ``complete``, ``running``, ``waiting``, ``pruned``, ``failed`` or ``stopped``;
    ``value``: the final-epoch validation accuracy (complete trials); ``curve``: validation
    accuracy by 1-based epoch; ``retry``: this trial re-runs a failed one; ``epoch_times``:
    seconds of each 1-based epoch (``history.csv``'s ``epoch_time_s``; empty when unknown)."""

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


def leaderboard(trials: Iterable[TrialRecord], schedules: Sequence[str], *, dataset: str = "digits",
                target: float | None = None) -> list[dict]:
    """One row per schedule (see :data:`LEADERBOARD_COLUMNS`), best first; ``book_accuracy``
    is added when ``dataset`` is ``cifar10``. ``target``: the validation accuracy the time to
    accuracy is measured to (default :data:`TARGET_ACCURACY` of the dataset; see the module
    docstring).

    ``best_epoch``: the 1-based epoch where the mean over completed seeds of the validation
    accuracy peaks. ``notes``: what happened besides completing, e.g. ``1 failed and retried``.
    """
    target = default_target(dataset) if target is None else float(target)
    by: dict[str, list[TrialRecord]] = {s: [] for s in schedules}
    for t in trials:
        if t.schedule in by:
            by[t.schedule].append(t)
    rows = []
    for index, label in enumerate(schedules):
        ts = by[label]
        done = [t for t in ts if t.state == "complete" and t.value is not None]
        values = [float(t.value) for t in done]  # type: ignore[arg-type]
        n = len(values)
        mean = sum(values) / n if n else math.nan
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        count = {s: sum(t.state == s for t in ts) for s in ("running", "waiting", "pruned", "failed", "stopped")}
        retried = sum(t.retry for t in ts)
        times = [t.duration_s for t in done if t.duration_s is not None]
        row = {"schedule": label, "mean_val_accuracy": mean, "std_val_accuracy": std, "trials": n,
               "best_epoch": _best_epoch(done), "min_val_accuracy": min(values) if values else math.nan,
               "max_val_accuracy": max(values) if values else math.nan, **count, "retried": retried,
               "mean_time_s": sum(times) / len(times) if times else math.nan,
               **_to_target(done, target), "notes": _notes(count, retried), "schedule_index": index}
        if dataset == "cifar10":
            row["book_accuracy"] = book_accuracy(label, dataset)
        rows.append(row)
    ranked = sorted((r for r in rows if r["trials"]), key=lambda r: -r["mean_val_accuracy"])
    for r in rows:
        r["rank"] = 1 + sum(o["mean_val_accuracy"] > r["mean_val_accuracy"] for o in ranked) if r["trials"] else None
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["schedule_index"]))
    return rows


def default_target(dataset: str) -> float:
    """The target accuracy of a tournament that names none: :data:`TARGET_ACCURACY` (0.95 on
    digits, 0.70 on CIFAR-10, and 0.95 for another dataset)."""
    return TARGET_ACCURACY.get(dataset, TARGET_ACCURACY["digits"])


def time_to_target(curve: Mapping[int, float], epoch_times: Mapping[int, float],
                   target: float) -> tuple[int | None, float | None]:
    """``(e, s)``: the first 1-based epoch whose validation accuracy reaches ``target`` (less
    :data:`REACHED_SLACK`) and the seconds of epochs 1..e (None when an epoch's time is
    unknown); ``(None, None)`` when no epoch reaches it."""
    reached = [e for e, acc in curve.items() if math.isfinite(acc) and acc >= target - REACHED_SLACK]
    if not reached:
        return None, None
    e = min(reached)
    times = [epoch_times.get(k) for k in range(1, e + 1)]
    ok = all(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0 for t in times)
    return e, (float(sum(times)) if ok else None)  # type: ignore[arg-type]


def _to_target(done: list[TrialRecord], target: float) -> dict[str, Any]:
    hits = [time_to_target(t.curve, t.epoch_times, target) for t in done]
    epochs = [e for e, _ in hits if e is not None]
    seconds = [s for e, s in hits if e is not None and s is not None]
    return {"target_accuracy": target, "seeds_reached": len(epochs),
            "epochs_to_target": sum(epochs) / len(epochs) if epochs else math.nan,
            "seconds_to_target": sum(seconds) / len(seconds) if seconds else math.nan}


def reached_text(row: Mapping[str, Any]) -> str:
    """A leaderboard row's time to its target in words, as the page and the CLI show it:
    ``"16.3 ep · 12 s · 2/3"`` (mean epochs and seconds over the 2 of 3 completed seeds that
    reached it), ``"not reached · 0/3"``, or ``""`` before any seed completed. A row without the
    columns (a leaderboard.csv of an older lrviz) gives ``""``."""
    n, k = _count(row.get("trials")), _count(row.get("seeds_reached"))
    if not n or k is None:
        return ""
    if not k:
        return f"not reached · 0/{n}"
    parts = []
    epochs, seconds = _number(row.get("epochs_to_target")), _number(row.get("seconds_to_target"))
    if epochs is not None:
        parts.append(f"{epochs:.3g} ep")
    if seconds is not None:
        parts.append(f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s")
    return " · ".join([*parts, f"{k}/{n}"])


def _count(v: Any) -> int | None:
    number = _number(v)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _best_epoch(done: list[TrialRecord]) -> int | None:
    epochs = set.intersection(*(set(t.curve) for t in done)) if done else set()
    if not epochs:
        return None
    means = {e: sum(t.curve[e] for t in done) / len(done) for e in sorted(epochs)}
    return max(means, key=lambda e: (means[e], -e))


def _notes(count: Mapping[str, int], retried: int) -> str:
    parts = []
    if count["failed"]:
        parts.append(f"{count['failed']} failed" + (f", {retried} retried" if retried else ""))
    elif retried:
        parts.append(f"{retried} retried")
    for key in ("pruned", "stopped", "running", "waiting"):
        if count[key]:
            parts.append(f"{count[key]} {key}")
    return "; ".join(parts)


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


def winner_schedule(rows: Sequence[Mapping[str, Any]], schedules: Sequence[Mapping[str, Any]]) -> dict | None:
    """The schedule config of the rank-1 row ("Use the winner"); None before any trial completed."""
    for r in rows:
        if r.get("rank") == 1:
            return dict(schedules[int(r["schedule_index"])])
    return None
