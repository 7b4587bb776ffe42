"""A user's fit for tests: a small Keras model, a Dashboard driven through Keras' hooks as
``fit`` drives it (a live fit without a training loop), and the per-batch LR as TensorBoard's
own reader sees it."""

from __future__ import annotations

import keras
import numpy as np

import lrviz.keras


def small_model(lr=0.05, metric="accuracy", **compile_kw):
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
    m.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy", metrics=[metric],
              **compile_kw)
    return m


def drive_fit(runs_dir, epochs_done, *, total=5, optimizer=None, name="live one"):
    """A Dashboard driven through Keras' hooks as fit would, left running after ``epochs_done``
    epochs of 4 batches: its process (this one) is alive, so the run is live."""
    model = small_model()
    if optimizer is not None:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    dash = lrviz.keras.Dashboard(runs_dir=runs_dir, name=name)
    dash.set_model(model)
    dash.set_params({"epochs": total, "steps": 4, "verbose": 0})
    dash.on_train_begin()
    drive_epochs(dash, 0, epochs_done)
    return dash, model


def drive_epochs(dash, first, n):
    """``n`` more epochs of 4 batches from the 0-based epoch ``first``."""
    for e in range(first, first + n):
        dash.on_epoch_begin(e)
        for b in range(4):
            dash.on_train_batch_begin(b)
            dash.on_train_batch_end(b, {})
        dash.on_epoch_end(e, {"loss": 1 - e / 10, "accuracy": 0.5 + e / 10, "val_loss": 1.1 - e / 10,
                              "val_accuracy": 0.45 + e / 10})


def batch_lrs(run_dir):
    """The per-batch LR as TensorBoard's own reader sees it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard" / "train"), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    tag = "batch_learning_rate"
    if tag in acc.Tags().get("tensors", []):
        return {e.step: float(np.asarray(keras.ops.convert_to_numpy(_tensor(e.tensor_proto))))
                for e in acc.Tensors(tag)}
    return {e.step: e.value for e in acc.Scalars(tag)}


def _tensor(proto):
    import tensorflow as tf

    return tf.make_ndarray(proto)
