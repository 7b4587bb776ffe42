"""lrviz.explorer: URL round trip, readouts and tables (hand-computed tutorial values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lrviz import explorer as ex
from lrviz.schedules import Schedule


def test_defaults_are_the_tutorial_comparison():
    s = ex.ExplorerState()
    assert [c.name for c in s.curves] == ["time_keras2", "step"]
    assert s.epochs == 40 and s.steps_per_epoch == 782 and s.readout_epoch == 15
    assert ex.lr_at(s.curves[1], 15, s.steps_per_epoch) == pytest.approx(0.00125)


def test_query_round_trip_reproduces_the_view():
    s = ex.ExplorerState(
        curves=[Schedule.create("step", {"factor": 0.25, "drop_every": 10}),
                Schedule.create("piecewise", {"boundaries": [2, 5], "values": [0.1, 0.01, 0.001]}),
                Schedule.create("exponential", {"staircase": True}, warmup=2)],
        epochs=60, train_size=1347, batch_size=32, readout_epoch=20, threshold=0.0005, log_y=True, per_batch=True,
    )
    query = {k: v if isinstance(v, list) else [v] for k, v in s.to_query().items()}
    again, warnings = ex.ExplorerState.from_query(query)
    assert warnings == []
    assert again == s


@pytest.mark.parametrize(
    "query,needle",
    [
        ({"c": ["step;factor=2"]}, "factor"),
        ({"c": ["nope"]}, "schedule"),
        ({"c": ["step;factor"]}, "key=value"),
        ({"epochs": ["-3"]}, "epochs"),
        ({"epochs": ["1e9"]}, "epochs"),
        ({"batch_size": ["nan"]}, "batch_size"),
        ({"threshold": ["-1"]}, "threshold"),
        ({"readout_epoch": ["99"]}, "readout_epoch"),
        ({"log_y": ["maybe"]}, "log_y"),
    ],
)
def test_garbage_in_the_url_gives_a_warning_and_defaults(query, needle):
    state, warnings = ex.ExplorerState.from_query(query)
    assert len(warnings) == 1 and needle in warnings[0]
    default = ex.ExplorerState()
    assert [c.name for c in state.curves] == [c.name for c in default.curves]
    assert state.epochs == default.epochs and state.batch_size == default.batch_size


def test_first_epoch_at_or_below_and_drops():
    step = Schedule.create("step", {"factor": 0.5, "drop_every": 5})
    # 1-based epochs 5..9 run at 0.005, 10..14 at 0.0025, 15.. at 0.00125
    assert ex.first_epoch_at_or_below(step, 0.0025, 40, 1) == 10
    assert ex.first_epoch_at_or_below(step, 0.00125, 40, 1) == 15
    assert ex.first_epoch_at_or_below(step, 1e-9, 40, 1) is None
    np.testing.assert_array_equal(ex.drop_epochs(step.per_epoch(20)), [5, 10, 15, 20])
    # a warmup starting below the threshold does not count: the search starts at the peak
    warm = Schedule.create("cosine", {"lr": 0.01, "decay_epochs": 10, "warmup_epochs": 3, "warmup_start_lr": 0.0005})
    lrs = warm.per_epoch(20)
    assert lrs[0] <= 0.001 and ex.first_epoch_at_or_below(warm, 0.001, 20, 1) == 1 + int(
        np.flatnonzero((np.arange(20) >= 3) & (lrs <= 0.001))[0])


def test_threshold_readout_says_what_is_true_for_a_schedule_that_rises_again():
    tri = Schedule.create("triangular", {"base_lr": 0.001, "max_lr": 0.01, "half_cycle_epochs": 4})
    # independent: a triangle of period 8 epochs is at its base at 0-based epochs 0, 8, 16, ...
    at_base = [e + 1 for e in range(40) if e % 8 == 0]
    assert at_base == [1, 9, 17, 25, 33]
    assert ex.threshold_readout(tri, 0.001, 40, 1) == "LR ≤ 0.001 only at epochs 1, 9, 17, 25 and 33"
    step = Schedule.create("step")  # 0.00125 from 1-based epoch 15, never above it again
    assert ex.threshold_readout(step, 0.00125, 40, 1) == "LR ≤ 0.00125 from epoch 15 on"
    assert ex.threshold_readout(step, 1e-9, 40, 1) == "LR stays above 1e-09 for all 40 epochs"
    sgdr = Schedule.create("cosine_restarts", {"first_decay_epochs": 2, "t_mul": 1.0})  # 0.01, 0.005, 0.01, ...
    assert ex.threshold_readout(sgdr, 0.005, 7, 1) == "LR ≤ 0.005 only at epochs 2, 4 and 6"
    assert ex.threshold_readout(sgdr, 0.005, 40, 1) == "LR ≤ 0.005 only at 20 of 40 epochs (first 2, last 40)"
    warm = Schedule.create("cosine", {"lr": 0.01, "alpha": 0.5, "warmup_epochs": 3, "warmup_start_lr": 0.0005})
    assert ex.threshold_readout(warm, 0.001, 20, 1) == "LR stays above 0.001 from epoch 2 on"  # 0.0005 at epoch 1


def test_share_link_reads_as_typed_and_reopens_the_view():
    from urllib.parse import parse_qs, urlsplit

    state = ex.ExplorerState(curves=[Schedule.create("step", {"factor": 0.25}), Schedule.create("time_keras2")],
                             epochs=30)
    link = state.share_link("http://localhost:8501/explorer?c=old")
    assert link == "http://localhost:8501/explorer?c=step;factor=0.25&c=time_keras2&epochs=30"
    back, warnings = ex.ExplorerState.from_query(parse_qs(urlsplit(link).query))
    assert not warnings and back.to_query() == state.to_query()
    piecewise = ex.ExplorerState(curves=[Schedule.create("piecewise", {"boundaries": "3,6", "values": "1,0.5,0.1"})])
    assert "c=piecewise;boundaries=3,6;values=1,0.5,0.1" in piecewise.share_link(None)


def test_lr_table_and_csv():
    curves = ex.default_curves()
    t = ex.lr_table(curves, 40, 782)
    assert list(t.columns) == ["epoch", "Time-based decay (Keras 2, per batch)", "Step decay"]
    assert t["epoch"].tolist() == list(range(1, 41))
    assert t.loc[t.epoch == 15, "Step decay"].item() == pytest.approx(0.00125)
    # epoch 2 starts after 782 batches: 0.01 / (1 + 0.00025 * 782)
    assert t.iloc[1, 1] == pytest.approx(0.01 / (1 + 0.00025 * 782))
    from io import StringIO

    back = pd.read_csv(StringIO(t.to_csv(index=False)))
    np.testing.assert_allclose(back.iloc[:, 1:].to_numpy(), t.iloc[:, 1:].to_numpy(), rtol=1e-12)


def test_two_schedules_of_one_kind_are_named_by_what_differs():
    """The tutorial's comparison, F=0.25 against F=0.5: the legend says which is which."""
    curves = [Schedule.create("step", {"factor": 0.25}), Schedule.create("step"), Schedule.create("time_keras2")]
    assert ex.curve_labels(curves) == ["Step decay (factor=0.25)", "Step decay (factor=0.5)",
                                       "Time-based decay (Keras 2, per batch)"]
    assert list(ex.lr_table(curves, 3, 1).columns[1:]) == ex.curve_labels(curves)


