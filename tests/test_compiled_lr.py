"""lrviz.compiled_lr: the schedule inside the compiled step trains exactly like the per-batch
setter (the oracle), with no override, a mid-run Set LR and a ReduceLROnPlateau reduction.

Proven by the trained weights, never by reading the LR back (DESIGN.md section 3: on JAX a
value the compiled step does not see still reads right from Python). This module runs on the
default backend here, and on JAX's CPU build from tests/test_backends.py
(``test_the_compiled_step_schedule_equals_the_per_batch_setter_on_jax``)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from lrviz.callbacks import LROverrides, PlateauReducer, ScheduleSetter
from lrviz.compiled_lr import CompiledScheduleSetter, PlannedLR, compiled_route, planned_table
from lrviz.schedules import Schedule

N, BATCH, EPOCHS = 48, 8, 4  # 6 batches per epoch, 24 in all
SPE = N // BATCH
LRS = Schedule.create("time_keras2", {"lr": 0.1, "decay": 0.05}).per_step(EPOCHS, SPE)  # a new LR every batch


def test_the_jax_suite_runs_on_jax():
    """The rerun from tests/test_backends.py sets LRVIZ_EXPECT_BACKEND: the proof below must not
    pass there on another backend by accident."""
    expected = os.environ.get("LRVIZ_EXPECT_BACKEND")
    if expected is None:
        pytest.skip("run from tests/test_backends.py on JAX")
    assert keras.backend.backend() == expected


def test_only_jax_takes_the_compiled_route():
    assert compiled_route("jax") and not compiled_route("tensorflow") and not compiled_route("torch")


def test_planned_lr_looks_up_the_table_at_the_step_plus_offset_and_holds_its_ends():
    table = np.array([0.5, 0.25, 0.125, 0.0625])
    sched = PlannedLR(table, offset=-3)  # iterations 3 is global step 0 (a resumed optimizer)
    got = [float(keras.ops.convert_to_numpy(sched(s))) for s in (0, 3, 4, 6, 9)]
    assert got == [0.5, 0.5, 0.25, 0.0625, 0.0625]
    assert PlannedLR.from_config(sched.get_config()).table.tolist() == table.tolist()


@pytest.mark.parametrize("requests", [[{"factor": 0.3}], [{"value": 0.007}, {"factor": 0.3}],
                                      [{"value": 0.07}]], ids=["factor", "value-then-factor", "hold"])
def test_planned_table_is_the_overrides_arithmetic_on_a_vector(requests):
    """The oracle: the per-batch setter's scalar path, ``LROverrides.lr`` after ``apply``, entry by
    entry. The requests are applied where the schedule is 0.03 (a multiplier) or 0 (a hold)."""
    lrs = np.array([0.01, 0.02, 0.005, 0.0123])
    overrides = LROverrides()
    for request in requests:
        overrides.apply(request, 0.0 if requests == [{"value": 0.07}] else 0.03)
    assert planned_table(lrs, overrides.multiplier, overrides.hold).tolist() == \
        [overrides.lr(v) for v in lrs.tolist()]


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((N, 6), dtype=np.float32)
    y = keras.utils.to_categorical(np.arange(N) % 3, 3)
    return x, y


class AskAt(keras.callbacks.Callback):
    """Hands ``request`` to the setter at the end of global batch ``step`` (so it acts from the next)."""

    def __init__(self, setter, step, request):
        super().__init__()
        self.setter, self.step, self.request = setter, step, request
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch * SPE + batch == self.step:
            self.setter.request(dict(self.request))


def _train(setter_class, *, request=None, plateau=None, epochs=EPOCHS, lrs=LRS):
    """A tiny model trained on the same seeds; the weights, the epochs' logged LRs, the overrides
    and plateau reductions recorded, and the optimizer's LR variable after fit."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, "softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=float(LRS[0]), momentum=0.9, nesterov=True),
                  loss="categorical_crossentropy")
    overrides = []
    setter = setter_class(lrs, SPE, on_override=overrides.append)
    callbacks = [setter]
    if request is not None:
        callbacks.append(AskAt(setter, *request))
    if plateau is not None:
        callbacks.append(reducer := PlateauReducer(plateau, setter.request))
    logged = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logged_lrs.append(
        (logs["lr"], logs["lr_planned"], logs["lr_last"])))
    logged_lrs = []
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[*callbacks, logged])
    return {"weights": model.get_weights(), "lrs": logged_lrs, "setter": setter,
            "overrides": [{k: v for k, v in o.items() if not k.endswith("_at")} for o in overrides],
            "reductions": reducer.reductions if plateau is not None else None,
            "lr_after": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
            "optimizer_variables": len(model.optimizer.variables)}


