"""lrviz.explorer_preview: the numbers the browser shows the moment a slider moves are the ones the
page draws once Python has rerun at that position (checked against the figure built for it and the
tutorial's step formula)."""

from __future__ import annotations

import math

import pytest

from lrviz import explorer as ex
from lrviz.charts import schedule_figure
from lrviz.explorer_preview import MAX_POINTS, slider_positions, slider_previews
from lrviz.schedules import Schedule

FACTOR = (0.05, 0.95, 0.05)


def test_positions_are_the_sliders_nearby_steps_inside_its_ends():
    assert slider_positions(0.5, FACTOR, 3) == [0.35, 0.4, 0.45, 0.55, 0.6, 0.65]
    assert slider_positions(0.05, FACTOR, 3) == [0.1, 0.15, 0.2]  # its low end
    assert slider_positions(0.95, FACTOR, 2) == [0.85, 0.9]
    assert slider_positions(5, (1, 20, 1), 2) == [3, 4, 6, 7]
    assert all(isinstance(v, int) for v in slider_positions(5, (1, 20, 1), 2))
    assert slider_positions(0.52, FACTOR, 3) == []  # off the slider's grid: no position is a step away


def test_a_step_decay_preview_is_the_tutorials_formula_and_the_figure_python_draws():
    time_k2, step = Schedule.create("time_keras2"), Schedule.create("step", {"factor": 0.5, "drop_every": 5})
    previews = slider_previews([time_k2, step], 40, 782, per_batch=False, readout_epoch=15, threshold=0.001)
    assert {(p.curve, p.param) for p in previews} == {(1, "factor"), (1, "drop_every")}  # time_keras2 has none
    factor = next(p for p in previews if p.param == "factor")
    assert [e["value"] for e in factor.entries] == [0.35, 0.4, 0.45, 0.55, 0.6, 0.65]
    for e in factor.entries:
        f = e["value"]
        line, drops = e["traces"]
        tutorial = [0.01 * f ** math.floor((1 + k) / 5) for k in range(40)]
        assert line["y"] == pytest.approx(tutorial + tutorial[-1:], rel=1e-12, abs=0)  # a stair: last step held
        assert line["x"] == list(range(1, 42)) and (line["meta"], drops["meta"]) == ("curve1", "curve1:drops")
        assert drops["x"] == [5, 10, 15, 20, 25, 30, 35, 40]  # the epochs whose LR is lower than the one before
        assert e["readout"] == ex.format_lr(0.01 * f ** 3)  # epoch 15 (1-based) is index 14: floor(15/5) = 3
        first = 1 + next(k for k in range(40) if tutorial[k] <= 0.001)
        assert e["note"] == f"LR ≤ 0.001 from epoch {first} on"
        # what the page draws after its rerun at F=f: the same traces for that curve
        fig = schedule_figure([time_k2, Schedule.create("step", {"factor": f, "drop_every": 5})], 40, 782,
                              readout_epoch=15)
        drawn = [t for t in fig.data if str(t.meta).startswith("curve1")]
        assert [list(t.y) for t in drawn] == [line["y"], drops["y"]]
        assert [t.name for t in drawn] == [line["name"], drops["name"]]
    assert next(e for e in factor.entries if e["value"] == 0.45)["readout"] == "0.00091125"


def test_two_curves_of_a_kind_are_named_by_what_differs_in_each_version():
    a, b = Schedule.create("step", {"factor": 0.25}), Schedule.create("step", {"factor": 0.5})
    previews = slider_previews([a, b], 40, 782, per_batch=False, readout_epoch=15, threshold=0.001)
    entry = next(e for p in previews if (p.curve, p.param) == (1, "factor") for e in p.entries if e["value"] == 0.45)
    assert entry["traces"][0]["name"] == "Step decay (factor=0.45)"


def test_a_value_off_the_slider_and_a_curve_too_large_to_send_have_no_preview():
    off = Schedule.create("step", {"factor": 0.97})  # the editor draws a number box for it
    assert [p.param for p in slider_previews([off], 40, 782, per_batch=False, readout_epoch=15,
                                             threshold=0.001)] == ["drop_every"]
    smooth = Schedule.create("exponential", {"decay_rate": 0.5})
    per_epoch = slider_previews([smooth], 40, 782, per_batch=False, readout_epoch=15, threshold=0.001)
    assert [p.param for p in per_epoch] == ["decay_rate"]
    # per batch, a smooth curve is thousands of points: more than MAX_POINTS, so it is not sent six times
    assert len(schedule_figure([smooth], 40, 782, per_batch=True).data[0].x) > MAX_POINTS
    assert slider_previews([smooth], 40, 782, per_batch=True, readout_epoch=15, threshold=0.001) == []
    # a stair stays a stair per batch: still previewed
    step = Schedule.create("step")
    assert slider_previews([step], 40, 782, per_batch=True, readout_epoch=15, threshold=0.001)


def test_a_warmup_is_kept_in_every_version():
    warm = Schedule.create("step", {"factor": 0.5}, warmup=2, warmup_start_factor=0.1)
    (factor, _) = slider_previews([warm], 40, 782, per_batch=False, readout_epoch=1, threshold=0.001)
    e = next(e for e in factor.entries if e["value"] == 0.45)
    alt = Schedule.create("step", {"factor": 0.45}, warmup=2, warmup_start_factor=0.1)
    assert e["readout"] == ex.format_lr(alt.at_epoch(0, 782)) != ex.format_lr(Schedule.create("step").at_epoch(0, 782))


def test_a_curve_drawn_in_its_last_valid_version_has_no_preview():
    """Its editor shows an error: the rerun after a move still draws the last valid version, so a
    preview of the moved one would show what Python then does not draw."""
    a, b = Schedule.create("step"), Schedule.create("step", {"factor": 0.25})
    both = slider_previews([a, b], 40, 782, per_batch=False, readout_epoch=15, threshold=0.001)
    assert {p.curve for p in both} == {0, 1}
    one = slider_previews([a, b], 40, 782, per_batch=False, readout_epoch=15, threshold=0.001, stale=[False, True])
    assert {p.curve for p in one} == {0}
