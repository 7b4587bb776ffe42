"""Datasets: digits split, stratified subsets, the real CIFAR-10 pickle-batch format (read from
archives built here), hostile archives and pickles (the tf.data pipeline: tests/test_batches.py)."""

import io
import os
import pickle
import tarfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from lrviz import data
from lrviz.data import (
    CIFAR10_CLASSES,
    DataError,
    load_cifar10,
    load_dataset,
    load_digits,
    read_cifar_batch,
    stratified_subset,
    write_synthetic_cifar,
)


def test_digits_split_is_stratified_float32_and_fixed():
    ds = load_digits()
    assert ds.x_train.shape == (1347, 8, 8, 1) and ds.x_test.shape == (450, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    assert np.bincount(ds.y_test).min() >= 43  # 25% of each class (smallest class has 174)
    again = load_digits(seed=7)  # the split never depends on the run's seed
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert ds.class_names == tuple("0123456789")


def test_limit_keeps_class_balance():
    ds = load_digits(limit=200)
    assert len(ds.x_train) == 200
    counts = np.bincount(ds.y_train, minlength=10)
    assert counts.max() - counts.min() <= 2
    assert len(ds.x_test) == 67 and set(ds.y_test) == set(range(10))


@pytest.mark.parametrize("n", [1, 5, 10, 33, 99])
def test_stratified_subset_any_size(n):
    y = np.repeat(np.arange(10), [50, 30, 20, 10, 10, 10, 10, 10, 10, 40])
    idx = stratified_subset(y, n, seed=1)
    assert len(idx) == n == len(set(idx))
    expected = np.bincount(y) / len(y) * n
    assert np.all(np.abs(np.bincount(y[idx], minlength=10) - expected) <= 1.0 + 1e-9)


def test_cifar_archive_tar_gz_read_with_real_layout(tmp_path):
    arch = write_synthetic_cifar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=12, n_test=10)
    ds = load_cifar10(arch)
    assert ds.x_train.shape == (60, 32, 32, 3) and ds.x_test.shape == (10, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.class_names == CIFAR10_CLASSES
    # Independent check of the plane layout: pixel (r, c) channel k is row[k*1024 + r*32 + c].
    with tarfile.open(arch) as tar:
        raw = tar.extractfile("cifar-10-batches-py/data_batch_2").read()
    b = pickle.loads(raw, encoding="bytes")
    row = b[b"data"][3]
    img = ds.x_train[12 + 3]
    assert img[5, 7, 0] == row[5 * 32 + 7] and img[5, 7, 1] == row[1024 + 5 * 32 + 7]
    assert img[31, 0, 2] == row[2048 + 31 * 32]
    assert list(ds.y_train[12:24]) == b[b"labels"]


def test_cifar_extracted_folder_and_parent_folder(tmp_path):
    folder = write_synthetic_cifar(tmp_path / "x" / "cifar-10-batches-py", n_per_batch=4, n_test=4)
    a = load_cifar10(folder)
    b = load_dataset("cifar10", cifar_archive=str(tmp_path / "x"))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert len(a.x_train) == 20


def test_cifar_limit_is_stratified(tmp_path):
    arch = write_synthetic_cifar(tmp_path / "c.tar.gz", n_per_batch=20, n_test=20)
    ds = load_cifar10(arch, limit=30)
    assert len(ds.x_train) == 30 and np.bincount(ds.y_train).tolist() == [3] * 10


def test_missing_archive_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as e:
        load_cifar10(tmp_path / "nope.tar.gz")
    msg = str(e.value)  # what a run's status and the Train page show: the field's label, no flag
    assert "nope.tar.gz" in msg and "give its path as the CIFAR-10 archive" in msg and "cifar-10-python.tar.gz" in msg
    assert "--cifar-archive" not in msg and "`cifar_archive`" not in msg
    assert "pass its path with --cifar-archive" in e.value.worded("cli")  # the command line's words
    assert isinstance(e.value, ValueError)


def test_nothing_cached_lists_the_places_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("LRVIZ_CIFAR_DOWNLOAD", "0")
    with pytest.raises(DataError, match="looked in: .*kh.datasets.*as the CIFAR-10 archive"):
        load_cifar10()


def test_a_failed_download_says_why_in_words_not_an_exception_class(tmp_path, monkeypatch):
    """Issue 19: the message read "(download failed: Exception)"."""
    import sys
    import types

    def offline():  # what Keras raises for a network error
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=types.SimpleNamespace(load_data=offline)))
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("LRVIZ_CIFAR_DOWNLOAD", "1")
    with pytest.raises(DataError) as e:
        load_cifar10()
    msg = str(e.value)
    assert "downloading it failed ([Errno -3] Temporary failure in name resolution: this machine may be offline)" in msg
    assert "Exception" not in msg and msg.count("..") == 0


def test_keras_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    write_synthetic_cifar(tmp_path / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                          n_per_batch=2, n_test=3)
    monkeypatch.setenv("LRVIZ_CIFAR_DOWNLOAD", "0")
    assert load_cifar10().x_test.shape == (3, 32, 32, 3)


