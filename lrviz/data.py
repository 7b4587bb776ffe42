"""Datasets for the training engine: scikit-learn's digits (default, offline) and CIFAR-10.

Pixels are never float64 (the tutorial's ``astype("float") / 255.0`` makes a 1.2 GB copy of
CIFAR-10's 150 MB): CIFAR-10 stays ``uint8`` in memory and is scaled to float32 per batch
inside the ``tf.data`` pipeline; digits (1,797 images) are stored as float32 in [0, 1].

CIFAR-10 comes from, in this order:

1. ``archive``: a ``cifar-10-python.tar.gz`` or an extracted ``cifar-10-batches-py/`` folder
   (or the folder containing it). Read with the real pickle-batch format through a
   *restricted* unpickler (only dicts, strings, ints, lists and numpy uint8 arrays can be
   built: a crafted pickle cannot run code), straight from the tar members without
   extracting anything; an archive with absolute paths, ``..`` or links is rejected.
2. Keras' cache (``$KERAS_HOME`` or ``~/.keras``)``/datasets/``, where
   ``keras.datasets.cifar10.load_data()`` leaves the data, read the same safe way.
3. ``keras.datasets.cifar10.load_data()`` itself, which downloads (skipped when
   ``LRVIZ_CIFAR_DOWNLOAD=0``).

Anything missing or corrupt raises :class:`DataError` (a ``ValueError``) whose one message
says where it looked and how to supply the file.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from lrviz.errors import FieldError

__all__ = [
    "CIFAR10_CLASSES",
    "DIGITS_CLASSES",
    "DATASETS",
    "DATASET_CHOICES",
    "dataset_words",
    "OWN",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_cifar10",
    "read_cifar_batch",
    "check_tar_member",
    "stratified_subset",
    "write_synthetic_cifar",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS_CLASSES = tuple(str(i) for i in range(10))
DATASETS = ("digits", "cifar10")  # the built-in ones
OWN = "own"  # your own images: a class folder or an .npz at the `data` path (lrviz.own_data)
DATASET_CHOICES = (*DATASETS, OWN)
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_DIR = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
# A real batch is about 31.04 MB (10,000 images of 3,072 bytes, their labels and file names); a
# member twice that is no CIFAR-10 batch, and reading it whole (its tar header's size) could
# exhaust memory: a small .tar.gz of zeros can claim gigabytes.
MAX_BATCH_BYTES = 2 * 31_040_000
_SPLIT_SEED = 42  # digits' train/test split never changes with the run's seed


class DataError(ValueError):
    """Missing or unreadable dataset; the message says where we looked and what to do.

    ``reason`` is what is wrong; with ``supply`` (a CIFAR-10 that is missing or unusable) the
    message goes on with how to supply one, in words that fit where it is read:
    :meth:`worded` ``("cli")`` names the flag, the default (a page, a run's status, Python) the
    setting's label, "the CIFAR-10 archive".
    """

    def __init__(self, reason: str, *, supply: bool = False):
        self.reason, self.supply = reason, supply
        super().__init__(self.worded())

    def worded(self, where: str = "") -> str:
        return f"{self.reason} {how_to_supply_cifar(where)}" if self.supply else self.reason


@dataclass(frozen=True)
class Dataset:
    """Images channels-last, ``uint8`` (scaled by ``scale`` on the fly) or float32 in [0, 1].

    ``y_*`` are int64 class indices (0-based) into ``class_names``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, depth)."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def scale(self) -> float:
        """Multiplier that maps the stored pixels to [0, 1]."""
        return 1.0 / 255.0 if self.x_train.dtype == np.uint8 else 1.0


# --------------------------------------------------------------------------- subsets


