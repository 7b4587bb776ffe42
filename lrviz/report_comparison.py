"""Per-class reports of several runs side by side, and how their differences are coloured.

The tutorial compares two tables (F=0.25 vs F=0.5) by eye; :func:`report_comparison` puts them
in one frame with the differences against the first run (the Runs page's comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lrviz.errors import FieldError

__all__ = ["SUMMARY_ROWS", "DIFF", "BETTER", "WORSE", "NOTICEABLE", "report_comparison", "class_deltas",
           "metric_table", "style_comparison", "delta_colour"]

SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")


def report_comparison(reports: Mapping[str, pd.DataFrame], metrics: Sequence[str] = ("precision", "recall",
                                                                                         "f1-score")) -> pd.DataFrame:
    """Per-class reports side by side: ``<metric> · <run>`` columns, then ``Δ <metric> · <run>``
    (that run minus the first) for every run after the first. The accuracy row carries its
    value in ``f1-score`` (sklearn's layout), so precision/recall stay blank there."""
    labels = list(reports)
    if len(labels) < 2:
        raise FieldError("reports", "at least 2 runs", len(labels))
    index: list[str] = []
    for df in reports.values():
        index += [i for i in df.index if i not in index]
    # classes first, summary rows last, as sklearn prints them
    tail = [i for i in SUMMARY_ROWS if i in index]
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


def class_deltas(comparison: pd.DataFrame, metric: str = "f1-score") -> pd.DataFrame:
    """The per-class rows (summary rows dropped) of the ``Δ <metric> · <run>`` columns of
    :func:`report_comparison`, columns renamed to the run labels."""
    prefix = f"Δ {metric} · "
    cols = [c for c in comparison.columns if c.startswith(prefix)]
    rows = [i for i in comparison.index if i not in SUMMARY_ROWS]
    return comparison.loc[rows, cols].rename(columns=lambda c: c[len(prefix):])


DIFF = " − "  # "B − A": that run minus the first


def metric_table(comparison: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric of :func:`report_comparison` as its own small table: a column per run (its
    label), then ``"<run> − <first run>"`` for every run after the first."""
    prefix, dprefix = f"{metric} · ", f"Δ {metric} · "
    labels = [c[len(prefix):] for c in comparison.columns if c.startswith(prefix)]
    out = pd.DataFrame(index=comparison.index)
    for label in labels:
        out[label] = comparison[prefix + label]
    for label in labels[1:]:
        out[f"{label}{DIFF}{labels[0]}"] = comparison[dprefix + label]
    return out


def style_comparison(frame: pd.DataFrame):
    """A pandas Styler over text: the class as a first column, 2 decimals, blank (not "None")
    where a value is missing, difference columns ("Δ ...", "B − A") green where better, red
    where worse."""
    delta_cols = [c for c in frame.columns if c.startswith("Δ") or DIFF in c]
    text = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        fmt = "{:+.2f}" if c in delta_cols else "{:.2f}"
        text[c] = [fmt.format(v) if pd.notna(v) else "" for v in frame[c]]
    colours = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for c in delta_cols:
        colours[c] = [delta_colour(v) for v in frame[c]]
    text = text.reset_index()
    colours = colours.reset_index().assign(**{text.columns[0]: ""})
    colours.index = text.index
    return text.style.apply(lambda _: colours, axis=None)


BETTER = "background-color: #d8f0d8; color: #135e13"
WORSE = "background-color: #f7dada; color: #8a1616"
NOTICEABLE = 0.005  # a difference that rounds to 0.00 is no difference on screen


def delta_colour(v: float) -> str:
    """CSS for a difference: green above +0.005, red below -0.005 (what rounds to 0.00 stays plain)."""
    if v is None or not np.isfinite(v) or abs(v) < NOTICEABLE:
        return ""
    return BETTER if v > 0 else WORSE
