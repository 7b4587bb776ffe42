"""The LR range test: the sweep, the restore, divergence, the suggestion rules, the worker."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from lrviz import runs
from lrviz.cli import main
from lrviz.lr_find import (
    MIN_POINTS,
    fastai_valley_index,
    format_suggestions,
    smooth,
    suggest,
    sweep_lrs,
    validate_lr_find_settings,
)

# --------------------------------------------------------------------------- pure parts


def test_sweep_is_the_exponential_formula_exactly():
    start, end, n = 1e-7, 10.0, 100
    got = sweep_lrs(start, end, n)
    want = np.array([start * (end / start) ** (i / (n - 1)) for i in range(n)])
    assert np.array_equal(got, want)
    assert got[0] == start and math.isclose(got[-1], end, rel_tol=1e-12)


def test_smoothing_is_bias_corrected_ema():
    losses = [2.0, 1.0, 3.0, 0.5]
    beta, avg, want = 0.9, 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        want.append(avg / (1 - beta ** (i + 1)))
    assert np.allclose(smooth(losses, beta), want, rtol=0, atol=1e-15)
    assert smooth([5.0], 0.98)[0] == pytest.approx(5.0)  # bias correction: no pull towards 0


def _grid(n=81):
    lrs = 10.0 ** np.linspace(-7, 1, n)  # 0.1 decade per point
    return lrs, np.log10(lrs)


def test_steepest_is_the_known_steepest_point_and_min_div_10_is_exact():
    lrs, x = _grid()
    # falls like -tanh around log10(lr) = -3 (index 40: steepest there), bottoms out, then explodes
    y = 2.0 - np.tanh(1.5 * (x + 3.0)) + 5.0 * np.clip(x + 0.5, 0, None) ** 2
    s = suggest(lrs, y)
    assert s["reason"] is None
    assert s["steepest"]["step"] == 40 and s["steepest"]["lr"] == lrs[40]
    imin = int(np.argmin(y))
    assert s["min_div_10"]["lr"] == lrs[imin] / 10 and s["min_div_10"]["step"] == imin
    assert "steepest descent" in s["steepest"]["rule"] and "÷ 10" in s["min_div_10"]["rule"]


def _fastai_like(n=100, seed=0):
    """Plateau, steep valley, minimum, explosion (raw loss with noise, then smoothed)."""
    lrs = sweep_lrs(1e-7, 10, n)
    x = np.log10(lrs)
    raw = 2.3 - 1.8 / (1 + np.exp(-(x + 3) * 2.5)) + np.exp(3 * (x - 0.3))
    raw = raw + np.random.default_rng(seed).normal(0, 0.02, n)
    return lrs, smooth(raw, 0.9), x


def test_valley_is_inside_the_valley():
    for seed in range(3):
        lrs, sm, x = _fastai_like(seed=seed)
        s = suggest(lrs, sm)
        assert s["reason"] is None
        imin = int(np.argmin(sm))
        falling = np.flatnonzero(sm[: imin] < sm[10] - 0.05)[0]  # where the loss starts to fall
        assert lrs[falling] <= s["valley"]["lr"] <= lrs[imin], (seed, s["valley"])
        assert s["valley"]["step"] < imin and "valley (fastai)" in s["valley"]["rule"]


def _fastai_valley_reference(losses):
    """fastai.callback.schedule.valley's index, transcribed loop for loop (the reference)."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_valley_index_equals_fastais_on_random_and_realistic_curves():
    rng = np.random.default_rng(1)
    curves = [rng.normal(size=n) for n in (2, 5, 30, 60)] + [np.cumsum(rng.normal(size=80))]
    curves += [_fastai_like(seed=s)[1] for s in range(3)]
    for c in curves:
        assert fastai_valley_index(c)[0] == _fastai_valley_reference(list(c))


@pytest.mark.parametrize("curve, reason", [
    (lambda x, r: 2.3 + r.normal(0, 0.005, len(x)), "never falls meaningfully"),
    (lambda x, r: 2.3 - 0.2 * (x > -2) + 0.6 * np.sin(np.arange(len(x))), "too noisy"),
    (lambda x, r: (2.3 - 0.1 * np.arange(len(x)))[:MIN_POINTS], "too short"),
])
def test_flat_noisy_or_short_curves_give_no_suggestion_with_reason(curve, reason):
    lrs, x = _grid(100)
    y = np.asarray(curve(x, np.random.default_rng(0)), dtype=float)
    lrs = lrs[: len(y)]
    s = suggest(lrs, y)
    assert s["reason"] and reason in s["reason"]
    assert all(s[k]["lr"] is None and s[k]["rule"] for k in ("steepest", "min_div_10", "valley"))
    assert "No suggestion" in format_suggestions(s)


