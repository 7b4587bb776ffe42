"""Your own images: a folder with one subfolder per class, or an ``.npz`` of arrays.

What Keras users keep images as, read without TensorFlow (Pillow and numpy), so the same data
trains on every backend:

- **a class folder**: ``PATH/<class>/**/*.png|jpg|jpeg|bmp|gif``; the class names are the
  subfolder names, sorted, as ``keras.utils.image_dataset_from_directory`` does (hidden
  folders such as ``.ipynb_checkpoints`` are skipped; a GIF gives its first frame). A folder
  has no test set: ``val_split`` of each class is held out, drawn with the run's seed.
- **an .npz**: ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test`` (and
  ``class_names``); images (N, H, W, C) or (N, H, W), uint8 or float in [0, 1] (or [0, 255]);
  labels integer class indices (N,) or one-hot (N, K). Read with ``allow_pickle=False``.

Images are kept as uint8 (N, H, W, C) in memory and scaled to [0, 1] per batch, like
CIFAR-10 (:mod:`lrviz.batches`); float images are rounded to uint8 (a 1/510 quantisation).
``image_size`` resizes every image (bilinear, as Keras); without it every image must already
have one size. ``color_mode`` converts ("grayscale": Pillow's ITU-R 601-2 luma; "rgb");
without it every image must have the same channels.

Before anything is decoded, :func:`inspect_own` reads the image headers (or the arrays'
``.npy`` headers) and :func:`check_memory` refuses data that would take more than
:func:`memory_budget` bytes (4 GiB, ``$LRVIZ_DATA_MEMORY_GIB`` to change it), with the numbers.

Every bad input is a :class:`~lrviz.errors.FieldError` on ``data`` (or ``image_size`` /
``color_mode``): the rule, the path, and what was found.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lrviz.errors import FieldError

__all__ = ["IMAGE_EXTENSIONS", "COLOR_MODES", "OwnData", "inspect_own", "load_own", "check_memory", "memory_budget",
           "parse_image_size", "data_label", "held_out_split", "memory_words", "LOADING", "files_loaded",
           "loading_words"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLOR_MODES = ("grayscale", "rgb")
DEFAULT_BUDGET_GIB = 4.0  # what a run may hold of images in memory, unless $LRVIZ_DATA_MEMORY_GIB says otherwise
SIZE_MAX = 4096  # pixels per side that image_size accepts
_NAMED = 3  # bad files named in a message (then "and N more")
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
FOLDER_RULE = "an existing folder with one subfolder per class, or an .npz file"
Progress = Callable[[int, int], None]  # (files read, total)
LOADING = "loading data"  # status.json's phase while the data is read; files_done, files_total beside it


@dataclass(frozen=True)
class OwnData:
    """What :func:`inspect_own` finds before decoding: ``kind`` "folder" or "npz", the number of
    images (train + test), the shape each image will have, and the class names (None for an npz
    without ``class_names``: known once its labels are read)."""

    path: Path
    kind: str
    n_images: int
    shape: tuple[int, int, int]
    class_names: tuple[str, ...] | None
    source_bytes: int = 0  # what an npz's arrays take while they are converted (0 for a folder)
    files: tuple[tuple[Path, int], ...] = ()  # a folder's (file, class index), sorted
    n_test: int | None = None  # an npz's x_test images; None: a held-out share is drawn

    def train_images(self, val_split: float) -> int:
        """How many images train (before ``limit``): an npz's x_train, else what the held-out split
        leaves (about ``1 - val_split`` of each class)."""
        if self.n_test is not None:
            return self.n_images - self.n_test
        return max(1, round(self.n_images * (1 - val_split)))

    @property
    def bytes(self) -> int:
        """Peak memory of loading: the uint8 images plus an npz's arrays as stored."""
        h, w, c = self.shape
        return self.n_images * h * w * c + self.source_bytes


