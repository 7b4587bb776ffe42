"""Tiny own-data sets written by tests (nothing binary is committed): a class folder of PNGs
(Pillow) and an .npz of arrays (numpy), shaped by arguments so a test can spoil one part."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_class_folder(root: Path, classes: tuple[str, ...] = ("a", "b", "c"), per_class: int = 6,
                       size: tuple[int, int] = (8, 8), mode: str = "RGB", seed: int = 0) -> Path:
    """``root/<class>/<i>.png``: ``per_class`` random images of ``size`` (height, width) each."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (*size, 3) if mode == "RGB" else size
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{i}.png")
    return root


def write_npz(path: Path, n_train: int = 12, n_test: int = 4, shape: tuple[int, ...] = (8, 8), classes: int = 3,
              dtype: str = "uint8", one_hot: bool = False, scale: float = 1.0, drop: tuple[str, ...] = (),
              y_train_len: int | None = None, label: int | None = None,
              class_names: tuple[str, ...] | None = None, seed: int = 0) -> Path:
    """An .npz with x_train, y_train (and x_test, y_test when ``n_test``); labels cycle through
    ``classes``; ``label`` replaces y_train's first label; ``drop`` leaves arrays out."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> np.ndarray:
        if dtype == "uint8":
            return rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        return (rng.random((n, *shape)) * scale).astype(dtype)

    def labels(n: int) -> np.ndarray:
        y = np.arange(n) % classes
        return np.eye(classes, dtype=np.float32)[y] if one_hot else y

    arrays = {"x_train": images(n_train), "y_train": labels(y_train_len or n_train)}
    if label is not None:
        arrays["y_train"][0] = label
    if n_test:
        arrays.update(x_test=images(n_test), y_test=labels(n_test))
    if class_names is not None:
        arrays["class_names"] = np.array(class_names)
    np.savez(path, **{k: v for k, v in arrays.items() if k not in drop})
    return path