def test_legacy_decay_readings_match_the_design_numbers():
    t = ex.legacy_decay_readings()
    assert list(t.columns) == ["reading", "LR in epoch 40", "LR after 40 epochs", "what it is"]  # LRs first
    after = dict(zip(t["reading"], t["LR after 40 epochs"]))
    assert after["Time-based decay (Keras 2, per batch)"] == pytest.approx(0.00113, abs=5e-6)
    assert after["Time-based decay (per epoch)"] == pytest.approx(0.0099, abs=1e-4)
    assert after["Time-based decay (tutorial's recursion)"] == pytest.approx(0.0082, abs=1e-4)


def test_with_param_validates():
    s = ex.with_param(Schedule.create("step"), factor=0.25, warmup=1)
    assert s.params["factor"] == 0.25 and s.warmup == 1
    with pytest.raises(ValueError, match="factor"):
        ex.with_param(s, factor=0)


def test_share_link_reopens_the_same_view():
    from urllib.parse import parse_qs, urlsplit

    state, _ = ex.ExplorerState.from_query({"epochs": ["30"], "log_y": ["1"]})
    link = state.share_link("http://localhost:8501/?old=1")
    parts = urlsplit(link)
    assert parts.netloc == "localhost:8501" and "old" not in parts.query
    again, warnings = ex.ExplorerState.from_query(parse_qs(parts.query))
    assert not warnings and again.to_query() == state.to_query() and again.epochs == 30 and again.log_y


def test_same_lr_groups_finds_the_tutorials_step_decays_tied_with_constant_until_their_first_drop():
    """alpha = 0.01 * F ** floor((1 + epoch) / D): with D=5 both step decays are 0.01, as constant is,
    for the 0-based epochs 0..3, and drop at 1-based epoch 5; Keras 2's decay moves from batch 2."""
    from lrviz.tournament import preset

    tutorial = [Schedule.from_config(c) for c in preset("tutorial")["schedules"]]
    assert [s.name for s in tutorial] == ["constant", "time_keras2", "step", "step"]
    assert ex.same_lr_groups(tutorial, 2) == [([0, 2, 3], 5)]
    assert ex.same_lr_groups(tutorial, 4) == [([0, 2, 3], 5)]
    assert ex.same_lr_groups(tutorial, 5) == []  # the first drop is inside the run: they can differ
    twins = [Schedule.create("constant", {"lr": 0.01})] * 2
    assert ex.same_lr_groups(twins, 3, horizon=20) == [([0, 1], None)]  # never part


def test_the_links_inputs_are_fields_a_bool_is_no_number():
    from lrviz.explorer import FIELDS, validate_epochs, validate_readout_epoch

    with pytest.raises(ValueError) as e:
        validate_epochs(True)  # a checkbox's True is not one epoch
    assert str(e.value) == "Argument `epochs` must be an integer >= 1 and <= 1000. Received: epochs=True"
    state, warnings = ex.ExplorerState.from_query({"threshold": ["0"]})
    assert state.threshold == 0.001 and warnings == [
        "Ignored `threshold` from the link: Argument `threshold` must be a finite number > 0. Received: threshold=0"]
    assert FIELDS["threshold"].parse("1e-3") == 0.001
    assert validate_readout_epoch("12", 12) == 12
    with pytest.raises(ValueError, match="must be an integer >= 1 and <= 12. Received: readout_epoch=13"):
        validate_readout_epoch("13", 12)
