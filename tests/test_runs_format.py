"""Runs written before the engine became jobs still list, open and compare.

``tests/fixtures/runs-0.1/`` holds the text files of two runs written by lrviz 0.1 (commit
b84682c, before the run store and the job kinds were split): a 2-epoch digits training run
and a 12-step LR range test (their model.keras and training.png are left out). A third, made
here by removing ``kind`` from the training run's config, is a run from before kinds existed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lrviz import compare
from lrviz import runs as runs_api

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runs-0.1"
TRAIN, LRFIND = "20261125-175940-digits-step-3f74", "20261125-175953-digits-lrfind-19db"
NO_KIND = "20261101-120000-digits-step-0000"
PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")


@pytest.fixture()
def old_runs(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)
    shutil.copytree(tmp_path / TRAIN, tmp_path / NO_KIND)
    cfg = json.loads((tmp_path / NO_KIND / "config.json").read_text())
    del cfg["kind"]
    cfg["id"] = NO_KIND
    (tmp_path / NO_KIND / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    return tmp_path


def test_old_runs_list_with_their_kind_progress_and_label(old_runs):
    by_id = {r.id: r for r in runs_api.list_runs(old_runs)}
    assert set(by_id) == {TRAIN, LRFIND, NO_KIND}
    t, f, n = by_id[TRAIN], by_id[LRFIND], by_id[NO_KIND]
    assert (t.kind, t.state, t.epoch, t.epochs, t.error) == ("train", "finished", 2, 2, None)
    assert t.schedule == "Step decay (lr=0.01, factor=0.5, drop_every=5)"
    hist = pd.read_csv(old_runs / TRAIN / "history.csv")
    assert t.val_accuracy == hist["val_accuracy"].iloc[-1]
    assert (f.kind, f.state, f.epoch, f.epochs) == ("lr_find", "finished", 12, 12)
    assert f.schedule.startswith("LR range test 1e-07 → 10")
    assert (n.kind, n.epoch, n.schedule) == ("train", 2, t.schedule)


def test_old_runs_load_with_every_file(old_runs):
    run = runs_api.load_run(TRAIN, old_runs)
    assert run.error is None and run.kind == "train" and len(run.history) == 2
    assert list(run.extras["report"].index)[-3:] == ["accuracy", "macro avg", "weighted avg"]
    assert run.class_names == [str(i) for i in range(10)]
    assert {"config.json", "history.csv", "report.csv", "confusion.csv", "predictions.csv"} <= set(run.files)
    finder = runs_api.load_run(LRFIND, old_runs)
    assert finder.error is None and len(finder.extras["lr_find"]) == 12
    assert finder.extras["suggestions"]["reason"] is None
    assert {"lr_find.csv", "suggestions.json"} <= set(finder.files)


def test_old_runs_open_and_compare_on_the_runs_page(old_runs):
    table = compare.runs_table(old_runs)
    assert set(table["run"]) == {TRAIN, LRFIND, NO_KIND}
    for rid in (TRAIN, LRFIND, NO_KIND):
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.query_params["run"] = rid
        at.run()
        assert not at.exception, rid
        assert not at.error, [e.value for e in at.error]
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{TRAIN},{NO_KIND}"
    at.run()
    assert not at.exception and any("Classification reports side by side" in m.value for m in at.markdown)
