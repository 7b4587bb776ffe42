"""lrviz.keras: a user's own ``model.fit`` as an lrviz run (``Dashboard``), in this process, and
lrviz's schedules as a Keras ``LearningRateSchedule`` (``schedule``).

Oracles: Keras' own ``CosineDecay`` and optimizer, TensorBoard's own event reader,
scikit-learn's report and confusion matrix, the explorer's ``Schedule``. The user's script in
a subprocess (TensorFlow and JAX, stop, set-lr, kill) is in ``test_own_fit_script.py``."""

from __future__ import annotations

import json
import shutil
import warnings

import keras
import numpy as np
import pytest
from fit_fakes import batch_lrs, drive_fit, small_model
from sklearn.metrics import classification_report, confusion_matrix

import lrviz.keras
from lrviz import runs
from lrviz.jobs.fit import FitJob
from lrviz.schedules import Schedule

RNG = np.random.default_rng(0)
X = RNG.normal(size=(320, 6)).astype("float32")
Y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)  # three classes
XT, YT, XV, YV = X[:256], Y[:256], X[256:], Y[256:]


_model = small_model


def _fit(model, dash, **kw):
    kw = {"epochs": 2, "batch_size": 32, "validation_data": (XV, YV), "verbose": 0, **kw}
    return model.fit(XT, YT, callbacks=[dash, *kw.pop("more", [])], **kw)


