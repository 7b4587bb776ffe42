"""lrviz.jobs and the store together: a new job kind is one class and one registration line;
the store stays kind-agnostic; the package has no import cycles and no private imports."""

from __future__ import annotations

import ast
import gc
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrviz import jobs, runs
from lrviz.errors import FieldError
from lrviz.jobs.base import Job
from lrviz.settings import setting
from lrviz.worker import run_worker

PKG = Path(__file__).resolve().parents[1] / "lrviz"


@dataclass
class CountConfig:
    to: int = setting(3, "Count up to this.", kind="int", low=1, high=10)


class CountJob(Job):
    """A third kind, as a newcomer would add one: count to `to`, one status update per step."""

    kind = "count"
    title = "count"
    Config = CountConfig
    files = ("config.json", "count.txt")
    progress_keys = ("n", "to")
    progress_unit = "number"

    @classmethod
    def run(cls, ctx):
        for n in range(1, ctx.config["to"] + 1):
            ctx.status.write(n=n)
        (ctx.path / "count.txt").write_text(" ".join(str(i) for i in range(1, ctx.config["to"] + 1)))
        ctx.status.write(state="finished")
        return "finished"

    @classmethod
    def load_extras(cls, path, attempt):  # its own file, read back for its own view (Run.extras)
        text = attempt("count.txt", lambda: (path / "count.txt").read_text(), "")
        return {"count": len(text.split()), "numbers": text}


@pytest.fixture()
def with_count(monkeypatch):
    monkeypatch.setitem(jobs.JOBS, CountJob.kind, CountJob)  # the one registration line


def test_a_new_kind_runs_lists_loads_and_validates_through_the_same_api(with_count, tmp_path):
    rid = runs.create_run({"kind": "count", "to": 4}, tmp_path)
    assert "-count-" in rid
    with pytest.raises(runs.RunBusyError, match=rf"Run {rid} is queued \(number 0/4\)"):
        runs.create_run({}, tmp_path)
    assert run_worker(tmp_path / rid, install_signals=False) == "finished"
    (summary,) = runs.list_runs(tmp_path)
    assert (summary.kind, summary.state, summary.epoch, summary.epochs, summary.schedule) == (
        "count", "finished", 4, 4, "count")
    run = runs.load_run(rid, tmp_path)
    assert run.job is CountJob and (run.dir / "count.txt").read_text() == "1 2 3 4"
    assert run.extras == {"count": 4, "numbers": "1 2 3 4"}  # what its job read, under the job's own names
    assert set(run.files) == {"config.json", "count.txt"}
    with pytest.raises(FieldError) as e:
        runs.create_run({"kind": "count", "to": 11}, tmp_path)
    assert e.value.field == "to" and str(e.value) == "Argument `to` must be an integer >= 1 and <= 10. Received: to=11"
    with pytest.raises(ValueError, match="is an count; its LR cannot be changed"):
        runs.set_lr(rid, tmp_path, factor=0.5)


def test_a_failing_job_is_marked_failed_with_its_progress_kept(with_count, tmp_path, monkeypatch):
    def boom(ctx):
        ctx.status.write(n=2)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(CountJob, "run", classmethod(lambda cls, ctx: boom(ctx)))
    rid = runs.create_run({"kind": "count"}, tmp_path)
    assert run_worker(tmp_path / rid, install_signals=False) == "failed"
    st = json.loads((tmp_path / rid / "status.json").read_text())
    assert st["state"] == "failed" and st["error"] == "RuntimeError: disk on fire" and st["n"] == 2


def test_the_store_knows_no_kinds():
    kinds = set(jobs.JOBS) | {"lr-find"}
    for f in (PKG / "store").glob("*.py"):
        imported = [mod for mod, _ in _imports(f)]
        assert all(m == "lrviz.store" or m.startswith(("lrviz.store.", "lrviz.errors", "lrviz.settings"))
                   for m in imported), (f.name, imported)
        strings = {n.value for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.Constant)}
        assert not strings & kinds, (f.name, strings & kinds)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from lrviz... import ...`` / ``import lrviz...`` in a file."""
    out = []
    gc.disable()  # a big test process (TensorFlow loaded) makes every collection of the AST nodes slow
    try:
        tree = ast.parse(path.read_text())
    finally:
        gc.enable()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lrviz"):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("lrviz")]
    return out


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_a_private_name_of_another():
    bad = [f"{_module_name(f)}: from {mod} import {name}"
           for f in PKG.rglob("*.py") for mod, names in _imports(f) for name in names if name.startswith("_")]
    assert not bad, bad


def test_no_import_cycles_between_modules():
    modules = {_module_name(f): f for f in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, f in modules.items():
        deps = set()
        for mod, names in _imports(f):
            for target in [f"{mod}.{n}" for n in names] + [mod]:
                if target in modules and target != name:
                    deps.add(target)
                    break
        graph[name] = deps
    # a package's __init__ re-exporting its own submodules is not a cycle worth naming
    for name in graph:
        graph[name] = {d for d in graph[name] if not (d.startswith(name + ".") or name.startswith(d + "."))}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in graph[n]:
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_group_members_run_beside_their_group_and_others_are_told_the_group(tmp_path):
    """A tournament's trials: runs created with ``group`` are not blocked by their group's run
    nor by each other; anyone else is told the group's run is busy."""
    head = runs.create_run({"limit": 100}, tmp_path)
    a = runs.create_run({"limit": 100}, tmp_path, group=head)
    b = runs.create_run({"limit": 100}, tmp_path, group=head)
    assert runs.load_run(a, tmp_path).config["group"] == head == runs.load_run(b, tmp_path).status["group"]
    with pytest.raises(runs.RunBusyError, match=f"Run {head} is queued"):
        runs.create_run({}, tmp_path)
    with pytest.raises(runs.RunBusyError):
        runs.create_run({}, tmp_path, group="someone-else")


def test_on_step_sees_each_epoch_row_and_can_stop_the_run(tmp_path, monkeypatch):
    rid = runs.create_run({"limit": 100, "batch_size": 32, "epochs": 5}, tmp_path)
    seen = []

    def on_step(row):
        seen.append((row["epoch"], round(row["val_accuracy"], 6)))
        return row["epoch"] == 2  # a pruner's answer after epoch 2

    assert run_worker(tmp_path / rid, verbose=0, install_signals=False, on_step=on_step) == "stopped"
    hist = runs.load_run(rid, tmp_path).history
    assert [e for e, _ in seen] == [1, 2] == list(hist["epoch"])
    assert [v for _, v in seen] == [round(v, 6) for v in hist["val_accuracy"]]