def data_label(path: str | os.PathLike | None) -> str:
    """How a run's data is named in tables and headers: the folder's name, or the .npz file's."""
    if not path:
        return "your data"
    p = Path(path)
    return p.name or str(p)


def memory_budget() -> int:
    """Bytes of images a run may load: 4 GiB, or ``$LRVIZ_DATA_MEMORY_GIB``."""
    text = os.environ.get("LRVIZ_DATA_MEMORY_GIB", "")
    try:
        gib = float(text) if text.strip() else DEFAULT_BUDGET_GIB
    except ValueError:
        gib = DEFAULT_BUDGET_GIB
    return int(gib * 2**30) if gib > 0 else int(DEFAULT_BUDGET_GIB * 2**30)


def memory_words(n: int) -> str:
    """``1.2 GiB``, ``340 MiB``, ``12 KiB``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def parse_image_size(value: Any) -> tuple[int, int] | None:
    """``"32,32"``, ``"32"``, ``32``, ``[32, 32]`` -> (height, width); None stays None."""
    if value is None:
        return None
    rule = f"an image size: one integer or height,width (each from 1 to {SIZE_MAX}), e.g. 32,32"
    if isinstance(value, bool):
        raise FieldError("image_size", rule, value)
    if isinstance(value, int):
        parts: list[Any] = [value]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.replace("x", ",").split(",")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise FieldError("image_size", rule, value)
    try:
        sizes = [int(p) for p in parts if not isinstance(p, bool) and (not isinstance(p, float) or p.is_integer())]
    except (TypeError, ValueError):
        raise FieldError("image_size", rule, value) from None
    if len(sizes) != len(parts) or len(sizes) not in (1, 2) or not all(1 <= s <= SIZE_MAX for s in sizes):
        raise FieldError("image_size", rule, value)
    return (sizes[0], sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1])


def _bad(rule: str, path: Path, hint: str = "") -> FieldError:
    return FieldError("data", rule, str(path), hint=hint)


def _files_named(bad: list[tuple[Path, str]], root: Path) -> str:
    shown = "; ".join(f"{p.relative_to(root)} ({why})" for p, why in bad[:_NAMED])
    more = f"; and {len(bad) - _NAMED} more" if len(bad) > _NAMED else ""
    return f"{len(bad)} file{'s' if len(bad) != 1 else ''} could not be read as images: {shown}{more}"


# --------------------------------------------------------------------------- inspecting


def inspect_own(path: str | os.PathLike, *, image_size: Any = None, color_mode: str | None = None) -> OwnData:
    """Check ``path`` and say what loading it will give, reading only headers."""
    p = Path(path).expanduser()
    if p.is_dir():
        return _inspect_folder(p, parse_image_size(image_size), color_mode)
    if p.is_file() and p.suffix.lower() == ".npz":
        return _inspect_npz(p, parse_image_size(image_size), color_mode)
    if p.is_file():
        raise _bad(FOLDER_RULE, p, hint="It is a file, but not an .npz")
    raise _bad(FOLDER_RULE, p, hint="Nothing is there")


def _channels(mode: str) -> int:
    return 1 if mode in _GREY_MODES else 3


def _inspect_folder(root: Path, size: tuple[int, int] | None, color_mode: str | None) -> OwnData:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise _bad(FOLDER_RULE.replace("one subfolder per class", "at least 2 class subfolders"), root,
                   hint=f"It has {len(classes)}" + (f" ({classes[0]})" if classes else ""))
    files: list[tuple[Path, int]] = []
    empty = []
    for i, name in enumerate(classes):
        found = sorted(f for f in (root / name).rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file())
        if not found:
            empty.append(name)
        files += [(f, i) for f in found]
    if empty:
        raise _bad("a folder whose every class subfolder holds images (PNG, JPEG, BMP or GIF)", root,
                   hint=f"No images in: {', '.join(empty[:_NAMED])}" + (f" and {len(empty) - _NAMED} more"
                                                                        if len(empty) > _NAMED else ""))
    bad: list[tuple[Path, str]] = []
    sizes: dict[tuple[int, int], Path] = {}
    channels: dict[int, Path] = {}
    for f, _ in files:
        try:
            with Image.open(f) as im:
                sizes.setdefault((im.height, im.width), f)
                channels.setdefault(_channels(im.mode), f)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            bad.append((f, _reason(e)))
    if bad:
        raise _bad("a folder of readable images", root, hint=_files_named(bad, root))
    if size is None and len(sizes) > 1:
        (a, fa), (b, fb) = list(sizes.items())[:2]
        raise FieldError("image_size", "given when the images differ in size (e.g. 32,32)", None,
                         hint=f"{fa.relative_to(root)} is {a[1]}x{a[0]}, {fb.relative_to(root)} is {b[1]}x{b[0]} "
                              "(width x height)")
    depth = _depth(channels, color_mode, root)
    h, w = size or next(iter(sizes))
    return OwnData(root, "folder", len(files), (h, w, depth), tuple(classes), files=tuple(files))


def _depth(channels: dict[int, Path], color_mode: str | None, root: Path) -> int:
    if color_mode is not None:
        return 1 if color_mode == "grayscale" else 3
    if len(channels) > 1:
        raise FieldError("color_mode", "grayscale or rgb when the images mix grey and colour", None,
                         hint=f"{channels[1].relative_to(root)} is grey, {channels[3].relative_to(root)} is colour")
    return next(iter(channels))


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if "cannot identify image file" in text:
        return "not an image Pillow can identify"
    return text if len(text) <= 80 else text[:79] + "…"


def _npy_header(zf: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    with zf.open(name) as f:
        major, _ = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    return tuple(shape), np.dtype(dtype)


def _inspect_npz(path: Path, size: tuple[int, int] | None, color_mode: str | None) -> OwnData:
    try:
        with zipfile.ZipFile(path) as zf:
            headers = {}
            for member in zf.namelist():
                if member.endswith(".npy"):
                    headers[member[:-4]] = _npy_header(zf, member)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _bad("an .npz file numpy can read (np.savez)", path, hint=_reason(e)) from None
    missing = [k for k in ("x_train", "y_train") if k not in headers]
    if ("x_test" in headers) != ("y_test" in headers):
        missing.append("y_test" if "x_test" in headers else "x_test")
    if missing:
        raise _bad("an .npz with the arrays x_train and y_train (and optionally both x_test and y_test)", path,
                   hint=f"It lacks {', '.join(missing)}; it has {', '.join(sorted(headers)) or 'no arrays'}")
    parts = ("train", "test") if "x_test" in headers else ("train",)
    n, source, shape = 0, 0, None
    for part in parts:
        (xs, xd), (ys, yd) = headers[f"x_{part}"], headers[f"y_{part}"]
        if len(xs) not in (3, 4) or (len(xs) == 4 and xs[3] not in (1, 3)):
            raise _bad("an .npz whose images are (N, H, W) or (N, H, W, C) with C = 1 or 3", path,
                       hint=f"x_{part} has shape {xs}")
        if xd.kind not in "uif" or len(ys) not in (1, 2) or yd.kind not in "uifb":
            raise _bad("an .npz of numeric images and integer or one-hot labels", path,
                       hint=f"x_{part} is {xd} {xs}, y_{part} is {yd} {ys}")
        if xs[0] != ys[0]:
            raise _bad("an .npz whose images and labels have the same length", path,
                       hint=f"x_{part} has {xs[0]} images, y_{part} {ys[0]} labels")
        here = (xs[1], xs[2], xs[3] if len(xs) == 4 else 1)
        if shape is not None and here[2] != shape[2] and color_mode is None:
            raise FieldError("color_mode", "grayscale or rgb when x_train and x_test have different channels", None)
        if shape is not None and here[:2] != shape[:2] and size is None:
            raise FieldError("image_size", "given when x_train and x_test differ in size (e.g. 32,32)", None,
                             hint=f"x_train is {shape[0]}x{shape[1]}, x_test {here[0]}x{here[1]} (height x width)")
        shape = shape or here
        n += xs[0]
        source += int(np.prod(xs)) * xd.itemsize + int(np.prod(ys)) * yd.itemsize
    depth = shape[2] if color_mode is None else (1 if color_mode == "grayscale" else 3)
    h, w = size or shape[:2]
    n_test = headers["x_test"][0][0] if "x_test" in headers else None
    return OwnData(path, "npz", n, (h, w, depth), None, source_bytes=source, n_test=n_test)


def check_memory(info: OwnData, budget: int | None = None) -> None:
    """Refuse data whose loading would take more than ``budget`` bytes (:func:`memory_budget`)."""
    budget = memory_budget() if budget is None else budget
    if info.bytes > budget:
        h, w, c = info.shape
        raise _bad(f"data that fits the memory budget of {memory_words(budget)} (set LRVIZ_DATA_MEMORY_GIB to "
                   "change it)", info.path,
                   hint=f"{info.n_images:,} images of {h}x{w}x{c} take {memory_words(info.bytes)} as uint8"
                        + (" with the .npz's arrays" if info.source_bytes else "") + "; a smaller image_size or "
                        "limit helps")


# --------------------------------------------------------------------------- loading


def files_loaded(status: dict[str, Any]) -> tuple[int, int] | None:
    """``(files_done, files_total)`` of a run whose status says it is reading a folder's files, or
    None (another phase, or counts that a hand-edited status.json made nonsense of)."""
    done, total = status.get("files_done"), status.get("files_total")
    if status.get("phase") != LOADING or not all(type(v) is int for v in (done, total)):
        return None
    return (done, total) if 0 <= done <= total and total > 0 else None


def loading_words(done: int, total: int) -> str:
    """The progress line while a folder is read (the page and the command line say the same)."""
    return f"Loading your images: {done:,} of {total:,} files"


def load_own(path: str | os.PathLike, *, image_size: Any = None, color_mode: str | None = None,
             val_split: float = 0.2, seed: int = 42, progress: Progress | None = None,
             budget: int | None = None) -> tuple[Any, ...]:
    """The data at ``path``: ``(name, x_train, y_train, x_test, y_test, class_names)``, the fields
    of a :class:`lrviz.data.Dataset` (images uint8, channels-last); see the module docstring.
    ``progress(done, total)`` is called while a folder's files are read."""
    info = inspect_own(path, image_size=image_size, color_mode=color_mode)
    check_memory(info, budget)
    size = parse_image_size(image_size)
    if info.kind == "folder":
        x, y = _read_folder(info, size, progress)
        tr, te = held_out_split(y, val_split, seed)
        return data_label(info.path), x[tr], y[tr], x[te], y[te], info.class_names or ()
    arrays, class_names = _read_npz(info, size, color_mode)
    if len(arrays) == 2:
        x, y = arrays
        tr, te = held_out_split(y, val_split, seed)
        arrays = (x[tr], y[tr], x[te], y[te])
    return (data_label(info.path), *arrays, class_names)


