"""Your own model (lrviz/models.py): keras.applications by name, untrained, for the data's
shape; a .keras file saved here, checked against the data and recompiled with lrviz's SGD;
the bad cases one FieldError on ``model`` (CLI: one line, exit 2, no run)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from background import BackgroundJob, Command
from own_data_fixtures import write_class_folder

from lrviz import models
from lrviz.errors import FieldError


def _tiny_keras_file(path, shape=(8, 8, 3), classes=3, custom=False):
    import keras

    inputs = keras.Input(shape=shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if custom:
        class Doubler(keras.layers.Layer):  # not registered, not importable: Keras cannot find it on load
            def call(self, t):
                return t * 2.0

        x = Doubler()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    model.save(path)
    return path


def test_application_names_are_keras_own():
    import keras

    assert set(models.APPLICATIONS) == {n for n in dir(keras.applications) if n[:1].isupper()}


@pytest.mark.parametrize("value, words", [
    ("mobilenetv2", "Did you mean MobileNetV2?"),
    ("AlexNet", "Received: model='AlexNet'"),
    ("/nowhere/net.keras", "No .keras file is there"),
])
def test_unknown_models_are_refused_without_keras(value, words):
    with pytest.raises(FieldError) as e:
        models.check_model_name(value)
    assert e.value.field == "model" and words in str(e.value) and "keras.applications" in str(e.value)


def test_a_shape_the_architecture_cannot_take_is_refused_with_its_minimum():
    with pytest.raises(FieldError) as e:
        models.build_model("Xception", (32, 32, 3), 3)
    assert e.value.field == "model" and "Xception needs at least 71x71" in str(e.value)
    assert "image_size=71,71" in str(e.value)


def test_a_keras_application_trains_two_steps_on_tiny_data(tmp_path):
    import keras

    from lrviz.batches import make_dataset
    from lrviz.data import load_dataset

    ds = load_dataset("own", data=str(write_class_folder(tmp_path / "d", per_class=4)), image_size="32")
    model = models.build_model("MobileNet", ds.input_shape, len(ds.class_names))
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 3)
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
    batches = make_dataset(ds.x_train, ds.y_train, 3, 4, shuffle=True)
    losses = [float(model.train_on_batch(x, y)) for (x, y), _ in zip(batches, range(2))]
    assert all(np.isfinite(losses))


def test_train_with_a_keras_file_end_to_end(tmp_path, capsys):
    import keras

    from lrviz import runs
    from lrviz.cli import main

    root = write_class_folder(tmp_path / "d", per_class=4)
    net = _tiny_keras_file(tmp_path / "net.keras")
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--data", str(root), "--model", str(net),
                 "--epochs", "1"]) == 0
    (summary,) = runs.list_runs(tmp_path / "runs")
    cfg = json.loads((summary.dir / "config.json").read_text())
    assert summary.state == "finished" and cfg["model"] == str(net.resolve())
    assert models.model_words(cfg) == "net.keras (its optimizer replaced by lrviz's SGD)"
    trained = keras.models.load_model(summary.dir / "model.keras")
    assert type(trained.optimizer).__name__ == "SGD" and trained.optimizer.nesterov


@pytest.mark.parametrize("make, words", [
    (lambda p: _tiny_keras_file(p / "m.keras", classes=5), "must be a model with 3 outputs"),
    (lambda p: _tiny_keras_file(p / "m.keras", shape=(16, 16, 3)), "takes the data's images (None, 8, 8, 3)"),
    (lambda p: _tiny_keras_file(p / "m.keras", custom=True), "It needs the custom object Doubler"),
    (lambda p: (p / "m.keras").write_bytes(b"not a zip") and p / "m.keras", "a .keras file that Keras can load"),
    (lambda p: "MobileNetV2", "MobileNetV2 needs at least 32x32"),
])
def test_cli_bad_model_is_one_line_exit_2_and_no_run(tmp_path, capsys, make, words):
    from lrviz.cli import main

    root = write_class_folder(tmp_path / "d", per_class=2)
    model = str(make(tmp_path))
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--data", str(root), "--model", model,
                 "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lrviz: error: Argument `model` must be") and words in err and "\n" not in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _own_data_on_jax(tmp_path):
    import sys
    from pathlib import Path

    from own_data_fixtures import write_npz

    root = write_class_folder(tmp_path / "d", per_class=4)
    net = _tiny_keras_file(tmp_path / "net.keras")
    arrays = write_npz(tmp_path / "a.npz", n_train=12, n_test=6, shape=(8, 8, 3), classes=3)
    code = f"""
import sys
sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
from lrviz import runs
from lrviz.worker import run_worker
d = {str(tmp_path / "runs")!r}
rid = runs.create_run({{"data": {str(root)!r}, "model": {str(net)!r}, "epochs": 1}}, d)
assert run_worker(d + "/" + rid, verbose=0, install_signals=False) == "finished"
app = runs.create_run({{"data": {str(root)!r}, "model": "MobileNet", "image_size": "32", "epochs": 1,
                        "batch_size": 4}}, d)
assert run_worker(d + "/" + app, verbose=0, install_signals=False) == "finished"
find = runs.create_run({{"kind": "lr_find", "data": {str(arrays)!r}, "num_steps": 5, "batch_size": 4}}, d)
assert run_worker(d + "/" + find, verbose=0, install_signals=False) == "finished"
assert not [m for m, v in sys.modules.items() if m.startswith("tensorflow") and v is not None]
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return Command([sys.executable, "-c", code], env, timeout=300)


OWN_DATA_ON_JAX = BackgroundJob("own-data-on-jax", _own_data_on_jax)


@pytest.mark.background(OWN_DATA_ON_JAX)
def test_own_data_and_a_keras_file_train_on_jax_without_tensorflow():
    """TensorFlow made unimportable: a class folder trains a .keras model saved on TensorFlow and a
    keras.applications architecture (MobileNet, untrained, at 32x32), and an LR range test sweeps
    an .npz, on JAX."""
    r, tmp_path = OWN_DATA_ON_JAX.result(), OWN_DATA_ON_JAX.folder
    net = tmp_path / "net.keras"  # written by _own_data_on_jax
    assert r.returncode == 0, r.stderr[-3000:]
    from lrviz import runs

    trained = [runs.load_run(s.id, tmp_path / "runs") for s in runs.list_runs(tmp_path / "runs")]
    assert {(r.config["backend"], r.config["dataset"], r.state) for r in trained} == {("jax", "own", "finished")}
    assert sorted(str(r.config.get("model")) for r in trained if r.kind == "train") == sorted(["MobileNet", str(net)])
