"""lrviz.report_comparison: per-class reports side by side against sklearn's own numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report

from lrviz import runs as runs_api
from lrviz.report_comparison import (
    BETTER,
    WORSE,
    class_deltas,
    delta_colour,
    metric_table,
    report_comparison,
    style_comparison,
)


def test_report_comparison_matches_sklearn_and_deltas(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    ra, rb = runs_api.load_run(a, runs_dir).extras["report"], runs_api.load_run(b, runs_dir).extras["report"]
    cmp = report_comparison({"A": ra, "B": rb})
    assert cmp.index[-3:].tolist() == ["accuracy", "macro avg", "weighted avg"]
    np.testing.assert_allclose(cmp["Δ f1-score · B"], rb["f1-score"] - ra["f1-score"])
    assert np.isnan(cmp.loc["accuracy", "precision · A"])  # not smeared
    # independent oracle: sklearn on predictions reconstructed from the confusion matrix
    conf = runs_api.load_run(b, runs_dir).extras["confusion"].to_numpy()
    y_true = np.repeat(np.arange(10), conf.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(10), row) for row in conf])
    d = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert cmp.loc["3", "recall · B"] == pytest.approx(d["3"]["recall"])
    assert cmp.loc["accuracy", "f1-score · B"] == pytest.approx(d["accuracy"])


def test_report_comparison_needs_two():
    with pytest.raises(ValueError, match="at least 2"):
        report_comparison({"A": pd.DataFrame()})


def test_style_colours_only_the_deltas(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    cmp = report_comparison({"A": runs_api.load_run(a, runs_dir).extras["report"],
                             "B": runs_api.load_run(b, runs_dir).extras["report"]})
    html = style_comparison(cmp).to_html()
    deltas = cmp.filter(like="Δ").to_numpy().ravel()
    assert ("#d8f0d8" in html) == bool((deltas >= 0.005).any())
    assert ("#f7dada" in html) == bool((deltas <= -0.005).any())
    assert delta_colour(0.03) == BETTER and delta_colour(-0.02) == WORSE
    assert delta_colour(0.004) == "" and delta_colour(float("nan")) == ""
    json.dumps(cmp.round(6).fillna(0).to_dict())  # plain numbers


def test_class_deltas_are_the_per_class_delta_columns(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    ra, rb = runs_api.load_run(a, runs_dir).extras["report"], runs_api.load_run(b, runs_dir).extras["report"]
    d = class_deltas(report_comparison({"A": ra, "B": rb}))
    assert list(d.columns) == ["B"] and list(d.index) == [str(i) for i in range(10)]
    assert d.loc["3", "B"] == pytest.approx(rb.loc["3", "f1-score"] - ra.loc["3", "f1-score"])


def test_styled_comparison_is_text_with_blanks_and_a_class_column(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    cmp = report_comparison({"A": runs_api.load_run(a, runs_dir).extras["report"],
                             "B": runs_api.load_run(b, runs_dir).extras["report"]})
    shown = style_comparison(cmp).data
    assert shown.columns[0] == "class" and shown["class"].tolist()[-3:] == ["accuracy", "macro avg", "weighted avg"]
    acc = shown.set_index("class").loc["accuracy"]
    assert acc["precision · A"] == "" and acc["Δ recall · B"] == ""
    assert acc["f1-score · A"] == f"{cmp.loc['accuracy', 'f1-score · A']:.2f}"


def test_one_table_per_metric(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    ra, rb = runs_api.load_run(a, runs_dir).extras["report"], runs_api.load_run(b, runs_dir).extras["report"]
    f1 = metric_table(report_comparison({"A": ra, "B": rb}), "f1-score")
    assert list(f1.columns) == ["A", "B", "B − A"]  # headers a few pixels wide, not whole labels
    assert f1.loc["3", "B − A"] == pytest.approx(rb.loc["3", "f1-score"] - ra.loc["3", "f1-score"])
    assert f1.loc["accuracy", "A"] == pytest.approx(ra.loc["accuracy", "f1-score"])
    shown = style_comparison(f1)
    assert shown.data.columns[0] == "class"
    html = shown.to_html()
    assert ("#d8f0d8" in html) == bool((f1["B − A"] >= 0.005).any())  # the difference column is coloured
    assert ("#f7dada" in html) == bool((f1["B − A"] <= -0.005).any())
