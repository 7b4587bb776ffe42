"""AppTest of the Train page's own-data and model fields: errors under their inputs, what the
data holds before Launch, and the launched config (the spawn replaced)."""

from __future__ import annotations

from fakes import fabricate_run, run_page
from own_data_fixtures import write_class_folder

from lrviz import runs as store


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
        seen.update(store.validate_config(config))
        return fabricate_run(runs_dir_arg)

    monkeypatch.setattr(store, "start_run", fake)
    root = write_class_folder(tmp_path / "shapes", per_class=6)
    at = _own(run_page("train"), root)
    assert not at.exception and not _errors(at)
    assert any("shapes: 18 images (8x8x3) in 3 classes" in c.value for c in at.caption)
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