def stratified_subset(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` samples of ``y`` keeping class proportions (all if ``n`` is None
    or >= len(y)).

    Each class's samples are shuffled and given evenly spaced positions in [0, 1); taking the
    ``n`` smallest positions interleaves the classes, so any ``n`` is as balanced as possible.
    """
    y = np.asarray(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    key = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        key[idx] = (np.arange(len(idx)) + rng.random()) / len(idx)
    return np.sort(np.argsort(key, kind="stable")[:n])


def _limit(ds: Dataset, limit: int | None, seed: int) -> Dataset:
    """Keep ``limit`` training images and a test set a third of that size (>= one per class)."""
    if limit is None:
        return ds
    tr = stratified_subset(ds.y_train, limit, seed)
    te = stratified_subset(ds.y_test, max(len(ds.class_names), -(-limit // 3)), seed + 1)
    return Dataset(ds.name, ds.x_train[tr], ds.y_train[tr], ds.x_test[te], ds.y_test[te], ds.class_names)


# --------------------------------------------------------------------------- digits


def load_digits(limit: int | None = None, seed: int = _SPLIT_SEED) -> Dataset:
    """scikit-learn's 8x8 digits: 1,797 images, stratified 75/25 split (fixed seed 42).

    Pixels (0..16) become float32 in [0, 1], shape (N, 8, 8, 1).
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0))[..., np.newaxis]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=_SPLIT_SEED)
    return _limit(Dataset("digits", x_tr, y_tr, x_te, y_te, DIGITS_CLASSES), limit, seed)


# --------------------------------------------------------------------------- CIFAR-10 batches

# (module, name) pairs a CIFAR batch pickle may reference: numpy's array/dtype rebuilders
# (old and new module paths) and the bytes codec Python 3 pickles use for protocol-2 bytes.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds plain containers and numpy arrays only; any other global is refused, so a
    pickle whose ``__reduce__`` names ``os.system`` fails before anything runs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def read_cifar_batch(raw: bytes, what: str = "batch") -> tuple[np.ndarray, np.ndarray]:
    """Decode one CIFAR-10 pickle batch into images (N, 32, 32, 3) uint8 and labels (N,) int64.

    The batch is a dict with ``b"data"``: uint8 (N, 3072), each row the R, G, B 32x32 planes,
    and ``b"labels"``: N ints in 0..9. Anything else raises :class:`DataError`.
    """
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any decoding failure is "corrupt"
        raise DataError(f"{what} is not a valid CIFAR-10 pickle batch ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what} is not a CIFAR-10 batch (a {type(obj).__name__}, expected a dict)")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{what}: `data` must be a uint8 array of shape (N, 3072); got {got}")
    if not isinstance(labels, (list, tuple)) or len(labels) != len(data) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in labels
    ):
        raise DataError(f"{what}: `labels` must be a list of {len(data)} ints in 0..9")
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, np.asarray(labels, dtype=np.int64)


def check_tar_member(m: tarfile.TarInfo, archive: Path) -> None:
    """Refuse a member that would land outside the archive's folder (absolute, ``..``) or is a link
    or special file: CIFAR-10 archives from a path and from the browser (:mod:`lrviz.uploads`)."""
    p = PurePosixPath(m.name)
    if p.is_absolute() or ".." in p.parts or m.name.startswith(("/", "\\")):
        raise DataError(f"refusing CIFAR-10 archive {archive}: unsafe member path {m.name!r}")
    if not (m.isfile() or m.isdir()):
        raise DataError(f"refusing CIFAR-10 archive {archive}: member {m.name!r} is a link or special file")


def _assemble(get: Any, where: str) -> tuple[np.ndarray, ...]:
    """Decode the batches one at a time into preallocated uint8 arrays (peak memory: the
    final arrays plus one batch)."""
    x_train = y_train = None
    filled = 0
    for name in _TRAIN_BATCHES:
        x, y = read_cifar_batch(get(name), f"{where}: {name}")
        if x_train is None:
            x_train = np.empty((len(x) * len(_TRAIN_BATCHES), 32, 32, 3), np.uint8)
            y_train = np.empty(len(x) * len(_TRAIN_BATCHES), np.int64)
        if filled + len(x) > len(x_train):  # batches of unequal size: grow (tiny archives only)
            x_train = np.concatenate([x_train[:filled], x])
            y_train = np.concatenate([y_train[:filled], y])
        else:
            x_train[filled:filled + len(x)] = x
            y_train[filled:filled + len(y)] = y
        filled += len(x)
        del x, y
    x_test, y_test = read_cifar_batch(get(_TEST_BATCH), f"{where}: {_TEST_BATCH}")
    return x_train[:filled], y_train[:filled], x_test, y_test


def _arrays_from_tar(archive: Path) -> tuple[np.ndarray, ...]:
    """Read the batch members straight from the archive (nothing is extracted to disk)."""
    wanted = set(_TRAIN_BATCHES) | {_TEST_BATCH}
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                check_tar_member(m, archive)
            found: dict[str, tarfile.TarInfo] = {}
            for m in members:
                base = PurePosixPath(m.name).name
                if m.isfile() and base in wanted:
                    found.setdefault(base, m)
            for m in found.values():
                if m.size > MAX_BATCH_BYTES:
                    raise DataError(f"refusing CIFAR-10 archive {archive}: member {m.name!r} is {m.size:,} bytes, "
                                    f"more than a CIFAR-10 batch can be ({MAX_BATCH_BYTES:,} bytes)")
            missing = sorted(wanted - set(found))
            if missing:
                raise DataError(f"CIFAR-10 archive {archive} lacks {', '.join(missing)}.", supply=True)

            def get(name: str) -> bytes:
                f = tar.extractfile(found[name])
                return f.read() if f else b""

            return _assemble(get, str(archive))
    except DataError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:  # zlib: a gzip stream spoilt inside
        raise DataError(f"CIFAR-10 archive {archive} is corrupt or not a tar.gz ({e}).", supply=True) from None


def _arrays_from_dir(folder: Path) -> tuple[np.ndarray, ...]:
    if (folder / _CIFAR_DIR).is_dir():
        folder = folder / _CIFAR_DIR
    root = folder.resolve()
    for name in (*_TRAIN_BATCHES, _TEST_BATCH):
        f = folder / name
        if not f.is_file():
            raise DataError(f"CIFAR-10 folder {folder} lacks {name}.", supply=True)
        if not f.resolve().is_relative_to(root):
            raise DataError(f"refusing {f}: it links outside {folder}")
    return _assemble(lambda name: (folder / name).read_bytes(), str(folder))


def how_to_supply_cifar(where: str = "") -> str:
    """What to do about a missing CIFAR-10, in the words of where the message is read: ``"cli"``
    names the flag; anywhere else (the Train page, a run's status, Python) the setting's label."""
    if where == "cli":
        return (f"Download cifar-10-python.tar.gz from {CIFAR_URL} and pass its path with --cifar-archive "
                "(or the path of the extracted cifar-10-batches-py folder).")
    return (f"Download cifar-10-python.tar.gz from {CIFAR_URL} and give its path as the CIFAR-10 archive "
            "(or the path of the extracted cifar-10-batches-py folder).")


HOW_TO_SUPPLY_CIFAR = how_to_supply_cifar()  # where the words of a page are right


def keras_cache_candidates() -> list[Path]:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    d = home / "datasets"
    return [d / "cifar-10-batches-py-target" / _CIFAR_DIR, d / _CIFAR_DIR, d / "cifar-10-python.tar.gz"]


def load_cifar10(archive: str | os.PathLike | None = None, limit: int | None = None, seed: int = 42) -> Dataset:
    """CIFAR-10 as uint8 (N, 32, 32, 3); see the module docstring for where it is looked for."""
    looked: list[str] = []
    if archive is not None:
        path = Path(archive).expanduser()
        if path.is_dir():
            arrays = _arrays_from_dir(path)
        elif path.is_file():
            arrays = _arrays_from_tar(path)
        else:
            raise DataError(f"CIFAR-10 archive not found at {path}.", supply=True)
    else:
        arrays, download = None, ""
        for cand in keras_cache_candidates():
            looked.append(str(cand))
            if cand.is_dir() and (cand / _TEST_BATCH).exists():
                arrays = _arrays_from_dir(cand)
                break
            if cand.is_file():
                arrays = _arrays_from_tar(cand)
                break
        if arrays is None and os.environ.get("LRVIZ_CIFAR_DOWNLOAD", "1") != "0":
            try:
                import keras

                (xtr, ytr), (xte, yte) = keras.datasets.cifar10.load_data()
                arrays = (xtr, ytr.reshape(-1).astype(np.int64), xte, yte.reshape(-1).astype(np.int64))
            except Exception as e:  # noqa: BLE001 - offline machines end up here
                download = _download_failure(e)
        if arrays is None:
            raise DataError(f"CIFAR-10 is not in the Keras cache (looked in: {'; '.join(looked)})"
                            + (f" and {download}" if download else "") + ".", supply=True)
    x_train, y_train, x_test, y_test = arrays
    ds = Dataset("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES)
    return _limit(ds, limit, seed)


def _download_failure(error: BaseException) -> str:
    """Why Keras' download failed, in words: its own reason when it gives one (Keras words a
    network error "URL fetch failure on <url>: None -- <reason>"), never just the exception's
    class name ("Exception" told nobody anything)."""
    text = " ".join(str(error).split())
    reason = text.rsplit(" -- ", 1)[-1].strip() if " -- " in text else text
    reason = reason if len(reason) <= 120 else reason[:119] + "…"
    return f"downloading it failed ({reason or 'no reason given'}: this machine may be offline)"


def dataset_words(config: Any) -> str | None:
    """Which data a run's config names, for tables and headers: ``digits``, ``cifar10``, or for
    your own data the folder's or .npz file's name (``shapes``, ``arrays.npz``)."""
    if not isinstance(config, dict):
        return None
    if config.get("dataset") == OWN:
        from lrviz.own_data import data_label

        data = config.get("data")
        return data_label(data) if isinstance(data, str) else "your data"
    name = config.get("dataset")
    return name if isinstance(name, str) else None


def load_dataset(name: str = "digits", *, cifar_archive: str | None = None, limit: int | None = None,
                 seed: int = 42, data: str | None = None, image_size: Any = None, color_mode: str | None = None,
                 val_split: float = 0.2, progress: Any = None) -> Dataset:
    """Dispatch on ``name``: ``"digits"``, ``"cifar10"`` or ``"own"`` (the folder or .npz at
    ``data``, see :mod:`lrviz.own_data`; ``progress(done, total)`` while its files are read)."""
    if name == "digits":
        return load_digits(limit=limit, seed=seed)
    if name == "cifar10":
        return load_cifar10(cifar_archive, limit=limit, seed=seed)
    if name == OWN:
        from lrviz.own_data import load_own

        if not data:
            raise FieldError("data", "a class folder or an .npz file when the dataset is 'own'", data)
        ds = Dataset(*load_own(data, image_size=image_size, color_mode=color_mode, val_split=val_split, seed=seed,
                               progress=progress))
        return _limit(ds, limit, seed)
    raise FieldError("dataset", f"one of {', '.join(DATASET_CHOICES)}", name)


# --------------------------------------------------------------------------- tf.data


# --------------------------------------------------------------------------- synthetic archives


def write_synthetic_cifar(dest: str | os.PathLike, n_per_batch: int = 20, n_test: int = 20, seed: int = 0,
                          protocol: int = 2) -> Path:
    """Write a CIFAR-10-format archive of random images, for tests and benchmarks.

    ``dest`` ending in ``.tar.gz`` gets an archive holding ``cifar-10-batches-py/``; any other
    path becomes the extracted folder itself. Batches are pickled dicts with ``b"data"``
    (uint8, (N, 3072), R,G,B planes) and ``b"labels"`` (plain ints), like the real files.
    Returns ``dest``.
    """
    rng = np.random.default_rng(seed)
    dest = Path(dest)

    def batch(n: int, tag: str) -> bytes:
        labels = [int(v) for v in np.arange(n) % 10]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        obj = {b"batch_label": tag.encode(), b"labels": labels, b"data": data,
               b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        return pickle.dumps(obj, protocol=protocol)

    files = {name: batch(n_per_batch, name) for name in _TRAIN_BATCHES}
    files[_TEST_BATCH] = batch(n_test, _TEST_BATCH)
    files["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES],
                                          b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}, protocol=protocol)
    if dest.name.endswith(".tar.gz"):
        with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
            for name, raw in files.items():
                info = tarfile.TarInfo(f"{_CIFAR_DIR}/{name}")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    else:
        dest.mkdir(parents=True, exist_ok=True)
        for name, raw in files.items():
            (dest / name).write_bytes(raw)
    return dest
