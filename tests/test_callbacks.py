"""lrviz.callbacks: each callback alone on a tiny model, against independent oracles (Keras'
own schedule classes, Keras' own History, counted batches)."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import pytest

from lrviz.callbacks import ControlPoller, LROverrides, RunLogger, ScheduleSetter
from lrviz.jobs.common import StatusWriter
from lrviz.schedules import Schedule
from lrviz.store.control import Control, lr_request_name, send

N, BATCH = 40, 8  # 5 batches per epoch
SPE = N // BATCH


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((N, 6), dtype=np.float32)
    y = keras.utils.to_categorical(np.arange(N) % 3, 3)
    return x, y


def _model(lr=0.1, seed=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3,
                                                                                                           "softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class LRProbe(keras.callbacks.Callback):
    """The LR the optimizer holds when each batch starts (after the callbacks before it ran)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


class NoControl:
    stop_requested = False

    def poll(self):
        return []


# --------------------------------------------------------------------------- LROverrides


def test_overrides_scale_the_rest_of_the_schedule():
    o = LROverrides()
    assert o.lr(0.01) == 0.01
    assert o.apply({"factor": 0.5}, 0.01) == ("factor", 0.5) and o.lr(0.01) == 0.005 and o.lr(0.004) == 0.002
    assert o.apply({"value": 0.03}, 0.01) == ("value", 0.03)
    assert o.lr(0.01) == pytest.approx(0.03) and o.lr(0.005) == pytest.approx(0.015)  # a later drop still halves it
    assert o.apply({"value": 0.2}, 0.0) == ("value", 0.2) and o.lr(0.0) == 0.2 and o.lr(0.5) == 0.2  # held
    o.apply({"factor": 0.5}, 0.0)
    assert o.lr(0.0) == 0.1


# --------------------------------------------------------------------------- ScheduleSetter


def test_setter_trains_exactly_like_keras_own_piecewise_schedule():
    """Step decay (drop every epoch) set per batch from the vector vs Keras' PiecewiseConstantDecay
    on the same boundaries: the LRs and the trained weights must be the same."""
    x, y = _data()
    sched = Schedule.create("step", {"lr": 0.1, "factor": 0.5, "drop_every": 1})
    epochs = 3
    lrs = sched.per_step(epochs, SPE)
    probe = LRProbe()
    ours = _model()
    ours.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[ScheduleSetter(lrs, SPE),
                                                                                            probe])
    # Keras' oracle: LR 0.1 * 0.5 ** floor((1 + epoch) / 1) per epoch; PiecewiseConstantDecay
    # takes values[i] while step <= boundaries[i], so epoch e ends at step SPE * (e + 1) - 1
    values = [0.1 * 0.5 ** (1 + e) for e in range(epochs)]
    oracle_sched = keras.optimizers.schedules.PiecewiseConstantDecay(
        [SPE * (e + 1) - 1 for e in range(epochs - 1)], values)
    assert np.array_equal(np.float32(probe.seen), np.float32([oracle_sched(s) for s in range(epochs * SPE)]))
    keras.utils.set_random_seed(1)
    theirs = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(3, "softmax")])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=oracle_sched, momentum=0.9),
                   loss="categorical_crossentropy")
    theirs.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)


def test_setter_applies_a_request_from_the_next_batch_and_reports_it():
    x, y = _data()
    lrs = np.full(2 * SPE, 0.01)
    recorded = []
    setter = ScheduleSetter(lrs, SPE, on_override=recorded.append)
    probe = LRProbe()

    class AskAtBatch3(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2 and not recorded:
                setter.request({"factor": 0.5, "requested_at": 1.0})

    logs_seen = {}

    class Logs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs_seen[epoch] = dict(logs)

    _model().fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                 callbacks=[setter, probe, AskAtBatch3(), Logs()])
    want = np.float32([0.01] * 3 + [0.005] * (2 * SPE - 3))
    assert np.array_equal(np.float32(probe.seen), want)
    (entry,) = recorded
    assert entry["step"] == 3 and entry["epoch"] == 1 and entry["batch"] == 4 and entry["kind"] == "factor"
    assert entry["multiplier"] == 0.5 and entry["requested_at"] == 1.0
    # the epoch's LRs in the logs, as Keras' LearningRateScheduler adds `learning_rate`
    assert logs_seen[0]["lr"] == pytest.approx(0.01) and logs_seen[0]["lr_planned"] == 0.01
    assert logs_seen[0]["lr_last"] == pytest.approx(0.005) and logs_seen[1]["lr"] == pytest.approx(0.005)


