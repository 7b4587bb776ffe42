"""Batches for Keras on any backend: ``tf.data`` on TensorFlow, a ``keras.utils.PyDataset``
on JAX and PyTorch (where TensorFlow is never imported), the same batches in the same order.

The order is :func:`lrviz.data.batch_order` (one seeded permutation, reused every epoch, the
remainder as the last, smaller batch: what Keras' own ``fit(x, y, batch_size)`` does once the
run is seeded). Images stay as stored (uint8 CIFAR-10 stays uint8 in memory); each batch is
gathered, then cast to float32 and scaled to [0, 1]; labels are one-hot float32.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from lrviz.data import batch_order, make_tf_dataset

__all__ = ["ArrayBatches", "make_dataset"]


class ArrayBatches(keras.utils.PyDataset):
    """Batch ``i`` = samples ``order[i*b:(i+1)*b]``; ``labels=False`` yields images only."""

    def __init__(self, x: np.ndarray, y: np.ndarray, classes: int, batch_size: int, order: np.ndarray,
                 labels: bool = True):
        super().__init__()
        self.x, self.y, self.order, self.batch_size, self.labels = x, y, order, int(batch_size), labels
        self.scale = np.float32(1.0 / 255.0) if x.dtype == np.uint8 else np.float32(1.0)
        self.eye = np.eye(classes, dtype=np.float32)

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(i)
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        images = self.x[idx].astype(np.float32) * self.scale
        return (images, self.eye[self.y[idx]]) if self.labels else (images,)


def make_dataset(x: np.ndarray, y: np.ndarray, classes: int, batch_size: int, *, shuffle: bool = False,
                 seed: int = 42, labels: bool = True) -> Any:
    """Batches for ``fit``/``evaluate``/``predict`` on the active Keras backend."""
    if keras.backend.backend() == "tensorflow":
        ds = make_tf_dataset(x, y, classes, batch_size, shuffle=shuffle, seed=seed)
        return ds if labels else ds.map(lambda images, _: images)
    return ArrayBatches(x, y, classes, batch_size, batch_order(len(x), seed if shuffle else None), labels)
