"""lrviz.charts and lrviz.compare_charts: the figures carry the right data (values from the schedules, not
re-computed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lrviz import charts, compare_charts
from lrviz.schedules import Schedule


def test_step_schedule_is_drawn_as_stairs_with_drop_markers():
    step = Schedule.create("step", {"factor": 0.5, "drop_every": 5})
    fig = charts.schedule_figure([step], 40, 782, readout_epoch=15)
    line, drops = fig.data
    assert line.line.shape == "hv"
    assert list(line.x[:3]) == [1, 2, 3] and len(line.x) == 41  # epoch k spans [k, k+1)
    assert line.y[14] == pytest.approx(0.00125)  # epoch 15
    assert list(drops.x) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert drops.y[2] == pytest.approx(0.00125)
    assert fig.layout.yaxis.type == "linear"


def test_per_batch_and_log_scale():
    k2 = Schedule.create("time_keras2")
    fig = charts.schedule_figure([k2], 40, 782, per_batch=True, log_y=True)
    (trace,) = fig.data
    assert trace.line.shape in (None, "linear") and len(trace.x) <= 4000
    i = int(np.argmin(np.abs(np.asarray(trace.x) - 2.0)))  # x=2.0 is the first batch of epoch 2
    step = round((trace.x[i] - 1) * 782)
    assert trace.y[i] == pytest.approx(0.01 / (1 + 0.00025 * step))
    assert fig.layout.yaxis.type == "log"


def test_smooth_schedule_per_epoch_is_points_not_stairs():
    cos = Schedule.create("cosine")
    (trace,) = charts.schedule_figure([cos], 10, 5).data
    assert trace.mode == "lines+markers" and list(trace.x) == list(range(1, 11))
    np.testing.assert_allclose(trace.y, cos.per_epoch(10, 5))


def test_schedule_figure_readout_line_colours_and_payload():
    """The readout epoch is a dotted line over the whole plot height with its label, each curve
    keeps its palette colour by position, and no array is sent twice (the stairs' hover reads x)."""
    curves = [Schedule.create("time_keras2"), Schedule.create("step", {"factor": 0.5, "drop_every": 5})]
    fig = charts.schedule_figure(curves, 40, 782, readout_epoch=15)
    (line,) = fig.layout.shapes
    assert (line.type, line.x0, line.x1, line.y0, line.y1, line.yref) == ("line", 15, 15, 0, 1, "y domain")
    assert line.line.dash == "dot"
    (label,) = fig.layout.annotations
    assert label.text == "epoch 15" and label.x == 15 and label.yref == "y domain"
    k2, stairs, drops = fig.data
    # each curve its palette colour by position, told apart, its drop markers in its own colour
    assert (k2.line.color, stairs.line.color) == charts.PALETTE[:2] and k2.line.color != stairs.line.color
    assert drops.marker.color == stairs.line.color
    assert stairs.customdata is None and "%{x}" in stairs.hovertemplate
    assert fig.layout.xaxis.range == (1, 41) and fig.layout.height == 430
    assert not charts.schedule_figure(curves, 40, 782).layout.shapes  # no readout epoch, no line


def _hls(colour: str) -> tuple[float, float, float]:
    import colorsys

    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return colorsys.rgb_to_hls(r, g, b)


def test_palette_colours_are_distinct_and_gain_loss_read_green_red_grey():
    """What the colours mean: runs are told apart; better is green, worse red, no change grey."""
    hues = [_hls(c)[0] * 360 for c in charts.PALETTE]
    assert len(set(charts.PALETTE)) == len(charts.PALETTE)
    apart = abs(hues[0] - hues[1]) % 360
    assert min(apart, 360 - apart) > 60  # the first two runs (A, B) in clearly different hues
    (gh, _, gs), (lh, _, ls), (_, _, ns) = _hls(charts.GAIN), _hls(charts.LOSS), _hls(charts.NO_CHANGE)
    assert 80 <= gh * 360 <= 160 and gs > 0.3  # green
    assert (lh * 360 <= 20 or lh * 360 >= 340) and ls > 0.3  # red
    assert ns < 0.1  # grey


def _history(n=4):
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "loss": np.linspace(2, 1, n), "val_loss": np.linspace(2, 1.2, n),
                         "accuracy": np.linspace(0.3, 0.8, n), "val_accuracy": np.linspace(0.2, 0.7, n),
                         "lr": [0.01, 0.01, 0.005, 0.001], "lr_planned": [0.01, 0.01, 0.005, 0.005]})


def test_metric_and_lr_figures():
    h = _history()
    fig = charts.metric_figure(h, ["loss", "val_loss"], "Loss", "loss", epochs=40)
    assert [t.name for t in fig.data] == ["training loss", "validation loss"]  # the UI's words, not the CSV's
    assert list(fig.data[1].y) == list(h["val_loss"])
    empty = charts.metric_figure(h.iloc[:0], ["loss"], "Loss", "loss", epochs=40)
    assert "waiting" in empty.layout.annotations[0].text
    planned = Schedule.create("step", {"drop_every": 3}).per_epoch(40)
    lr = charts.lr_used_figure(h, planned, [{"epoch": 4, "batch": 11, "kind": "value", "value": 0.001}], 40, 22)
    assert [t.name for t in lr.data] == ["planned schedule", "LR used (read from the optimizer)"]
    assert list(lr.data[1].y[:4]) == [0.01, 0.01, 0.005, 0.001]
    (vline,) = lr.layout.shapes
    assert vline.x0 == pytest.approx(4 + 10 / 22)
    assert lr.layout.annotations[0].text == "set LR = 0.001"


