"""Data uploaded from the browser, checked exactly like a path and kept beside the runs.

Three things can be uploaded (the Train page's "Upload your data", ``ui/data_upload.py``):

- a **CIFAR-10 archive** (``cifar-10-python.tar.gz``, or the same as a plain ``.tar``): its
  members pass :func:`lrviz.data.check_tar_member` (no absolute paths, no ``..``, no links or
  special files) and its batches are read as a path's are (:func:`lrviz.data.load_cifar10`);
- a **.zip of a class folder** (``shapes.zip`` holding ``shapes/<class>/*.png`` or
  ``<class>/*.png``): the same rules for every member (no absolute path, no drive letter, no
  ``..``, no symbolic link), then unpacked and inspected as a folder path is
  (:func:`lrviz.own_data.inspect_own`, :func:`lrviz.own_data.check_memory`);
- an **.npz** of arrays (``x_train``, ``y_train``, ...): inspected as an ``.npz`` path is.

The format is read from the bytes, never the file name: gzip and tar by their magic numbers, a
zip by its signature, an ``.npz`` as a zip of ``.npy`` members; anything else is refused saying
what it is ("a PNG image"). Sizes are capped: the upload by :func:`upload_cap` (the smaller of
Streamlit's ``server.maxUploadSize`` and ``$LRVIZ_UPLOAD_MAX_MIB``, 200 MiB by default: the real
CIFAR-10 archive is 163 MiB), what a zip or tar unpacks to by ``$LRVIZ_UPLOAD_UNPACKED_MIB`` (1 GiB;
CIFAR-10 unpacks to 178 MiB) and :data:`MAX_MEMBERS` files.

Everything is written into a hidden folder inside :func:`data_dir` first and moved to its name
(``<name>-<first 10 hex digits of its SHA-256>``) only once every check passed; a refused upload
leaves nothing behind. The same bytes uploaded again under the same file name are kept once: the
stored copy is reused. Under another file name they are stored again (the name is part of where).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from lrviz.errors import FieldError

__all__ = ["FIELD", "FORMATS", "MAX_MEMBERS", "Stored", "data_dir", "upload_cap", "unpacked_cap", "sniff",
           "what_it_is", "store_upload"]

FIELD = "upload"
FORMATS = "a CIFAR-10 archive (.tar.gz), a .zip of a class folder, or an .npz"
DEFAULT_MAX_MIB = 200  # Streamlit's own default server.maxUploadSize; the CIFAR-10 archive is 163 MiB
DEFAULT_UNPACKED_MIB = 1024  # what a zip or tar may unpack to (CIFAR-10: 178 MiB)
MAX_MEMBERS = 100_000  # files in a zip
_CHUNK = 1 << 20
# What reading a spoilt zip or .npz raises besides BadZipFile (zipfile, zlib and numpy's words for it).
_CORRUPT = (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, ValueError)
_MAGIC = (  # the first bytes of files people upload by mistake -> what they are
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"), (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"), (b"Rar!", "a RAR archive"), (b"\x93NUMPY", "a single .npy array"),
    (b"\x80", "a Python pickle"), (b"\x89HDF", "an HDF5 file"),
)


@dataclass(frozen=True)
class Stored:
    """An upload that passed every check: ``kind`` "cifar10", "folder" or "npz", where it is
    kept, and what it holds in a few words."""

    kind: str
    path: Path
    words: str

    def settings(self) -> dict[str, Any]:
        """The run settings that use it: the CIFAR-10 archive's path, or own data's."""
        if self.kind == "cifar10":
            return {"dataset": "cifar10", "cifar_archive": str(self.path)}
        return {"dataset": "own", "data": str(self.path)}


def data_dir(runs_dir: str | os.PathLike) -> Path:
    """Where uploads are kept: ``$LRVIZ_DATA_DIR``, else ``data/`` beside the runs folder."""
    if os.environ.get("LRVIZ_DATA_DIR"):
        return Path(os.environ["LRVIZ_DATA_DIR"]).expanduser()
    return Path(runs_dir).expanduser().resolve().parent / "data"


def _mib_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise FieldError(name, "a number of MiB > 0", os.environ.get(name), as_typed=True) from None
    if not value > 0:
        raise FieldError(name, "a number of MiB > 0", value)
    return value


def upload_cap(server_max_mb: float | None = None) -> tuple[int, str]:
    """The largest upload in bytes, and why: the smaller of Streamlit's ``server.maxUploadSize``
    (in MB of 2**20 bytes, as Streamlit counts them) and ``$LRVIZ_UPLOAD_MAX_MIB``."""
    ours = _mib_env("LRVIZ_UPLOAD_MAX_MIB", DEFAULT_MAX_MIB)
    if server_max_mb is not None and server_max_mb < ours:
        return int(server_max_mb * 2**20), f"Streamlit's server.maxUploadSize ({server_max_mb:g} MB)"
    return int(ours * 2**20), f"LRVIZ_UPLOAD_MAX_MIB ({ours:g} MiB)"


def unpacked_cap() -> int:
    """The most bytes a zip or tar may unpack to (``$LRVIZ_UPLOAD_UNPACKED_MIB``, 1 GiB by default)."""
    return int(_mib_env("LRVIZ_UPLOAD_UNPACKED_MIB", DEFAULT_UNPACKED_MIB) * 2**20)


def _size(n: int) -> str:
    from lrviz.own_data import memory_words

    return f"{memory_words(n)} ({n:,} bytes)"


def sniff(head: bytes) -> str | None:
    """"gzip", "tar" or "zip" from a file's first 512 bytes, or None."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[257:262] == b"ustar":
        return "tar"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip, or an empty one
        return "zip"
    return None