def test_nan_tail_is_dropped_and_too_short_before_divergence_is_said():
    lrs, _ = _grid(100)
    y = np.full(100, np.nan)
    y[:12] = np.linspace(2.3, 1.0, 12)
    s = suggest(lrs, y)
    assert s["steepest"]["lr"] is None and "NaN/inf" in s["reason"]


@pytest.mark.parametrize("settings, field", [
    ({"start": 0}, "start"), ({"start": -1e-3}, "start"), ({"start": float("nan")}, "start"),
    ({"start": 1.0, "end": 0.5}, "end"), ({"end": 1e-7}, "end"), ({"num_steps": 4}, "num_steps"),
    ({"num_steps": 10.5}, "num_steps"), ({"num_steps": True}, "num_steps"), ({"smoothing": 1.0}, "smoothing"),
    ({"smoothing": -0.1}, "smoothing"), ({"stop_factor": 1}, "stop_factor"), ({"stop_factor": "4"}, "stop_factor"),
])
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"Argument `{field}` must be"):
        validate_lr_find_settings(settings)
    with pytest.raises(ValueError, match=rf"Argument `{field}` must be"):
        runs.validate_lr_find_config(settings)


def test_lr_find_config_rejects_training_only_and_unknown_keys():
    with pytest.raises(ValueError, match="Argument `epochs` is not an LR range test setting"):
        runs.validate_lr_find_config({"epochs": 3})
    with pytest.raises(ValueError, match="Argument `momentum` must be"):
        runs.validate_lr_find_config({"momentum": 1.0})
    cfg = runs.validate_lr_find_config({"limit": 300})
    assert cfg["kind"] == "lr_find" and cfg["start"] == 1e-7 and cfg["num_steps"] == 100 and cfg["limit"] == 300


@pytest.mark.parametrize("args, field", [
    (["--start", "1", "--end", "0.5"], "end"), (["--num-steps", "4"], "num_steps"),
    (["--smoothing", "1"], "smoothing"), (["--stop-factor", "1"], "stop_factor"), (["--start", "0"], "start"),
])
@pytest.mark.parametrize("command", ["lr-find", "find-lr"])  # find-lr: the old name, kept as an alias
def test_cli_bad_values_are_one_line_exit_2(command, args, field, tmp_path, capsys):
    assert main([command, "--runs-dir", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrviz: error: Argument `{field}` must be") and err.count("\n") == 1
    assert not list(tmp_path.iterdir()) or not runs.list_runs(tmp_path)


# --------------------------------------------------------------------------- in-process sweep


def _tiny_model(keras, seed=0):
    keras.utils.set_random_seed(seed)
    from keras import layers

    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same"), layers.Activation("relu"),
                              layers.BatchNormalization(), layers.Dropout(0.25), layers.Flatten(), layers.Dense(10),
                              layers.Activation("softmax")])
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    return model


def _values(model):
    vs = [*model.variables, *model.optimizer.variables]
    return [(v.path, np.array(v.numpy(), copy=True)) for v in vs]


def test_in_process_sweep_lrs_loss_and_bit_for_bit_restore():
    import keras

    from lrviz.batches import make_dataset
    from lrviz.data import load_digits
    from lrviz.lr_find import lr_range_test

    ds = load_digits(limit=160)
    data = make_dataset(ds.x_train, ds.y_train, 10, 32, shuffle=True, seed=1)  # 5 batches: loops 3 times
    model = _tiny_model(keras)
    model.fit(data, epochs=1, verbose=0)  # momentum slots, iterations and BN statistics are not initial
    before = _values(model)
    assert any(v.ndim and np.any(v) for p, v in before if "momentum" in p)
    seen = []

    def on_step(i, lr, loss, sm):  # the LR the optimizer actually used, and whether the weights move
        seen.append((float(model.optimizer.learning_rate.numpy()), float(model.layers[0].kernel.numpy().sum())))

    res = lr_range_test(model, data, start=1e-4, end=1.0, num_steps=14, smoothing=0.5, stop_factor=1e9,
                        on_step=on_step)
    want = np.array([1e-4 * (1.0 / 1e-4) ** (i / 13) for i in range(14)])
    assert not res.stopped_early and len(res.lrs) == 14
    assert np.array_equal(res.lrs, want)
    assert np.array_equal(res.lr_applied, want.astype(np.float32))
    assert np.array_equal(np.float32([lr for lr, _ in seen]), want.astype(np.float32))
    assert len({k for _, k in seen}) > 1  # the sweep trained
    assert np.allclose(res.smoothed, smooth(res.losses, 0.5), rtol=0, atol=1e-12)
    frame = res.frame()
    assert list(frame.columns) == ["step", "lr", "loss", "smoothed_loss"] and list(frame["step"]) == list(range(14))

    after = _values(model)
    assert [p for p, _ in after] == [p for p, _ in before]
    for (p, a), (_, b) in zip(before, after):
        assert a.dtype == b.dtype and np.array_equal(a, b), p
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(0.01)