def test_corrupt_archive(tmp_path):
    arch = write_synthetic_cifar(tmp_path / "c.tar.gz", n_per_batch=4, n_test=4)
    raw = arch.read_bytes()
    arch.write_bytes(raw[: len(raw) // 2])  # truncated download
    with pytest.raises(DataError, match="corrupt") as e:
        load_cifar10(arch)
    assert str(arch) in str(e.value)
    (tmp_path / "junk.tar.gz").write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="corrupt"):
        load_cifar10(tmp_path / "junk.tar.gz")


def _tar_with(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, raw in members:
            tar.addfile(info, io.BytesIO(raw) if raw is not None else None)
    return path


def test_tar_path_escape_is_rejected(tmp_path):
    good = write_synthetic_cifar(tmp_path / "src", n_per_batch=2, n_test=2)
    members = []
    for name in sorted(os.listdir(good)):
        raw = (good / name).read_bytes()
        info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
        info.size = len(raw)
        members.append((info, raw))
    evil = tarfile.TarInfo("../evil")
    evil.size = 4
    (tmp_path / "work").mkdir()
    arch = _tar_with(tmp_path / "work" / "evil.tar.gz", members + [(evil, b"boom")])
    with pytest.raises(DataError, match="unsafe member path '../evil'"):
        load_cifar10(arch)
    assert not (tmp_path / "evil").exists()
    absolute = tarfile.TarInfo("/tmp/abs_evil")
    absolute.size = 1
    with pytest.raises(DataError, match="unsafe member path"):
        load_cifar10(_tar_with(tmp_path / "abs.tar.gz", members + [(absolute, b"x")]))
    link = tarfile.TarInfo("cifar-10-batches-py/test_batch")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DataError, match="link"):
        load_cifar10(_tar_with(tmp_path / "link.tar.gz", members[:-1] + [(link, None)]))


def test_a_batch_member_larger_than_cifar10s_is_refused_before_it_is_read(tmp_path):
    """A plain .tar whose data_batch_1 header claims more than twice a real batch (31.04 MB): its
    data is a hole (a sparse file), so nothing large is written, and it must not be read whole."""
    good = write_synthetic_cifar(tmp_path / "src", n_per_batch=2, n_test=2)
    huge = 2 * 31_040_000 + 512  # the oracle: 2x a real batch, plus one block
    arch = tmp_path / "huge.tar"
    with open(arch, "wb") as f:
        for name in sorted(os.listdir(good)):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            raw = b"" if name == "data_batch_1" else (good / name).read_bytes()
            info.size = huge if name == "data_batch_1" else len(raw)
            f.write(info.tobuf(tarfile.GNU_FORMAT))
            if name == "data_batch_1":
                f.seek(huge, os.SEEK_CUR)  # a hole: the file's length, no bytes written
            else:
                f.write(raw + bytes(-len(raw) % 512))
        f.write(bytes(1024))  # the end-of-archive blocks
    with pytest.raises(DataError) as e:
        load_cifar10(arch)
    assert str(e.value) == (f"refusing CIFAR-10 archive {arch}: member 'cifar-10-batches-py/data_batch_1' is "
                            f"{huge:,} bytes, more than a CIFAR-10 batch can be (62,080,000 bytes)")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    raw = pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}, protocol=2)
    with pytest.raises(DataError, match="forbidden global (posix|os|nt).system"):
        read_cifar_batch(raw, "test_batch")
    assert not marker.exists()
    # ... and inside a folder the real loader reads
    folder = write_synthetic_cifar(tmp_path / "cifar-10-batches-py", n_per_batch=2, n_test=2)
    (folder / "test_batch").write_bytes(raw)
    with pytest.raises(DataError, match="forbidden global"):
        load_cifar10(folder)
    assert not marker.exists()


@pytest.mark.parametrize("obj, match", [
    ([1, 2], "expected a dict"),
    ({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}, "uint8"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "ints in 0..9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "list of 2"),
])
def test_wrong_batch_contents(obj, match):
    with pytest.raises(DataError, match=match):
        read_cifar_batch(pickle.dumps(obj, protocol=4))


def test_newer_pickle_protocols_also_read(tmp_path):
    for proto in (2, 4, 5):
        arch = write_synthetic_cifar(tmp_path / f"p{proto}", n_per_batch=2, n_test=2, protocol=proto)
        assert load_cifar10(arch).x_train.dtype == np.uint8


def test_unknown_dataset():
    with pytest.raises(ValueError, match="must be one of digits, cifar10, own. Received: dataset='mnist'"):
        load_dataset("mnist")


def test_no_float64_anywhere(tmp_path):
    for ds in (load_digits(limit=50), load_cifar10(write_synthetic_cifar(tmp_path / "a", 2, 2))):
        assert ds.x_train.dtype != np.float64 and ds.x_test.dtype != np.float64
    assert data.Dataset  # public


def test_a_gzip_stream_spoilt_inside_is_a_corrupt_archive_not_a_zlib_traceback(tmp_path):
    """Bytes overwritten inside the deflate stream make zlib raise ``zlib.error`` (found by
    tests/test_uploads.py's fuzzing): the archive is said to be corrupt, with how to supply one."""
    from lrviz.data import DataError, load_cifar10, write_synthetic_cifar

    path = write_synthetic_cifar(tmp_path / "c.tar.gz", n_per_batch=2, n_test=2, seed=0)  # gzip names it: "c.tar"
    raw = path.read_bytes()
    junk = b"\x00\x10\x10\x10\x10\x10\x10@\x01\xdf\x02(\x00"
    path.write_bytes(raw[:841] + junk + raw[841 + len(junk):])
    with pytest.raises(DataError, match="is corrupt or not a tar.gz"):
        load_cifar10(archive=path)