def test_confusion_heatmap_counts():
    m = pd.DataFrame([[5, 1], [0, 4]], index=["cat", "dog"], columns=["cat", "dog"])
    (hm,) = charts.confusion_figure(m).data
    assert hm.z.tolist() == [[5, 1], [0, 4]] and list(hm.x) == ["cat", "dog"]


def test_compare_and_lr_find_figures():
    h = _history()
    fig = compare_charts.compare_figure({"A": h, "B": h.assign(val_accuracy=h.val_accuracy + 0.05)}, "val_accuracy",
                                        "t", "y")
    assert [t.name for t in fig.data] == ["A", "B"]
    lr = np.geomspace(1e-5, 1, 50)
    frame = pd.DataFrame({"lr": lr, "loss": 2 - np.log10(lr) * 0.01, "smoothed_loss": 2 - np.log10(lr) * 0.01})
    sugg = {"steepest": {"lr": 1e-3, "rule": "r"}, "valley": {"lr": 2e-3, "rule": "r"}, "min_div_10": {"lr": None}}
    f = charts.lr_find_figure(frame, sugg)
    assert f.layout.xaxis.type == "log"
    assert sorted(s.x0 for s in f.layout.shapes) == [1e-3, 2e-3]
    assert "steepest descent: 0.001" in [t.name for t in f.data]


@pytest.mark.parametrize("last, dtick, first",
                         [(1, 1, 1), (2, 1, 1), (10, 1, 1), (12, 2, 2), (40, 5, 5), (300, 50, 50)])
def test_epoch_axes_tick_at_whole_epochs(last, dtick, first):
    """Plotly ticks a 2-epoch axis at 1, 1.2, 1.4, ...: every run/compare axis ticks at integers."""
    h = _history(4).iloc[: min(4, last)]
    figs = [compare_charts.compare_figure({"A": h.assign(epoch=np.linspace(1, last, len(h)).round())}, "loss", "t",
                                          "y"),
            charts.metric_figure(h, ["loss"], "Loss", "loss", epochs=last)]
    for fig in figs:
        ax = fig.layout.xaxis
        assert ax.tickmode == "linear" and ax.dtick == dtick
        ticks = np.arange(ax.tick0, last + 1, ax.dtick)
        assert np.all(ticks == np.round(ticks)) and ticks[ticks >= 1][0] == first and len(ticks) <= 11


def test_plateau_reductions_are_marked_apart_from_user_overrides():
    import pandas as pd

    from lrviz.charts import lr_used_figure

    hist = pd.DataFrame({"epoch": [1, 2, 3], "lr": [0.01, 0.01, 0.001]})
    fig = lr_used_figure(hist, np.array([0.01, 0.01, 0.01]), [
        {"epoch": 3, "batch": 1, "kind": "factor", "value": 0.1, "source": "plateau"},
        {"epoch": 2, "batch": 4, "kind": "value", "value": 0.02}], epochs=3, steps_per_epoch=8)
    texts = sorted(a.text for a in fig.layout.annotations)
    assert texts == ["plateau: LR × 0.1", "set LR = 0.02"]
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == [2 + 3 / 8, 3.0]


def test_an_override_marker_text_sits_above_every_lr_line():
    """Issue 19: "set LR = 0.002" sat on the LR line (the text hangs from the plot's top, where the
    highest LR is drawn). The axis now ends 30 % above the highest LR, so the text's band is empty."""
    from lrviz.charts import lr_used_figure, lr_used_figure_resumed

    hist = pd.DataFrame({"epoch": [1, 2, 3, 4], "lr": [0.01, 0.01, 0.002, 0.002]})
    planned = np.array([0.01, 0.01, 0.005, 0.005])
    fig = lr_used_figure(hist, planned, [{"epoch": 3, "batch": 1, "kind": "value", "value": 0.002}], epochs=4)
    (note,) = fig.layout.annotations
    assert note.text == "set LR = 0.002" and note.yref == "y domain" and note.y == 1 and note.yanchor == "top"
    low, high = fig.layout.yaxis.range
    assert low == 0 and high >= 1.25 * 0.01  # the top fifth of the plot holds no line
    no_marks = lr_used_figure(hist, planned, [], epochs=4)
    assert no_marks.layout.yaxis.range is None  # nothing to make room for
    parent = pd.DataFrame({"epoch": [1, 2], "lr": [0.05, 0.05]})
    resumed = lr_used_figure_resumed(hist, parent, planned, [{"epoch": 3, "batch": 1, "kind": "factor",
                                                               "value": 0.5}], epochs=4)
    assert resumed.layout.yaxis.range[1] >= 1.25 * 0.05


def test_an_empty_tournament_chart_has_no_made_up_axis():
    """Issue 19 (running tournament, 800 px screenshot): before the first epoch the validation
    accuracy axis read -1 to 4 (Plotly's range for no data); accuracy's own range is 0 to 1, and an
    LR axis with nothing on it shows no numbers."""
    acc = charts.tournament_figure([], "val_accuracy", "Validation accuracy of every trial", "validation accuracy", 4)
    assert tuple(acc.layout.yaxis.range) == (0, 1)
    lr = charts.tournament_figure([], "lr", "Learning rate of every trial", "learning rate", 4)
    assert lr.layout.yaxis.showticklabels is False
    drawn = charts.tournament_figure([{"schedule": "A", "seed": 1, "history": _history()}], "lr", "t", "y", 4)
    assert drawn.layout.yaxis.range is None and drawn.layout.yaxis.showticklabels is not False
