"""The Runs page's table (issue 19, item 2): a tournament's trials listed under their tournament,
and the ticked rows deleted at once (asked first, active runs kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import fabricate_run, shown
from streamlit.testing.v1 import AppTest

from lrviz import compare
from lrviz import runs as runs_api
from lrviz.jobs.tournament import tournament_config

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")


def _finished_tournament(runs_dir: Path, trials: int = 3) -> tuple[str, list[str]]:
    cfg = tournament_config([{"name": "step", "params": {"factor": 0.25}}, {"name": "step", "params": {"factor": 0.5}}],
                            seeds=2, epochs=4)
    tid = runs_api.create_run(cfg, runs_dir)
    status = json.loads((runs_dir / tid / "status.json").read_text())
    (runs_dir / tid / "status.json").write_text(json.dumps({**status, "state": "finished"}))
    return tid, [fabricate_run(runs_dir, factor=0.25 + 0.25 * (i % 2), seed=i, epochs=4, group=tid)
                 for i in range(trials)]


@pytest.fixture()
def session(tmp_path, monkeypatch):
    """A plain run, a finished tournament with three trials, and a running run (no worker)."""
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    plain_run = fabricate_run(tmp_path, factor=0.5)
    tid, trials = _finished_tournament(tmp_path)
    running = fabricate_run(tmp_path, factor=0.1, state="running")
    return tmp_path, plain_run, tid, trials, running


def test_trials_are_listed_under_their_tournament(session):
    runs_dir, plain_run, tid, trials, running = session
    table = compare.runs_table(runs_dir)
    assert set(table.set_index("run").loc[trials, "tournament"]) == {tid}
    assert set(table.set_index("run").loc[[plain_run, tid, running], "tournament"]) == {""}
    assert set(compare.hide_trials(table)["run"]) == {plain_run, tid, running}
    assert compare.trials_of(table, [tid, plain_run]) == [t for t in table["run"] if t in trials]
    # a trial whose tournament is gone is not hidden: nothing else would list it
    orphans = table[table["run"] != tid]
    assert set(compare.hide_trials(orphans)["run"]) == {plain_run, running, *trials}


def test_a_deletion_plan_keeps_active_runs(session):
    runs_dir, plain_run, tid, trials, running = session
    table = compare.runs_table(runs_dir)
    plan = compare.deletion_plan(table, [running, tid, plain_run, "gone-meanwhile", tid])
    assert plan.runs == [tid, plain_run] and plan.active == [running]
    assert sorted(plan.trials) == sorted(trials)


def test_the_page_hides_trials_until_asked(session):
    runs_dir, plain_run, tid, trials, running = session
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["run"]) == {plain_run, tid, running} and "tournament" not in shown.columns
    toggle = at.toggle(key="runs_show_trials")
    assert toggle.value is False and "3 trial run(s) are listed under their tournament" in toggle.help
    toggle.set_value(True).run()
    shown = at.dataframe[0].value.set_index("run")
    assert set(shown.index) == {plain_run, tid, running, *trials} and set(shown.loc[trials, "tournament"]) == {tid}
    config = json.loads(at.dataframe[0].proto.columns)  # the accuracy headers get the width they need
    assert config["final validation accuracy"]["width"] >= 180


def _tick(at, runs: list[str]) -> None:
    rows = list(at.dataframe[0].value["run"])
    at.session_state["runs_table"] = {"selection": {"rows": [rows.index(r) for r in runs], "columns": [],
                                                    "cells": []}}
    at.run()


def test_ticked_rows_are_deleted_at_once_after_asking(session):
    runs_dir, plain_run, tid, trials, running = session
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _tick(at, [plain_run, tid, running])
    at.button(key="runs_bulk_delete").click().run()
    assert all((runs_dir / r).exists() for r in [plain_run, tid, running, *trials])  # only the dialog so far
    assert any(running in w.value and "Kept" in w.value for w in at.warning)  # never an active run
    assert at.checkbox(key="runs_bulk_trials").value is True
    go = at.button(key="runs_bulk_delete_go")
    assert go.label == "Delete 5 run(s)"  # the run, the tournament and its 3 trials
    go.click().run()
    assert not at.exception
    assert not any((runs_dir / r).exists() for r in [plain_run, tid, *trials]) and (runs_dir / running).exists()
    assert list(at.dataframe[0].value["run"]) == [running]


def test_cancel_deletes_nothing_and_trials_can_stay(session):
    runs_dir, plain_run, tid, trials, running = session
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _tick(at, [tid])
    at.button(key="runs_bulk_delete").click().run()
    at.button(key="runs_bulk_cancel").click().run()
    assert (runs_dir / tid).exists()
    _tick(at, [tid])
    at.button(key="runs_bulk_delete").click().run()
    at.checkbox(key="runs_bulk_trials").uncheck().run()
    at.button(key="runs_bulk_delete_go").click().run()
    assert not (runs_dir / tid).exists() and all((runs_dir / t).exists() for t in trials)
    assert set(at.dataframe[0].value["run"]) == {plain_run, running, *trials}  # orphans are listed again


def test_the_filter_lists_the_matching_runs_and_ticks_stay_on_their_runs(tmp_path, monkeypatch):
    """Issue 19: the Runs table had no filter. Words typed in it keep the rows that hold them all
    (lrviz.compare.filter_runs); a tick in the filtered table is the run on that row."""
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    plain_run = fabricate_run(tmp_path, factor=0.5)
    failed = fabricate_run(tmp_path, factor=0.75, state="failed")
    tid, _ = _finished_tournament(tmp_path)
    running = fabricate_run(tmp_path, factor=0.1, state="running")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert set(at.dataframe[0].value["run"]) == {plain_run, tid, running, failed}
    at.text_input(key="runs_filter").set_value("STEP failed").run()
    assert not at.exception
    assert list(at.dataframe[0].value["run"]) == [failed]
    assert any(c.value == "1 of 4 run(s) match the filter." for c in at.caption)
    _tick(at, [failed])
    assert at.session_state["runs_ticked"] == [failed]
    at.text_input(key="runs_filter").set_value("factor=0.1").run()  # the running run, its differing setting
    assert list(at.dataframe[0].value["run"]) == [running] and at.session_state["runs_ticked"] == []
    at.text_input(key="runs_filter").set_value("no such run").run()
    assert at.dataframe[0].value.empty and any("No run matches the filter" in i.value for i in at.info)
    at.text_input(key="runs_filter").set_value("").run()
    assert set(at.dataframe[0].value["run"]) == {plain_run, tid, running, failed}


# --------------------------------------------------------------------------- which model


def test_the_table_and_the_run_header_say_the_model(tmp_path, monkeypatch):
    mini = fabricate_run(tmp_path, seed=1)  # a run that names no model trains MiniVGGNet
    net = fabricate_run(tmp_path, seed=2, model="MobileNetV2")
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "my_net.keras").write_bytes(b"")  # the settings check only that it is there
    own = fabricate_run(tmp_path, seed=3, model=str(tmp_path / "nets" / "my_net.keras"))
    table = compare.runs_table(tmp_path).set_index("run")
    assert (table.loc[mini, "model"], table.loc[net, "model"], table.loc[own, "model"]) == \
        ("MiniVGGNet", "MobileNetV2", "my_net.keras")
    assert list(compare.filter_runs(table.reset_index(), "mobilenet")["run"]) == [net]
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    grid = at.dataframe[0].value.set_index("run")
    assert grid.loc[net, "model"] == "MobileNetV2" and grid.loc[mini, "model"] == "MiniVGGNet"
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = net
    at.run()
    assert any("**digits** · MobileNetV2 (keras.applications, untrained) · Step decay" in shown(c.value)
               for c in at.caption)
