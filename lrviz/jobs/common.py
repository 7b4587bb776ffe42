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
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lrviz.data import DATASET_CHOICES, HOW_TO_SUPPLY_CIFAR, OWN
from lrviz.errors import FieldError
from lrviz.models import MINIVGGNET, MODEL_RULE
from lrviz.own_data import COLOR_MODES, LOADING
from lrviz.settings import setting
from lrviz.store.files import atomic_write_json, read_json

__all__ = ["DataSettings", "DATA_KEYS", "OWN_DATA_KEYS", "check_data", "preflight", "own_data_words", "StatusWriter",
           "versions", "load_data", "configure_backend", "seed_everything", "build_model", "STATUS_INTERVAL_S",
           "BACKENDS", "installed_backends", "resolve_backend", "select_backend", "Placement", "device_words"]

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
    """The data, model and optimizer settings of every job that trains (the tutorial's by default)."""

    dataset: str = setting("digits", "Dataset: scikit-learn's digits (offline), CIFAR-10, or own (your images at "
                           "--data; giving --data is enough).", kind="choice", choices=DATASET_CHOICES,
                           label="Dataset")
    cifar_archive: str | None = setting(None, "cifar-10-python.tar.gz or the extracted cifar-10-batches-py folder.",
                                        kind="path", optional=True, label="CIFAR-10 archive")
    data: str | None = setting(None, "Your images: a folder with one subfolder per class (PNG, JPEG, BMP, GIF; "
                               "class names are the folder names, sorted) or an .npz with x_train, y_train and "
                               "optionally x_test, y_test.", kind="path", optional=True, label="Your data",
                               what="a class folder or an .npz file")
    image_size: str | None = setting(None, "Resize your images to height,width (or one number for both), e.g. "
                                     "32,32 (empty: as they are; they must then all have one size).", kind="text",
                                     optional=True, label="Image size", metavar="H,W")
    color_mode: str | None = setting(None, "Convert your images to grayscale or rgb (empty: as they are; they must "
                                     "then all have the same channels).", kind="choice", choices=COLOR_MODES,
                                     optional=True, label="Colour mode")
    val_split: float | None = setting(0.2, "Share of each class of your data held out as its test set when it has none "
                               "(a folder, an .npz without x_test), drawn with the run's seed.", kind="float", low=0,
                               high=1, low_open=True, high_open=True, what="a fraction", optional=True,
                               label="Held-out share")
    model: str | None = setting(MINIVGGNET, "The network: minivggnet (the tutorial's), a keras.applications "
                                "architecture as Keras spells it (e.g. MobileNetV2, built untrained for your data's "
                                "shape and classes) or a .keras file (its optimizer is replaced by the SGD settings "
                                "here).", kind="path", what=MODEL_RULE, optional=True, label="Model", metavar="MODEL")
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


DATA_KEYS = ("dataset", "cifar_archive", "data", "image_size", "color_mode", "val_split", "model", "limit",
             "batch_size", "momentum", "nesterov", "seed", "backend")
OWN_DATA_KEYS = ("data", "image_size", "color_mode", "val_split")  # what only own data reads


def check_data(cfg: dict[str, Any]) -> None:
    """The rules that span fields: CIFAR-10 from an archive needs the archive to exist; ``data``
    given makes the dataset ``own`` (digits is only the default) and must be a class folder or
    an .npz; ``image_size`` is normalised to ``"H,W"``; a ``model`` is a name lrviz knows or an
    existing .keras file (made absolute); the backend is resolved (``$KERAS_BACKEND``, else
    tensorflow) and must be installed."""
    from lrviz.models import check_model_name
    from lrviz.own_data import FOLDER_RULE, parse_image_size

    resolve_backend(cfg)
    arch = cfg.get("cifar_archive")
    if cfg.get("dataset") == "cifar10" and arch is not None and not Path(arch).expanduser().exists():
        raise FieldError("cifar_archive", "an existing file or folder", arch, hint=HOW_TO_SUPPLY_CIFAR)
    data = cfg.get("data")
    if data is not None:
        if cfg.get("dataset") == "cifar10":
            raise FieldError("dataset", "own (or left out) when `data` is given", "cifar10")
        cfg["dataset"] = OWN
        p = Path(data).expanduser()
        if not (p.is_dir() or (p.is_file() and p.suffix.lower() == ".npz")):
            raise FieldError("data", FOLDER_RULE, data, hint="It is a file, but not an .npz" if p.is_file()
                             else "Nothing is there")
        cfg["data"] = str(p.resolve())
    elif cfg.get("dataset") == OWN:
        raise FieldError("data", "a class folder or an .npz file when the dataset is 'own'", None)
    size = parse_image_size(cfg.get("image_size"))
    cfg["image_size"] = None if size is None else f"{size[0]},{size[1]}"
    cfg["model"] = check_model_name(cfg.get("model") or MINIVGGNET)  # None (a form without the field): the default
    if cfg.get("val_split") is None:
        cfg["val_split"] = DataSettings.val_split