def test_restore_happens_when_the_sweep_raises():
    import keras

    from lrviz.lr_find import lr_range_test

    model = _tiny_model(keras, seed=3)
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(16) % 10]
    lr_range_test(model, [(x, y)], num_steps=5)  # builds the optimizer; restores
    before = _values(model)

    def boom(i, *_):
        if i == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, [(x, y)], num_steps=10, on_step=boom)
    for (p, a), (_, b) in zip(before, _values(model)):
        assert np.array_equal(a, b), p


def test_divergent_sweep_on_digits_stops_early_and_says_so(tmp_path):
    from lrviz.worker import run_worker

    rid = runs.create_run({"kind": "lr_find", "limit": 300, "start": 1e-3, "end": 1e3, "num_steps": 40,
                           "smoothing": 0.9}, tmp_path)
    assert run_worker(runs.run_path(rid, tmp_path), install_signals=False) == "finished"
    run = runs.load_run(rid, tmp_path)
    assert run.status["state"] == "finished" and run.status["stopped_early"] is True
    s = run.extras["suggestions"]
    assert s["stopped_early"] is True and s["stop_reason"].startswith("diverged at lr=")
    assert "× best" in s["stop_reason"] or "loss is" in s["stop_reason"]
    assert len(run.extras["lr_find"]) < 40 and run.status["step"] == len(run.extras["lr_find"])
    last = run.extras["lr_find"].iloc[-1]
    assert not math.isfinite(last["loss"]) or last["smoothed_loss"] > 4 * run.extras["lr_find"]["smoothed_loss"].min()


# --------------------------------------------------------------------------- the worker process


def test_worker_process_end_to_end_and_one_run_at_a_time(tmp_path):
    rid = runs.start_lr_find({"limit": 300, "num_steps": 30}, tmp_path)
    with pytest.raises(runs.RunBusyError, match=rf"{rid} is .*LR range test, step"):
        runs.create_run({"epochs": 1}, tmp_path)
    summary = runs.list_runs(tmp_path)[0]
    assert summary.kind == "lr_find" and summary.epochs == 30 and "LR range test" in summary.schedule
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        run = runs.load_run(rid, tmp_path)
        if run.state not in runs.ACTIVE_STATES:
            break
        time.sleep(0.3)
    assert run.state == "finished", (run.status, (run.dir / "worker.log").read_text()[-2000:])
    assert run.kind == run.config["kind"] == "lr_find"
    csv = pd.read_csv(run.dir / "lr_find.csv")
    assert list(csv.columns) == ["step", "lr", "loss", "smoothed_loss"]
    n = len(csv)
    assert 5 <= n <= 30 and run.status["step"] == n and run.status["num_steps"] == 30
    assert np.array_equal(csv["lr"].to_numpy(), sweep_lrs(1e-7, 10.0, 30)[:n])  # exact, through the file
    assert run.extras["lr_find"].equals(csv)
    s = json.loads((run.dir / "suggestions.json").read_text())
    assert s == run.extras["suggestions"]
    assert set(s) == {"steepest", "min_div_10", "valley", "reason", "stopped_early", "stop_reason"}
    for k in ("steepest", "min_div_10", "valley"):
        assert set(s[k]) >= {"lr", "rule"} and (s[k]["lr"] is None) == (s["reason"] is not None)
    assert {"config.json", "lr_find.csv", "suggestions.json"} <= set(run.files)
    with pytest.raises(ValueError, match="LR range test"):
        runs.set_lr(rid, tmp_path, factor=0.5)