def what_it_is(head: bytes) -> str:
    """What a file that is none of the accepted formats looks like, from its first bytes."""
    if not head:
        return "empty"
    for magic, words in _MAGIC:
        if head.startswith(magic):
            return words
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return f"of an unknown format (it starts with bytes {head[:4].hex(' ')})"


def _refuse(name: str, why: str, rule: str = FORMATS) -> FieldError:
    return FieldError(FIELD, rule, name, hint=why, as_typed=True)


def _stem(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    for ext in (".tar.gz", ".tgz", ".tar", ".zip", ".npz", ".gz"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-")[:40] or "upload"


def _copy(stream: BinaryIO, dest: Path, name: str, cap: int, why: str) -> str:
    """Write the upload to ``dest``, refusing it past ``cap`` bytes; return its SHA-256."""
    digest, n = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        while chunk := stream.read(_CHUNK):
            n += len(chunk)
            if n > cap:
                raise _refuse(name, f"{name} is larger than {_size(cap)}, the cap set by {why}",
                              f"a file of at most {_size(cap)}")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def store_upload(name: str, stream: BinaryIO, root: str | os.PathLike, *, size: int | None = None,
                 server_max_mb: float | None = None) -> Stored:
    """Check the uploaded file ``name`` (its bytes in ``stream``) and keep it in ``root`` (see the
    module docstring); :class:`FieldError` on ``upload`` if it is refused, and nothing is left."""
    cap, why = upload_cap(server_max_mb)
    if size is not None and size > cap:
        raise _refuse(name, f"{name} is {_size(size)}; the cap is {_size(cap)}, set by {why}",
                      f"a file of at most {_size(cap)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    work = root / f".upload-{uuid.uuid4().hex}"  # hidden: a folder of own data never lists it
    work.mkdir()
    try:
        raw = work / "upload"
        digest = _copy(stream, raw, name, cap, why)
        with open(raw, "rb") as f:
            head = f.read(512)
        fmt = sniff(head)
        final = root / f"{_stem(name)}-{digest[:10]}"
        if fmt in ("gzip", "tar"):
            return _keep_cifar(raw, name, final.with_name(final.name + (".tar.gz" if fmt == "gzip" else ".tar")))
        if fmt == "zip":
            return _keep_zip(raw, name, final, work)
        raise _refuse(name, f"{name} is {what_it_is(head)}, not a .tar.gz, .zip or .npz")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish(src: Path, final: Path) -> None:
    """Move a checked file or folder to its name; an earlier upload of the same name and bytes stays."""
    if final.exists():
        return
    try:
        os.replace(src, final)
    except OSError:
        if not final.exists():  # not another tab that stored the same bytes a moment ago
            raise


def _keep_cifar(raw: Path, name: str, final: Path) -> Stored:
    from lrviz.data import DataError, load_cifar10

    cap, total, names = unpacked_cap(), 0, set()
    try:
        with tarfile.open(raw, "r:*") as tar:
            for m in tar:  # header by header: a member is counted before its data is read or skipped
                total += m.size
                if total > cap:
                    raise _refuse(name, f"It unpacks to more than {_size(cap)} (LRVIZ_UPLOAD_UNPACKED_MIB): its "
                                        f"members up to {m.name!r} hold {_size(total)}")
                names.add(PurePosixPath(m.name).name)
        if "test_batch" not in names and "data_batch_1" not in names:
            raise _refuse(name, f"{name} is a tar archive without CIFAR-10's batches (data_batch_1 .. 5, "
                                "test_batch); upload a class folder as a .zip")
        ds = load_cifar10(archive=raw)  # every member checked and every batch read, as for a path
    except DataError as e:
        raise _refuse(name, e.reason.replace(str(raw), name).rstrip(".")) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        if _gzip_of_no_tar(raw):
            raise _refuse(name, f"{name} is gzip-compressed, but not a tar archive") from None
        raise _refuse(name, f"{name} is a corrupt gzip or tar archive ({e})") from None
    _publish(raw, final)
    return Stored("cifar10", final, f"CIFAR-10: {len(ds.x_train):,} training and {len(ds.x_test):,} test images")


def _gzip_of_no_tar(raw: Path) -> bool:
    """A gzip stream whose start decompresses well but holds no tar header (a ``.gz`` of one file).
    Only the first block is read: the whole stream could unpack to gigabytes."""
    try:
        with gzip.open(raw) as g:
            head = g.read(512)
    except (OSError, EOFError, zlib.error):  # the gzip itself is spoilt (or it is no gzip)
        return False
    return sniff(head) != "tar"


def _check_zip_member(info: zipfile.ZipInfo, name: str) -> None:
    p = PurePosixPath(info.filename.replace("\\", "/"))
    drive = re.match(r"^[A-Za-z]:", p.as_posix())  # C:/... on Windows
    if info.filename.startswith(("/", "\\")) or p.is_absolute() or ".." in p.parts or drive:
        raise _refuse(name, f"Its member {info.filename!r} would land outside its folder")
    if not p.parts and not info.filename.endswith("/"):  # "." or "" (is_dir() fails on ""): a file with no name
        raise _refuse(name, f"Its member {info.filename!r} names no file")
    kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type bits; 0 where the zip has none
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(name, f"Its member {info.filename!r} is a link or special file")
    if info.flag_bits & 0x1:
        raise _refuse(name, f"Its member {info.filename!r} is encrypted")


def _keep_zip(raw: Path, name: str, final: Path, work: Path) -> Stored:
    from lrviz.own_data import check_memory, inspect_own

    try:
        with zipfile.ZipFile(raw) as z:
            members = z.infolist()
            for m in members:
                _check_zip_member(m, name)
            files = [m for m in members if not m.is_dir()]
            if len(files) > MAX_MEMBERS:
                raise _refuse(name, f"It holds {len(files):,} files, more than {MAX_MEMBERS:,}")
            total, cap = sum(m.file_size for m in files), unpacked_cap()
            if total > cap:
                raise _refuse(name, f"It unpacks to {_size(total)}, more than {_size(cap)} (LRVIZ_UPLOAD_UNPACKED_MIB)")
            if files and all(m.filename.endswith(".npy") for m in files):  # numpy's .npz is a zip of .npy
                target, kind = final.with_name(final.name + ".npz"), "npz"
                source = raw.rename(work / "data.npz")  # inspected as an .npz path is: by its suffix
            else:
                target, kind = final, "folder"
                source = _unpack(z, files, work / "unpacked", name, cap)
    except FieldError:
        raise
    except _CORRUPT as e:  # zipfile's own words: a bad header, an unknown version or method, a bad CRC
        raise _refuse(name, f"{name} is a corrupt zip ({type(e).__name__}: {e})") from None
    try:
        info = inspect_own(source)
        check_memory(info)
    except FieldError as e:  # own data's rule and what was found, about the uploaded file
        raise FieldError(FIELD, e.rule, name, hint=e.hint.replace(str(source), name), as_typed=True) from None
    except _CORRUPT as e:  # an .npz whose arrays numpy cannot read
        raise _refuse(name, f"{name} is a corrupt .npz ({type(e).__name__}: {e})") from None
    _publish(source, target)
    h, w, c = info.shape
    classes = f" in {len(info.class_names)} classes" if info.class_names else ""
    return Stored(kind, target, f"{info.n_images:,} images ({h}x{w}x{c}){classes}")


def _unpack(z: zipfile.ZipFile, files: list[zipfile.ZipInfo], dest: Path, name: str, cap: int) -> Path:
    """Write the zip's files under ``dest`` (each member checked before), counting what is
    written (a member may say it is smaller than it is); return the class folder's root."""
    written = 0
    for m in files:
        parts = PurePosixPath(m.filename.replace("\\", "/")).parts
        if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            continue  # macOS' resource forks and hidden files are not images
        out = dest.joinpath(*parts)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(out, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > cap:
                        raise _refuse(name, f"It unpacks to more than {_size(cap)} (LRVIZ_UPLOAD_UNPACKED_MIB)")
                    dst.write(chunk)
        except OSError as e:  # a file where a folder must go, a name too long: the member's fault, not data/'s
            raise _refuse(name, f"Its member {m.filename!r} cannot be unpacked ({e.strerror or e})") from None
    dest.mkdir(parents=True, exist_ok=True)
    top = list(dest.iterdir())
    # shapes.zip made by zipping the folder "shapes": its classes are one level down
    if len(top) == 1 and top[0].is_dir() and any(p.is_dir() for p in top[0].iterdir()):
        return top[0]
    return dest
