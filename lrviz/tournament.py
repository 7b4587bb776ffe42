"""A schedule tournament, the pure part: which schedules, and who won.

A tournament trains MiniVGGNet once per (schedule, seed) and ranks the schedules by their
mean final validation accuracy over the seeds (:mod:`lrviz.jobs.tournament` runs it on Optuna).
This module holds what needs no Optuna, no Keras and no files:

* :func:`parse_spec` reads ``'step:factor=0.5,drop_every=5'`` into a schedule config, and a
  grid ``'step:factor=0.25|0.5|0.75,drop_every=5|10'`` into one config per combination
  (:func:`grid` does the same from Python);
* :data:`PRESETS`: ``tutorial`` is the four schedules of the tutorial over 40 epochs;
* :func:`leaderboard` turns trial records into one row per schedule; :func:`verdict` says
  whether the winner's lead is larger than the spread between seeds.

**Leaderboard statistics.** A schedule's score is over its *completed* trials (pruned, failed
and stopped trials do not count): ``mean_val_accuracy`` = mean of the final-epoch validation
accuracies, ``std_val_accuracy`` = their sample standard deviation (``ddof=1``, NaN with a
single seed); ``rank`` 1 = highest mean (ties share the smaller rank; schedules without a
completed trial have no rank and come last).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lrviz.errors import FieldError
from lrviz.schedules import REGISTRY, Schedule

__all__ = ["PRESETS", "BOOK_ACCURACY", "LEADERBOARD_COLUMNS", "TrialRecord", "Verdict", "eta_seconds", "parse_spec",
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
                       "stopped", "mean_time_s", "notes", "schedule_index"]

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


def grid(name: str, axes: Mapping[str, Sequence[Any]] | None = None, **fixed: Any) -> list[dict[str, Any]]:
    """One validated schedule config per combination of ``axes`` (the first axis varies slowest),
    with ``fixed`` parameters in each: ``grid("step", {"factor": [0.25, 0.5, 0.75],
    "drop_every": [5, 10]})`` gives 6 step decays."""
    axes = {k: list(v) for k, v in (axes or {}).items()}
    for k, values in axes.items():
        if not values:
            raise FieldError(k, "a non-empty list of values", values)
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
    accuracy by 1-based epoch; ``retry``: this trial re-runs a failed one."""

    number: int
    schedule: str
    seed: int
    state: str
    value: float | None = None
    curve: dict[int, float] = field(default_factory=dict)
    duration_s: float | None = None
    retry: bool = False
    run_id: str | None = None


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


def leaderboard(trials: Iterable[TrialRecord], schedules: Sequence[str], *, dataset: str = "digits") -> list[dict]:
    """One row per schedule (see :data:`LEADERBOARD_COLUMNS`), best first; ``book_accuracy``
    is added when ``dataset`` is ``cifar10``.

    ``best_epoch``: the 1-based epoch where the mean over completed seeds of the validation
    accuracy peaks. ``notes``: what happened besides completing, e.g. ``1 failed and retried``.
    """
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
               "notes": _notes(count, retried), "schedule_index": index}
        if dataset == "cifar10":
            row["book_accuracy"] = book_accuracy(label, dataset)
        rows.append(row)
    ranked = sorted((r for r in rows if r["trials"]), key=lambda r: -r["mean_val_accuracy"])
    for r in rows:
        r["rank"] = 1 + sum(o["mean_val_accuracy"] > r["mean_val_accuracy"] for o in ranked) if r["trials"] else None
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["schedule_index"]))
    return rows


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


@dataclass
class Verdict:
    """Whether the winner's lead over the runner-up exceeds the spread between seeds.

    ``decisive``: ``lead > spread`` with ``spread = max(std of the two)`` (None when either has
    fewer than 2 completed seeds: no spread to compare with). ``p_value``: Welch's t-test
    (``scipy.stats.ttest_ind(equal_var=False)``) of the two schedules' final accuracies, for
    information only (None without scipy or with fewer than 2 seeds each)."""

    winner: str | None
    runner_up: str | None
    lead: float | None
    spread: float | None
    decisive: bool | None
    p_value: float | None
    text: str


def verdict(rows: Sequence[Mapping[str, Any]], trials: Iterable[TrialRecord] = ()) -> Verdict:
    """The verdict on a :func:`leaderboard` (``trials``: for the Welch test)."""
    ranked = [r for r in rows if r.get("rank") is not None]
    if not ranked:
        return Verdict(None, None, None, None, None, None, "No completed trial yet.")
    top = ranked[0]
    if len(ranked) == 1:
        return Verdict(top["schedule"], None, None, None, None, None, f"{top['schedule']} is the only one ranked.")
    second = ranked[1]
    lead = float(top["mean_val_accuracy"] - second["mean_val_accuracy"])
    stds = [top["std_val_accuracy"], second["std_val_accuracy"]]
    spread = None if any(s is None or math.isnan(s) for s in stds) else float(max(stds))
    decisive = None if spread is None else lead > spread
    values = {r["schedule"]: [] for r in (top, second)}
    for t in trials:
        if t.schedule in values and t.state == "complete" and t.value is not None:
            values[t.schedule].append(float(t.value))
    p = _welch_p(*values.values())
    head = f"{top['schedule']} leads {second['schedule']} by {lead:.4f}"
    if decisive is None:
        text = f"{head}; too few seeds to compare with the spread between seeds."
    elif decisive:
        text = f"{head}, more than the spread between seeds ({spread:.4f}): a clear win."
    else:
        text = f"{head}, within the spread between seeds ({spread:.4f}): not a clear win."
    if p is not None:
        text += f" Welch's t-test p={p:.3g}."
    return Verdict(top["schedule"], second["schedule"], lead, spread, decisive, p, text)


def _welch_p(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    try:
        from scipy import stats
    except ImportError:
        return None
    import warnings

    with warnings.catch_warnings():  # identical accuracies: scipy warns, p is NaN or 1
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def winner_schedule(rows: Sequence[Mapping[str, Any]], schedules: Sequence[Mapping[str, Any]]) -> dict | None:
    """The schedule config of the rank-1 row ("Use the winner"); None before any trial completed."""
    for r in rows:
        if r.get("rank") == 1:
            return dict(schedules[int(r["schedule_index"])])
    return None
