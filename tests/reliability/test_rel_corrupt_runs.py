"""Corrupt files in the runs folder (issue 6, "Bad input" / corrupt files).

Each damaged run is listed with the reason it cannot be read; every other run still lists and
opens; strays (a loose file, a folder whose name is not a run id, an empty folder) are ignored;
the Runs page (AppTest) shows the problem and never raises.

Already covered elsewhere, not repeated: one unreadable status.json on the Runs page
(tests/test_page_runs.py::test_corrupt_run_listed_as_unreadable_others_still_open) and
``load_run`` on a few unreadable files (tests/test_runs.py::test_unreadable_files_give_error_not_exception).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fakes import fabricate_run
from streamlit.testing.v1 import AppTest

from lrviz import cli, compare
from lrviz import runs as runs_api

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "runs.py")


def _truncate(name):
    def f(p: Path):
        text = (p / name).read_bytes()
        (p / name).write_bytes(text[: len(text) // 2])
    return f


def _write(name, data: bytes):
    def f(p: Path):
        (p / name).write_bytes(data)
    return f


def _remove(name):
    def f(p: Path):
        (p / name).unlink()
    return f


# corruption -> (how, the file named in the reason)
CORRUPTIONS = {
    "truncated_config": (_truncate("config.json"), "config.json"),
    "truncated_status": (_truncate("status.json"), "status.json"),
    "empty_status": (_write("status.json", b""), "status.json"),
    "status_not_object": (_write("status.json", b"[1, 2]"), "status.json"),
    "empty_history": (_write("history.csv", b""), "history.csv"),
    "binary_history": (_write("history.csv", bytes(range(256)) * 2), "history.csv"),
    "binary_confusion": (_write("confusion.csv", b"\xff\xfe\x00\x00garbage"), "confusion.csv"),
    "ragged_confusion": (_write("confusion.csv", b",0,1\n0,1\n1,2,3,4\n"), "confusion.csv"),
}


@pytest.fixture()
def damaged(tmp_path, monkeypatch):
    """Two good runs, one run per corruption, and strays."""
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    good = [fabricate_run(tmp_path, seed=1), fabricate_run(tmp_path, seed=2, state="failed")]
    bad = {}
    for tag, (how, _) in CORRUPTIONS.items():
        rid = fabricate_run(tmp_path, seed=3)
        how(tmp_path / rid)
        bad[tag] = rid
    (tmp_path / "notes.txt").write_text("a stray file")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "not a run!").mkdir()
    (tmp_path / "not a run!" / "config.json").write_text("{}")
    (tmp_path / "empty-folder").mkdir()
    return tmp_path, good, bad


def test_rel_every_damaged_run_listed_with_reason(damaged):
    runs_dir, good, bad = damaged
    listed = {r.id: r for r in runs_api.list_runs(runs_dir)}
    assert set(listed) == set(good) | set(bad.values())  # strays are not runs
    for tag, rid in bad.items():
        name = CORRUPTIONS[tag][1]
        if name in ("config.json", "status.json", "history.csv"):  # list_runs reads these three
            assert listed[rid].error and name in listed[rid].error, (tag, listed[rid].error)
    assert listed[good[0]].error is None and listed[good[0]].state == "finished"
    assert listed[good[1]].state == "failed"  # its own error, not a read problem

    table = compare.runs_table(runs_dir).set_index("run")
    for tag, rid in bad.items():
        assert CORRUPTIONS[tag][1] in str(table.loc[rid, "problem"]), (tag, table.loc[rid, "problem"])
    assert pd.isna(table.loc[good[0], "problem"])


@pytest.mark.parametrize("tag", CORRUPTIONS)
def test_rel_damaged_run_opens_with_error_and_page_shows_it(damaged, tag):
    runs_dir, good, bad = damaged
    run = runs_api.load_run(bad[tag], runs_dir)  # never raises
    assert run.error and CORRUPTIONS[tag][1] in run.error
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = bad[tag]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert bad[tag] in " ".join(w.value for w in at.warning)  # "Some runs could not be read completely"


def test_rel_good_runs_still_open_beside_damaged_ones(damaged):
    runs_dir, good, bad = damaged
    for rid in good:
        run = runs_api.load_run(rid, runs_dir)
        assert run.error is None and len(run.history) and run.extras["report"] is not None
        assert "model.keras" not in run.files  # fabricated runs have no model: missing model is not an error
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = good[0]
    at.run()
    assert not at.exception
    assert set(at.dataframe[0].value["run"]) == set(good) | set(bad.values())
    assert any("Finished" in s.value for s in at.success)
    labels = [d.label for d in at.get("download_button")]
    assert "Report CSV" in labels and not any("model" in label.lower() for label in labels)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["compare"] = ",".join([*good, bad["empty_history"], bad["truncated_config"]])
    at.run()
    assert not at.exception


def test_rel_cli_runs_lists_damaged_runs(damaged, capsys):
    runs_dir, good, bad = damaged
    assert cli.main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    for rid in [*good, *bad.values()]:
        assert rid in out
    assert "not a run!" not in out and "notes.txt" not in out


# ------------------------------------------------------------------ bugs found by these tests, now fixed


def test_rel_report_with_wrong_columns_is_an_error_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    rid = fabricate_run(tmp_path)
    (tmp_path / rid / "report.csv").write_text("this,is\nnot a,report\n")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "report.csv" in (runs_api.load_run(rid, tmp_path).error or "")


def test_rel_status_with_wrong_types_is_flagged_not_fatal(tmp_path):
    good = fabricate_run(tmp_path)
    rid = fabricate_run(tmp_path)
    status = json.loads((tmp_path / rid / "status.json").read_text())
    status.update(epoch="abc", epochs="many")
    (tmp_path / rid / "status.json").write_text(json.dumps(status))
    listed = {r.id: r for r in runs_api.list_runs(tmp_path)}
    assert set(listed) == {good, rid}
    assert listed[rid].error and "status.json" in listed[rid].error


def test_rel_runs_folder_missing_or_a_file(tmp_path):
    assert runs_api.list_runs(tmp_path / "nope") == []
    (tmp_path / "file").write_text("x")
    assert runs_api.list_runs(tmp_path / "file") == []
    assert compare.runs_table(tmp_path / "nope").empty


# ------------------------------------------------------------------ a tournament's study file


def _sqlite_with_other_tables(p: Path) -> None:
    import sqlite3

    (p / "study.db").unlink()
    with sqlite3.connect(p / "study.db") as con:
        con.execute("CREATE TABLE accounts (id INTEGER)")


STUDY_DAMAGES = {
    "empty": (_write("study.db", b""), "is empty"),
    "truncated": (_truncate("study.db"), "is truncated"),
    "first_page_only": (lambda p: (p / "study.db").write_bytes((p / "study.db").read_bytes()[:4096]), "is truncated"),
    "random_bytes": (lambda p: (p / "study.db").write_bytes(bytes(range(256)) * 64), "is not an SQLite database"),
    "header_then_garbage": (lambda p: (p / "study.db").write_bytes((p / "study.db").read_bytes()[:100]
                                                                   + b"\xff" * 8000), "study.db"),
    "not_optuna": (_sqlite_with_other_tables, "holds no Optuna storage"),
    "a_folder": (lambda p: ((p / "study.db").unlink(), (p / "study.db").mkdir()), "is not a regular file"),
}


@pytest.mark.parametrize("damage", list(STUDY_DAMAGES))
def test_rel_a_damaged_study_file_is_refused_and_left_as_it_is(tmp_path, capsys, damage):
    """A truncated or empty study.db was silently replaced by a new study (finished trials trained
    again); random bytes gave a traceback. Now: one line, and the file as it was."""
    from tournament_fakes import tournament_folder, tree

    from lrviz.jobs.tournament import tournament_config

    how, says = STUDY_DAMAGES[damage]
    tid = tournament_folder(tmp_path, complete=1)
    how(tmp_path / tid)
    before = tree(tmp_path)
    with pytest.raises(ValueError) as e:
        runs_api.create_run(tournament_config(parent=tid), tmp_path, launch=lambda p: (1, None))
    assert e.value.field == "parent" and says in str(e.value) and "left as it is" in str(e.value), str(e.value)
    assert cli.main(["tournament", "--resume", tid, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrviz: error: Argument `parent`") and err.count("\n") == 1 and says in err, err
    after = tree(tmp_path)
    after.pop(".lock", None)
    before.pop(".lock", None)
    assert after == before  # never replaced, nothing made
