"""Batches: the tf.data pipeline (uint8 gathered per batch, then scaled; one seeded order reused
every epoch, as Keras' own ``fit(x, y)`` batches arrays) and what it trains to."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from lrviz.batches import make_tf_dataset
from lrviz.data import load_digits


def test_pipeline_scales_uint8_to_float32_one_hot():
    x = np.full((5, 32, 32, 3), 255, np.uint8)
    x[0] = 0
    y = np.array([0, 1, 2, 3, 9])
    batches = list(make_tf_dataset(x, y, 10, batch_size=2))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    xb, yb = batches[0]
    assert xb.dtype.name == "float32" and float(xb[0].numpy().max()) == 0.0 and float(xb[1].numpy().min()) == 1.0
    np.testing.assert_array_equal(yb.numpy()[1], np.eye(10, dtype=np.float32)[1])


# --------------------------------------------------------------------------- issue 10: the pipeline fit sees


def _fit_order(inputs, targets=None, epochs=3, **fit_kw):
    """Sample ids (stored as the pixel values) in the order ``fit`` trains on them: one list of
    batches per epoch."""
    keras = pytest.importorskip("keras")

    class Recorder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)
            self.seen = []

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 4)))

        def train_step(self, batch):
            self.seen.append(batch[0].numpy()[:, 0, 0, 0].astype(int).tolist())
            return {"n": keras.ops.convert_to_tensor(0.0)}

    model = Recorder()
    model.compile(loss="mse", run_eagerly=True)
    model.fit(inputs, targets, epochs=epochs, verbose=0, **fit_kw)
    spe = len(model.seen) // epochs
    return [model.seen[e * spe:(e + 1) * spe] for e in range(epochs)]


def test_pipeline_batches_like_keras_own_fit_on_arrays():
    """Issue 10: fed through make_tf_dataset, MiniVGGNet ended 1-5 points below the same model fed
    through fit(x, y, batch_size) because the pipeline reshuffled every epoch, so the small last
    batch (digits: 3 images) held different images each epoch and BatchNormalization was hit by a
    new 3-image batch every epoch. Keras' own path (seeded) keeps one permutation for the run."""
    keras = pytest.importorskip("keras")
    n, bs = 67, 8  # 8 full batches and one of 3
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.float32)
    y = np.arange(n) % 3
    keras.utils.set_random_seed(7)
    ref = _fit_order(x, np.eye(3, dtype=np.float32)[y], batch_size=bs)  # Keras' ArrayDataAdapter
    keras.utils.set_random_seed(7)
    got = _fit_order(make_tf_dataset(x, y, 3, bs, shuffle=True, seed=7), shuffle=False)

    sizes = [[len(b) for b in epoch] for epoch in ref]
    assert sizes == [[8] * 8 + [3]] * 3  # the oracle: partial batch kept, last
    assert [[len(b) for b in epoch] for epoch in got] == sizes
    for epochs in (ref, got):
        for epoch in epochs:
            assert sorted(sum(epoch, [])) == list(range(n))  # each epoch sees every sample once
    assert ref[0] == ref[1] == ref[2], "Keras' seeded fit(x, y) now reshuffles: revisit make_tf_dataset"
    assert ref[0] != sorted(ref[0])  # ... but it did shuffle
    assert got[0] == got[1] == got[2], "the pipeline must keep one permutation per run, as fit(x, y) does"
    assert got[0][-1] == got[1][-1] == got[2][-1]  # the same 3 images in the small batch every epoch


def test_pipeline_order_depends_on_seed_only():
    x = np.arange(67, dtype=np.float32).reshape(67, 1, 1, 1)
    y = np.zeros(67, np.int64)

    def ids(**kw):
        return np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in make_tf_dataset(x, y, 2, 8, **kw)]).astype(int)

    assert ids().tolist() == list(range(67))
    a = ids(shuffle=True, seed=1)
    assert sorted(a.tolist()) == list(range(67)) and a.tolist() != list(range(67))
    np.testing.assert_array_equal(a, ids(shuffle=True, seed=1))
    assert ids(shuffle=True, seed=2).tolist() != a.tolist()


def test_digits_minivggnet_trains_like_keras_own_fit():
    """Outcome of issue 10 (about 15 s on 2 cores): digits, seed 3, 40 epochs, SGD 0.01 with
    Nesterov momentum 0.9, batch 64. Measured: the per-epoch-reshuffled pipeline ended at training
    loss 0.100 / test accuracy 0.960; Keras' fit(x, y) at 0.009 / 0.987; this pipeline at
    0.008 / 0.991 (all six seeds 1-6: training loss <= 0.012 here, >= 0.048 before)."""
    keras = pytest.importorskip("keras")
    from lrviz.models import MiniVGGNet

    ds = load_digits()
    keras.utils.set_random_seed(3)
    model = MiniVGGNet.build(width=8, height=8, depth=1, classes=10)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    hist = model.fit(make_tf_dataset(ds.x_train, ds.y_train, 10, 64, shuffle=True, seed=3), epochs=40,
                     shuffle=False, verbose=0)
    _, acc = model.evaluate(make_tf_dataset(ds.x_test, ds.y_test, 10, 64), verbose=0)
    assert hist.history["loss"][-1] < 0.04
    assert acc >= 0.98
