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

MINIVGGNET = "minivggnet"
# keras.applications' architectures as Keras spells them, with the smallest height and width
# each accepts (its `obtain_input_shape(min_size=...)`; 32 where Keras states none). Kept here
# so a name is checked without importing Keras (tests compare it with keras.applications).
APPLICATIONS: dict[str, int] = {
    **{n: 32 for n in ("ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
                       "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
                       "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
                       "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
                       "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S", "MobileNet", "MobileNetV2",
                       "MobileNetV3Large", "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101",
                       "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16", "VGG19")},
    "InceptionResNetV2": 75, "InceptionV3": 75, "Xception": 71,
}
MODEL_RULE = ("minivggnet, a keras.applications architecture as Keras spells it (e.g. MobileNetV2, ResNet50) "
              "or the path of a .keras file")


def check_model_name(value: str) -> str:
    """``value`` if it names a model lrviz can build or load (a .keras path must exist); a
    ``FieldError`` on ``model`` otherwise. Keras is not imported."""
    from pathlib import Path

    if value == MINIVGGNET or value in APPLICATIONS:
        return value
    if value.lower().endswith(".keras"):
        p = Path(value).expanduser()
        if not p.is_file():
            raise FieldError("model", MODEL_RULE, value, hint="No .keras file is there")
        return str(p.resolve())
    close = [n for n in APPLICATIONS if n.lower() == value.lower()]
    raise FieldError("model", MODEL_RULE, value, hint=f"Did you mean {close[0]}?" if close else "")


def check_input_size(name: str, input_shape: tuple[int, int, int]) -> None:
    """A keras.applications architecture refuses images smaller than its minimum: said before
    Keras is imported, with the minimum and how to get there."""
    h, w, _ = input_shape
    least = APPLICATIONS.get(name, 0)
    if h < least or w < least:
        raise FieldError("model", f"an architecture that takes the data's {h}x{w} images", name,
                         hint=f"{name} needs at least {least}x{least}: resize with image_size={least},{least}")


def model_label(config: Any) -> str | None:
    """The model of a run in a word, for the Runs table: ``MiniVGGNet`` (also a run from before
    models could be chosen), ``MobileNetV2``, ``my_net.keras``, or a fit's model class
    (``Sequential``, from ``lrviz.keras.Dashboard``); None where the config says nothing usable."""
    from collections.abc import Mapping
    from pathlib import Path

    if not isinstance(config, Mapping):
        return None
    name = config.get("model") or MINIVGGNET
    if name == MINIVGGNET:
        return "MiniVGGNet"
    if isinstance(name, str):
        return name if name in APPLICATIONS else (Path(name).name or name)
    kind = name.get("class") if isinstance(name, Mapping) else None
    return kind if isinstance(kind, str) and kind else None


def model_words(config: dict[str, Any]) -> str:
    """The model of a run in words, for its header: ``MiniVGGNet``, ``MobileNetV2
    (keras.applications, untrained)``, ``my_net.keras (its optimizer replaced by lrviz's SGD)``."""
    from pathlib import Path

    name = config.get("model") or MINIVGGNET
    if not isinstance(name, str):
        return "?"
    if name == MINIVGGNET:
        return "MiniVGGNet"
    if name in APPLICATIONS:
        return f"{name} (keras.applications, untrained)"
    return f"{Path(name).name} (its optimizer replaced by lrviz's SGD)"


def build_model(name: str, input_shape: tuple[int, int, int], classes: int) -> Any:
    """An uncompiled model for images of ``input_shape`` (height, width, depth) and ``classes``:
    MiniVGGNet, a ``keras.applications`` architecture (``weights=None``: nothing is downloaded),
    or a ``.keras`` file (loaded without its optimizer; ``safe_mode``) whose input and output
    match. ``FieldError`` on ``model`` for a shape or file it cannot take."""
    h, w, d = input_shape
    if name == MINIVGGNET:
        return MiniVGGNet.build(width=w, height=h, depth=d, classes=classes)
    if name in APPLICATIONS:
        check_input_size(name, input_shape)
        import inspect

        import keras

        build = getattr(keras.applications, name)
        # lrviz feeds images scaled to [0, 1]; an architecture's own rescaling (MobileNetV3,
        # EfficientNetV2, ConvNeXt: include_preprocessing) expects [0, 255], so it is left out
        extra = {"include_preprocessing": False} if "include_preprocessing" in inspect.signature(build).parameters \
            else {}
        return build(weights=None, input_shape=(h, w, d), classes=classes, **extra)
    return _load_keras_file(name, input_shape, classes)


def _load_keras_file(path: str, input_shape: tuple[int, int, int], classes: int) -> Any:
    import re

    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - every way a file fails to load is "does not load"
        text = " ".join(str(e).split())
        custom = re.search(r"Could not (?:locate|deserialize) (?:class|function) '?([\w.]+)'?", text)
        if custom:
            raise FieldError("model", "a .keras file made of Keras' own layers (lrviz loads no custom objects)",
                             path, hint=f"It needs the custom object {custom.group(1)}") from None
        raise FieldError("model", "a .keras file that Keras can load", path,
                         hint=f"{type(e).__name__}: {text[:160]}") from None
    want = (None, *input_shape)
    got_in = tuple(getattr(model, "input_shape", ()) or ())
    if len(got_in) != 4 or any(g is not None and g != x for g, x in zip(got_in[1:], input_shape)):
        raise FieldError("model", f"a model that takes the data's images {want}", path,
                         hint=f"It takes {got_in}: resize with image_size or set color_mode")
    out = tuple(getattr(model, "output_shape", ()) or ())
    if len(out) != 2 or out[-1] != classes:
        raise FieldError("model", f"a model with {classes} outputs, one per class of the data", path,
                         hint=f"Its output shape is {out}")
    return model


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
