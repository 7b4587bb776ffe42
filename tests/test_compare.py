"""lrviz.compare: the runs table, what differs between runs, whether a run diverged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lrviz import compare
from lrviz import runs as runs_api


def test_runs_table_rows_and_values(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    t = compare.runs_table(runs_dir)
    assert list(t.columns) == compare.RUN_TABLE_COLUMNS
    assert t["run"].tolist() == [b, a]  # newest first
    row = t.set_index("run").loc[a]
    hist = pd.read_csv(runs_dir / a / "history.csv")
    assert row["best validation accuracy"] == pytest.approx(hist["val_accuracy"].max())
    assert row["final validation accuracy"] == pytest.approx(hist["val_accuracy"].iloc[-1])
    assert row["differs"] == "factor=0.25"
    assert row["state"] == "finished" and row["progress"] == "5/5 epochs" and row["dataset"] == "digits"
    assert "factor=0.25" in row["schedule"]


def test_unreadable_run_is_a_row_with_its_problem(runs_dir_with_two):
    runs_dir, (a, b) = runs_dir_with_two
    (runs_dir / a / "config.json").write_text('{"trunc')
    (runs_dir / b / "history.csv").write_text("")
    t = compare.runs_table(runs_dir).set_index("run")
    assert "config.json" in t.loc[a, "problem"]
    assert "history.csv" in t.loc[b, "problem"]


# ---------------------------------------------------------------- what differs between runs

BASE = {"dataset": "digits", "limit": 300, "batch_size": 64, "seed": 42, "epochs": 5, "parent": None,
        "schedule": {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}},
        "lr_overrides": [], "id": "x", "created_at": 1.0, "versions": {"keras": "3"}}


def _with(**changes):
    cfg = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        if key in ("factor", "lr"):
            cfg["schedule"]["params"][key] = value
        else:
            cfg[key] = value
    return cfg


def test_config_differences_names_only_what_varies():
    configs = {
        "a": _with(id="a", created_at=1.0),
        "b": _with(id="b", created_at=2.0, batch_size=32, factor=0.25),
        "c": _with(id="c", created_at=3.0, limit=None, parent="20261125-212500-digits-step-3d6c",
                   lr_overrides=[{"epoch": 3, "batch": 1, "kind": "factor", "value": 0.5}]),
    }
    d = compare.config_differences(configs)
    # what a run leaves at nothing ("fresh start", "overrides: none") is not a difference worth a label
    assert d["a"] == "subset 300 · batch 64 · factor=0.5"
    assert d["b"] == "subset 300 · batch 32 · factor=0.25"
    assert d["c"] == "all images · batch 64 · from 212500-3d6c · factor=0.5 · overrides: LR×0.5 at epoch 3"
    assert compare.config_differences({"a": configs["a"], "a2": _with(id="a2")}) == {"a": "", "a2": ""}
    assert compare.config_differences({"a": configs["a"]}) == {"a": ""}


def test_labels_say_only_what_differs_and_is_set():
    """Issue 19: "time_keras2 · decay=0.00025 · overrides: none · factor=– · drop_every=–"."""
    from lrviz.schedules import Schedule

    time_based = {**_with(), "schedule": Schedule.create("time_keras2", {"decay": 0.00025}).to_config()}
    step = _with(factor=0.5, lr_overrides=[{"epoch": 3, "batch": 1, "kind": "value", "value": 0.002}])
    labels = compare.comparison_labels({"t": time_based, "s": step})
    assert labels == {"t": "time_keras2 · decay=0.00025",
                      "s": "step · factor=0.5 · drop_every=5 · overrides: LR=0.002 at epoch 3"}
    # a run whose only difference is leaving something at nothing still says so
    assert compare.config_differences({"a": _with(), "b": step}) == {
        "a": "overrides: none", "b": "overrides: LR=0.002 at epoch 3"}


def test_run_letters_are_short_column_names():
    assert compare.run_letters(["x", "y", "z"]) == {"x": "A", "y": "B", "z": "C"}
    many = compare.run_letters([str(i) for i in range(28)])
    assert (many["0"], many["25"], many["26"], many["27"]) == ("A", "Z", "AA", "AB")


def test_comparison_labels_fall_back_to_the_short_id():
    same = {"20261125-101010-digits-step-aaaa": _with(), "20261125-111111-digits-step-bbbb": _with()}
    assert list(compare.comparison_labels(same).values()) == ["101010-aaaa", "111111-bbbb"]
    differ = {"r1": _with(factor=0.25), "r2": _with(factor=0.5)}
    assert compare.comparison_labels(differ) == {"r1": "factor=0.25", "r2": "factor=0.5"}


def test_share_link_is_absolute_when_the_page_url_is_known():
    url = "http://127.0.0.1:8501/runs"
    assert compare.share_link(url, run="r1") == "http://127.0.0.1:8501/runs?run=r1"
    assert compare.share_link(url + "?run=old", compare=["a", "b"]) == "http://127.0.0.1:8501/runs?compare=a,b"
    assert compare.share_link(None, run="r1") == "runs?run=r1"


# ---------------------------------------------------------------- diverged runs


def _hist(loss, val_accuracy=None, val_loss=None):
    n = len(loss)
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "loss": loss,
                         "val_loss": val_loss if val_loss is not None else np.linspace(2, 1, n),
                         "val_accuracy": val_accuracy if val_accuracy is not None else np.linspace(0.3, 0.9, n)})


@pytest.mark.parametrize("hist, why", [
    (_hist([2.3, 1.0, np.nan]), "training loss became NaN at epoch 3"),
    (_hist([2.3, 1.0, 0.8], val_loss=[2.0, np.inf, 1.0]), "validation loss became infinite at epoch 2"),
    (_hist([2.3, 0.4, 1e10]), "training loss ended at 1e+10"),
    (_hist([2.3, 2.3, 2.3], val_accuracy=[0.1, 0.1, 0.1]), "at chance (0.10; guessing among 10 classes gets 0.10)"),
])
def test_divergence_finds_each_rule(hist, why):
    assert why in compare.divergence(hist, 10)


@pytest.mark.parametrize("hist", [
    _hist([2.3, 1.0, 0.5]),
    _hist([2.0, 0.01, 0.15]),  # 15x its minimum but below its start: noise, not divergence
    _hist([2.3, 50.0, 0.4]),  # a spike it recovered from
    _hist([]),
    _hist([3.8, 3.0], val_accuracy=[0.12, 0.06]),  # 2 epochs, at chance but its loss falls: still learning
])
def test_divergence_leaves_healthy_runs_alone(hist):
    assert compare.divergence(hist, 10) is None


def test_divergence_chance_rule_needs_the_class_count():
    at_chance = _hist([2.3, 2.3], val_accuracy=[0.5, 0.5])
    assert compare.divergence(at_chance, 2) and compare.divergence(at_chance, None) is None
    assert compare.divergence(at_chance, 10) is None


def test_runs_table_marks_a_diverged_run(runs_dir_with_two):
    from fakes import fabricate_run

    runs_dir, (a, b) = runs_dir_with_two
    bad = fabricate_run(runs_dir, diverged=True)
    states = compare.runs_table(runs_dir).set_index("run")["state"]
    assert states[bad] == "finished · diverged" and states[a] == "finished"


def test_loss_spans_decades():
    calm = {"a": _hist([2, 1, 0.5], val_loss=[2, 1, 0.5])}
    wild = {**calm, "b": _hist([2, 1e10, 1e10], val_loss=[2, 3e9, np.nan])}
    assert not compare.loss_spans_decades(calm) and compare.loss_spans_decades(wild)
    assert not compare.loss_spans_decades({})


def test_names_people_gave_label_comparisons_before_what_differs(tmp_path):
    from fakes import fabricate_run

    a = fabricate_run(tmp_path, factor=0.25)
    b = fabricate_run(tmp_path, factor=0.5)
    c = fabricate_run(tmp_path, factor=0.75)
    assert runs_api.set_run_name(a, "  quarter  ", tmp_path) == "quarter"
    runs_api.set_run_name(b, "half", tmp_path)
    configs = {r: runs_api.load_run(r, tmp_path).config for r in (a, b, c)}
    names = {r: runs_api.load_run(r, tmp_path).name for r in (a, b, c)}
    labels = compare.comparison_labels(configs, names)
    assert labels[a] == "quarter" and labels[b] == "half" and "0.75" in labels[c]
    table = compare.runs_table(tmp_path)
    assert dict(zip(table["run"], table["name"])) == {a: "quarter", b: "half", c: ""}
    runs_api.set_run_name(a, "", tmp_path)
    assert runs_api.load_run(a, tmp_path).name is None
    with pytest.raises(ValueError, match="Argument `name` must be one line of at most 60 characters"):
        runs_api.set_run_name(b, "x" * 61, tmp_path)
    assert runs_api.load_run(b, tmp_path).name == "half"  # a bad name loses nothing


def test_a_name_that_reads_like_another_runs_differences_keeps_both_runs():
    """Labels key the compared curves: a name equal to another run's label would drop that run."""
    from lrviz.compare import comparison_labels
    from lrviz.schedules import Schedule

    configs = {rid: {"schedule": Schedule.create("step", {"factor": f}).to_config()}
               for rid, f in (("a-1", 0.25), ("b-2", 0.5), ("c-3", 0.75))}
    plain = comparison_labels(configs)
    labels = comparison_labels(configs, {"c-3": plain["a-1"]})
    assert len(set(labels.values())) == 3
    assert labels["b-2"] == plain["b-2"] and plain["a-1"] in labels["a-1"] and plain["a-1"] in labels["c-3"]
    huge = comparison_labels(configs, {"a-1": "x" * 1_000_000})
    assert max(len(v) for v in huge.values()) <= 170