def _read_folder(info: OwnData, size: tuple[int, int] | None, progress: Progress | None) -> tuple[np.ndarray, ...]:
    from PIL import Image

    h, w, c = info.shape
    x = np.empty((info.n_images, h, w, c), np.uint8)
    y = np.array([label for _, label in info.files], np.int64)
    bad: list[tuple[Path, str]] = []
    total, step = len(info.files), max(1, len(info.files) // 100)
    for i, (f, _) in enumerate(info.files):
        try:
            with Image.open(f) as im:
                im.seek(0)  # a GIF's first frame
                im = im.convert("L" if c == 1 else "RGB")
                if (im.height, im.width) != (h, w):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                x[i] = np.asarray(im, np.uint8).reshape(h, w, c)
        except (OSError, ValueError, SyntaxError) as e:  # a truncated file fails only when decoded
            bad.append((f, _reason(e)))
        if progress is not None and (i + 1 == total or (i + 1) % step == 0):
            progress(i + 1, total)
    if bad:
        raise _bad("a folder of readable images", info.path, hint=_files_named(bad, info.path))
    return x, y


def _to_uint8(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.size == 0:
        return x.astype(np.uint8)
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
        raise _bad("an .npz whose images are uint8, or floats in [0, 1] or [0, 255]", path,
                   hint=f"{name} ranges from {lo:g} to {hi:g}")
    if x.dtype.kind == "f" and hi <= 1.0:
        x = x * 255.0
    return np.rint(x).astype(np.uint8)


def _labels(y: np.ndarray, name: str, path: Path) -> np.ndarray:
    if y.ndim == 2:  # one-hot
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise _bad("an .npz whose 2-D labels are one-hot (a single 1 per row)", path, hint=f"{name} is not")
        return np.argmax(y, axis=1).astype(np.int64)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise _bad("an .npz whose labels are integer class indices", path, hint=f"{name} holds fractions")
    return y.astype(np.int64)


def _convert(x: np.ndarray, size: tuple[int, int] | None, depth: int) -> np.ndarray:
    """(N, H, W, C) uint8 -> the wanted size and channels."""
    if x.shape[3] != depth:
        if depth == 1:  # Pillow's "L": ITU-R 601-2 luma, integer arithmetic
            x = ((x[..., 0:1].astype(np.uint32) * 19595 + x[..., 1:2] * 38470 + x[..., 2:3] * 7471 + 0x8000)
                 >> 16).astype(np.uint8)
        else:
            x = np.repeat(x, 3, axis=3)
    if size is None or x.shape[1:3] == size:
        return np.ascontiguousarray(x)
    from PIL import Image

    h, w = size
    out = np.empty((len(x), h, w, x.shape[3]), np.uint8)
    for i, img in enumerate(x):
        im = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
        out[i] = np.asarray(im.resize((w, h), Image.Resampling.BILINEAR)).reshape(h, w, -1)
    return out


def _read_npz(info: OwnData, size: tuple[int, int] | None, color_mode: str | None) -> tuple[tuple, tuple]:
    path, depth = info.path, info.shape[2]
    with np.load(path, allow_pickle=False) as npz:
        parts = ("train", "test") if "x_test" in npz.files else ("train",)
        arrays = []
        for part in parts:
            x = npz[f"x_{part}"]
            x = _to_uint8(x if x.ndim == 4 else x[..., np.newaxis], f"x_{part}", path)
            arrays += [_convert(x, size, depth), _labels(npz[f"y_{part}"], f"y_{part}", path)]
        names = tuple(str(n) for n in npz["class_names"].tolist()) if "class_names" in npz.files else None
    labels = np.concatenate(arrays[1::2])
    k = len(names) if names is not None else (int(labels.max()) + 1 if labels.size else 0)
    if k < 2:
        raise _bad("an .npz with at least 2 classes", path, hint=f"its labels name {k}")
    for part, y in zip(parts, arrays[1::2]):
        out = y[(y < 0) | (y >= k)]
        if out.size:
            within = f"the {k} class_names" if names is not None else "0..max(label)"
            raise _bad(f"an .npz whose labels are class indices 0..{k - 1}", path,
                       hint=f"y_{part} holds {int(out[0])} ({out.size} out of range, {within})")
    if names is None:
        names = tuple(str(i) for i in range(k))
    return tuple(arrays), names


def held_out_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` sorted indices: ``fraction`` of each class held out (rounded, at least 1
    of a class with 2 or more samples; a class with one sample stays in training), drawn from
    ``seed``."""
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = min(len(idx) - 1, max(1, round(len(idx) * fraction))) if len(idx) > 1 else 0
        test.append(rng.permutation(idx)[:n])
    held = np.sort(np.concatenate(test)) if test else np.array([], np.int64)
    mask = np.ones(len(y), bool)
    mask[held] = False
    return np.flatnonzero(mask), held
