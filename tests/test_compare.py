"""lrviz.compare: runs table and side-by-side reports against sklearn's own numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report

from lrviz import compare
from lrviz import runs as store


def test_runs_table_rows_and_values(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    t = compare.runs_table(runs_dir)
    assert list(t.columns) == compare.RUN_TABLE_COLUMNS
    assert t["run"].tolist() == [b, a]  # newest first
    row = t.set_index("run").loc[a]
    hist = pd.read_csv(runs_dir / a / "history.csv")
    assert row["best val_accuracy"] == pytest.approx(hist["val_accuracy"].max())
    assert row["final val_accuracy"] == pytest.approx(hist["val_accuracy"].iloc[-1])
    assert row["state"] == "finished" and row["epochs"] == "5/5" and row["dataset"] == "digits"
    assert "factor=0.25" in row["schedule"]


def test_unreadable_run_is_a_row_with_its_problem(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    (runs_dir / a / "config.json").write_text('{"trunc')
    (runs_dir / b / "history.csv").write_text("")
    t = compare.runs_table(runs_dir).set_index("run")
    assert "config.json" in t.loc[a, "problem"]
    assert "history.csv" in t.loc[b, "problem"]


def test_report_comparison_matches_sklearn_and_deltas(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    ra, rb = store.load_run(a, runs_dir).report, store.load_run(b, runs_dir).report
    cmp = compare.report_comparison({"A": ra, "B": rb})
    assert cmp.index[-3:].tolist() == ["accuracy", "macro avg", "weighted avg"]
    np.testing.assert_allclose(cmp["Δ f1-score · B"], rb["f1-score"] - ra["f1-score"])
    assert np.isnan(cmp.loc["accuracy", "precision · A"])  # not smeared
    # independent oracle: sklearn on predictions reconstructed from the confusion matrix
    conf = store.load_run(b, runs_dir).confusion.to_numpy()
    y_true = np.repeat(np.arange(10), conf.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(10), row) for row in conf])
    d = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert cmp.loc["3", "recall · B"] == pytest.approx(d["3"]["recall"])
    assert cmp.loc["accuracy", "f1-score · B"] == pytest.approx(d["accuracy"])


def test_report_comparison_needs_two():
    with pytest.raises(ValueError, match="at least 2"):
        compare.report_comparison({"A": pd.DataFrame()})


def test_style_colours_only_the_deltas(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    cmp = compare.report_comparison({"A": store.load_run(a, runs_dir).report, "B": store.load_run(b, runs_dir).report})
    html = compare.style_comparison(cmp).to_html()
    deltas = cmp.filter(like="Δ").to_numpy().ravel()
    assert ("#d8f0d8" in html) == bool((deltas >= 0.005).any())
    assert ("#f7dada" in html) == bool((deltas <= -0.005).any())
    assert compare.delta_colour(0.03) == compare.BETTER and compare.delta_colour(-0.02) == compare.WORSE
    assert compare.delta_colour(0.004) == "" and compare.delta_colour(float("nan")) == ""
    json.dumps(cmp.round(6).fillna(0).to_dict())  # plain numbers
