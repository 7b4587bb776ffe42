"""Run comparison: the runs table and per-class reports side by side (no Streamlit).

The tutorial compares two tables (F=0.25 vs F=0.5) by eye; :func:`report_comparison` puts
them in one frame with the differences against the first run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lrviz import runs as store

RUN_TABLE_COLUMNS = ["run", "kind", "state", "dataset", "schedule", "epochs", "best val_accuracy", "final val_accuracy",
                     "duration (s)", "started at", "problem"]


def runs_table(runs_dir: Path | str = store.DEFAULT_RUNS_DIR) -> pd.DataFrame:
    """One row per run on disk, newest first. Unreadable runs are rows with ``problem`` set."""
    rows = []
    for summary in store.list_runs(runs_dir):
        best = final = duration = None
        started = None
        problem = summary.error
        try:
            run = store.load_run(summary.id, runs_dir)
            hist = run.history
            if len(hist) and "val_accuracy" in hist:
                best = float(hist["val_accuracy"].max())
                final = float(hist["val_accuracy"].iloc[-1])
            duration = run.status.get("elapsed_s")
            started = run.status.get("started_at")
            problem = problem or run.error
        except (OSError, ValueError) as e:
            problem = problem or str(e)
        when = started or summary.created_at
        rows.append({
            "run": summary.id,
            "kind": "LR range test" if getattr(summary, "kind", "train") == "lr_find" else "training",
            "state": summary.state,
            "dataset": summary.dataset,
            "schedule": summary.schedule,
            "epochs": f"{summary.epoch}/{summary.epochs}" if summary.epochs else str(summary.epoch),
            "best val_accuracy": best,
            "final val_accuracy": final,
            "duration (s)": round(float(duration), 1) if isinstance(duration, (int, float)) else None,
            "started at": datetime.fromtimestamp(when) if isinstance(when, (int, float)) else None,
            "problem": problem,
        })
    return pd.DataFrame(rows, columns=RUN_TABLE_COLUMNS)


def report_comparison(reports: Mapping[str, pd.DataFrame], metrics: Sequence[str] = ("precision", "recall",
                                                                                         "f1-score")) -> pd.DataFrame:
    """Per-class reports side by side: ``<metric> · <run>`` columns, then ``Δ <metric> · <run>``
    (that run minus the first) for every run after the first. The accuracy row carries its
    value in ``f1-score`` (sklearn's layout), so precision/recall stay blank there."""
    labels = list(reports)
    if len(labels) < 2:
        raise ValueError(f"Argument `reports` must hold at least 2 runs. Received: {len(labels)}")
    index: list[str] = []
    for df in reports.values():
        index += [i for i in df.index if i not in index]
    # classes first, summary rows last, as sklearn prints them
    tail = [i for i in ("accuracy", "macro avg", "weighted avg") if i in index]
    index = [i for i in index if i not in tail] + tail
    out = pd.DataFrame(index=pd.Index(index, name="class"))
    for m in metrics:
        for label in labels:
            out[f"{m} · {label}"] = reports[label].reindex(index)[m].astype(float)
    base = labels[0]
    for m in metrics:
        for label in labels[1:]:
            out[f"Δ {m} · {label}"] = out[f"{m} · {label}"] - out[f"{m} · {base}"]
    return out


def style_comparison(frame: pd.DataFrame):
    """A pandas Styler: 2 decimals, Δ columns green where better, red where worse."""
    delta_cols = [c for c in frame.columns if c.startswith("Δ")]
    styler = frame.style.format("{:.2f}", na_rep="")
    styler = styler.format("{:+.2f}", subset=delta_cols, na_rep="")
    return styler.map(delta_colour, subset=delta_cols)


BETTER = "background-color: #d8f0d8; color: #135e13"
WORSE = "background-color: #f7dada; color: #8a1616"


def delta_colour(v: float) -> str:
    """CSS for a difference: green above +0.005, red below -0.005 (what rounds to 0.00 stays plain)."""
    if v is None or not np.isfinite(v) or abs(v) < 0.005:
        return ""
    return BETTER if v > 0 else WORSE


def run_label(run: store.Run) -> str:
    """Short legend label: the id's time and suffix plus what differs in the schedule,
    e.g. ``212500-3d6c · Step decay (factor=0.25)``."""
    parts = run.id.split("-")
    short = f"{parts[1]}-{parts[-1]}" if len(parts) >= 3 else run.id
    try:
        from lrviz.schedules import Schedule

        return f"{short} · {Schedule.from_config(run.config['schedule']).short_label()}"
    except (KeyError, ValueError, TypeError):
        return short
