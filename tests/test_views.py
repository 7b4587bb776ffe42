"""Adding a job kind touches one job module, one view module and one registration line each: a
toy kind (test_jobs.CountJob) registered with its own view is listed, opened with that view and
kept out of comparisons on the Runs page, with no change to the pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import fabricate_run, shown
from streamlit.testing.v1 import AppTest
from test_jobs import CountJob

from lrviz import jobs, runs
from lrviz.worker import run_worker
from ui import views

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")


def _count_view(run, runs_dir, key):  # the toy kind's view module, in one function
    import streamlit as st

    st.markdown(f"Counted to {run.config['to']}: {(run.dir / 'count.txt').read_text()}")


@pytest.fixture()
def count_kind(monkeypatch):
    monkeypatch.setitem(jobs.JOBS, CountJob.kind, CountJob)  # the job's registration line
    monkeypatch.setitem(views.VIEWS, CountJob.kind, _count_view)  # the view's
    monkeypatch.setitem(views.KIND_WORDS, CountJob.kind, "a count")


def test_a_new_kind_opens_with_its_own_view_and_stays_out_of_comparisons(count_kind, runs_dir):
    rid = runs.create_run({"kind": "count", "to": 3}, runs_dir)
    assert run_worker(runs_dir / rid, install_signals=False) == "finished"
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception
    assert any(m.value == "Counted to 3: 1 2 3" for m in at.markdown)
    assert not at.get("plotly_chart")  # not drawn as a training run
    ours = fabricate_run(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{rid},{ours}"
    at.run()
    assert not at.exception
    assert any(f"`{rid}` is a count, not a training run" in shown(i.value) for i in at.info)


def test_no_page_or_view_compares_kind_strings_outside_the_registry():
    import ast

    root = Path(__file__).resolve().parents[1]
    kinds = set(jobs.JOBS)
    found = []
    for f in [*root.glob("pages/*.py"), *root.glob("ui/*.py")]:
        if f.name == "views.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in kinds
                                                     for c in [node.left, *node.comparators]):
                found.append(f"{f.relative_to(root)}:{node.lineno}")
    assert not found, found


def test_pages_and_views_reach_job_kinds_through_the_runs_api_only():
    """No page or ui module imports lrviz.jobs (or lrviz.worker): kinds are reached through
    lrviz.runs and the view registry, so a kind's module can change without the pages."""
    import ast

    root = Path(__file__).resolve().parents[1]
    found = []
    for f in [*root.glob("pages/*.py"), *root.glob("ui/*.py"), root / "app.py"]:
        for node in ast.walk(ast.parse(f.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{f.relative_to(root)}: {n}" for n in names if n.startswith(("lrviz.jobs", "lrviz.worker"))]
    assert not found, found