PREFLIGHT_LOAD_BYTES = 256 * 2**20  # own data up to this size is read whole before a run exists
_BUILT_IN_SHAPES = {"digits": ((8, 8, 1), 10), "cifar10": ((32, 32, 3), 10)}


def preflight(cfg: dict[str, Any]) -> str:
    """What can be checked of a validated config before its run folder exists, so that bad data
    or a model that does not fit makes no run: own data's files (headers; read whole up to
    :data:`PREFLIGHT_LOAD_BYTES`, so corrupt files and bad labels are found too) and its memory
    budget; the model against the data's shape and classes (a .keras file is loaded: Keras is
    imported on the run's backend, which this process then keeps). Returns one line about the
    data ("" for the built-in datasets); ``FieldError`` otherwise."""
    from lrviz import models
    from lrviz.own_data import inspect_own

    line = ""
    shape, classes = _BUILT_IN_SHAPES.get(cfg["dataset"], (None, None))
    if cfg["dataset"] == OWN:
        line, _ = own_data_words(cfg)
        info = inspect_own(cfg["data"], image_size=cfg.get("image_size"), color_mode=cfg.get("color_mode"))
        shape, classes = info.shape, len(info.class_names) if info.class_names else None
        if info.bytes <= PREFLIGHT_LOAD_BYTES:
            ds = load_data(cfg)
            classes = len(ds.class_names)
    name = cfg.get("model") or MINIVGGNET
    if shape is not None and name in models.APPLICATIONS:
        models.check_input_size(name, shape)
    elif shape is not None and classes and name != MINIVGGNET:
        select_backend(cfg.get("backend"))
        models.build_model(name, shape, classes)
    return line


def own_data_words(cfg: dict[str, Any]) -> tuple[str, int]:
    """What a validated config's own data holds, from the files' headers only (cheap enough for
    every rerun of a page): one line (images, shape, classes, memory) and the number of training
    images; ``FieldError`` for bad files, data past the memory budget, or a keras.applications
    model the images are too small for (Keras is not imported)."""
    from lrviz import models
    from lrviz.own_data import check_memory, data_label, inspect_own, memory_words

    info = inspect_own(cfg["data"], image_size=cfg.get("image_size"), color_mode=cfg.get("color_mode"))
    check_memory(info)
    if cfg.get("model") in models.APPLICATIONS:
        models.check_input_size(cfg["model"], info.shape)
    h, w, c = info.shape
    classes = f" in {len(info.class_names)} classes" if info.class_names else ""
    return (f"{data_label(cfg['data'])}: {info.n_images:,} images ({h}x{w}x{c}){classes}, "
            f"{memory_words(info.bytes)} in memory", info.train_images(cfg.get("val_split") or 0.2))


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
        self.on_loading: Callable[[int, int], None] | None = None

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

    def loading(self, done: int, total: int) -> None:
        """``load_data``'s progress: the phase and the counts as their own fields (a page reads
        numbers, never parses a sentence); throttled, but the last count is always written.
        ``on_loading(done, total)``, if set (the command line's foreground run), hears each one."""
        changes = {"phase": LOADING, "files_done": int(done), "files_total": int(total)}
        (self.write if done >= total else self.throttled)(**changes)
        if self.on_loading is not None:
            self.on_loading(done, total)

    def reload(self) -> None:
        """Take the file's state as current (after another writer, e.g. a crash handler)."""
        with contextlib.suppress(OSError, ValueError):
            self.status = read_json(self.file)


def load_data(config: dict[str, Any], progress: Any = None) -> Any:
    """The run's :class:`lrviz.data.Dataset` (uint8 CIFAR-10 and own images stay uint8);
    ``progress(done, total)`` while a folder of own images is read."""
    from lrviz.data import load_dataset

    own = {k: config.get(k) for k in OWN_DATA_KEYS if config.get(k) is not None}
    return load_dataset(config["dataset"], cifar_archive=config.get("cifar_archive"), limit=config.get("limit"),
                        seed=config["seed"], progress=progress, **own)


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
    """The run's model (:func:`lrviz.models.build_model`: MiniVGGNet by default) for ``ds``'s
    shape and classes, compiled like the tutorial: SGD(lr, momentum, nesterov), categorical
    cross-entropy, accuracy. A .keras file's own optimizer is replaced by this one."""
    import keras

    from lrviz.models import build_model as build

    with placement.scope():
        model = build(config.get("model") or MINIVGGNET, ds.input_shape, len(ds.class_names))
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=config["momentum"], nesterov=config["nesterov"])
        model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    return model
