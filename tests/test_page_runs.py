"""AppTest of the Runs page on fabricated runs (no worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import plotly_values, shown
from streamlit.testing.v1 import AppTest

from lrviz import runs as runs_api

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")


@pytest.fixture()
def two(runs_dir_with_two, monkeypatch):
    runs_dir, ids = runs_dir_with_two
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", runs_dir)
    return runs_dir, ids


def test_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
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
    assert any(f"Cannot open run {bad}" in shown(e.value) for e in at.error)


def test_compare_two_runs(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    assert not at.exception
    assert any("Compare 2 runs" in h.value for h in at.subheader)
    assert len(at.get("plotly_chart")) == 6  # 5 curves + Δ per class
    # the side-by-side report: one small table per metric (f1-score first), a column per run
    assert len(at.dataframe) == 4  # the runs table, then f1-score, precision, recall
    assert all(list(df.value.columns) == ["class", "A", "B", "B − A"] for df in at.dataframe[1:])


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
    assert any("Start at 0.0085 (steepest descent rule)" in m.value for m in at.markdown)  # lr_find.SUGGESTIONS
    # The same view as on the Train page: its "Use as lr" hands the value to the Train form.
    at.button(key="runs_find_apply_steepest").click().run()
    assert at.session_state["_page_inbox"]["train"]["finder_lr"] == [0.0085]
    assert any("Sent 0.0085 to the Train page" in s.value for s in at.success)


def test_lr_find_buttons_name_the_train_forms_parameter_as_the_train_page_published_it(two):
    """Drawn on the Runs page, "Use as ..." names the parameter of the Train form's schedule, which
    the Train page publishes (ui/page_state.publish), never read from that page's widget keys."""
    from fakes import fabricate_lr_find

    runs_dir, _ = two
    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.session_state["tr_s_name"] = "one_cycle"  # the Train page's own key: not the Runs page's to read
    at.run()
    assert at.button(key="runs_find_apply_steepest").label == "Use as lr"  # nothing published: the default form
    app = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=60).run()
    app.switch_page("pages/train.py").run()
    app.selectbox(key="tr_s_name").set_value("one_cycle").run()  # a cyclic schedule: its peak takes the LR
    app.query_params["run"] = rid
    app.switch_page("pages/runs.py").run()
    assert not app.exception
    assert app.button(key="runs_find_apply_steepest").label == "Use as max_lr"


# ---------------------------------------------------------------- issue 13: what a learner sees


def _spec(chart) -> dict:
    import json

    return json.loads(chart.proto.spec)


_values = plotly_values


def _chart(at, title: str) -> dict:
    specs = [_spec(c) for c in at.get("plotly_chart")]
    return next(s for s in specs if (s["layout"].get("title") or {}).get("text", "").startswith(title))


def test_table_cells_never_read_none_and_progress_says_its_unit(two):
    from fakes import fabricate_lr_find

    runs_dir, (a, b) = two
    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    df = at.dataframe[0].value.set_index("run")
    # st.dataframe draws a missing value as "None": text columns are blank instead, and a missing
    # accuracy (an LR range test has none) sits in a progress bar, which draws it blank
    text = df.drop(columns=["best validation accuracy", "final validation accuracy"])
    assert not text.isna().any().any() and set(df["problem"]) == {""}
    assert df.loc[rid, "duration (s)"] == "9.0" and df.loc[a, "started at"][:2] == "20"
    assert at.dataframe[0].proto.columns  # column config sent
    import json

    config = json.loads(at.dataframe[0].proto.columns)
    assert all(config[c]["type_config"]["type"] == "progress"
               for c in ("best validation accuracy", "final validation accuracy"))
    assert df.loc[a, "progress"] == "5/5 epochs" and df.loc[rid, "progress"] == "40/40 batches"
    assert "epochs" not in df.columns


