"""Run comparison: the runs table, what differs between runs and whether a run diverged (no
Streamlit; per-class reports side by side are :mod:`lrviz.report_comparison`).

:func:`config_differences` names each run by the settings that set it apart ("factor=0.25" vs
"factor=0.5").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from lrviz import jobs
from lrviz import runs as runs_api
from lrviz.text import NAME_CHARS, shorten

# What a learner reads first (how it ended, how far, how good: the final accuracy is the tutorial's
# figure), so it stays in view at 800 px; then what sets runs apart, then the details.
RUN_TABLE_COLUMNS = ["run", "name", "state", "progress", "final validation accuracy", "best validation accuracy",
                     "differs", "schedule", "kind", "dataset", "model", "duration (s)", "started at",
                     "problem", "tournament"]

# What a progress step is called in the table, per job kind's ``progress_unit``: an LR range
# test step is one batch.
PROGRESS_NOUN = {"epoch": "epochs", "step": "batches"}

EXPLODE_FACTOR = 10.0  # final training loss above 10 × its minimum (and above its start): diverged
CHANCE_MARGIN = 1.2  # final validation accuracy <= 1.2 / classes: no better than guessing


def runs_table(runs_dir: Path | str = runs_api.DEFAULT_RUNS_DIR) -> pd.DataFrame:
    """One row per run on disk, newest first. Unreadable runs are rows with ``problem`` set
    (``None`` when the run reads fine). ``differs`` names the settings that vary across runs of
    the same kind (:func:`config_differences`); ``state`` says "· diverged" after a run that
    ended but diverged (:func:`divergence`); ``tournament`` is the id of the tournament a trial
    run belongs to (its group), ``""`` for every other run."""
    rows, configs = [], {}
    for summary in runs_api.list_runs(runs_dir):
        best = final = duration = None
        started = None
        group = ""
        problem = summary.error
        state = summary.state
        try:
            run = runs_api.load_run(summary.id, runs_dir)
            configs[summary.id] = run.config
            hist = run.history
            if len(hist) and "val_accuracy" in hist:
                best = float(hist["val_accuracy"].max())
                final = float(hist["val_accuracy"].iloc[-1])
            if state in ("finished", "stopped") and divergence(hist, len(run.class_names)):
                state = f"{state} · diverged"
            duration = run.status.get("elapsed_s")
            started = run.status.get("started_at")
            problem = problem or run.error
            group = run.config.get("group") or run.status.get("group") or ""
            group = group if isinstance(group, str) and runs_api.RUN_ID_PATTERN.fullmatch(group) else ""
        except (OSError, ValueError) as e:
            problem = problem or str(e)
        when = started or summary.created_at
        job = jobs.job_for(summary.kind)
        noun = PROGRESS_NOUN.get(job.progress_unit, job.progress_unit + "s")
        rows.append({
            "run": summary.id,
            "name": shorten(summary.name or "", NAME_CHARS),  # a 1 MB name would flood its cell
            "kind": job.title,
            "state": shorten(state, NAME_CHARS),  # text from the run's files: one bounded line a cell
            "dataset": None if summary.dataset is None else shorten(summary.dataset, NAME_CHARS),
            "model": None if summary.model is None else shorten(summary.model, NAME_CHARS),
            "schedule": summary.schedule,
            "differs": "",
            "progress": f"{summary.epoch}/{summary.epochs} {noun}" if summary.epochs else f"{summary.epoch} {noun}",
            "best validation accuracy": best,
            "final validation accuracy": final,
            "duration (s)": round(float(duration), 1) if isinstance(duration, (int, float)) else None,
            "started at": _when(when),
            "problem": None if problem is None else shorten(problem),
            "tournament": group,
        })
    kinds: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        kinds.setdefault(row["kind"], {})
        if row["run"] in configs:
            kinds[row["kind"]][row["run"]] = configs[row["run"]]
    described: dict[str, str] = {}
    for group in kinds.values():
        described.update(config_differences(group))
    for row in rows:
        row["differs"] = described.get(row["run"], "")
    return pd.DataFrame(rows, columns=RUN_TABLE_COLUMNS)


def runs_table_display(table: pd.DataFrame) -> pd.DataFrame:
    """The runs table as shown: blanks, not "None", where a run has no value (an LR range test
    has no accuracy, a queued run no duration): ``problem``, ``duration (s)`` and ``started at``
    become text (the last as ``YYYY-MM-DD HH:MM:SS``, which sorts as text). The accuracy columns
    stay numbers (a progress bar draws a missing one as blank)."""
    out = table.copy()
    out["problem"] = out["problem"].fillna("").astype(str)
    out["duration (s)"] = [f"{v:.1f}" if pd.notna(v) else "" for v in table["duration (s)"]]
    out["started at"] = [v.strftime("%Y-%m-%d %H:%M:%S") if pd.notna(v) else "" for v in table["started at"]]
    return out


def hide_trials(table: pd.DataFrame) -> pd.DataFrame:
    """The runs table without the trial runs of the tournaments it lists (one tournament adds a
    run per schedule and seed: 35 rows after one session). A trial whose tournament is gone
    stays: nothing else would show it."""
    listed = set(table["run"])
    return table[~table["tournament"].isin(listed)]


# What the Runs page's filter reads: what a learner remembers of a run (its name, its schedule,
# how it ended, what kind of job, which data and model, what set it apart), and its id.
FILTER_COLUMNS = ("name", "schedule", "state", "kind", "dataset", "model", "differs", "run")


def filter_runs(table: pd.DataFrame, query: str | None) -> pd.DataFrame:
    """The rows of the runs table whose :data:`FILTER_COLUMNS` hold every word of ``query``,
    ignoring case: ``"step failed"`` keeps the failed step decays, ``"cifar 0.5"`` the CIFAR-10
    runs with a 0.5 somewhere in their name, schedule or settings. A blank query keeps every row."""
    words = str(query or "").casefold().split()
    if not words or table.empty:
        return table
    text = table[list(FILTER_COLUMNS)].astype("string").fillna("").agg("\n".join, axis=1).str.casefold()
    keep = np.ones(len(table), dtype=bool)
    for word in words:
        keep &= text.str.contains(word, regex=False).to_numpy()
    return table[keep]


def trials_of(table: pd.DataFrame, run_ids: Sequence[str]) -> list[str]:
    """The trial runs (as listed in ``table``) of those of ``run_ids`` that are tournaments."""
    return table.loc[table["tournament"].isin(set(run_ids)), "run"].tolist()


@dataclass
class DeletionPlan:
    """What deleting some ticked runs does: ``runs`` to delete, ``active`` ones kept (queued or
    running: the store refuses them), ``trials`` of ticked tournaments (deleted only if asked)."""

    runs: list[str]
    active: list[str]
    trials: list[str]


def deletion_plan(table: pd.DataFrame, ticked: Sequence[str]) -> DeletionPlan:
    """Split ``ticked`` run ids (rows of ``table``) for a bulk delete; ids not in the table
    (deleted meanwhile) are left out."""
    state = dict(zip(table["run"], table["state"]))
    present = [r for r in dict.fromkeys(ticked) if r in state]
    active = [r for r in present if state[r] in runs_api.ACTIVE_STATES]
    runs = [r for r in present if r not in active]
    trials = [r for r in trials_of(table, runs) if r not in runs and state[r] not in runs_api.ACTIVE_STATES]
    return DeletionPlan(runs, active, trials)


# --------------------------------------------------------------------------- what differs

# Config keys that say nothing about how a run was set up (bookkeeping, or measured by the run).
_NOT_SETTINGS = frozenset({"id", "created_at", "versions", "kind", "steps_per_epoch", "train_size", "test_size",
                           "initial_epoch", "cifar_archive"})


def _when(seconds: Any) -> datetime | None:
    """A start time from a status file as a datetime; None for anything that is not one (a
    tampered 1e20 or NaN made ``fromtimestamp`` raise and took the whole Runs page down)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):
        return None


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _short_id(run_id: str) -> str:
    """``20261125-212500-digits-step-3d6c`` -> ``212500-3d6c`` (time and suffix)."""
    parts = str(run_id).split("-")
    return f"{parts[1]}-{parts[-1]}" if len(parts) >= 3 else str(run_id)