def _assert_same_training(ours, oracle):
    for a, b in zip(ours["weights"], oracle["weights"], strict=True):
        assert np.isfinite(a).all()  # NaN would compare equal
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert ours["lrs"] == oracle["lrs"]  # history's lr, lr_planned, lr_last: exactly the optimizer's
    assert ours["overrides"] == oracle["overrides"] and ours["reductions"] == oracle["reductions"]
    assert ours["lr_after"] == oracle["lr_after"]  # the saved model holds the same LR variable
    assert ours["optimizer_variables"] == oracle["optimizer_variables"]


def test_no_override_trains_exactly_like_the_per_batch_setter():
    ours, oracle = _train(CompiledScheduleSetter), _train(ScheduleSetter)
    _assert_same_training(ours, oracle)
    # the compiled schedule really drove the step (a silent fallback to the per-batch setter would
    # train the same: installs is 0 there), and the float LR was given back at the end
    assert ours["setter"].installs == 1 and ours["setter"].schedule is None and ours["setter"].retraces == 0
    # and the schedule mattered: LRS[0] throughout (what a step reading a stale LR variable would
    # train with) ends at other weights
    stale = _train(ScheduleSetter, lrs=np.full_like(LRS, LRS[0]))
    assert not np.allclose(stale["weights"][0], oracle["weights"][0], atol=1e-4)


@pytest.mark.parametrize("request_", [{"value": 0.02}, {"factor": 0.25}], ids=["value", "factor"])
def test_a_mid_run_set_lr_acts_from_the_next_batch_like_the_per_batch_setter(request_):
    """Asked at the end of global batch 8 (epoch 2, batch 3): the LR changes from batch 9 on."""
    ours, oracle = _train(CompiledScheduleSetter, request=(8, request_)), _train(ScheduleSetter, request=(8, request_))
    _assert_same_training(ours, oracle)
    assert [o["step"] for o in oracle["overrides"]] == [9] and ours["setter"].retraces == 1
    plain = _train(ScheduleSetter)  # the override changed the training
    assert not np.allclose(plain["weights"][0], oracle["weights"][0], atol=1e-4)


def test_a_plateau_reduction_acts_from_the_next_epoch_like_the_per_batch_setter():
    """``min_delta`` 10: the loss never improves enough, so with patience 1 the LR is cut by 0.5
    after epochs 2, 3 and 4 (1-based; the first epoch sets the best), as Keras' own
    ReduceLROnPlateau decides; the last one comes after the last batch and is never applied."""
    plateau = {"monitor": "loss", "factor": 0.5, "patience": 1, "min_delta": 10.0}
    ours, oracle = _train(CompiledScheduleSetter, plateau=plateau), _train(ScheduleSetter, plateau=plateau)
    _assert_same_training(ours, oracle)
    assert [r["epoch"] for r in oracle["reductions"]] == [2, 3, 4]
    # the first reduction halves the LR of the epoch's last batch (time decay: 0.1 / (1 + 0.05 * 11))
    assert oracle["reductions"][0]["old"] == float(np.float32(0.1 / (1 + 0.05 * 11)))
    assert [o["step"] for o in ours["overrides"]] == [12, 18] and ours["setter"].retraces == 2


