"""Worker steps every job kind shares, written once: the data and optimizer settings, status
writing, loading data, seeding, configuring the backend, building and compiling MiniVGGNet.

Nothing here imports TensorFlow or Keras at module level: the run store and the pages import
the jobs' configs, and must stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lrviz.data import DATASETS, HOW_TO_SUPPLY_CIFAR
from lrviz.errors import FieldError
from lrviz.settings import setting
from lrviz.store.files import atomic_write_json, read_json

__all__ = ["DataSettings", "DATA_KEYS", "check_data", "StatusWriter", "versions", "load_data", "configure_backend",
           "seed_everything", "build_model", "STATUS_INTERVAL_S", "BACKENDS", "installed_backends", "resolve_backend",
           "select_backend", "Placement", "device_words"]

STATUS_INTERVAL_S = 0.25  # status.json is rewritten at most 4 times per second
BACKENDS = ("tensorflow", "jax", "torch")
_BACKEND_MODULE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
_INSTALL = {"tensorflow": "pip install tensorflow-cpu (or tensorflow[and-cuda] for a GPU)",
            "jax": 'pip install "jax[cpu]" (or "jax[cuda12]" for a GPU)', "torch": "pip install torch"}


def installed_backends() -> tuple[str, ...]:
    """The Keras backends whose library is installed here (what the Train page offers)."""
    import importlib.util

    return tuple(b for b in BACKENDS if importlib.util.find_spec(_BACKEND_MODULE[b]) is not None)


def resolve_backend(cfg: dict[str, Any]) -> None:
    """``backend``: as given, else ``$KERAS_BACKEND``, else tensorflow; it must be installed."""
    backend = cfg.get("backend") or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in BACKENDS:
        raise FieldError("backend", f"one of {', '.join(BACKENDS)}", backend)
    if backend not in installed_backends():
        raise FieldError("backend", f"an installed backend ({', '.join(installed_backends()) or 'none'})", backend,
                         hint=f"Install it with: {_INSTALL[backend]}")
    cfg["backend"] = backend


def select_backend(backend: str | None) -> str:
    """Make Keras run on ``backend`` in this process (before Keras is imported: ``KERAS_BACKEND``).
    A process that already runs Keras on another backend cannot switch: ``FieldError``."""
    import sys

    backend = backend or "tensorflow"  # runs written before backends existed ran on TensorFlow
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise FieldError("backend", f"{current} in this process (Keras is already running on {current}; "
                                        "start the run as its own worker process)", backend)
        return backend
    os.environ["KERAS_BACKEND"] = backend
    return backend


@dataclass
class DataSettings:
    """The data and optimizer settings of every job that trains MiniVGGNet (the tutorial's)."""

    dataset: str = setting("digits", "Dataset: scikit-learn's digits (offline) or CIFAR-10.", kind="choice",
                           choices=DATASETS, label="Dataset")
    cifar_archive: str | None = setting(None, "cifar-10-python.tar.gz or the extracted cifar-10-batches-py folder.",
                                        kind="path", optional=True, label="CIFAR-10 archive")
    limit: int | None = setting(None, "Train on a stratified subset of this many images (all when empty).",
                                kind="int", low=1, optional=True, label="Training images")
    batch_size: int = setting(64, "Images per batch.", kind="int", low=1, high=1_000_000, label="Batch size")
    momentum: float = setting(0.9, "SGD momentum.", kind="float", low=0, high=1, high_open=True, what="a number",
                              label="Momentum")
    nesterov: bool = setting(True, "Nesterov momentum.", kind="bool", label="Nesterov")
    seed: int = setting(42, "Seed of the weights, the shuffling and dropout.", kind="int", low=0, high=2**32 - 1,
                        label="Seed")
    backend: str | None = setting(None, "Keras backend: tensorflow, jax or torch (empty: $KERAS_BACKEND, else "
                                  "tensorflow). Uses the GPU when one is visible.", kind="choice", choices=BACKENDS,
                                  optional=True, label="Backend")


DATA_KEYS = ("dataset", "cifar_archive", "limit", "batch_size", "momentum", "nesterov", "seed", "backend")


def check_data(cfg: dict[str, Any]) -> None:
    """The rules that span fields: CIFAR-10 from an archive needs the archive to exist; the
    backend is resolved (``$KERAS_BACKEND``, else tensorflow) and must be installed."""
    resolve_backend(cfg)
    arch = cfg.get("cifar_archive")
    if cfg.get("dataset") == "cifar10" and arch is not None and not Path(arch).expanduser().exists():
        raise FieldError("cifar_archive", "an existing file or folder", arch, hint=HOW_TO_SUPPLY_CIFAR)


def versions() -> dict[str, str]:
    """Library versions, recorded in every run's config."""
    out = {"python": sys.version.split()[0]}
    for dist in ("tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "keras", "numpy", "scikit-learn", "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


class StatusWriter:
    """The worker's ``status.json``: :meth:`write` now, :meth:`throttled` at most 4 times/s.
    ``elapsed_s`` follows ``started_at``."""

    def __init__(self, path: Path):
        self.file = Path(path) / "status.json"
        self.status: dict[str, Any] = read_json(self.file)
        self._last = 0.0

    def write(self, **changes: Any) -> None:
        now = time.time()
        self.status.update(changes, updated_at=now)
        if self.status.get("started_at"):
            self.status["elapsed_s"] = now - self.status["started_at"]
        atomic_write_json(self.file, self.status)
        self._last = time.monotonic()

    def warn(self, source: str, message: str) -> None:
        """Record one warning of an optional part that failed while the run went on
        (``source``: "mlflow", ...): ``status.json`` ``warnings`` is a list of
        ``{"source", "message", "at"}`` (``at``: Unix time), absent while there is none."""
        earlier = self.status.get("warnings")
        earlier = earlier if isinstance(earlier, list) else []
        self.write(warnings=[*earlier, {"source": source, "message": message, "at": time.time()}])

    def throttled(self, **changes: Any) -> None:
        if time.monotonic() - self._last >= STATUS_INTERVAL_S:
            self.write(**changes)

    def reload(self) -> None:
        """Take the file's state as current (after another writer, e.g. a crash handler)."""
        with contextlib.suppress(OSError, ValueError):
            self.status = read_json(self.file)


def load_data(config: dict[str, Any]) -> Any:
    """The run's :class:`lrviz.data.Dataset` (uint8 CIFAR-10 stays uint8)."""
    from lrviz.data import load_dataset

    return load_dataset(config["dataset"], cifar_archive=config.get("cifar_archive"), limit=config.get("limit"),
                        seed=config["seed"])


@dataclass
class Placement:
    """Where a run trains: the backend, the device in words ("CPU", or the GPU's name, with a
    count when there are several) and the scope models are built in (TensorFlow's
    distribution strategy; a no-op elsewhere)."""

    backend: str
    device: str
    strategy: Any = None

    def scope(self) -> Any:
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def configure_backend(backend: str | None = None) -> Placement:
    """Set up the run's Keras backend (``select_backend`` first) and its devices, with no flag:
    a visible GPU is used. With more than one GPU, data-parallel training through the
    backend's own mechanism: ``tf.distribute.MirroredStrategy`` on TensorFlow,
    ``keras.distribution.DataParallel`` on JAX (PyTorch: one device)."""
    backend = select_backend(backend)
    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        threads = os.environ.get("LRVIZ_TF_THREADS")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        names = _gpu_names(backend)
        strategy = tf.distribute.MirroredStrategy() if len(names) > 1 else tf.distribute.get_strategy()
        return Placement(backend, _device_words(names), strategy)
    import keras

    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform != "cpu"]
        if len(gpus) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=gpus))
    return Placement(backend, _device_words(_gpu_names(backend)))


def device_words(backend: str) -> str:
    """The device a process that runs Keras on ``backend`` trains on, in words ("CPU", or the
    GPU's name, with a count when there are several)."""
    return _device_words(_gpu_names(backend))


def _gpu_names(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf

        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    import torch

    return [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else []  # Keras on torch: one device


def _device_words(gpu_names: list[str]) -> str:
    if not gpu_names:
        return "CPU"
    return gpu_names[0] if len(gpu_names) == 1 else f"{len(gpu_names)} × {gpu_names[0]}"


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def build_model(ds: Any, config: dict[str, Any], lr: float, placement: Placement) -> Any:
    """MiniVGGNet for ``ds``'s shape and classes, compiled like the tutorial: SGD(lr, momentum,
    nesterov), categorical cross-entropy, accuracy."""
    import keras

    from lrviz.models import MiniVGGNet

    with placement.scope():
        h, w, d = ds.input_shape
        model = MiniVGGNet.build(width=w, height=h, depth=d, classes=len(ds.class_names))
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=config["momentum"], nesterov=config["nesterov"])
        model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    return model
