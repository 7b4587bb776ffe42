"""lrviz.plateau against Keras' own ReduceLROnPlateau, and the training option end to end."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import pytest

from lrviz import runs
from lrviz.errors import FieldError
from lrviz.plateau import Plateau, replay, validate_plateau
from lrviz.worker import run_worker

NAN = float("nan")
TIE_LOSS = float(np.float32(1.0 - 1e-4))  # 0.99989998...: + 1e-4 is below 1.0 in float64, 1.0 in float32
TIE_ACC = 0.5001000165939331  # a float32: - 1e-4 is above 0.5 in float64, 0.5 in float32

CURVES = {
    "flat_then_better": [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7, 0.7],
    "noisy": [1.0, 0.99995, 0.98, 1.2, 0.97, 0.97, 0.97, 0.96995, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6],
    "rising_accuracy": [0.1, 0.3, 0.3, 0.31, 0.30, 0.30, 0.30, 0.5, 0.5, 0.5, 0.5, 0.5],
    # NaN (a diverged epoch): Keras' comparisons with NaN are False, so such an epoch counts as "not
    # improved"; a NaN first value becomes `best` and nothing improves on it afterwards
    "nan_loss": [1.0, 0.9, NAN, NAN, NAN, 0.8, NAN, NAN, NAN, NAN, 0.7, 0.7, 0.6, 0.6],
    "nan_first_loss": [NAN, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
    "nan_accuracy": [0.1, 0.2, NAN, NAN, 0.3, NAN, NAN, NAN, 0.4, 0.4, NAN, 0.5],
    # float32 near-ties (values as Keras logs them: float32 numbers as Python floats): an improvement
    # by min_delta=1e-4 in float64 that Keras, comparing in float32, does not count
    "near_tie_loss": [1.0, TIE_LOSS, TIE_LOSS, TIE_LOSS, TIE_LOSS, TIE_LOSS, TIE_LOSS, 0.5, 0.5, 0.5],
    "near_tie_accuracy": [0.5, TIE_ACC, TIE_ACC, TIE_ACC, TIE_ACC, TIE_ACC, 0.9, 0.9, 0.9, 0.9],
    "near_tie_loss_no_delta": [1.0, 1.0 - 1e-9, 1.0 - 2e-9, 1.0 - 3e-9, 1.0 - 4e-9, 0.9, 0.9 - 1e-9, 0.9, 0.9],
}
SETTINGS = [
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 0, "factor": 0.5, "min_lr": 0.003},
    {"patience": 3, "min_delta": 0.05, "factor": 0.2},
    {"patience": 1, "min_delta": 0.0, "factor": 0.5},
]


def test_the_near_tie_curves_are_ties_only_in_float32():
    """The near-tie cases have teeth: float64 and float32 disagree on them (float32 is Keras')."""
    assert TIE_LOSS + 1e-4 < 1.0 and not np.float32(TIE_LOSS + 1e-4) < np.float32(1.0)
    assert TIE_ACC - 1e-4 > 0.5 and not np.float32(TIE_ACC - 1e-4) > np.float32(0.5)
    assert 1.0 - 1e-9 < 1.0 and not np.float32(1.0 - 1e-9) < np.float32(1.0)


def keras_lrs(values, settings, monitor, lr0=0.01):
    """What Keras' own callback does to a plain optimizer over these epoch values."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr0), loss="mse")
    mode = "max" if "accuracy" in monitor else "min"  # what "auto" infers from a compiled accuracy metric
    cb = keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, **settings)
    cb.set_model(model)
    cb.on_train_begin()
    out = []
    for e, v in enumerate(values):
        out.append(float(model.optimizer.learning_rate.numpy()))
        cb.on_epoch_end(e, {monitor: v})
    return np.array(out)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_replay_on_a_constant_schedule_is_keras_own_callback(curve, settings):
    values = CURVES[curve]
    monitor = "val_accuracy" if "accuracy" in curve else "val_loss"
    ours, _ = replay(values, np.full(len(values), 0.01), {**settings, "monitor": monitor})
    np.testing.assert_allclose(ours, keras_lrs(values, settings, monitor), rtol=1e-6)


def test_replay_scales_the_rest_of_a_step_schedule():
    planned = 0.01 * 0.5 ** np.floor((1 + np.arange(8)) / 4)  # step decay F=0.5, D=4
    lr, red = replay([1, 1, 1, 1, 1, 1, 1, 1], planned, {"patience": 2, "factor": 0.1})
    # no improvement after epoch 1: reductions after epochs 3, 5 and 7 (1-based, patience 2); each
    # scales everything after it, and the step drops at epochs 4 and 8 stay
    assert [r["epoch"] for r in red] == [3, 5, 7]
    np.testing.assert_allclose(lr, planned * np.array([1, 1, 1, 0.1, 0.1, 0.01, 0.01, 0.001]))


def test_settings_are_keras_names_and_defaults_with_field_errors():
    assert validate_plateau({}) == {"monitor": "val_loss", "factor": 0.1, "patience": 10, "min_delta": 1e-4,
                                    "cooldown": 0, "min_lr": 0.0}
    with pytest.raises(FieldError) as e:
        validate_plateau({"factor": 1.0}, prefix="plateau_")
    assert e.value.field == "plateau_factor" and "must be a finite number > 0 and < 1" in str(e.value)
    with pytest.raises(FieldError, match="plateau_monitor"):
        runs.validate_config({"plateau": {"monitor": "val_f1"}})
    assert Plateau({"monitor": "accuracy"}).maximize and not Plateau({}).maximize


def test_training_with_plateau_records_reductions_like_overrides(tmp_path):
    cfg = {"limit": 200, "batch_size": 32, "epochs": 6, "seed": 3,
           "schedule": {"name": "constant", "params": {"lr": 0.05}},
           # monitor training loss with an impossible min_delta: every epoch after the first is a plateau
           "plateau": {"monitor": "loss", "patience": 1, "factor": 0.5, "min_delta": 100.0}}
    rid = runs.create_run(cfg, tmp_path)
    assert run_worker(tmp_path / rid, verbose=0, install_signals=False) == "finished"
    run = runs.load_run(rid, tmp_path)
    hist = pd.read_csv(tmp_path / rid / "history.csv")
    # Keras' rule with patience 1: reductions after epochs 2, 3, 4, 5 -> epoch e runs at 0.05 * 0.5 ** (e - 2)
    np.testing.assert_allclose(hist["lr"], np.float32([0.05, 0.05, 0.025, 0.0125, 0.00625, 0.003125]), rtol=1e-6)
    assert list(hist["lr_planned"]) == [0.05] * 6
    overrides = run.config["lr_overrides"]
    assert [(o["epoch"], o["batch"], o["source"], o["kind"]) for o in overrides] == [
        (e, 1, "plateau", "factor") for e in (3, 4, 5, 6)]
    assert json.loads((tmp_path / rid / "status.json").read_text())["lr_overrides"] == overrides


def test_a_nan_epoch_counts_as_not_improved_and_a_none_is_skipped():
    p = Plateau({"patience": 2, "factor": 0.5})
    assert [p.step(v, 0.01) for v in (1.0, NAN, NAN)] == [None, None, 0.005]  # Keras: NaN < best is False
    first = Plateau({"patience": 1, "factor": 0.5})
    assert [first.step(v, 0.01) for v in (NAN, 0.5, 0.1)] == [None, 0.005, 0.005]  # nothing beats a NaN best
    skip = Plateau({"patience": 1, "factor": 0.5})
    assert [skip.step(v, 0.01) for v in (1.0, None, None, 1.0)] == [None, None, None, 0.005]  # no value, no epoch
