"""MiniVGGNet against the book's architecture (DESIGN.md section 1)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from lrviz.models import MiniVGGNet


def test_cifar_parameter_count_matches_the_book():
    assert MiniVGGNet.build(width=32, height=32, depth=3, classes=10).count_params() == 2_171_178


def test_layer_sequence_is_the_books():
    model = MiniVGGNet.build(32, 32, 3, 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    block = ["Conv2D", "Activation", "BatchNormalization"] * 2 + ["MaxPooling2D", "Dropout"]
    head = ["Flatten", "Dense", "Activation", "BatchNormalization", "Dropout", "Dense", "Activation"]
    assert kinds == block + block + head
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert all(c.padding == "same" and c.kernel_size == (3, 3) for c in convs)
    assert [d.rate for d in model.layers if type(d).__name__ == "Dropout"] == [0.25, 0.25, 0.5]
    assert model.layers[-1].activation.__name__ == "softmax"


def test_builds_on_digits_shape_channels_last():
    model = MiniVGGNet.build(8, 8, 1, 10)
    assert model.input_shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("kwargs, name", [({"width": 2}, "width"), ({"classes": 1}, "classes"),
                                          ({"depth": 0}, "depth"), ({"height": 8.0}, "height")])
def test_bad_arguments_name_the_argument(kwargs, name):
    args = {"width": 8, "height": 8, "depth": 1, "classes": 10, **kwargs}
    with pytest.raises(ValueError, match=f"Argument `{name}` must be an integer"):
        MiniVGGNet.build(**args)


def test_model_label_is_the_models_name_in_a_word():
    from lrviz.models import model_label

    assert model_label({}) == model_label({"model": None}) == model_label({"model": "minivggnet"}) == "MiniVGGNet"
    assert model_label({"model": "ResNet50"}) == "ResNet50"
    assert model_label({"model": "/home/me/nets/my_net.keras"}) == "my_net.keras"
    assert model_label({"model": {"class": "Sequential", "name": "seq"}}) == "Sequential"  # a fit from a script
    assert model_label({"model": {"class": 3}}) is None and model_label({"model": 3}) is None
    assert model_label(None) is None
