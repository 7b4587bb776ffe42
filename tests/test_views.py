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


def _count_view(run, runs_dir, key):  # the toy kind's view module, in one function: it reads its job's extras
    import streamlit as st

    st.markdown(f"Counted to {run.config['to']}: {run.extras['numbers']} ({run.extras['count']} numbers)")


@pytest.fixture()
def count_kind(monkeypatch):
    monkeypatch.setitem(jobs.JOBS, CountJob.kind, CountJob)  # the job's registration line
    monkeypatch.setattr(views, "VIEWS", dict(views.VIEWS))  # the registry as it was, after the test
    views.register(CountJob.kind, _count_view, words="a count")  # the view's


def test_a_new_kind_opens_with_its_own_view_and_stays_out_of_comparisons(count_kind, runs_dir):
    rid = runs.create_run({"kind": "count", "to": 3}, runs_dir)
    assert run_worker(runs_dir / rid, install_signals=False) == "finished"
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception
    assert any(m.value == "Counted to 3: 1 2 3 (3 numbers)" for m in at.markdown)
    assert not at.get("plotly_chart")  # not drawn as a training run
    ours = fabricate_run(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{rid},{ours}"
    at.run()
    assert not at.exception
    assert any(f"`{rid}` is a count, not a training run" in shown(i.value) for i in at.info)


def _kind_comparisons(source: str) -> list[int]:
    """Lines of ``source`` that compare with a kind, by its string ("train") or by the runs API's
    name for it (``store.TRAIN``, ``TRAIN``; also inside a tuple: ``in (store.TRAIN, "fit")``), or
    that select runs by a kind string (``latest_run(..., kind="train")``)."""
    import ast

    kinds = set(jobs.JOBS)
    names = {n for n in dir(runs) if isinstance(getattr(runs, n), str) and getattr(runs, n) in kinds}  # TRAIN, ...

    def is_kind(node: ast.AST, *, names_too: bool = True) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in kinds
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(is_kind(e, names_too=names_too) for e in node.elts)
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        return names_too and name in names

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(is_kind(c) for c in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg == "kind" and is_kind(node.value, names_too=False):
            lines.append(node.value.lineno)
    return lines


def test_the_kind_finder_sees_strings_names_and_keywords():
    """The check below on the comparisons this repository had (each a line it must find)."""
    assert _kind_comparisons('if r.kind == "tournament": pass') == [1]
    assert _kind_comparisons("x = [s for s in ss if s.kind == store.TRAIN]") == [1]
    assert _kind_comparisons("ok = run.kind in (TOURNAMENT, 'x')") == [1]
    assert _kind_comparisons('S.tr_run_id = store.latest_run(RUNS_DIR, kind="train")') == [1]
    assert _kind_comparisons('s.kind == "int"\nf(kind=store.settings_of(store.TRAIN))\nc = {"kind": "train"}') == []


def test_no_page_or_view_compares_kind_strings_outside_the_registry():
    root = Path(__file__).resolve().parents[1]
    found = []
    for f in [*root.glob("pages/*.py"), *root.glob("ui/*.py"), root / "app.py"]:
        if f.name == "views.py":
            continue
        found += [f"{f.relative_to(root)}:{line}" for line in _kind_comparisons(f.read_text())]
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