def _overrides_text(overrides: Any) -> str:
    bits = []
    for o in overrides or []:
        if not isinstance(o, Mapping):
            continue
        what = f"LR={_fmt(o.get('value'))}" if o.get("kind") == "value" else f"LR×{_fmt(o.get('value'))}"
        bits.append(f"{what} at epoch {o.get('epoch', '?')}")
    return "; ".join(bits) or "none"


_UNSET = "–"  # a setting a run does not have (a time-based decay has no factor)


def _settings(config: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """A run's settings as ``{name: (short text, set)}``, the schedule's parameters flattened.
    ``set`` is False for what the run leaves at "nothing" (no override, a fresh start, no
    warmup): worth saying only when nothing else tells the run apart."""
    out: dict[str, tuple[str, bool]] = {}
    for key, value in config.items():
        if key in _NOT_SETTINGS:
            continue
        if key == "schedule" and isinstance(value, Mapping):
            out["schedule"] = (str(value.get("name")), True)
            for p, v in (value.get("params") or {}).items():
                out[str(p)] = (f"{p}={_fmt(v)}", True)
            for w in ("warmup", "warmup_start_factor"):
                out[w] = (f"{w}={_fmt(value.get(w, 0))}", bool(value.get("warmup")))
        elif key == "lr_overrides":
            out[key] = (f"overrides: {_overrides_text(value)}", bool(value))
        elif key == "parent":
            out[key] = (f"from {_short_id(value)}" if value else "fresh start", bool(value))
        elif key == "limit":
            out[key] = (f"subset {value}" if value else "all images", True)
        elif key == "batch_size":
            out[key] = (f"batch {value}", True)
        else:
            out[key] = (f"{key}={_fmt(value)}", value is not None)
    return out


def config_differences(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """For each run id, the settings whose value is not the same in every config and that the
    run sets, as one short line (``"factor=0.25 · batch 32"``); ``""`` when nothing differs or
    there is one run. A setting the run does not have ("factor=–" on a time-based decay) is never
    said; one it leaves at nothing ("overrides: none", "fresh start") only when the run has no
    other difference to show.

    Args:
        configs: run id -> its ``config.json`` (runs of one kind: an LR range test and a
            training run have different settings altogether).
    """
    settings = {rid: _settings(cfg) for rid, cfg in configs.items()}
    if len(settings) < 2:
        return {rid: "" for rid in settings}
    keys: list[str] = []
    for s in settings.values():
        keys += [k for k in s if k not in keys]
    # a schedule's parameters right after its name, whichever config named them first
    of_schedule = {"schedule", "warmup", "warmup_start_factor"} | {
        str(p) for cfg in configs.values() if isinstance(cfg.get("schedule"), Mapping)
        for p in (cfg["schedule"].get("params") or {})}
    position = {k: i for i, k in enumerate(keys)}
    first = position.get("schedule", 0)
    keys.sort(key=lambda k: first if k in of_schedule else position[k])  # stable: parameters keep their order
    varying = [k for k in keys if len({s.get(k, (_UNSET, False))[0] for s in settings.values()}) > 1]
    out = {}
    for rid, s in settings.items():
        present = [s[k] for k in varying if k in s]
        shown = [text for text, is_set in present if is_set] or [text for text, _ in present]
        out[rid] = " · ".join(shown)
    return out


def comparison_labels(configs: Mapping[str, Mapping[str, Any]],
                      names: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Legend and column labels for compared runs: the name a person gave a run; else what
    differs between them, or the short id where nothing does (or two runs would read the same)."""
    diff = config_differences(configs)
    counts = pd.Series(list(diff.values())).value_counts() if diff else {}
    out = {rid: text if text and counts[text] == 1 else (f"{_short_id(rid)} · {text}" if text else _short_id(rid))
           for rid, text in diff.items()}
    named = {rid: shorten(n, NAME_CHARS) for rid, n in (names or {}).items() if n and rid in out}
    dup = pd.Series(list(named.values())).value_counts() if named else {}
    out.update({rid: n if dup[n] == 1 else f"{n} ({_short_id(rid)})" for rid, n in named.items()})
    out = {rid: shorten(label, 2 * NAME_CHARS) for rid, label in out.items()}  # a 1 MB setting is a header too
    seen = pd.Series(list(out.values())).value_counts() if out else {}
    # a name may read like another run's differences ("factor=0.25"): labels key the curves, so each is unique
    return {rid: label if seen[label] == 1 else f"{label} [{rid}]" for rid, label in out.items()}


def run_letters(run_ids: Sequence[str]) -> dict[str, str]:
    """Short names for compared runs, in order: A, B, ..., Z, AA, AB, ... (a table header of a
    few pixels instead of a 500-pixel label; the legend says what each letter is)."""
    def letter(i: int) -> str:
        return (letter(i // 26 - 1) if i >= 26 else "") + chr(ord("A") + i % 26)

    return {rid: letter(i) for i, rid in enumerate(run_ids)}


def share_link(page_url: str | None, *, run: str | None = None, compare: Sequence[str] = ()) -> str:
    """The link that opens one run (``?run=``) or a comparison (``?compare=a,b``) on the Runs
    page. ``page_url`` is the page's absolute URL without query (relative ``runs`` if unknown)."""
    base = (page_url or "runs").split("?")[0]
    if run is not None:
        return f"{base}?run={quote(run)}"
    return f"{base}?compare={quote(','.join(compare), safe=',')}"


# --------------------------------------------------------------------------- diverged runs


def divergence(history: pd.DataFrame | None, n_classes: int | None = None) -> str | None:
    """Why a run's history says it diverged, or ``None`` when it did not.

    A run diverged when, in its history (one row per finished epoch):

    * the training or validation loss is NaN or infinite in some epoch (SGD never comes back);
    * its last training loss is above ``EXPLODE_FACTOR`` × its minimum and above the first
      epoch's (``2.3 → 0.4 → 1e10``; ``2.3 → 0.01 → 0.15`` is noise, not divergence);
    * its last validation accuracy is at chance (``<= CHANCE_MARGIN / n_classes``) while its
      training loss did not fall (last >= first): stuck, not just a short run still learning.

    Args:
        history: ``history.csv`` as a DataFrame (columns ``epoch, loss, val_loss, val_accuracy``).
        n_classes: number of classes (chance accuracy is ``1 / n_classes``); ``None`` skips that rule.
    """
    if history is None or not len(history):
        return None
    epochs = history["epoch"].to_numpy() if "epoch" in history else np.arange(1, len(history) + 1)
    for col, name in (("loss", "training loss"), ("val_loss", "validation loss")):
        if col in history:
            v = pd.to_numeric(history[col], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                what = "NaN" if np.isnan(v[bad[0]]) else "infinite"
                return f"the {name} became {what} at epoch {int(epochs[bad[0]])}"
    if "loss" in history and len(history) >= 2:
        loss = pd.to_numeric(history["loss"], errors="coerce").to_numpy(dtype=float)
        low, last = float(np.min(loss)), float(loss[-1])
        if last > EXPLODE_FACTOR * max(low, 1e-12) and last > loss[0]:
            return f"the training loss ended at {last:.3g}, {last / max(low, 1e-12):,.0f}× its minimum {low:.3g}"
    if n_classes and n_classes > 1 and "val_accuracy" in history:
        acc = float(pd.to_numeric(history["val_accuracy"], errors="coerce").iloc[-1])
        loss = pd.to_numeric(history["loss"], errors="coerce").to_numpy(dtype=float) if "loss" in history else None
        stuck = loss is None or loss[-1] >= loss[0]
        if acc <= CHANCE_MARGIN / n_classes and stuck:
            return (f"the validation accuracy ended at chance ({acc:.2f}; guessing among {n_classes} classes "
                    f"gets {1 / n_classes:.2f})")
    return None


def loss_spans_decades(histories: Mapping[str, pd.DataFrame | None], key: str = "val_loss",
                       decades: float = 2.0) -> bool:
    """Whether the finite positive values of ``key`` over all histories span more than
    ``decades`` powers of ten (then a log axis keeps one spike from flattening the rest)."""
    values = [pd.to_numeric(h[key], errors="coerce").to_numpy(dtype=float) for h in histories.values()
              if h is not None and key in h and len(h)]
    if not values:
        return False
    v = np.concatenate(values)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size) and float(np.log10(v.max() / v.min())) > decades


def run_label(run: runs_api.Run) -> str:
    """Short legend label: the id's time and suffix plus what differs in the schedule,
    e.g. ``212500-3d6c · Step decay (factor=0.25)``."""
    short = _short_id(run.id)
    try:
        from lrviz.schedules import Schedule

        return f"{short} · {Schedule.from_config(run.config['schedule']).short_label()}"
    except (KeyError, ValueError, TypeError):
        return short


# --------------------------------------------------------------------------- tournaments


def trial_curves(trials: pd.DataFrame | None, runs_dir: Path | str) -> list[dict]:
    """One ``{"schedule", "seed", "state", "run_id", "history"}`` per tournament trial that has
    a run (its history.csv as recorded so far; an empty frame when unreadable)."""
    out: list[dict] = []
    if trials is None or not len(trials) or "run_id" not in trials:
        return out
    for t in trials.itertuples():
        rid = getattr(t, "run_id", None)
        if not isinstance(rid, str) or not rid:
            continue
        try:
            hist = runs_api.load_run(rid, runs_dir).history
        except (OSError, ValueError):
            hist = pd.DataFrame()
        out.append({"schedule": str(t.schedule), "seed": getattr(t, "seed", None), "state": getattr(t, "state", None),
                    "run_id": rid, "history": hist})
    return out