def test_one_wording_for_the_held_out_set(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = a
    at.run()
    cols = list(at.dataframe[0].value.columns)
    assert "best validation accuracy" in cols and not any("val_acc" in c for c in cols)
    shown = " ".join([s.value for s in at.success] + [c.value for c in at.caption] + [m.value for m in at.markdown])
    assert "validation accuracy" in shown and "test accuracy" not in shown and "val_acc" not in shown
    assert "held-out **test split**" in shown  # said once, next to the report
    names = [t["name"] for t in _chart(at, "Accuracy")["data"]]
    assert names == ["training accuracy", "validation accuracy"]


def test_table_says_what_differs_between_runs(tmp_path, monkeypatch):
    from fakes import fabricate_run

    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    a = fabricate_run(tmp_path, factor=0.5, batch_size=32)
    b = fabricate_run(tmp_path, factor=0.5, batch_size=64, limit=None)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    differs = at.dataframe[0].value.set_index("run")["differs"]
    assert differs[a] == "subset 300 · batch 32" and differs[b] == "all images · batch 64"


def test_comparison_table_blank_cells_whole_class_names_and_labels(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    assert not at.exception
    f1, precision = (df.value.set_index("class") for df in at.dataframe[1:3])  # f1-score first
    assert list(f1.index[-3:]) == ["accuracy", "macro avg", "weighted avg"]  # a column, full names
    assert precision.loc["accuracy", "A"] == "" and precision.loc["accuracy", "B − A"] == ""  # not "None"
    assert float(f1.loc["accuracy", "A"]) > 0
    # legends name runs by a letter and what differs between them, not by ids
    names = [t["name"] for t in _chart(at, "Validation accuracy")["data"]]
    assert names == ["A · factor=0.25", "B · factor=0.5"]


def test_compared_runs_are_letters_with_a_legend_of_what_sets_them_apart(tmp_path, monkeypatch):
    """Issue 19: the report's headers were whole labels ("precision · time_keras2 · decay=0.00025 ·
    overrides: none · factor=– · drop_every=–"), ~500 px each. Now a letter a run, and the letters'
    legend says only what differs and is set."""
    from fakes import fabricate_run

    from lrviz.schedules import Schedule

    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    a = fabricate_run(tmp_path, schedule=Schedule.create("time_keras2", {"decay": 0.00025}).to_config())
    b = fabricate_run(tmp_path, factor=0.5)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    assert not at.exception
    legend = next(shown(m.value) for m in at.markdown if a in m.value)
    assert legend == f"**A** · time_keras2 · decay=0.00025 · `{a}`  \n**B** · step · factor=0.5 · drop_every=2 · `{b}`"
    for df in at.dataframe[1:]:  # f1-score, precision, recall
        assert list(df.value.columns) == ["class", "A", "B", "B − A"]
    assert "–" not in legend and "overrides" not in legend


def test_per_class_delta_chart_beside_the_table(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    bars = _chart(at, "Δ f1-score per class")
    (trace,) = bars["data"]
    assert trace["type"] == "bar" and trace["name"] == "B − A"
    ra, rb = runs_api.load_run(a, runs_dir).extras["report"], runs_api.load_run(b, runs_dir).extras["report"]
    classes = [str(i) for i in range(10)]
    assert list(trace["x"]) == classes
    expected = (rb["f1-score"] - ra["f1-score"]).loc[classes].to_numpy()
    assert _values(trace["y"]) == pytest.approx(list(expected))
    from lrviz.charts import GAIN, LOSS

    colours = trace["marker"]["color"]
    assert all(c == GAIN for c, d in zip(colours, expected) if d >= 0.005)
    assert all(c == LOSS for c, d in zip(colours, expected) if d <= -0.005)
    assert any("green where it is better than A, red where it is worse" in c.value for c in at.caption)


def test_lr_range_test_can_be_deleted(two):
    from fakes import fabricate_lr_find

    runs_dir, (a, b) = two
    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    next(x for x in at.button if x.label == "Delete run").click().run()
    assert (runs_dir / rid).exists()  # only the dialog so far
    next(x for x in at.button if x.label == "Delete").click().run()
    assert not (runs_dir / rid).exists() and (runs_dir / a).exists()


def test_diverged_run_says_so_everywhere(two):
    from fakes import fabricate_run

    runs_dir, (a, b) = two
    bad = fabricate_run(runs_dir, factor=0.5, diverged=True)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = bad
    at.run()
    assert not at.exception
    assert not at.success  # no green "Finished"
    assert any("Diverged" in e.value and "NaN" in e.value for e in at.error)
    assert any("badge[" in m.value and "Diverged" in m.value for m in at.markdown)  # the header's badge
    states = at.dataframe[0].value.set_index("run")["state"]
    assert states[bad] == "finished · diverged" and states[a] == "finished"


def test_compare_offers_log_loss_on_by_default_when_a_run_exploded(two):
    from fakes import fabricate_run

    runs_dir, (a, b) = two
    bad = fabricate_run(runs_dir, factor=0.1, diverged=True)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{bad}"
    at.run()
    assert at.toggle(key="cmp_log_loss").value is True
    assert _chart(at, "Validation loss")["layout"]["yaxis"]["type"] == "log"
    at.toggle(key="cmp_log_loss").set_value(False).run()
    assert _chart(at, "Validation loss")["layout"]["yaxis"].get("type") in (None, "linear", "-")


def test_compare_epoch_axis_ticks_whole_epochs(tmp_path, monkeypatch):
    from fakes import fabricate_run

    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    a, b = fabricate_run(tmp_path, factor=0.25, epochs=2), fabricate_run(tmp_path, factor=0.5, epochs=2)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["compare"] = f"{a},{b}"
    at.run()
    xaxis = _chart(at, "Validation accuracy")["layout"]["xaxis"]
    assert xaxis["dtick"] == 1 and xaxis["tick0"] == 1 and xaxis["tickmode"] == "linear"


def test_a_run_can_be_named_and_the_table_says_it(two):
    runs_dir, (a, b) = two
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = a
    at.run()
    at.text_input(key=f"runs_name_{a}").set_value("F=0.25 baseline").run()
    assert not at.exception and runs_api.load_run(a, runs_dir).name == "F=0.25 baseline"
    assert any("F=0.25 baseline" in shown(m.value) for m in at.markdown)  # the run's header
    at.run()
    table = at.dataframe[0].value
    assert dict(zip(table["run"], table["name"]))[a] == "F=0.25 baseline"
    at.text_input(key=f"runs_name_{a}").set_value("y" * 70).run()
    assert any("The name must be one line of at most 60 characters" in e.value for e in at.error)
    assert runs_api.load_run(a, runs_dir).name == "F=0.25 baseline"


def test_continue_proposes_the_runs_own_total_and_says_what_the_next_epoch_trains_at(runs_dir):
    """A run stopped at 7 of 15 goes on to 15 (not 17); a new initial LR says the LR the next epoch
    really trains at (the schedule's own epoch 8, rescaled: the explorer's Schedule is the oracle)."""
    from fakes import fabricate_run

    from lrviz.schedules import Schedule

    rid = fabricate_run(runs_dir, epochs=15, state="stopped")
    (runs_dir / rid / "model.keras").write_bytes(b"a model")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    total = next(n for n in at.number_input if n.label == "Total epochs to reach")
    assert total.value == 15
    lr = next(n for n in at.number_input if n.label == "Initial LR of the schedule")
    lr.set_value(0.005).run()
    oracle = Schedule.create("step", {"lr": 0.005, "factor": 0.5, "drop_every": 2}).at_epoch(7, 10)
    assert oracle == 0.005 / 16
    assert any(f"Epoch 8 trains at {oracle:.6g}: the schedule goes on at its own epoch 8" in c.value
               for c in at.caption)


def test_a_run_that_failed_before_its_first_epoch_says_so_in_one_sentence(runs_dir):
    from fakes import fabricate_run

    rid = fabricate_run(runs_dir, epochs=5, state="failed")
    (runs_dir / rid / "history.csv").unlink()
    status = runs_api.read_json(runs_dir / rid / "status.json")
    runs_api.atomic_write_json(runs_dir / rid / "status.json", {**status, "error": "The CIFAR-10 archive is missing."})
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    (error,) = [shown(e.value) for e in at.error]
    assert error == "The run failed: The CIFAR-10 archive is missing. No epoch finished before it did."
    # Issue 19: no empty Loss / Accuracy / Learning rate charts "waiting for the first epoch to
    # finish…" under that sentence: the run will never have one.
    titles = [(_spec(c)["layout"].get("title") or {}).get("text", "") for c in at.get("plotly_chart")]
    notes = [a.get("text") for c in at.get("plotly_chart") for a in _spec(c)["layout"].get("annotations", ())]
    assert not {"Loss", "Accuracy", "Learning rate"} & set(titles), titles
    assert not [n for n in notes if "waiting" in (n or "")], notes