# --------------------------------------------------------------------------- ControlPoller


class Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_poller_stops_after_the_batch_in_which_the_stop_file_appears(tmp_path):
    x, y = _data()
    control = Control(tmp_path / "control")
    (tmp_path / "control").mkdir()

    class StopAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                send(tmp_path, "stop", {})

    counter = Counter()
    _model().fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                 callbacks=[ControlPoller(control), StopAt(), counter])
    assert control.stop_requested and counter.batches == 3  # batch 2 was running when it was seen


def test_poller_passes_lr_requests_on_in_order_and_keeps_a_batch_budget(tmp_path):
    x, y = _data()
    (tmp_path / "control").mkdir()
    first, second = lr_request_name(), lr_request_name()
    send(tmp_path, second, {"value": 0.02})
    send(tmp_path, first, {"factor": 0.5})
    got = []
    counter = Counter()
    _model().fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                 callbacks=[ControlPoller(Control(tmp_path / "control"), got.append, max_batches=7), counter])
    assert [sorted(k for k in g if k != "requested_at") for g in got] == [["factor"], ["value"]]
    assert counter.batches == 7


# --------------------------------------------------------------------------- RunLogger


def test_logger_history_matches_keras_history_and_skips_a_cut_epoch(tmp_path):
    x, y = _data()
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "started_at": 1.0}))
    status = StatusWriter(tmp_path)
    logger = RunLogger(status, tmp_path / "history.csv", SPE, total_batches=2 * SPE + 2)
    hist = _model().fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, validation_data=(x, y),
                        callbacks=[ControlPoller(NoControl(), max_batches=2 * SPE + 2), logger])
    frame = pd.read_csv(tmp_path / "history.csv")
    assert list(frame["epoch"]) == [1, 2]  # the third epoch was cut after 2 batches
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(frame[key], hist.history[key][:2], rtol=1e-12)
    assert frame["lr"].isna().all()  # no ScheduleSetter ran before it
    st = json.loads((tmp_path / "status.json").read_text())
    assert st["epoch"] == 2 and st["last"]["epoch"] == 2 and st["elapsed_s"] > 0


def test_logger_eta_leaves_out_the_first_batch(tmp_path, monkeypatch):
    import time
    import types

    import lrviz.callbacks as cb

    (tmp_path / "status.json").write_text(json.dumps({"state": "running"}))
    status = StatusWriter(tmp_path)
    logger = RunLogger(status, tmp_path / "history.csv", 10, total_batches=10)
    clock = iter([100.0, 100.1])  # the first batch ends at 100 s (it carried the tracing), then 0.1 s per batch
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(monotonic=lambda: next(clock), time=time.time))
    status._last = -1e9
    logger.on_train_batch_end(0)
    assert status.status["eta_s"] is None
    status._last = -1e9
    logger.on_train_batch_end(1)
    assert status.status["eta_s"] == pytest.approx(0.1 * 8)


def test_logger_keeps_an_epoch_whose_batch_ends_finish_out_of_order(tmp_path):
    """Keras runs async-safe batch ends on a thread pool: the last to finish may be an earlier
    batch. The epoch is still complete (seen on JAX: an epoch row went missing)."""
    import random
    import threading

    (tmp_path / "status.json").write_text(json.dumps({"state": "running"}))
    logger = RunLogger(StatusWriter(tmp_path), tmp_path / "history.csv", 40, total_batches=40)
    logger.on_epoch_begin(0)
    order = list(range(40))
    random.Random(3).shuffle(order)
    order.remove(39)
    order.insert(0, 39)  # the epoch's last batch is reported first, an earlier one last
    threads = [threading.Thread(target=logger.on_train_batch_end, args=(b,)) for b in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4})
    assert logger.batches_run == 40 and list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [1]
