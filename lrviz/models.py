"""MiniVGGNet, the network of the tutorial (*Deep Learning for Computer Vision with Python*).

Two VGG-style blocks of 3x3 convolutions, then a 512-unit dense head::

    [Conv3x3(32, same) -> ReLU -> BN] x2 -> MaxPool2x2 -> Dropout 0.25
    [Conv3x3(64, same) -> ReLU -> BN] x2 -> MaxPool2x2 -> Dropout 0.25
    Flatten -> Dense 512 -> ReLU -> BN -> Dropout 0.5 -> Dense(classes) -> softmax

On 32x32x3 inputs (CIFAR-10) it has 2,171,178 parameters. It builds on 8x8x1 (digits) too:
the two 2x2 poolings leave a 2x2x64 feature map.

TensorFlow/Keras is imported inside :meth:`MiniVGGNet.build`, so importing ``lrviz.models``
stays cheap.
"""

from __future__ import annotations

from typing import Any

from lrviz.errors import FieldError


class MiniVGGNet:
    """Namespace for the builder, as in the book (``MiniVGGNet.build(...)``)."""

    @staticmethod
    def build(width: int, height: int, depth: int, classes: int) -> Any:
        """Return an uncompiled ``keras.Sequential`` MiniVGGNet (channels-last).

        Args:
            width: image width in pixels, >= 4 (two 2x2 poolings).
            height: image height in pixels, >= 4.
            depth: channels (3 for RGB, 1 for grey).
            classes: number of output classes, >= 2.
        """
        for name, value, low in (("width", width, 4), ("height", height, 4), ("depth", depth, 1),
                                 ("classes", classes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise FieldError(name, f"an integer >= {low}", value)

        import keras
        from keras import layers

        chan_dim = -1  # channels-last: BatchNormalization normalises over the channel axis
        model = keras.Sequential(name="minivggnet")
        model.add(keras.Input(shape=(height, width, depth)))
        for filters in (32, 64):
            for _ in range(2):
                model.add(layers.Conv2D(filters, (3, 3), padding="same"))
                model.add(layers.Activation("relu"))
                model.add(layers.BatchNormalization(axis=chan_dim))
            model.add(layers.MaxPooling2D(pool_size=(2, 2)))
            model.add(layers.Dropout(0.25))
        model.add(layers.Flatten())
        model.add(layers.Dense(512))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.5))
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax"))
        return model