def test_the_filter_keeps_the_rows_holding_every_word_in_any_case():
    rows = [("r1", "baseline", "finished", "Step decay (lr=0.01, factor=0.25, drop_every=2)", "Training", "digits",
             "factor=0.25"),
            ("r2", "", "failed", "Step decay (lr=0.01, factor=0.5, drop_every=2)", "Training", "cifar10",
             "factor=0.5"),
            ("r3", "My CIFAR try", "finished · diverged", "Constant (lr=0.5)", "Training", "cifar10", ""),
            ("r4", None, "finished", None, "LR range test", "digits", "")]
    table = pd.DataFrame([dict(zip(("run", "name", "state", "schedule", "kind", "dataset", "differs"), r))
                          for r in rows], columns=compare.RUN_TABLE_COLUMNS)
    kept = {q: compare.filter_runs(table, q)["run"].tolist() for q in
            ("", "   ", "STEP", "step failed", "cifar 0.5", "diverged", "range", "my cifar", "r4", "nothing")}
    assert kept == {"": ["r1", "r2", "r3", "r4"], "   ": ["r1", "r2", "r3", "r4"], "STEP": ["r1", "r2"],
                    "step failed": ["r2"], "cifar 0.5": ["r2", "r3"], "diverged": ["r3"], "range": ["r4"],
                    "my cifar": ["r3"], "r4": ["r4"], "nothing": []}
    assert compare.filter_runs(table, "(lr=0.5)")["run"].tolist() == ["r3"]  # words are text, not patterns
    assert list(compare.filter_runs(table, "step").columns) == compare.RUN_TABLE_COLUMNS
