"""Your own images (lrviz/own_data.py): class folders and .npz files written here with Pillow
and numpy, loaded as uint8; every bad input a FieldError naming the field; a tiny
``lrviz train --data`` run end to end."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from own_data_fixtures import write_class_folder, write_npz

from lrviz.data import load_dataset
from lrviz.errors import FieldError
from lrviz.jobs import common
from lrviz.own_data import held_out_split, inspect_own, load_own, parse_image_size


def _own(path, **kw):
    return load_dataset("own", data=str(path), **kw)


# --------------------------------------------------------------------------- folders


def test_folder_loads_as_uint8_with_sorted_class_names_and_a_stratified_split(tmp_path):
    root = write_class_folder(tmp_path / "shapes", classes=("square", "circle", "triangle"), per_class=6)
    ds = _own(root, seed=3)
    assert ds.class_names == ("circle", "square", "triangle")  # sorted, as Keras does
    assert ds.x_train.dtype == np.uint8 and ds.input_shape == (8, 8, 3) and ds.scale == pytest.approx(1 / 255)
    assert len(ds.x_train) + len(ds.x_test) == 18
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]  # round(6 * 0.2) = 1 of each class held out
    assert ds.name == "shapes"
    again = _own(root, seed=3)
    other = _own(root, seed=4)
    assert np.array_equal(again.x_test, ds.x_test)
    assert not all(np.array_equal(a, b) for a, b in zip(other.x_test, ds.x_test))


def test_folder_pixels_are_the_files_pixels(tmp_path):
    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=2, seed=5)
    from PIL import Image

    x = np.asarray(Image.open(root / "a" / "0.png"))
    _, x_train, y_train, x_test, y_test, _ = load_own(root, val_split=0.5, seed=0)
    assert sum(np.array_equal(x, img) for img in [*x_train, *x_test]) == 1
    assert y_train.tolist() == [0, 1] and y_test.tolist() == [0, 1]


def test_image_size_resizes_and_color_mode_converts(tmp_path):
    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=3)
    ds = _own(root, image_size="12,10", color_mode="grayscale")
    assert ds.input_shape == (12, 10, 1)
    assert parse_image_size("32") == (32, 32) and parse_image_size([16, 24]) == (16, 24)


def test_mixed_sizes_and_jpeg_gif_bmp_load_with_image_size(tmp_path):
    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=2)
    from PIL import Image

    rng = np.random.default_rng(1)
    for ext in ("jpg", "gif", "bmp"):
        Image.fromarray(rng.integers(0, 256, (10, 6, 3), dtype=np.uint8)).save(root / "b" / f"x.{ext}")
    with pytest.raises(FieldError) as e:
        inspect_own(root)
    assert e.value.field == "image_size" and "width x height" in str(e.value)
    assert inspect_own(root, image_size=8).n_images == 7


def test_held_out_split_keeps_a_single_sample_class_in_training():
    y = np.array([0] * 10 + [1])
    train, test = held_out_split(y, 0.3, seed=0)
    assert sorted([*train, *test]) == list(range(11))
    assert np.bincount(y[test], minlength=2).tolist() == [3, 0]


# --------------------------------------------------------------------------- npz


def test_npz_with_test_set_grey_hw_and_one_hot_labels(tmp_path):
    f = write_npz(tmp_path / "arr.npz", n_train=12, n_test=6, shape=(8, 8), classes=3, one_hot=True)
    ds = _own(f)
    assert ds.input_shape == (8, 8, 1) and ds.x_train.dtype == np.uint8
    assert (len(ds.x_train), len(ds.x_test)) == (12, 6)
    assert ds.class_names == ("0", "1", "2") and ds.name == "arr.npz"


def test_npz_float_images_in_unit_range_become_uint8_and_no_test_set_is_split(tmp_path):
    f = write_npz(tmp_path / "f.npz", n_train=20, n_test=0, shape=(6, 6, 3), classes=2, dtype="float32")
    raw = np.load(f)["x_train"]
    ds = _own(f, val_split=0.3)
    assert ds.x_train.dtype == np.uint8 and (len(ds.x_train), len(ds.x_test)) == (14, 6)
    both = np.concatenate([ds.x_train, ds.x_test])
    assert sorted(both.reshape(20, -1).sum(1).tolist()) == sorted(np.rint(raw * 255).reshape(20, -1).sum(1).tolist())


# --------------------------------------------------------------------------- bad input


def _corrupt(root):
    (root / "a" / "bad1.png").write_bytes(b"not a png at all")
    (root / "b" / "bad2.jpg").write_bytes(b"\xff\xd8\xff garbage")


def _truncated(root):
    f = root / "a" / "0.png"
    f.write_bytes(f.read_bytes()[:60])


def _mixed_channels(root):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "a" / "grey.png")


BAD_FOLDERS = {
    "one class": (lambda root: __import__("shutil").rmtree(root / "b"), "data", "at least 2 class subfolders"),
    "empty class": (lambda root: (root / "c").mkdir(), "data", "No images in: c"),
    "corrupt files": (_corrupt, "data", "2 files could not be read as images: a/bad1.png"),
    "truncated file": (_truncated, "data", "1 file could not be read as images: a/0.png"),
    "mixed channels": (_mixed_channels, "color_mode", "a/grey.png is grey"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_folders_are_one_field_error(tmp_path, case):
    spoil, field, words = BAD_FOLDERS[case]
    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=3)
    spoil(root)
    with pytest.raises(FieldError) as e:
        _own(root)
    assert e.value.field == field and words in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


BAD_NPZ = {
    "missing y_train": (dict(drop=("y_train",)), "It lacks y_train"),
    "x_test without y_test": (dict(drop=("y_test",)), "It lacks y_test"),
    "mismatched lengths": (dict(y_train_len=5), "x_train has 12 images, y_train 5 labels"),
    "negative label": (dict(label=-1), "y_train holds -1"),
    "label beyond class_names": (dict(label=7, class_names=("a", "b", "c")), "y_train holds 7"),
    "one class": (dict(classes=1), "at least 2 classes"),
    "float images out of range": (dict(dtype="float32", scale=300.0), "x_train ranges from"),
    "four channels": (dict(shape=(8, 8, 4)), "C = 1 or 3"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz_is_one_field_error(tmp_path, case):
    kw, words = BAD_NPZ[case]
    f = write_npz(tmp_path / "bad.npz", **{"n_train": 12, "n_test": 4, "shape": (8, 8), "classes": 3, **kw})
    with pytest.raises(FieldError) as e:
        _own(f)
    assert e.value.field == "data" and words in str(e.value), str(e.value)


@pytest.mark.parametrize("make, words", [
    (lambda p: p / "nowhere", "Nothing is there"),
    (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "not an .npz"),
])
def test_missing_path_or_other_file_is_refused_by_validation(tmp_path, make, words):
    with pytest.raises(FieldError) as e:
        common.check_data({"dataset": "digits", "data": str(make(tmp_path)), "model": "minivggnet"})
    assert e.value.field == "data" and words in str(e.value)


def test_own_without_data_and_cifar_with_data_are_refused(tmp_path):
    with pytest.raises(FieldError, match="`data`") as e:
        common.check_data({"dataset": "own", "data": None})
    assert e.value.field == "data"
    with pytest.raises(FieldError) as e:
        common.check_data({"dataset": "cifar10", "data": str(tmp_path)})
    assert e.value.field == "dataset"


def test_past_the_memory_budget_is_refused_with_the_numbers(tmp_path, monkeypatch):
    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=3)
    monkeypatch.setenv("LRVIZ_DATA_MEMORY_GIB", str(1000 / 2**30))  # 1,000 bytes; the images take 1,152
    with pytest.raises(FieldError) as e:
        _own(root)
    assert "6 images of 8x8x3 take 1.1 KiB" in str(e.value) and "1000 bytes" in str(e.value)


# --------------------------------------------------------------------------- the CLI


def test_cli_train_on_a_class_folder_end_to_end(tmp_path, capsys):
    from lrviz import runs
    from lrviz.cli import main

    root = write_class_folder(tmp_path / "shapes", classes=("a", "b", "c"), per_class=6)
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--data", str(root), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "[INFO] data shapes: 18 images (8x8x3) in 3 classes" in out
    assert "[INFO] Loading your images: 18 of 18 files\n" in out  # the foreground run says its load's progress
    (summary,) = runs.list_runs(tmp_path / "runs")
    status = json.loads((summary.dir / "status.json").read_text())
    assert (status["files_done"], status["files_total"]) == (18, 18)
    assert summary.state == "finished"
    cfg = json.loads((summary.dir / "config.json").read_text())
    assert (cfg["dataset"], cfg["data"], cfg["model"], cfg["train_size"], cfg["test_size"]) == \
        ("own", str(root.resolve()), "minivggnet", 15, 3)
    assert runs.load_run(summary.id, tmp_path / "runs").class_names == ["a", "b", "c"]
    from lrviz.data import dataset_words

    assert dataset_words(cfg) == "shapes" and dataset_words({"dataset": "digits"}) == "digits"
    # a resume trains on the same data and the same held-out split (its parent's seed)
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--resume", summary.id, "--epochs", "2",
                 "--seed", "7"]) == 0
    child = next(r for r in runs.list_runs(tmp_path / "runs") if r.id != summary.id)
    ccfg = json.loads((child.dir / "config.json").read_text())
    assert child.state == "finished" and (ccfg["data"], ccfg["seed"], ccfg["test_size"]) == (cfg["data"], 42, 3)


@pytest.mark.parametrize("args, words", [
    (["--data", "{tmp}/nowhere"], "Argument `data` must be an existing folder"),
    (["--data", "{root}", "--image-size", "0"], "Argument `image_size` must be an image size"),
    (["--data", "{root}", "--dataset", "cifar10"], "Argument `dataset` must be own"),
    (["--data", "{corrupt}"], "could not be read as images: a/bad1.png"),
])
@pytest.mark.parametrize("command", ["train", "tournament"])
def test_cli_bad_data_is_one_line_exit_2_and_no_run(tmp_path, capsys, args, words, command):
    from lrviz.cli import main

    root = write_class_folder(tmp_path / "d", classes=("a", "b"), per_class=2)
    corrupt = write_class_folder(tmp_path / "c", classes=("a", "b"), per_class=2)
    _corrupt(corrupt)
    args = [a.format(tmp=tmp_path, root=root, corrupt=corrupt) for a in args]
    extra = ["--schedule", "step", "--seeds", "1"] if command == "tournament" else []
    assert main([command, "--runs-dir", str(tmp_path / "runs"), *args, *extra, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lrviz: error: ") and words in err and "\n" not in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_data_flags_reach_lr_find_and_the_tournament():
    from lrviz.cli import build_parser

    parser = build_parser()
    for command in ("train", "lr-find", "tournament"):
        args = parser.parse_args([command, "--data", "x", "--image-size", "32", "--color-mode", "rgb",
                                  "--val-split", "0.1", "--model", "MobileNetV2"])
        assert (args.data, args.image_size, args.color_mode, args.val_split, args.model) == \
            ("x", "32", "rgb", 0.1, "MobileNetV2")
