"""Upload your data in Chromium: the Train page's uploader takes a zipped class folder through
Streamlit's real upload endpoint, keeps it in the data folder, and the Data field then holds its
path and says what it holds; a PNG named .zip is refused under the uploader, and nothing is kept.
(The same logic without a browser: tests/test_page_train_own.py and tests/test_uploads.py.)"""

from __future__ import annotations

import zipfile

from browser_kit import AppServer, shot, wait_app_idle
from own_data_fixtures import write_class_folder
from train_page import wait_until

UPLOADER = '[data-testid="stFileUploader"] input[type="file"]'


def _zipped(folder, dest):
    with zipfile.ZipFile(dest, "w") as z:
        for f in sorted(folder.rglob("*.png")):
            z.write(f, f.relative_to(folder.parent).as_posix())
    return dest


def _main_text(page) -> str:
    return page.inner_text('[data-testid="stMain"]')


def test_a_zipped_class_folder_uploaded_in_the_browser_becomes_the_data(browser, tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    monkeypatch.setenv("LRVIZ_DATA_DIR", str(uploads))  # the server inherits it
    archive = _zipped(write_class_folder(tmp_path / "src" / "shapes", per_class=6), tmp_path / "shapes.zip")
    not_zip = tmp_path / "photos.zip"
    not_zip.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "runs").mkdir()
    server = AppServer(tmp_path / "runs", tmp_path / "streamlit.log").start()
    context = browser.new_context(viewport={"width": 1440, "height": 1500})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{server.url}/train")
        wait_app_idle(page)
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first.click()
        page.get_by_role("option", name="your own images").click()
        page.locator(UPLOADER).wait_for(state="attached")
        wait_app_idle(page)

        page.locator(UPLOADER).set_input_files(str(not_zip))
        page.get_by_text("photos.zip is a PNG image").first.wait_for()
        assert "Upload your data must be a CIFAR-10 archive" in _main_text(page)
        assert not uploads.exists() or list(uploads.iterdir()) == []

        page.locator(UPLOADER).set_input_files(str(archive))
        page.get_by_text("Kept as").first.wait_for()
        wait_until(lambda: uploads.exists() and len(list(uploads.iterdir())) == 1, 15, "the upload kept")
        (kept,) = uploads.iterdir()
        assert sorted(p.name for p in kept.iterdir()) == ["a", "b", "c"]
        field = page.get_by_label("Your data", exact=True)
        wait_until(lambda: field.input_value() == str(kept), 15, "the Data field holding the upload")
        page.get_by_text(f"{kept.name}: 18 images (8x8x3) in 3 classes").first.wait_for()
        assert "photos.zip is a PNG image" not in _main_text(page)  # the refusal is gone with a good upload
        assert page.get_by_role("button", name="Launch training").is_enabled()
        assert not page.locator('[data-testid="stException"]').count()
        shot(page, "train-upload-zip")
    finally:
        context.close()
        server.stop()
