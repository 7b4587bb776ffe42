"""lrviz.compare_charts: the Runs page's comparison charts carry each run's values, in its colour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrviz.charts import GAIN, LOSS, NO_CHANGE
from lrviz.compare_charts import LEGEND_LINE_CHARS, class_delta_figure, compare_figure, legend_lines


def _history(n=4):  # as tests/test_charts.py's
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "loss": np.linspace(2, 1, n), "val_loss": np.linspace(2, 1.2, n),
                         "accuracy": np.linspace(0.3, 0.8, n), "val_accuracy": np.linspace(0.2, 0.7, n),
                         "lr": [0.01, 0.01, 0.005, 0.001], "lr_planned": [0.01, 0.01, 0.005, 0.005]})


def test_compare_loss_on_a_log_axis():
    h = _history()
    wild = h.assign(loss=[2.3, 1e10, 1e10, np.nan])
    fig = compare_figure({"A": h, "B": wild}, "loss", "Training loss", "training loss", log_y=True)
    assert fig.layout.yaxis.type == "log" and "log" in fig.layout.yaxis.title.text
    assert compare_figure({"A": h}, "loss", "t", "y").layout.yaxis.type in (None, "linear", "-")


def test_class_delta_bars_are_green_where_better_red_where_worse():
    """Issue 19: the bars were drawn in the run's colour, gains included, under a caption saying
    green is better and red worse. Now a bar's colour is its sign, as in the report table."""
    deltas = pd.DataFrame({"B": [0.1, -0.2, 0.001], "C": [-0.3, 0.05, float("nan")]}, index=["0", "1", "2"])
    fig = class_delta_figure(deltas, "A")
    assert [t.type for t in fig.data] == ["bar", "bar"] and [t.name for t in fig.data] == ["B − A", "C − A"]
    assert list(fig.data[1].y[:2]) == [-0.3, 0.05] and list(fig.data[0].x) == ["0", "1", "2"]
    g, r, grey = GAIN, LOSS, NO_CHANGE
    assert list(fig.data[0].marker.color) == [g, r, grey]  # 0.001 rounds to +0.00: no colour
    assert list(fig.data[1].marker.color) == [r, g, grey]
    assert fig.data[0].marker.pattern.shape != fig.data[1].marker.pattern.shape  # runs told apart by pattern
    assert fig.layout.showlegend is not False and fig.data[0].showlegend
    # short titles: the y title is not a run's whole label (it was cut and ran into the title)
    assert fig.layout.yaxis.title.text == "Δ f1-score" and fig.layout.title.text == "Δ f1-score per class, minus A"
    one = class_delta_figure(deltas[["B"]], "A")
    assert one.layout.title.text == "Δ f1-score per class: B − A" and one.data[0].showlegend is False


def test_compare_legends_wrap_inside_a_narrow_chart():
    """A run's label ("A · batch 64 · time_keras2 · decay=0.00025") ran out of a half-width chart
    at 800 px; its legend entry now breaks at the " · " marks (and a long name at its spaces)."""
    label = "A · batch 64 · time_keras2 · decay=0.00025"
    assert legend_lines(label) == "A · batch 64 · time_keras2<br>decay=0.00025"
    name = "B · " + "my own name for the run I trained on friday"
    lines = legend_lines(name).split("<br>")
    assert all(len(x) <= LEGEND_LINE_CHARS for x in lines) and " ".join(lines) == name
    fig = compare_figure({label: _history(), "B · factor=0.5": _history()}, "loss", "t", "y")
    assert [t.name for t in fig.data] == ["A · batch 64 · time_keras2<br>decay=0.00025", "B · factor=0.5"]
