"""Classification report and confusion matrix as DataFrames, and their CSV files.

The report has the shape of scikit-learn's ``classification_report`` (and the tutorial's
tables): one row per class with ``precision, recall, f1-score, support``, then ``accuracy``,
``macro avg`` and ``weighted avg``. Unlike ``pd.DataFrame(report_dict)``, the accuracy row is
not smeared across the columns: precision and recall are blank, ``f1-score`` holds the
accuracy (where scikit-learn's text report prints it) and ``support`` the number of samples.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["REPORT_COLUMNS", "classification_report_frame", "confusion_frame", "report_text", "report_display_frame",
           "frame_to_csv", "read_report_csv", "read_confusion_csv"]

REPORT_COLUMNS = ["precision", "recall", "f1-score", "support"]


def classification_report_frame(y_true: Sequence[int], y_pred: Sequence[int],
                                class_names: Sequence[str]) -> pd.DataFrame:
    """scikit-learn's report (``output_dict=True``) as a DataFrame indexed by row name."""
    from sklearn.metrics import classification_report

    d = classification_report(np.asarray(y_true), np.asarray(y_pred), labels=list(range(len(class_names))),
                              target_names=list(class_names), output_dict=True, zero_division=0)
    rows = {}
    for name in class_names:
        rows[name] = [d[name][c] for c in REPORT_COLUMNS]
    total = int(d["macro avg"]["support"])
    # `accuracy` is absent from the dict when labels are a strict subset; compute it then.
    acc = d.get("accuracy", float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if total else 0.0)
    rows["accuracy"] = [np.nan, np.nan, float(acc), total]
    for avg in ("macro avg", "weighted avg"):
        rows[avg] = [d[avg][c] for c in REPORT_COLUMNS]
    df = pd.DataFrame.from_dict(rows, orient="index", columns=REPORT_COLUMNS)
    df["support"] = df["support"].astype("int64")
    df.index.name = "class"
    return df


def report_text(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> str:
    """The text table the tutorial prints (``classification_report(..., digits=2)``)."""
    from sklearn.metrics import classification_report

    return classification_report(np.asarray(y_true), np.asarray(y_pred), labels=list(range(len(class_names))),
                                 target_names=list(class_names), zero_division=0)


def confusion_frame(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> pd.DataFrame:
    """Counts: rows are the true class, columns the predicted class."""
    from sklearn.metrics import confusion_matrix

    m = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(len(class_names))))
    df = pd.DataFrame(m, index=list(class_names), columns=list(class_names))
    df.index.name = "true"
    return df


def report_display_frame(report: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The report as text, like sklearn's printout: ``digits`` decimals, integer support, and
    blanks where sklearn prints nothing (precision and recall of the accuracy row)."""
    out = pd.DataFrame(index=report.index.copy())
    for col in report.columns:
        if col == "support":
            out[col] = [f"{int(v):d}" if pd.notna(v) else "" for v in report[col]]
        else:
            out[col] = [f"{v:.{digits}f}" if pd.notna(v) else "" for v in report[col]]
    return out.reset_index()


def frame_to_csv(df: pd.DataFrame) -> str:
    """CSV text with the index as the first column (floats at full precision)."""
    buf = io.StringIO()
    df.to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def read_report_csv(path: str | Path) -> pd.DataFrame:
    """report.csv as written by the engine; ``ValueError`` if its columns are not the report's."""
    df = pd.read_csv(path, index_col=0)
    if list(df.columns) != REPORT_COLUMNS:
        raise ValueError(f"report.csv must have the columns {', '.join(REPORT_COLUMNS)}; it has "
                         f"{', '.join(map(str, df.columns)) or 'none'}")
    df.index = df.index.astype(str)
    return df


def read_confusion_csv(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path, index_col=0)
    df.index = df.index.astype(str)
    df.columns = df.columns.astype(str)
    return df
