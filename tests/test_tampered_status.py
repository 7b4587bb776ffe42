"""A tampered config.json or status.json damages only its own run (the seams issue: one such file
used to take every page down, or keep a run "active" forever and block every launch)."""

from __future__ import annotations

import json
import socket

from fakes import fabricate_run

from lrviz import compare
from lrviz import runs as runs_api


def _edit(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_kind_that_is_not_a_string_is_read_as_no_kind(tmp_path):
    rid = fabricate_run(tmp_path)
    _edit(tmp_path / rid / "config.json", kind=["x"])
    assert [r.id for r in runs_api.list_runs(tmp_path)] == [rid]
    assert runs_api.load_run(rid, tmp_path).kind == "train"


def test_times_that_are_not_numbers_or_far_in_the_future_do_not_keep_a_run_alive(tmp_path):
    lists, future, remote = (fabricate_run(tmp_path, state="stopped") for _ in range(3))
    _edit(tmp_path / lists / "status.json", state="queued", updated_at=[1], created_at="x", pid=None)
    _edit(tmp_path / future / "status.json", state="queued", updated_at=1e12, pid=None)
    _edit(tmp_path / remote / "status.json", state="running", host=socket.gethostname() + "-elsewhere",
          updated_at=1e12)
    states = {r.id: r.state for r in runs_api.list_runs(tmp_path)}
    assert states == {lists: "failed", future: "failed", remote: "failed"}
    assert runs_api.active_run(tmp_path) is None  # nothing blocks a launch


def test_a_start_time_out_of_range_leaves_the_cell_blank(tmp_path):
    rid = fabricate_run(tmp_path)
    _edit(tmp_path / rid / "status.json", started_at=1e20)
    other = fabricate_run(tmp_path)
    _edit(tmp_path / other / "status.json", started_at=float("nan"))
    table = compare.runs_table(tmp_path)
    assert set(table["run"]) == {rid, other}
    assert table["started at"].isna().all()
