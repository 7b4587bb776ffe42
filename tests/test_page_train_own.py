"""AppTest of the Train page's own-data and model fields: errors under their inputs, what the
data holds before Launch, and the launched config (the spawn replaced)."""

from __future__ import annotations

from fakes import fabricate_run, markup, run_page, shown
from own_data_fixtures import write_class_folder

from lrviz import runs as runs_api


def _own(at, path):
    at.selectbox(key="tr_dataset").set_value("own").run()
    at.text_input(key="tr_data").set_value(str(path)).run()
    return at


def _launch(at):
    return next(b for b in at.button if b.label == "Launch training")


def _errors(at):
    return [e.value for e in at.error]


def test_own_folder_says_what_it_holds_and_launches_with_it(runs_dir, tmp_path, monkeypatch):
    seen = {}

    def fake(config, runs_dir_arg):
        seen.update(runs_api.validate_config(config))
        return fabricate_run(runs_dir_arg)

    monkeypatch.setattr(runs_api, "start_run", fake)
    root = write_class_folder(tmp_path / "shapes", per_class=6)
    at = _own(run_page("train"), root)
    assert not at.exception and not _errors(at)
    assert any("shapes: 18 images (8x8x3) in 3 classes" in shown(c.value) for c in at.caption)
    at.text_input(key="tr_model").set_value("MobileNetV2").run()
    assert any("Model" in e and "needs at least 32x32" in e for e in _errors(at)), _errors(at)
    assert _launch(at).disabled
    at.text_input(key="tr_image_size").set_value("32").run()
    assert not _errors(at)
    _launch(at).click().run()
    assert (seen["dataset"], seen["data"], seen["image_size"], seen["model"]) == \
        ("own", str(root.resolve()), "32,32", "MobileNetV2")


def test_bad_own_data_shows_its_error_under_the_data_field(runs_dir, tmp_path):
    root = write_class_folder(tmp_path / "d", classes=("only",), per_class=2)
    at = _own(run_page("train"), root)
    assert any(e.startswith("Your data must be") and "at least 2 class subfolders" in e for e in _errors(at)), \
        _errors(at)
    assert _launch(at).disabled
    at.text_input(key="tr_data").set_value(str(tmp_path / "nowhere")).run()
    assert any("Nothing is there" in e for e in _errors(at))
    at.text_input(key="tr_data").set_value(str(root)).run()
    at.text_input(key="tr_image_size").set_value("0").run()
    assert any(e.startswith("Image size must be") for e in _errors(at)), _errors(at)


MARKDOWN_NAME = "![x](t.png) **b**"  # an image (a folder name holds no "/", so a relative URL) and bold


def test_folder_and_class_names_show_as_written_not_as_markdown(runs_dir, tmp_path):
    """The data's folder (the caption) and a class folder (the error's hint, the button's help)
    named in Markdown show its characters: no image fetched, no bold."""
    one = write_class_folder(tmp_path / "one", classes=(MARKDOWN_NAME,), per_class=2)
    at = _own(run_page("train"), one)
    (error,) = [e for e in _errors(at) if "class subfolders" in e]
    assert f"It has 1 ({MARKDOWN_NAME})" in shown(error) and markup(error) == set(), error
    assert _launch(at).disabled and markup(_launch(at).help) == set() and MARKDOWN_NAME in shown(_launch(at).help)
    root = write_class_folder(tmp_path / MARKDOWN_NAME, per_class=6)
    at.text_input(key="tr_data").set_value(str(root)).run()
    (words,) = [c.value for c in at.caption if "18 images" in c.value]
    assert shown(words).startswith(f"{MARKDOWN_NAME}: 18 images (8x8x3) in 3 classes") and markup(words) == set()


# --------------------------------------------------------------------------- uploads from the browser


def _zipped(folder, dest):
    import zipfile

    with zipfile.ZipFile(dest, "w") as z:
        for f in sorted(folder.rglob("*.png")):
            z.write(f, f.relative_to(folder.parent).as_posix())
    return dest.read_bytes()


def _upload(at, name, content):
    at.file_uploader(key="tr_upload").set_value((name, content, "application/octet-stream")).run()
    return at


def test_a_zipped_class_folder_uploaded_fills_the_data_field(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "uploads"))
    content = _zipped(write_class_folder(tmp_path / "shapes", per_class=6), tmp_path / "shapes.zip")
    at = _upload(run_page("train").selectbox(key="tr_dataset").set_value("own").run(), "shapes.zip", content)
    assert not at.exception and not _errors(at), _errors(at)
    (kept,) = (tmp_path / "uploads").iterdir()
    assert at.text_input(key="tr_data").value == str(kept) and sorted(p.name for p in kept.iterdir()) == ["a", "b", "c"]
    captions = [shown(c.value) for c in at.caption]
    assert any(f"Kept as {kept}: 18 images (8x8x3) in 3 classes." in c for c in captions), captions
    assert any(f"{kept.name}: 18 images (8x8x3) in 3 classes" in c for c in captions)  # checked like a typed path
    assert not _launch(at).disabled


def test_a_cifar10_archive_uploaded_switches_to_cifar10(runs_dir, tmp_path, monkeypatch):
    from lrviz.data import write_synthetic_cifar

    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "uploads"))
    content = write_synthetic_cifar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=4, n_test=4).read_bytes()
    at = _upload(run_page("train").selectbox(key="tr_dataset").set_value("own").run(), "cifar-10-python.tar.gz",
                 content)
    assert not at.exception and not _errors(at), _errors(at)
    (kept,) = (tmp_path / "uploads").iterdir()
    assert kept.read_bytes() == content
    assert at.selectbox(key="tr_dataset").value == "cifar10"
    assert at.text_input(key="tr_cifar_archive").value == str(kept)
    assert any("20 training and 4 test images" in shown(c.value) for c in at.caption)


def test_a_bad_upload_is_refused_at_the_field_and_nothing_is_kept(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "uploads"))
    at = _upload(run_page("train").selectbox(key="tr_dataset").set_value("own").run(), "photos.zip",
                 b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert not at.exception
    (error,) = [shown(e) for e in _errors(at) if "Upload" in e]  # (and the empty Data field's own)
    assert error.startswith("Upload your data must be a CIFAR-10 archive") and "photos.zip is a PNG image" in error
    assert at.text_input(key="tr_data").value == "" and list((tmp_path / "uploads").iterdir()) == []
    monkeypatch.setenv("LRVIZ_UPLOAD_MAX_MIB", str(1000 / 2**20))
    at = _upload(at, "big.npz", bytes(5000))
    (error,) = [shown(e) for e in _errors(at) if "Upload" in e]
    assert "big.npz is 4.9 KiB (5,000 bytes); the cap is 1000 bytes (1,000 bytes), set by LRVIZ_UPLOAD_MAX_MIB" in error


def test_an_unwritable_data_folder_is_said_at_the_field(runs_dir, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("a file where the data folder should be")
    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "taken"))
    content = write_npz_bytes(tmp_path)
    at = _upload(run_page("train").selectbox(key="tr_dataset").set_value("own").run(), "arrays.npz", content)
    assert not at.exception
    (error,) = [shown(e) for e in _errors(at) if "arrays.npz" in shown(e)]
    assert error.startswith(f"arrays.npz could not be kept in {tmp_path / 'taken'}: File exists")


def write_npz_bytes(tmp_path):
    from own_data_fixtures import write_npz

    return write_npz(tmp_path / "arrays.npz").read_bytes()