def _job_run(tmp_path, monkeypatch, compiled: bool, name: str):
    """A training job (MiniVGGNet on 160 digits, 3 epochs of 5 batches) on the route asked for,
    with a plateau reduction and a Set LR factor asked after epoch 1 (applied at epoch 2's first
    batch, exactly where the per-batch setter applies it)."""
    import lrviz.compiled_lr
    from lrviz import runs
    from lrviz.store.control import lr_request_name, send
    from lrviz.worker import run_worker

    monkeypatch.setattr(lrviz.compiled_lr, "compiled_route", lambda backend: compiled)
    root = tmp_path / name
    rid = runs.create_run({"limit": 200, "batch_size": 32, "epochs": 3, "seed": 5,
                           "schedule": {"name": "time_keras2", "params": {"lr": 0.05, "decay": 0.02}},
                           "plateau": {"monitor": "loss", "factor": 0.5, "patience": 1, "min_delta": 10.0}}, root)

    def ask_once(row):
        if row["epoch"] == 1:
            send(root / rid, lr_request_name(), {"factor": 0.3})

    assert run_worker(root / rid, verbose=0, install_signals=False, on_step=ask_once) == "finished"
    run = runs.load_run(rid, root)
    model = keras.models.load_model(root / rid / "model.keras")
    return run, model


def test_the_training_job_trains_the_same_on_either_route(tmp_path, monkeypatch):
    """The engine end to end: history (lr, lr_planned, lr_last), overrides and the saved model
    (weights, optimizer state) equal with the schedule in the compiled step or set per batch."""
    ours, ours_model = _job_run(tmp_path, monkeypatch, True, "compiled")
    oracle, oracle_model = _job_run(tmp_path, monkeypatch, False, "setter")
    assert (ours.status["lr_route"], oracle.status["lr_route"]) == ("compiled step", "per batch")
    spe = oracle.config["steps_per_epoch"]
    assert [(o["step"], o["kind"], o["source"]) for o in ours.config["lr_overrides"]] == \
        [(o["step"], o["kind"], o["source"]) for o in oracle.config["lr_overrides"]] == \
        [(spe, "factor", "user"), (2 * spe, "factor", "plateau")]  # the first epoch sets the best
    cols = ["lr", "lr_planned", "lr_last"]
    assert ours.history[cols].values.tolist() == oracle.history[cols].values.tolist()
    for a, b in zip(ours_model.get_weights(), oracle_model.get_weights(), strict=True):
        assert np.isfinite(a).all()  # NaN would compare equal
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for a, b in zip(ours_model.optimizer.variables, oracle_model.optimizer.variables, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=0, atol=1e-5)


def test_an_optimizer_built_with_its_own_schedule_falls_back_and_keras_refuses_the_setter():
    """No float LR variable: no table is installed, the route reported is the per-batch one, and
    that setter's assignment is refused by Keras (what the docstring says happens)."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, "softmax")])
    own = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=own), loss="categorical_crossentropy")
    routes = []
    setter = CompiledScheduleSetter(LRS, SPE, on_route=routes.append)
    x, y = _data()
    with pytest.raises(TypeError, match="not settable"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[setter])
    assert (routes, setter.route, setter.installs) == (["per batch"], "per batch", 0)


def test_the_route_is_reported_once_when_the_table_is_installed():
    routes = []

    class Reporting(CompiledScheduleSetter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, on_route=routes.append, **kwargs)

    ours = _train(Reporting, request=(8, {"factor": 0.5}))  # a re-trace reports nothing new
    assert (routes, ours["setter"].route, ours["setter"].installs) == (["compiled step"], "compiled step", 1)


def test_the_training_job_writes_the_route_its_setter_fell_back_to(tmp_path, monkeypatch):
    """The job asks for the compiled route but the setter falls back (as for an optimizer built
    with its own schedule; forced here on a float one, so the run still trains): the status says
    "per batch", the route really taken, not the route asked for."""
    import lrviz.compiled_lr

    def fall_back(self, step):
        self._fallback = True
        self._report_route("per batch")
        return False

    monkeypatch.setattr(lrviz.compiled_lr.CompiledScheduleSetter, "_install", fall_back)
    run, _ = _job_run(tmp_path, monkeypatch, True, "fallback")
    assert run.status["lr_route"] == "per batch"
