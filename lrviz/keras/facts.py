"""What the Dashboard reads of a user's fit: the ``fit`` call's own arguments, the model and the
optimizer in words, the process, and the validation data's labels and predictions for the report."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lrviz import runs

__all__ = ["checked_name", "fit_locals", "alias_accuracy", "labels_and_predictions", "class_labels", "model_info",
           "optimizer_info", "process_info", "create_time"]


def checked_name(name: Any) -> str:
    return runs.RUN_NAME.parse(name.strip() if isinstance(name, str) else name)


def fit_locals(model: Any) -> dict[str, Any]:
    """The local variables of the ``fit`` that runs this callback (its validation data, batch
    size, ``initial_epoch``): the frame of ``model.fit`` up the stack; {} when not found."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            return {k: frame.f_locals.get(k) for k in ("val_x", "val_y", "validation_data", "batch_size",
                                                       "initial_epoch") if k in frame.f_locals}
        frame = frame.f_back
    return {}


def alias_accuracy(logs: dict[str, Any]) -> None:
    """A metric named ``sparse_categorical_accuracy`` (say) is also the row's ``accuracy``, so the
    charts that read ``accuracy`` show it; the metric keeps its own column too."""
    for prefix in ("", "val_"):
        if prefix + "accuracy" not in logs:
            for key in logs:
                rest = key[len(prefix):] if key.startswith(prefix) else None
                if rest and rest.endswith("accuracy") and not (prefix == "" and key.startswith("val_")):
                    logs[prefix + "accuracy"] = logs[key]
                    break


def labels_and_predictions(model: Any, x: Any, y: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(y_true, y_pred, classes)`` on the validation data when it has class labels; None for
    none (no validation data, regression targets, a generator of unknown length)."""
    if x is None:
        return None
    if y is None:  # a dataset yielding (x, y) batches: tf.data with a known length, or a PyDataset
        if not hasattr(x, "__len__") and not finite_tf_dataset(x):
            return None
        trues, preds = [], []
        for item in x:
            if not isinstance(item, (tuple, list)) or len(item) < 2:
                return None
            trues.append(keras.ops.convert_to_numpy(item[1]))
            preds.append(keras.ops.convert_to_numpy(model.predict_on_batch(item[0])))
        if not trues:
            return None
        y_arr, probs = np.concatenate(trues), np.concatenate(preds)
    else:
        y_arr = np.asarray(keras.ops.convert_to_numpy(y))
        probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    labels = class_labels(y_arr)
    if labels is None or probs.ndim != 2 or len(probs) != len(labels):
        return None
    if probs.shape[1] == 1:  # one sigmoid unit: two classes
        pred = (probs[:, 0] > 0.5).astype(int)
        classes = 2
    else:
        pred = probs.argmax(axis=1)
        classes = probs.shape[1]
    if labels.max(initial=0) >= classes:
        return None
    return labels, pred, classes


def class_labels(y: np.ndarray) -> np.ndarray | None:
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        return y.argmax(axis=1)
    y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not len(y) or not np.all(np.isfinite(y)) or np.any(y < 0) or np.any(y != np.round(y)):
        return None
    return y.astype(int)


def finite_tf_dataset(x: Any) -> bool:
    cardinality = getattr(x, "cardinality", None)
    if cardinality is None:
        return False
    with contextlib.suppress(Exception):  # noqa: BLE001
        return int(cardinality()) >= 0
    return False


def model_info(model: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"class": type(model).__name__, "name": model.name, "layers": len(model.layers)}
    with contextlib.suppress(Exception):  # noqa: BLE001 - a subclassed model may not know its shapes
        info["parameters"] = int(model.count_params())
        info["trainable_parameters"] = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
        info["input_shape"] = str(model.input_shape)
        info["output_shape"] = str(model.output_shape)
    return info


def optimizer_info(optimizer: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"class": type(optimizer).__name__}
    with contextlib.suppress(Exception):  # noqa: BLE001
        info["config"] = json.loads(json.dumps(optimizer.get_config(), default=json_value))
    return info


def json_value(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else repr(value)


def process_info() -> dict[str, Any]:
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    return {"pid": os.getpid(), "script": Path(script).name if script else
            ("a notebook" if "ipykernel" in sys.modules else "python")}


def create_time() -> float | None:
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001
        return None