def test_a_fit_becomes_a_finished_run_with_the_lr_of_every_batch_from_keras_cosine_decay(tmp_path):
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=12, alpha=0.1)
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(decay), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    dash = lrviz.keras.Dashboard(name="cosine", runs_dir=tmp_path, class_names=["low", "mid", "high"])
    history = _fit(model, dash, epochs=3)
    run = runs.load_run(dash.run_id, tmp_path)
    assert (run.kind, run.state, run.name, run.config["lr_source"]) == ("fit", "finished", "cosine", "CosineDecay")
    assert run.config["model"]["parameters"] == model.count_params() == 83
    assert run.config["optimizer"]["class"] == "SGD" and run.config["steps_per_epoch"] == 8
    assert run.config["batch_size"] == 32 and run.config["backend"] == keras.backend.backend()
    # 24 batches: the optimizer's own schedule at each iteration, float32 as the optimizer holds it
    oracle = [float(keras.ops.convert_to_numpy(decay(i))) for i in range(24)]
    recorded = batch_lrs(run.dir)
    assert sorted(recorded) == list(range(24))
    np.testing.assert_allclose([recorded[i] for i in range(24)], oracle, rtol=1e-6)
    assert list(run.history["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(run.history["lr"], [oracle[0], oracle[8], oracle[16]], rtol=1e-6)
    np.testing.assert_allclose(run.history["lr_last"], [oracle[7], oracle[15], oracle[23]], rtol=1e-6)
    np.testing.assert_allclose(run.history["val_accuracy"], history.history["val_accuracy"], rtol=1e-6)
    assert "lr" not in history.history  # the user's own History is left as Keras made it
    # the report: scikit-learn's, on the model's own predictions of the validation data
    pred = model.predict(XV, verbose=0).argmax(axis=1)
    sk = classification_report(YV, pred, target_names=["low", "mid", "high"], output_dict=True, zero_division=0)
    assert run.extras["report"].loc["mid", "f1-score"] == pytest.approx(sk["mid"]["f1-score"])
    assert run.extras["report"].loc["accuracy", "f1-score"] == pytest.approx(sk["accuracy"])
    np.testing.assert_array_equal(run.extras["confusion"].to_numpy(), confusion_matrix(YV, pred))
    assert {"report.csv", "confusion.csv", "predictions.csv", "training.png"} <= set(run.files)


def test_schedule_sets_every_batch_like_the_engine_and_lrviz_schedule_gives_the_explorer_numbers(tmp_path):
    sched = Schedule.create("step", {"lr": 0.04, "factor": 0.5, "drop_every": 1})
    dash = lrviz.keras.Dashboard(runs_dir=tmp_path, schedule="step:lr=0.04,factor=0.5,drop_every=1")
    model = _model(metric="sparse_categorical_accuracy")
    _fit(model, dash, epochs=3, validation_data=None, validation_split=0.25)
    run = runs.load_run(dash.run_id, tmp_path)
    spe = run.config["steps_per_epoch"]
    assert spe == 6 and run.config["lr_source"] == "lrviz" and run.config["schedule"] == sched.to_config()
    np.testing.assert_allclose(run.history["lr"], sched.per_epoch(3, spe), rtol=1e-6)
    np.testing.assert_allclose([batch_lrs(run.dir)[i] for i in range(18)], sched.per_step(3, spe), rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)
    # a metric named otherwise is also the charts' accuracy; validation_split's data gets the report
    assert list(run.history["accuracy"]) == list(run.history["sparse_categorical_accuracy"])
    assert int(run.extras["report"].loc["accuracy", "support"]) == 64
    # the same numbers as a LearningRateSchedule for one's own optimizer, in a compiled step
    table = lrviz.keras.schedule("step", lr=0.04, factor=0.5, drop_every=1, steps_per_epoch=spe, epochs=3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(table(np.arange(20))),
                               np.r_[sched.per_step(3, spe), sched.per_step(3, spe)[-1:].repeat(2)], rtol=1e-6)
    quarter = lrviz.keras.schedule("step:factor=0.25", steps_per_epoch=3)
    assert float(keras.ops.convert_to_numpy(quarter(7))) == pytest.approx(
        Schedule.create("step", {"factor": 0.25}).at_step(7, 3))
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(table), loss="sparse_categorical_crossentropy")
    model.fit(XT, YT, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")  # the schedule travels with the model
    again = keras.models.load_model(tmp_path / "m.keras")
    lr_now = float(keras.ops.convert_to_numpy(again.optimizer.learning_rate))
    assert lr_now == pytest.approx(sched.per_step(3, spe)[8], rel=1e-6)


def test_two_fits_are_two_runs_initial_epoch_continues_and_no_run_makes_the_other_busy(tmp_path):
    started = []

    class StartLrvizRun(keras.callbacks.Callback):  # lrviz's own run, created while the fit is running
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                started.append(runs.create_run({"limit": 50}, tmp_path))

    first, model = lrviz.keras.Dashboard(runs_dir=tmp_path), _model()
    _fit(model, first, more=[StartLrvizRun()])
    assert runs.active_run(tmp_path) == started[0]  # the fit never counted as lrviz's active run
    _fit(model, first, epochs=4, initial_epoch=2)  # the same Dashboard, on from epoch 2: the same run
    second = lrviz.keras.Dashboard(runs_dir=tmp_path)
    _fit(_model(), second)  # lrviz's run is queued: a fit is never refused as busy
    run = runs.load_run(first.run_id, tmp_path)
    assert list(run.history["epoch"]) == [1, 2, 3, 4] and run.config["initial_epoch"] == 2
    assert run.status["epochs"] == 4 and run.state == "finished"
    kinds = sorted((s.kind, s.state) for s in runs.list_runs(tmp_path))
    assert kinds == [("fit", "finished"), ("fit", "finished"), ("train", "queued")]
    assert second.run_id != first.run_id


class _Boom(keras.Sequential):
    """A model whose training step raises at a given step (eagerly: the step is plain Python)."""

    def __init__(self, *a, at=5, error=None, **kw):
        super().__init__(*a, **kw)
        self.at, self.error, self.n = at, error or RuntimeError("disk on fire"), 0

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        self.n += 1
        if self.n == self.at:
            raise self.error
        return super().train_step(*args)


def _boom(**kw):
    m = _Boom([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")], **kw)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    return m


def test_an_exception_in_fit_fails_the_run_with_its_reason_and_ctrl_c_stops_it(tmp_path):
    dash = lrviz.keras.Dashboard(runs_dir=tmp_path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _fit(_boom(at=11), dash, epochs=3)
    run = runs.load_run(dash.run_id, tmp_path)
    assert run.state == "failed" and run.status["error"] == "RuntimeError: disk on fire"
    assert list(run.history["epoch"]) == [1]  # the finished epoch is kept
    dash = lrviz.keras.Dashboard(runs_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _fit(_boom(at=3, error=KeyboardInterrupt()), dash)
    run = runs.load_run(dash.run_id, tmp_path)
    assert run.state == "stopped" and run.status["stop_reason"] == "interrupted (Ctrl+C)" and not run.status["error"]


def test_a_fit_left_by_an_exception_outside_the_step_is_failed_when_the_next_one_begins(tmp_path):
    class Raises(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("a callback of the user's")

    dash = lrviz.keras.Dashboard(runs_dir=tmp_path)
    with pytest.raises(ValueError):
        _fit(_model(), dash, more=[Raises()])
    assert runs.load_run(dash.run_id, tmp_path).state == "running"  # its process is alive, its fit is not
    _fit(_model(), lrviz.keras.Dashboard(runs_dir=tmp_path), epochs=1)
    run = runs.load_run(dash.run_id, tmp_path)
    assert run.state == "failed" and "ended without finishing" in run.status["error"]


def test_a_runs_folder_that_cannot_be_written_warns_once_and_the_fit_goes_on(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder should be")
    with pytest.warns(RuntimeWarning, match="cannot be written") as seen:
        history = _fit(_model(), lrviz.keras.Dashboard(runs_dir=blocker), epochs=3)
    ours = [w for w in seen if w.category is RuntimeWarning and "cannot be written" in str(w.message)]
    assert len(history.history["loss"]) == 3 and len(ours) == 1  # (JAX adds DeprecationWarnings of its own)

    class TakeTheFolder(keras.callbacks.Callback):  # the run folder becomes a file after epoch 1
        def __init__(self, dash):
            super().__init__()
            self.dash = dash

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                path = tmp_path / "runs" / self.dash.run_id
                shutil.rmtree(path)
                path.write_text("gone")

    dash = lrviz.keras.Dashboard(runs_dir=tmp_path / "runs")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        history = _fit(_model(), dash, epochs=3, more=[TakeTheFolder(dash)])
    assert len(history.history["loss"]) == 3
    assert [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)][0].startswith(
        "lrviz.keras.Dashboard: the runs folder")
    assert len([w for w in seen if "lrviz.keras.Dashboard" in str(w.message)]) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": 3}, "Argument `name` must be one line of at most 60 characters or null. Received: name=3"),
    ({"name": "a\nb"}, "Argument `name` must be one line of at most 60 characters or null. Received: name='a\\nb'"),
    ({"runs_dir": 5}, "Argument `runs_dir` must be a path (a str or an os.PathLike). Received: runs_dir=5"),
    ({"schedule": "nope"}, "Argument `schedule` must be an lrviz Schedule, a schedule name ("),
    ({"schedule": "step:factor=2"}, "Argument `factor` must be"),
    ({"schedule": "step:factor=0.25|0.5"}, "Argument `schedule` must be one schedule (a spec without `|`"),
    ({"class_names": "abc"}, "Argument `class_names` must be a list of strings. Received: class_names='abc'"),
    ({"steps_per_epoch": 0}, "Argument `steps_per_epoch` must be an integer >= 1. Received: steps_per_epoch=0"),
    ({"report": "yes"}, "Argument `report` must be True or False. Received: report='yes'"),
])
def test_bad_arguments_are_a_value_error_in_keras_words(kwargs, message):
    with pytest.raises(ValueError) as e:
        lrviz.keras.Dashboard(**kwargs)
    assert str(e.value).startswith(message)


def test_a_schedule_on_an_optimizer_with_its_own_schedule_is_refused_and_so_is_set_lr(tmp_path):
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
                  loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Argument `schedule` sets the LR of every batch, but this optimizer's "
                                         r"`learning_rate` is a LearningRateSchedule \(ExponentialDecay\)\. "):
        _fit(model, lrviz.keras.Dashboard(runs_dir=tmp_path, schedule="step"))
    assert runs.list_runs(tmp_path) == []  # refused before a run was made
    with pytest.raises(ValueError, match="Argument `steps_per_epoch` must be an integer >= 1"):
        lrviz.keras.schedule("step", steps_per_epoch=0)
    rid = runs.create_run({"kind": "fit", "epochs": 3, "lr_source": "ExponentialDecay"}, tmp_path)
    with pytest.raises(ValueError, match="computes its LR with a Keras ExponentialDecay inside the compiled step"):
        runs.set_lr(rid, tmp_path, value=0.01)
    assert FitJob.exclusive is False and json.loads((tmp_path / rid / "status.json").read_text())["exclusive"] is False


# --------------------------------------------------------------------------- the page


def test_the_runs_page_shows_a_fit_live_stops_it_and_compares_it_with_a_training_run(runs_dir):
    from fakes import fabricate_run, shown
    from streamlit.testing.v1 import AppTest

    page = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "pages" / "runs.py")
    dash, model = drive_fit(runs_dir, 2)
    at = AppTest.from_file(page, default_timeout=30)
    at.query_params["run"] = dash.run_id
    at.run()
    assert not at.exception
    captions = " ".join(shown(c.value) for c in at.caption)
    assert "your fit on your data" in captions and "Sequential" in captions and "83 parameters" in captions
    assert "lrviz's own runs go on beside it" in captions
    assert "Epoch 3/5" in at.get("progress")[0].proto.text
    assert {"Stop", "Apply"} <= {b.label for b in at.button}
    next(b for b in at.button if b.label == "Stop").click().run()
    dash.on_epoch_begin(2)
    dash.on_train_batch_begin(0)
    assert model.stop_training  # the page's stop reached the fit from its next batch
    dash.on_train_end()
    assert store_state(runs_dir, dash.run_id) == "stopped"
    # a fit whose optimizer computes its LR: Stop only, and why
    decayed, _ = drive_fit(runs_dir, 1, optimizer=keras.optimizers.SGD(
        keras.optimizers.schedules.CosineDecay(0.1, 100)), name="decayed")
    at = AppTest.from_file(page, default_timeout=30)
    at.query_params["run"] = decayed.run_id
    at.run()
    assert not at.exception and "Apply" not in {b.label for b in at.button}
    assert any("with a Keras CosineDecay inside the compiled step" in shown(c.value) for c in at.caption)
    decayed.on_train_end()
    # a finished fit beside a training run of lrviz's own: one comparison
    ours = fabricate_run(runs_dir, factor=0.5)
    at = AppTest.from_file(page, default_timeout=30)
    at.query_params["compare"] = f"{dash.run_id},{ours}"
    at.run()
    assert not at.exception and not [i for i in at.info if "open it on its own" in shown(i.value)]


def store_state(runs_dir, rid):
    return runs.load_run(rid, runs_dir).state
