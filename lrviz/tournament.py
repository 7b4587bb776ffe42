"""A schedule tournament, the pure part: which schedules, and who won.

A tournament trains MiniVGGNet once per (schedule, seed) and ranks the schedules by their
mean final validation accuracy over the seeds (the package :mod:`lrviz.jobs.tournament` runs it on
Optuna).
This module holds what needs no Optuna, no Keras and no files:

* :func:`parse_spec` reads ``'step:factor=0.5,drop_every=5'`` into a schedule config, and a
  grid ``'step:factor=0.25|0.5|0.75,drop_every=5|10'`` into one config per combination
  (:func:`grid` does the same from Python);
* :data:`PRESETS`: ``tutorial`` is the four schedules of the tutorial over 40 epochs;
* :func:`leaderboard` turns trial records (:class:`lrviz.trials.TrialRecord`) into one row per
  schedule; :func:`lrviz.verdict.verdict` says whether the winner's lead is more than the luck of
  the seed, and :func:`lrviz.eta.eta_seconds` how long the rest will take (both re-exported here).

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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lrviz.errors import FieldError
from lrviz.eta import eta_seconds
from lrviz.schedules import REGISTRY, Schedule
from lrviz.trials import TrialRecord
from lrviz.verdict import ALPHA, MIN_SEEDS, Verdict, verdict

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
from lrviz.book import BOOK_ACCURACY  # noqa: E402 - the book's figures by schedule label, kept with its setting

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


def winner_schedule(rows: Sequence[Mapping[str, Any]], schedules: Sequence[Mapping[str, Any]]) -> dict | None:
    """The schedule config of the rank-1 row ("Use the winner"); None before any trial completed."""
    for r in rows:
        if r.get("rank") == 1:
            return dict(schedules[int(r["schedule_index"])])
    return None
