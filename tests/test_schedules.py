"""lrviz.schedules against independent oracles: Keras' own schedule classes, the tutorial's
hand-computed numbers, and invariants over the whole registry (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrviz.schedules import (
    KERAS2_STEPS_PER_EPOCH,
    REGISTRY,
    Param,
    Schedule,
    get_spec,
    steps_per_epoch_for,
)

keras = pytest.importorskip("keras")
KS = keras.optimizers.schedules


def keras_values(schedule_obj, steps) -> np.ndarray:
    return np.array([float(schedule_obj(int(s))) for s in steps])


# --------------------------------------------------------------------- the tutorial's numbers


def test_step_decay_tutorial_points():
    f05 = Schedule.create("step", {"lr": 0.01, "factor": 0.5, "drop_every": 5})
    f025 = Schedule.create("step", {"lr": 0.01, "factor": 0.25, "drop_every": 5})
    # "Epoch 15/40" is index 14: 0.01 * F ** floor(15 / 5) = 0.01 * F**3
    assert f05.at_epoch(14) == pytest.approx(0.00125, rel=1e-12)
    assert f025.at_epoch(14) == pytest.approx(0.00015625, rel=1e-12)
    # Because of the `1 +`, the first drop is at index 4 (the 5th epoch Keras prints).
    assert f05.at_epoch(3) == 0.01 and f05.at_epoch(4) == pytest.approx(0.005)


def test_step_decay_matches_the_tutorials_own_function():
    def tutorial_step_decay(epoch, init_alpha=0.01, factor=0.25, drop_every=5):  # copied from the seed
        return float(init_alpha * (factor ** np.floor((1 + epoch) / drop_every)))

    s = Schedule.create("step", {"factor": 0.25})
    assert s.per_epoch(40).tolist() == pytest.approx([tutorial_step_decay(e) for e in range(40)], rel=1e-12)


def test_keras2_decay_reading_end_of_40_epochs():
    assert KERAS2_STEPS_PER_EPOCH == 782 == steps_per_epoch_for(50_000, 64)
    s = Schedule.create("time_keras2", {"lr": 0.01, "decay": 0.01 / 40})
    # after 40 epochs, t = 40 * 782 = 31280 batches: 0.01 / (1 + 0.00025 * 31280)
    assert s.at_step(40 * 782, 782) == pytest.approx(0.00113, abs=5e-6)
    assert s.at_step(40 * 782, 782) == pytest.approx(0.01 / 8.82, rel=1e-12)


def test_other_readings_of_decay_end_near_tutorial_values():
    per_epoch = Schedule.create("time_epoch")
    recursive = Schedule.create("time_recursive")
    assert per_epoch.at_epoch(40) == pytest.approx(0.0099, abs=1e-4)
    assert recursive.at_epoch(40) == pytest.approx(0.0082, abs=1e-4)
    # The recursion by hand: a_{e+1} = a_e / (1 + gamma * e)
    a = 0.01
    for e in range(10):
        assert recursive.at_epoch(e) == pytest.approx(a, rel=1e-12)
        a = a / (1 + 0.00025 * e)


# --------------------------------------------------------------------- Keras oracles


def test_keras2_reading_equals_inverse_time_decay():
    s = Schedule.create("time_keras2", {"lr": 0.01, "decay": 0.00025})
    steps = [0, 1, 781, 782, 15_640, 31_279, 31_280, 100_000]
    oracle = KS.InverseTimeDecay(0.01, decay_steps=1, decay_rate=0.00025)
    np.testing.assert_allclose(s.at_steps(steps, 782), keras_values(oracle, steps), rtol=2e-5)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_equals_keras(staircase):
    spe = 7
    s = Schedule.create("exponential", {"lr": 0.02, "decay_rate": 0.6, "decay_epochs": 3, "staircase": staircase})
    oracle = KS.ExponentialDecay(0.02, decay_steps=3 * spe, decay_rate=0.6, staircase=staircase)
    steps = [0, 1, 20, 21, 22, 41, 42, 100, 700]
    np.testing.assert_allclose(s.at_steps(steps, spe), keras_values(oracle, steps), rtol=2e-5)


def test_piecewise_equals_keras_with_shifted_boundaries():
    # lrviz: value i+1 starts AT boundary b (epoch index); Keras: value i+1 starts AFTER b.
    s = Schedule.create("piecewise", {"boundaries": [3, 7], "values": [0.1, 0.01, 0.001]})
    oracle = KS.PiecewiseConstantDecay([2, 6], [0.1, 0.01, 0.001])
    epochs = list(range(12))
    np.testing.assert_allclose(s.per_epoch(12), keras_values(oracle, epochs), rtol=2e-5)


def test_polynomial_equals_keras():
    spe = 10
    s = Schedule.create("polynomial", {"lr": 0.1, "end_lr": 0.001, "decay_epochs": 5, "power": 2.0})
    oracle = KS.PolynomialDecay(0.1, decay_steps=50, end_learning_rate=0.001, power=2.0)
    steps = [0, 1, 10, 25, 49, 50, 51, 500]
    np.testing.assert_allclose(s.at_steps(steps, spe), keras_values(oracle, steps), rtol=1e-5)


@pytest.mark.parametrize("warmup", [0, 2])
def test_cosine_equals_keras(warmup):
    spe = 10
    s = Schedule.create("cosine", {"lr": 0.05, "decay_epochs": 8, "alpha": 0.1, "warmup_epochs": warmup,
                                   "warmup_start_lr": 0.001})
    if warmup:
        oracle = KS.CosineDecay(0.001, decay_steps=80, alpha=0.1, warmup_target=0.05, warmup_steps=20)
    else:
        oracle = KS.CosineDecay(0.05, decay_steps=80, alpha=0.1)
    steps = [0, 1, 5, 19, 20, 21, 40, 60, 99, 100, 150]
    np.testing.assert_allclose(s.at_steps(steps, spe), keras_values(oracle, steps), rtol=1e-5)


@pytest.mark.parametrize("t_mul,m_mul", [(2.0, 1.0), (1.0, 0.5), (1.5, 0.8)])
def test_cosine_restarts_equals_keras(t_mul, m_mul):
    spe = 4
    s = Schedule.create("cosine_restarts", {"lr": 0.03, "first_decay_epochs": 3, "t_mul": t_mul, "m_mul": m_mul,
                                            "alpha": 0.05})
    oracle = KS.CosineDecayRestarts(0.03, first_decay_steps=12, t_mul=t_mul, m_mul=m_mul, alpha=0.05)
    steps = list(range(0, 120, 5)) + [11, 12, 13, 35, 36, 37]
    np.testing.assert_allclose(s.at_steps(steps, spe), keras_values(oracle, steps), rtol=1e-5, atol=1e-9)


def test_one_cycle_named_points():
    s = Schedule.create("one_cycle", {"max_lr": 0.1, "total_epochs": 10, "pct_start": 0.3, "div_factor": 25,
                                      "final_div_factor": 1e4})
    spe = 100
    assert s.at_step(0, spe) == pytest.approx(0.1 / 25)
    assert s.at_step(300, spe) == pytest.approx(0.1)  # peak at pct_start
    assert s.at_step(150, spe) == pytest.approx((0.004 + 0.1) / 2)  # cosine midpoint
    assert s.at_step(1000, spe) == pytest.approx(0.1 / 25 / 1e4)
    assert s.at_step(5000, spe) == pytest.approx(0.1 / 25 / 1e4)  # flat after the cycle


def _cos_anneal(a, b, pct):  # from a (pct 0) to b (pct 1), the formula optax and PyTorch both use
    return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)


def optax_cosine_onecycle(step, transition_steps, peak_value, pct_start=0.3, div_factor=25.0,
                          final_div_factor=1e4):
    """optax.cosine_onecycle_schedule re-stated: piecewise cosine interpolation from
    peak/div_factor, boundaries int(pct_start * T) (x div_factor) and T (x 1/(div_factor *
    final_div_factor)), the fraction of each piece clipped to [0, 1]."""
    init = peak_value / div_factor
    peak_step = int(pct_start * transition_steps)
    if step < peak_step:
        return _cos_anneal(init, peak_value, step / peak_step)
    pct = min(max((step - peak_step) / (transition_steps - peak_step), 0.0), 1.0)
    return _cos_anneal(peak_value, init / final_div_factor, pct)


def torch_one_cycle(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """torch.optim.lr_scheduler.OneCycleLR(anneal_strategy='cos', three_phase=False).get_lr() re-stated
    at step_num = step (the LR of 0-based batch `step`; PyTorch refuses step > total_steps)."""
    initial = max_lr / div_factor
    phases = [(float(pct_start * total_steps) - 1, initial, max_lr),
              (total_steps - 1, max_lr, initial / final_div_factor)]
    start_step = 0.0
    for i, (end_step, a, b) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            return _cos_anneal(a, b, (step - start_step) / (end_step - start_step))
        start_step = end_step
    raise AssertionError("unreachable")


ONE_CYCLE = {"max_lr": 0.1, "total_epochs": 10, "pct_start": 0.3, "div_factor": 25, "final_div_factor": 1e4}


def test_one_cycle_is_optax_cosine_onecycle_when_the_peak_falls_on_a_step():
    s = Schedule.create("one_cycle", ONE_CYCLE)
    for spe in (100, 10, 7):  # pct_start * T = 300, 30, 21 steps
        total = 10 * spe
        steps = np.arange(total + 25)
        oracle = [optax_cosine_onecycle(int(k), total, 0.1, 0.3, 25.0, 1e4) for k in steps]
        np.testing.assert_allclose(s.at_steps(steps, spe), oracle, rtol=1e-12)
    # optax rounds a peak between two steps down (pct_start * T = 6.3 -> 6); lrviz keeps it at 6.3
    short = Schedule.create("one_cycle", {**ONE_CYCLE, "total_epochs": 3})
    assert optax_cosine_onecycle(6, 21, 0.1) == pytest.approx(0.1) and short.at_step(6, 7) < 0.1


def test_one_cycle_peaks_and_ends_one_step_after_pytorchs_one_cycle_lr():
    s = Schedule.create("one_cycle", ONE_CYCLE)
    spe, total = 100, 1000
    torch = np.array([torch_one_cycle(k, total, 0.1) for k in range(total + 1)])
    ours = s.at_steps(np.arange(total + 2), spe)
    end = 0.1 / 25 / 1e4
    assert torch[0] == pytest.approx(ours[0]) == pytest.approx(0.004)  # both start at max_lr / div_factor
    assert int(np.argmax(torch)) == 299 and torch[299] == pytest.approx(0.1)  # PyTorch: pct_start * T - 1
    assert int(np.argmax(ours)) == 300 and ours[300] == pytest.approx(0.1) and ours[299] < 0.1 - 1e-9
    assert torch[999] == pytest.approx(end) and ours[999] > end * 1.01  # PyTorch ends at T - 1 ...
    assert ours[1000] == pytest.approx(end)  # ... lrviz at T
    # the fall is the same curve one step later; the rise is one step longer
    np.testing.assert_allclose(ours[300:1001], torch[299:1000], rtol=1e-12)
    assert not np.allclose(ours[1:300], torch[1:300], rtol=1e-3)


def test_triangular_named_points():
    s = Schedule.create("triangular", {"base_lr": 0.001, "max_lr": 0.006, "half_cycle_epochs": 2,
                                       "cycle_scale": 0.5})
    assert s.at_epoch(0) == pytest.approx(0.001)
    assert s.at_epoch(1) == pytest.approx(0.0035)
    assert s.at_epoch(2) == pytest.approx(0.006)
    assert s.at_epoch(4) == pytest.approx(0.001)
    assert s.at_epoch(6) == pytest.approx(0.001 + 0.005 * 0.5)  # second cycle at half amplitude


def test_warmup_wrapper_rises_then_plays_the_schedule_shifted():
    base = Schedule.create("step", {"factor": 0.5, "drop_every": 5})
    s = Schedule.create("step", {"factor": 0.5, "drop_every": 5}, warmup=2, warmup_start_factor=0.1)
    spe = 10
    assert s.at_step(0, spe) == pytest.approx(0.001)
    assert s.at_step(10, spe) == pytest.approx(0.001 + 0.009 * 0.5)
    lrs = s.per_step(2, spe)
    assert np.all(np.diff(lrs) > 0)
    for e in range(10):
        assert s.at_epoch(e + 2, spe) == pytest.approx(base.at_epoch(e, spe))


# --------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name,params,needle",
    [
        ("step", {"factor": 0.0}, "Argument `factor` must be a finite number > 0 and < 1. Received: factor=0.0"),
        ("step", {"factor": 1.0}, "Received: factor=1.0"),
        ("step", {"drop_every": 0}, "Argument `drop_every` must be an integer >= 1"),
        ("step", {"drop_every": 2.5}, "drop_every=2.5"),
        ("step", {"lr": -0.01}, "Argument `lr` must be a finite number > 0"),
        ("step", {"lr": float("nan")}, "lr=nan"),
        ("step", {"lr": "abc"}, "lr=abc"),
        ("exponential", {"decay_epochs": float("inf")}, "decay_epochs=inf"),
        ("piecewise", {"boundaries": [5, 3], "values": [1, 2, 3]}, "strictly increasing"),
        ("piecewise", {"boundaries": [5], "values": [1, 2, 3]}, "one more entry than `boundaries`"),
        ("triangular", {"base_lr": 0.1, "max_lr": 0.01}, "Argument `max_lr` must be >= base_lr"),
        ("step", {"bogus": 1}, "Argument `bogus` is not a parameter of schedule `step`"),
        ("nope", {}, "Argument `schedule` must be one of"),
    ],
)
def test_bad_values_name_field_rule_and_value(name, params, needle):
    with pytest.raises(ValueError) as info:
        Schedule.create(name, params)
    assert needle in str(info.value)


@pytest.mark.parametrize("value", ["maybe", "", "  ", "truee", "on", 2, -1, 0.5, 1.0, None, [True]])
def test_a_flag_that_is_not_a_boolean_is_refused_not_read_as_false(value):
    with pytest.raises(ValueError) as info:
        Schedule.create("exponential", {"staircase": value})
    assert str(info.value).startswith("Argument `staircase` must be true or false. Received: staircase=")
    assert info.value.field == "staircase"


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), (" TRUE ", True), ("1", True), ("yes", True), (True, True), (1, True), (np.bool_(True), True),
    ("false", False), ("False", False), ("0", False), ("no", False), (False, False), (0, False),
])
def test_a_flag_reads_booleans_and_their_words(value, expected):
    assert Schedule.create("exponential", {"staircase": value}).params["staircase"] is expected


def test_get_spec_unknown():
    with pytest.raises(ValueError, match="Received: schedule='x'"):
        get_spec("x")


# --------------------------------------------------------------------- properties over the registry


def _value(p: Param, draw):
    lo = p.low if p.low is not None else -1e3
    hi = min(p.high if p.high is not None else 1e3, 50.0 if p.unit == "epochs" else 1e9)
    if p.kind in ("int", "ints"):
        return draw(st.integers(int(math.ceil(lo + (1 if p.low_open else 0))), int(hi)))
    lo_f = lo if not p.low_open else math.nextafter(lo, math.inf) + abs(lo) * 1e-9 + 1e-12
    hi_f = hi if not p.high_open else hi * (1 - 1e-9)
    if p.log and lo_f > 0:
        return min(hi_f, max(lo_f, float(math.exp(draw(st.floats(math.log(max(lo_f, 1e-8)), math.log(hi_f)))))))
    return draw(st.floats(lo_f, hi_f, allow_nan=False, allow_infinity=False))


@st.composite
def schedules(draw, names=None):
    spec = REGISTRY[draw(st.sampled_from(names or sorted(REGISTRY)))]
    params = {}
    for p in spec.params:
        if p.kind == "ints":
            n = draw(st.integers(1, 4))
            params[p.name] = sorted(set(draw(st.integers(1, 60)) for _ in range(n)))
        elif p.kind == "floats":
            params[p.name] = [draw(st.floats(1e-6, 1.0)) for _ in range(len(params["boundaries"]) + 1)]
        else:
            params[p.name] = _value(p, draw)
    for f in spec.flags:
        params[f] = draw(st.booleans())
    if spec.name == "triangular":
        # within max_lr's own bound too (base_lr near 10 + up to 1 overshot it: a rare generator failure)
        params["max_lr"] = min(params["base_lr"] + draw(st.floats(0, 1)), spec.param("max_lr").high)
    if spec.name == "polynomial":
        params["end_lr"] = min(params["end_lr"], params["lr"])
    warm = draw(st.sampled_from([0.0, 0.0, 1.0, 2.5]))
    return Schedule.create(spec.name, params, warmup=warm)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.integers(1, 50), st.integers(1, 30))
def test_finite_nonnegative_positive_start_vectorised_equals_scalar(s, epochs, spe):
    lrs = s.per_step(epochs, spe)
    assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0)
    assert lrs[0] > 0
    for step in {0, len(lrs) // 3, len(lrs) - 1}:
        scalar = s.at_step(step, spe)
        assert type(scalar) is float
        assert scalar == pytest.approx(lrs[step], rel=1e-12, abs=1e-300)


DECAYING = sorted(name for name, spec in REGISTRY.items() if spec.decays)


def test_the_decaying_schedules_are_the_ones_that_never_rise_after_a_warmup():
    # cosine decays once its own warmup is over (Keras' CosineDecay with warmup_target)
    assert DECAYING == ["constant", "cosine", "exponential", "polynomial", "step", "time_epoch", "time_keras2",
                        "time_recursive"]
    assert REGISTRY["cosine"].warmup_param == "warmup_epochs"
    assert [n for n, spec in REGISTRY.items() if spec.own_warmup] == ["cosine"]


@pytest.mark.parametrize("name", DECAYING)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), spe=st.integers(1, 20))
def test_decays_never_rise_after_warmup(name, data, spe):
    """timm's invariant, for every decaying schedule: after the generic warmup and the schedule's own
    (cosine's ``warmup_epochs``), the LR never rises."""
    s = data.draw(schedules((name,)))
    steps = np.arange(int((s.warmup + s.spec.warmup_epochs(s.params) + 60) * spe))
    lrs = s.at_steps(steps, spe)
    # Over once the generic warmup is (`warmup` epochs of batches) and then the schedule's own, in the
    # schedule's time (epochs since the generic warmup): a 1e-103-epoch warmup still holds batch 0.
    own_time = (steps - s.warmup * spe) / spe
    after = lrs[(steps >= s.warmup * spe) & (own_time >= s.spec.warmup_epochs(s.params))]
    assert after.size > 1 and np.all(np.diff(after) <= np.abs(after[:-1]) * 1e-12)


def test_cosine_holds_its_first_batch_in_a_warmup_however_short():
    """The case hypothesis found: a 1e-103-epoch warmup of cosine's own still sets batch 0 (after the
    generic 1-epoch warmup) to warmup_start_lr; the decay starts one batch later."""
    start = 0.36787944117144233
    params = {"lr": 1.0, "decay_epochs": 1.0, "alpha": 1.0, "warmup_epochs": 4.656491616232005e-103,
              "warmup_start_lr": start}
    s = Schedule.create("cosine", params, warmup=1.0)
    assert s.per_step(4, 1).tolist() == pytest.approx([0.1 * start, start, 1.0, 1.0], rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_config_round_trip(s):
    import json

    again = Schedule.from_config(json.loads(json.dumps(s.to_config())))
    assert again == s
    np.testing.assert_array_equal(again.per_step(5, 3), s.per_step(5, 3))


def test_every_registry_entry_is_complete():
    for spec in REGISTRY.values():
        s = Schedule.create(spec.name)  # defaults are valid
        assert spec.latex and spec.summary and spec.title
        Schedule.create(spec.name, spec.example)  # so is the example the exported code is run with
        code = s.keras_code(782)
        assert "optimizer = keras.optimizers.SGD(" in code and "callbacks =" in code
        compile(code, f"<{spec.name}>", "exec")
        for p in spec.params:
            assert p.help and p.parse(p.default) is not None


def test_the_peak_parameter_is_the_lr_a_range_test_suggests():
    peaks = {name: spec.peak_param for name, spec in REGISTRY.items()}
    # the peak of a cyclic schedule; piecewise has no single LR to set
    assert peaks == {**{n: "lr" for n in REGISTRY}, "one_cycle": "max_lr", "triangular": "max_lr", "piecewise": None}
    for spec in REGISTRY.values():
        if spec.peak_param:
            assert spec.param(spec.peak_param).unit == "LR"


def test_labels():
    s = Schedule.create("step", {"factor": 0.25})
    assert s.label() == "Step decay (lr=0.01, factor=0.25, drop_every=5)"
    assert s.short_label() == "Step decay (factor=0.25)"
    assert Schedule.create("step").short_label() == "Step decay"
    assert Schedule.create("exponential", {"staircase": True}, warmup=2).short_label() == \
        "Exponential decay (staircase, warmup=2ep)"


def test_distinct_labels_name_what_differs_and_number_only_twins():
    from lrviz.schedules import distinct_labels

    step = Schedule.create("step")
    assert distinct_labels([step]) == ["Step decay"]  # alone of its kind: the title
    assert distinct_labels([Schedule.create("step", {"factor": 0.25, "drop_every": 10}),
                            Schedule.create("step", {"factor": 0.5, "drop_every": 10})]) == \
        ["Step decay (factor=0.25)", "Step decay (factor=0.5)"]  # drop_every is the same: not named
    assert distinct_labels([Schedule.create("exponential", {"staircase": True}),
                            Schedule.create("exponential", warmup=2)]) == \
        ["Exponential decay (staircase, no warmup)", "Exponential decay (no staircase, warmup=2ep)"]
    assert distinct_labels([step, Schedule.create("step", {"factor": 0.25}), step]) == \
        ["Step decay (factor=0.5)", "Step decay (factor=0.25)", "Step decay (factor=0.5) #2"]



# --------------------------------------------------------------------- the package


def test_every_name_imported_from_the_package_is_there_and_each_module_is_short():
    """``from lrviz.schedules import X`` anywhere in the repository keeps working after the split
    into a package; no module of it over the project's 450 lines."""
    import ast
    from pathlib import Path

    import lrviz.schedules

    root = Path(__file__).resolve().parents[1]
    wanted = set()
    for folder in ("lrviz", "ui", "pages", "tests", "bench", "examples"):
        for f in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "lrviz.schedules":
                    wanted |= {a.name for a in node.names}
    assert {"Schedule", "REGISTRY", "Param", "WARMUP_PARAMS", "FLAG_HELP"} <= wanted
    assert not [n for n in wanted if not hasattr(lrviz.schedules, n)]
    package = Path(lrviz.schedules.__file__).parent
    assert {f.stem for f in package.glob("*.py")} >= {"__init__", "functions", "registry", "schedule"}
    assert {f.name: n for f in package.glob("*.py") if (n := len(f.read_text().splitlines())) > 450} == {}
