"""The Keras 3 code the explorer shows, executed in a tiny real ``model.fit``: the optimizer
must use exactly the previewed LR before every batch (read back from the optimizer)."""

from __future__ import annotations

import numpy as np
import pytest

from lrviz.schedules import REGISTRY, Schedule

keras = pytest.importorskip("keras")

SPE, EPOCHS, BATCH = 3, 5, 4

# Each spec's example: parameters that make the schedule change within 5 short epochs.
CASES = {name: dict(spec.example) for name, spec in REGISTRY.items()}


def test_cases_cover_the_registry():
    assert set(CASES) == set(REGISTRY)


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.lrs = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _fit_with_code(code: str) -> list[float]:
    ns: dict = {}
    exec(compile(code, "<exported>", "exec"), ns)  # noqa: S102 - our own generated code
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=ns["optimizer"], loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(SPE * BATCH, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(SPE * BATCH) % 2, 2)
    rec = _Recorder()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, callbacks=[*ns["callbacks"], rec], verbose=0, shuffle=False)
    return rec.lrs


# Every schedule plain; the warmup wrapper on a function-based and two object-based ones.
@pytest.mark.parametrize(
    "name,warmup", [(n, 0.0) for n in sorted(CASES)] + [("step", 1.5), ("time_keras2", 1.5), ("one_cycle", 1.0)]
)
def test_exported_code_drives_the_optimizer_exactly(name, warmup):
    s = Schedule.create(name, CASES[name], warmup=warmup)
    used = _fit_with_code(s.keras_code(SPE))
    planned = s.per_step(EPOCHS, SPE)
    assert len(used) == len(planned) == EPOCHS * SPE
    np.testing.assert_allclose(used, planned, rtol=2e-5, atol=1e-9)
    assert len(set(np.round(planned, 12))) > 1 or name == "constant"  # the case really changes the LR
