"""AppTest of the Runs page on fabricated runs (no worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lrviz import runs as store

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")


@pytest.fixture()
def two(runs_dir_with_two, monkeypatch):
    runs_dir, ids = runs_dir_with_two
    monkeypatch.setattr(store, "DEFAULT_RUNS_DIR", runs_dir)
    return runs_dir, ids


def test_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "DEFAULT_RUNS_DIR", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception and any("No runs yet" in i.value for i in at.info)


def test_table_lists_runs(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    df = at.dataframe[0].value
    assert set(df["run"]) == {a, b}


def test_open_by_link(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = a
    at.run()
    assert not at.exception
    assert any("Finished" in s.value for s in at.success)
    assert "Report CSV" in [d.label for d in at.get("download_button")]


@pytest.mark.parametrize("bad", ["../../etc", "nope-not-a-run", "a/b"])
def test_bad_or_unknown_link_gets_a_clear_message(two, bad):
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = bad
    at.run()
    assert not at.exception
    assert any(f"Cannot open run `{bad}`" in e.value for e in at.error)


def test_compare_two_runs(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    assert not at.exception
    assert any("Compare 2 runs" in h.value for h in at.subheader)
    assert len(at.get("plotly_chart")) == 4
    # the side-by-side report is the second dataframe; it has a delta column per metric
    cols = list(at.dataframe[1].value.columns)
    assert any(c.startswith("Δ f1-score") for c in cols)


def test_corrupt_run_listed_as_unreadable_others_still_open(two):
    runs_dir, (a, b) = two
    (runs_dir / a / "status.json").write_text("{")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = b
    at.run()
    assert not at.exception
    df = at.dataframe[0].value
    assert "status.json" in df.set_index("run").loc[a, "problem"]
    assert any("Finished" in s.value for s in at.success)


def test_delete_asks_then_removes(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = a
    at.run()
    next(x for x in at.button if x.label == "Delete run").click().run()
    assert (runs_dir / a).exists()  # only the dialog so far
    next(x for x in at.button if x.label == "Delete").click().run()
    assert not (runs_dir / a).exists() and (runs_dir / b).exists()


def test_lr_find_run_opens_with_its_curve(two):
    from fakes import fabricate_lr_find

    runs_dir, _ = two
    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception
    assert "LR range test" in set(at.dataframe[0].value["kind"])
    assert any("steepest descent: 0.0085" in m.value for m in at.markdown)  # lr_finder.SUGGESTIONS
