"""Uploads from the browser (lrviz/uploads.py): real archives written here (Pillow images zipped,
an .npz, a tiny CIFAR-10 archive in the real pickle-batch format), and hostile or wrong ones.

Oracles: the files as written here (bytes, class names, pixel values read back with Pillow), the
numbers the caps are set to, and the data folder left empty after every refusal.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fakes import cifar_archive_with
from own_data_fixtures import write_class_folder, write_npz

from lrviz.data import write_synthetic_cifar
from lrviz.errors import FieldError
from lrviz.own_data import load_own
from lrviz.uploads import data_dir, store_upload, unpacked_cap, upload_cap


def _zip_folder(folder: Path, dest: Path, *, wrap: bool = True) -> Path:
    """``dest`` holding ``folder``'s files, under the folder's name (``wrap``) or at the top."""
    with zipfile.ZipFile(dest, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent if wrap else folder).as_posix())
    return dest


def _upload(path: Path, root: Path, name: str | None = None, **kw):
    with open(path, "rb") as f:
        return store_upload(name or path.name, f, root, size=path.stat().st_size, **kw)


def _refused(path: Path, root: Path, name: str | None = None, **kw) -> str:
    with pytest.raises(FieldError) as e:
        _upload(path, root, name, **kw)
    assert e.value.field == "upload"
    assert not root.exists() or list(root.iterdir()) == []  # nothing left behind, not even a hidden folder
    return str(e.value)


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("wrap", [True, False])
def test_a_zipped_class_folder_is_unpacked_and_reads_as_the_images_written(tmp_path, wrap):
    src = write_class_folder(tmp_path / "shapes", classes=("cat", "dog", "eel"), per_class=4, size=(6, 5))
    stored = _upload(_zip_folder(src, tmp_path / "shapes.zip", wrap=wrap), tmp_path / "data")
    assert stored.kind == "folder" and stored.path.parent == tmp_path / "data"
    assert stored.path.name.startswith("shapes-") and stored.settings() == {"dataset": "own", "data": str(stored.path)}
    assert stored.words == "12 images (6x5x3) in 3 classes"
    for f in src.rglob("*.png"):  # every file as it was zipped
        assert (stored.path / f.relative_to(src)).read_bytes() == f.read_bytes()
    name, x_train, y_train, x_test, y_test, classes = load_own(stored.path, val_split=0.25, seed=0)
    assert classes == ("cat", "dog", "eel")
    from PIL import Image

    originals = {np.asarray(Image.open(f)).tobytes() for f in src.rglob("*.png")}
    assert {img.tobytes() for img in np.concatenate([x_train, x_test])} == originals


def test_an_npz_is_kept_as_uploaded(tmp_path):
    src = write_npz(tmp_path / "arrays.npz", n_train=12, n_test=4, classes=3)
    stored = _upload(src, tmp_path / "data")
    assert stored.kind == "npz" and stored.path.suffix == ".npz" and stored.path.read_bytes() == src.read_bytes()
    assert stored.words == "16 images (8x8x1)" and stored.settings()["dataset"] == "own"


def test_a_cifar10_archive_is_kept_as_uploaded_and_read_like_a_path(tmp_path):
    src = write_synthetic_cifar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=6, n_test=8)
    stored = _upload(src, tmp_path / "data")
    assert stored.kind == "cifar10" and stored.path.name.endswith(".tar.gz")
    assert stored.path.read_bytes() == src.read_bytes()
    assert stored.words == "CIFAR-10: 30 training and 8 test images"  # 5 batches of 6
    assert stored.settings() == {"dataset": "cifar10", "cifar_archive": str(stored.path)}


def test_the_same_bytes_uploaded_twice_are_kept_once(tmp_path):
    src = write_npz(tmp_path / "arrays.npz")
    first, again = _upload(src, tmp_path / "data"), _upload(src, tmp_path / "data", name="renamed.npz")
    assert again.path.read_bytes() == first.path.read_bytes()
    assert [p.suffix for p in (tmp_path / "data").iterdir()] == [".npz", ".npz"]  # by name, not a third copy
    assert _upload(src, tmp_path / "data").path == first.path


def test_the_data_folder_is_beside_the_runs_unless_lrviz_data_dir_says(tmp_path, monkeypatch):
    monkeypatch.delenv("LRVIZ_DATA_DIR", raising=False)
    assert data_dir(tmp_path / "work" / "runs") == (tmp_path / "work" / "data").resolve()
    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data_dir(tmp_path / "work" / "runs") == tmp_path / "elsewhere"


# --------------------------------------------------------------------------- refused


def test_too_large_says_the_size_and_the_cap(tmp_path, monkeypatch):
    src = write_npz(tmp_path / "arrays.npz", n_train=40)
    n = src.stat().st_size
    monkeypatch.setenv("LRVIZ_UPLOAD_MAX_MIB", str(1000 / 2**20))  # 1,000 bytes
    assert upload_cap() == (1000, "LRVIZ_UPLOAD_MAX_MIB (0.000953674 MiB)")
    text = _refused(src, tmp_path / "data")
    assert f"arrays.npz is 1000 bytes ({n:,} bytes)" not in text and f"({n:,} bytes)" in text
    assert "the cap is 1000 bytes (1,000 bytes), set by LRVIZ_UPLOAD_MAX_MIB" in text
    # a stream longer than it says is cut at the cap too
    with pytest.raises(FieldError, match="larger than 1000 bytes"), open(src, "rb") as f:
        store_upload("arrays.npz", f, tmp_path / "data", size=10)
    assert list((tmp_path / "data").iterdir()) == []


def test_streamlits_own_cap_is_named_when_it_is_the_smaller(tmp_path, monkeypatch):
    monkeypatch.delenv("LRVIZ_UPLOAD_MAX_MIB", raising=False)
    assert upload_cap(1) == (2**20, "Streamlit's server.maxUploadSize (1 MB)")
    assert upload_cap(500) == (200 * 2**20, "LRVIZ_UPLOAD_MAX_MIB (200 MiB)")


@pytest.mark.parametrize("content, what", [
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    (b"x_train,y_train\n1,2\n", "text"),
    (b"", "empty"),
    (b"\x00\x01\x02\x03\xff\xfe", "of an unknown format (it starts with bytes 00 01 02 03)"),
])
def test_a_zip_that_is_not_a_zip_says_what_it_is(tmp_path, content, what):
    (tmp_path / "data.zip").write_bytes(content)
    text = _refused(tmp_path / "data.zip", tmp_path / "data")
    assert f"data.zip is {what}, not a .tar.gz, .zip or .npz" in text


def _class_zip_with(tmp_path, member: str):
    """A zipped two-class folder with one more member, named ``member``, added by hand."""
    src = write_class_folder(tmp_path / "shapes", classes=("a", "b"), per_class=2)
    path = _zip_folder(src, tmp_path / "shapes.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(zipfile.ZipInfo(member), b"boom")
    return path


@pytest.mark.parametrize("member", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png"])
def test_a_zip_member_outside_its_folder_is_refused(tmp_path, member):
    path = _class_zip_with(tmp_path, member)
    assert f"Its member {member!r} would land outside its folder" in _refused(path, tmp_path / "data")
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("member", [".", ""])
def test_a_zip_member_with_no_name_is_refused_in_words(tmp_path, member):
    path = _class_zip_with(tmp_path, member)
    assert f"Its member {member!r} names no file" in _refused(path, tmp_path / "data")


def test_a_zip_with_a_dot_folder_entry_is_kept(tmp_path):
    """``./`` as a folder entry (what ``shutil.make_archive(base_dir=".")`` writes) is no file."""
    src = write_class_folder(tmp_path / "shapes", classes=("a", "b"), per_class=2)
    path = _zip_folder(src, tmp_path / "shapes.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(zipfile.ZipInfo("./"), b"")
    assert _upload(path, tmp_path / "data").words.endswith("in 2 classes")


@pytest.mark.parametrize("member, why", [("shapes/a", "File exists"),
                                         ("shapes/a/" + "x" * 300 + ".png", "File name too long")])
def test_a_zip_member_that_cannot_be_written_is_refused_naming_it(tmp_path, member, why):
    """A file ``shapes/a`` where the class folder ``shapes/a`` must go, or a name longer than a
    file system allows: the member is named, not the data folder."""
    src = write_class_folder(tmp_path / "shapes", classes=("a", "b"), per_class=2)
    path = _zip_folder(src, tmp_path / "shapes.zip")
    with zipfile.ZipFile(path) as z:
        first = z.namelist()[0]
    with zipfile.ZipFile(path, "w") as z:  # the bad member before the class folder's images
        z.writestr(member, b"boom")
        with zipfile.ZipFile(_zip_folder(src, tmp_path / "again.zip")) as good:
            for info in good.infolist():
                z.writestr(info, good.read(info))
    assert first.startswith("shapes/a/")
    named = first if why == "File exists" else member  # the member that meets the file, or the long one
    text = _refused(path, tmp_path / "data")
    assert f"Its member {named!r} cannot be unpacked ({why})" in text
    assert str(tmp_path) not in text


def test_a_zip_with_a_symbolic_link_is_refused(tmp_path):
    src = write_class_folder(tmp_path / "shapes", classes=("a", "b"), per_class=2)
    path = _zip_folder(src, tmp_path / "shapes.zip")
    link = zipfile.ZipInfo("shapes/a/link.png")
    link.external_attr = 0o120777 << 16  # what `zip --symlinks` writes
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(link, "/etc/passwd")
    assert "Its member 'shapes/a/link.png' is a link or special file" in _refused(path, tmp_path / "data")


def _cifar_with(tmp_path, extra: tarfile.TarInfo) -> Path:
    return cifar_archive_with(tmp_path / "cifar-10-python.tar.gz", extra)


def test_a_tar_with_a_link_is_refused(tmp_path):
    link = tarfile.TarInfo("cifar-10-batches-py/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    text = _refused(_cifar_with(tmp_path, link), tmp_path / "data")
    assert "member 'cifar-10-batches-py/evil' is a link or special file" in text
    assert str(tmp_path / "data") not in text  # it names the upload, not where it was checked


def test_a_tar_member_outside_its_folder_is_refused(tmp_path):
    evil = tarfile.TarInfo("../evil")
    evil.size = 4
    assert "unsafe member path '../evil'" in _refused(_cifar_with(tmp_path, evil), tmp_path / "data")


def test_a_tar_whose_headers_claim_more_than_the_cap_is_refused_before_reading(tmp_path):
    """A gzip of CIFAR-10's members and one header claiming 300 GiB with no data after it (what a
    few hundred KiB of gzip-compressed zeros can unpack to): refused on the sizes its headers
    state, before any batch is read or the missing data is noticed."""
    huge = tarfile.TarInfo("cifar-10-batches-py/zeros")
    huge.size = 300 * 2**30
    path = _cifar_with(tmp_path, tarfile.TarInfo("cifar-10-batches-py/readme"))
    gz = gzip.decompress(path.read_bytes())
    end = gz.rindex(b"readme") // 512 * 512 + 512  # past the last member's header (it has no data)
    path.write_bytes(gzip.compress(gz[:end] + huge.tobuf(tarfile.GNU_FORMAT)))
    text = _refused(path, tmp_path / "data")
    total = sum(m.size for m in _members(gz[:end])) + huge.size  # the oracle: the headers' own sizes
    assert (f"It unpacks to more than 1.0 GiB (1,073,741,824 bytes) (LRVIZ_UPLOAD_UNPACKED_MIB): its members up to "
            f"'cifar-10-batches-py/zeros' hold 300.0 GiB ({total:,} bytes)") in text


def _members(raw_tar: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(raw_tar + bytes(1024))) as tar:
        return tar.getmembers()


def test_a_cifar10_archive_that_unpacks_past_the_cap_is_refused(tmp_path, monkeypatch):
    path = write_synthetic_cifar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=4, n_test=4)
    with tarfile.open(path) as tar:
        total = sum(m.size for m in tar.getmembers())  # the oracle: what it unpacks to
    assert 2**20 // 20 < total < 2**20 // 5  # so that a cap of 0.05 MiB is passed part-way
    monkeypatch.setenv("LRVIZ_UPLOAD_UNPACKED_MIB", "0.05")
    text = _refused(path, tmp_path / "data")
    assert "It unpacks to more than 51.2 KiB (52,428 bytes) (LRVIZ_UPLOAD_UNPACKED_MIB)" in text
    monkeypatch.delenv("LRVIZ_UPLOAD_UNPACKED_MIB")
    assert unpacked_cap() > 178 * 2**20  # the default lets the real CIFAR-10 (178 MiB unpacked) through


def test_a_gzip_of_no_tar_says_so_and_a_spoilt_one_is_corrupt(tmp_path):
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"a text file, gzip-compressed\n" * 100))
    text = _refused(tmp_path / "notes.gz", tmp_path / "data")
    assert text.endswith("notes.gz is gzip-compressed, but not a tar archive"), text
    raw = write_synthetic_cifar(tmp_path / "c.tar.gz", n_per_batch=2, n_test=2).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(raw[: len(raw) // 2])  # a download cut short: its tar starts well
    assert "cut.tar.gz is a corrupt gzip or tar archive" in _refused(tmp_path / "cut.tar.gz", tmp_path / "data")


def test_a_tar_that_is_not_cifar10_is_refused(tmp_path):
    path = tmp_path / "photos.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("photos/a.png")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"boom"))
    assert "photos.tar.gz is a tar archive without CIFAR-10's batches" in _refused(path, tmp_path / "data")


def test_an_npz_with_missing_keys_is_refused_with_own_datas_rule(tmp_path):
    path = write_npz(tmp_path / "arrays.npz", drop=("y_train",))
    text = _refused(path, tmp_path / "data")
    assert "Argument `upload` must be an .npz with the arrays x_train and y_train" in text
    assert "Received: upload=arrays.npz" in text and "It lacks y_train" in text


def test_a_zip_without_classes_is_refused_with_own_datas_rule(tmp_path):
    src = write_class_folder(tmp_path / "one", classes=("only",), per_class=3)
    text = _refused(_zip_folder(src, tmp_path / "one.zip", wrap=False), tmp_path / "data")
    assert "Argument `upload` must be" in text and "2" in text


def test_a_corrupt_zip_is_refused(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04" + bytes(100))
    assert "bad.zip is a corrupt zip" in _refused(tmp_path / "bad.zip", tmp_path / "data")


def test_a_zip_that_unpacks_past_the_cap_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/a/zeros.png", bytes(3 * 2**20))  # 3 MiB of zeros, a few KiB zipped
    monkeypatch.setenv("LRVIZ_UPLOAD_UNPACKED_MIB", "1")
    assert "It unpacks to 3.0 MiB (3,145,728 bytes), more than 1.0 MiB" in _refused(path, tmp_path / "data")


# --------------------------------------------------------------------------- anything at all


def _spoiled(raw: bytes, at: int, junk: bytes) -> bytes:
    at = at % max(1, len(raw))
    return raw[:at] + junk + raw[at + len(junk):]


@pytest.fixture(scope="module")
def good_uploads(tmp_path_factory) -> dict[str, bytes]:
    """A real zip of a class folder, an .npz and a CIFAR-10 archive, to spoil."""
    tmp = tmp_path_factory.mktemp("good")
    src = write_class_folder(tmp / "shapes", classes=("a", "b"), per_class=3)
    return {"shapes.zip": _zip_folder(src, tmp / "shapes.zip").read_bytes(),
            "arrays.npz": write_npz(tmp / "arrays.npz").read_bytes(),
            "cifar-10-python.tar.gz": write_synthetic_cifar(tmp / "c.tar.gz", n_per_batch=2, n_test=2).read_bytes()}


def test_any_bytes_are_kept_or_refused_in_words_and_a_refusal_leaves_nothing(good_uploads, tmp_path):
    """Truncated, overwritten and random files of each format: the answer is a Stored or a
    FieldError on `upload`, never another exception (zlib, struct, pickle, EOF), and a refusal
    leaves the data folder as it was."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    root = tmp_path / "data"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(name=st.sampled_from(sorted(good_uploads)), cut=st.integers(0, 1 << 20), at=st.integers(0, 1 << 20),
           junk=st.binary(min_size=1, max_size=64), how=st.sampled_from(["cut", "junk", "both"]))
    def check(name, cut, at, junk, how):
        raw = good_uploads[name]
        if how in ("cut", "both"):
            raw = raw[: cut % (len(raw) + 1)]
        if how in ("junk", "both"):
            raw = _spoiled(raw, at, junk)
        before = sorted(p.name for p in root.iterdir()) if root.exists() else []
        try:
            store_upload(name, io.BytesIO(raw), root, size=len(raw))
        except FieldError as e:
            assert e.field == "upload" and name in str(e)
            assert (sorted(p.name for p in root.iterdir()) if root.exists() else []) == before

    check()


@pytest.mark.parametrize("name, stem", [("../../etc/evil.npz", "evil"), ("C:\\Users\\me\\my data.npz", "my-data"),
                                        ("..npz", "upload"), ("ünïcode 数据.npz", "n-code")])
def test_the_name_a_browser_sends_never_places_the_file(tmp_path, name, stem):
    src = write_npz(tmp_path / "arrays.npz")
    stored = _upload(src, tmp_path / "data", name=name)
    assert stored.path.parent == tmp_path / "data" and stored.path.name.startswith(f"{stem}-")
    assert [p.name for p in tmp_path.rglob("*.npz")] == ["arrays.npz", stored.path.name]
