"""AppTest of the Tournament page on a tournament folder written without training."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fakes import fabricate_run, markup, run_page, shown
from streamlit.testing.v1 import AppTest

from lrviz import runs as runs_api
from lrviz.jobs.tournament import tournament_config
from lrviz.tournament import preset

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "tournament.py")


def page() -> AppTest:
    return run_page("tournament")


def test_empty_page_offers_the_tutorial_preset(runs_dir):
    at = page()
    assert not at.exception
    assert at.radio(key="tn_source").value == "tutorial"
    assert any("4 schedule(s)" in c.value and "Step decay" in c.value for c in at.caption)
    launch = next(b for b in at.button if b.key == "tn_launch")
    assert launch.label == "Launch 12 trials" and not launch.disabled
    assert any("No tournament yet" in i.value for i in at.info)


def test_launch_passes_the_form_to_the_engine(runs_dir, monkeypatch):
    got = {}
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: got.setdefault("cfg", cfg) and "t-1")
    at = page()
    at.number_input(key="tn_seeds").set_value(2).run()
    at.number_input(key="tn_epochs").set_value(3).run()
    at.number_input(key="tn_limit").set_value(200).run()
    next(b for b in at.button if b.key == "tn_launch").click().run()
    cfg = got["cfg"]
    assert cfg["kind"] == "tournament" and cfg["seeds"] == 2 and cfg["epochs"] == 3 and cfg["limit"] == 200
    assert cfg["schedules"] == preset("tutorial")["schedules"]


def test_target_accuracy_is_empty_by_default_and_shows_the_datasets_default(runs_dir, monkeypatch):
    """It read '0.00' (meaning 'by the dataset'): empty now, the default the tournament will use
    greyed in it (0.95 on digits, 0.70 on CIFAR-10: the leaderboard's TARGET_ACCURACY), and a
    value typed is launched as it is."""
    got = []
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: got.append(cfg) or "t-1")
    at = page()
    target = at.number_input(key="tn_target")
    assert target.value is None and target.proto.placeholder == "0.95"
    at.selectbox(key="tn_dataset").set_value("cifar10").run()
    assert at.number_input(key="tn_target").proto.placeholder == "0.70"
    at.selectbox(key="tn_dataset").set_value("digits").run()
    next(b for b in at.button if b.key == "tn_launch").click().run()
    at.number_input(key="tn_target").set_value(0.9).run()
    next(b for b in at.button if b.key == "tn_launch").click().run()
    assert [c["target_accuracy"] for c in got] == [0.95, 0.9] and not at.exception  # the default, recorded


def test_workers_is_empty_by_default_and_launches_as_auto(runs_dir, monkeypatch):
    """Empty: the engine sizes it (1 on a CPU, by the free memory on a GPU); a number is kept."""
    got = []
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: got.append(cfg) or "t-1")
    at = page()
    workers = at.number_input(key="tn_workers")
    assert workers.value is None
    assert "empty: 1 on a CPU, one per 2 GiB of free GPU memory on a GPU" in workers.help
    next(b for b in at.button if b.key == "tn_launch").click().run()
    at.number_input(key="tn_workers").set_value(2).run()
    next(b for b in at.button if b.key == "tn_launch").click().run()
    assert [c["workers"] for c in got] == [None, 2] and not at.exception


def test_a_bad_value_is_said_and_launch_disabled(runs_dir):
    at = page()
    at.number_input(key="tn_seeds").set_value(0).run()
    # plain words, as on the Train page (Keras' "Argument `seeds` must be an integer >= 1 ..." is the CLI's)
    assert [shown(e.value) for e in at.error] == ["Seeds must be a whole number of at least 1 and at most 100."]
    assert next(b for b in at.button if b.key == "tn_launch").disabled


def test_own_images_and_a_model_on_the_tournament_page(runs_dir, tmp_path, monkeypatch):
    """The same own-data inputs as the Train page's (ui/own_data_inputs.py): what the data holds
    under the path, a bad folder under the Data field, the model's rule under the Model field, and
    the tournament's config carries the data and the model to every trial."""
    from own_data_fixtures import write_class_folder

    got = {}
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: got.setdefault("cfg", cfg) and "t-3")
    root = write_class_folder(tmp_path / "shapes", per_class=6)
    one = write_class_folder(tmp_path / "one", classes=("only",), per_class=2)
    at = page()
    at.selectbox(key="tn_dataset").set_value("own").run()
    at.text_input(key="tn_data").set_value(str(one)).run()
    assert not at.exception
    assert any(e.value.startswith("Your data must be") and "at least 2 class subfolders" in e.value for e in at.error)
    assert next(b for b in at.button if b.key == "tn_launch").disabled
    at.text_input(key="tn_data").set_value(str(root)).run()
    assert any("shapes: 18 images (8x8x3) in 3 classes" in shown(c.value) for c in at.caption)
    at.text_input(key="tn_model").set_value("MobileNetV2").run()
    assert any(e.value.startswith("Model") and "needs at least 32x32" in e.value for e in at.error), \
        [e.value for e in at.error]
    at.text_input(key="tn_image_size").set_value("32").run()
    assert not at.error
    next(b for b in at.button if b.key == "tn_launch").click().run()
    cfg = got["cfg"]
    assert (cfg["kind"], cfg["dataset"], cfg["data"], cfg["image_size"], cfg["model"]) == \
        ("tournament", "own", str(root.resolve()), "32,32", "MobileNetV2")


def test_folder_and_class_names_show_as_written_not_as_markdown(runs_dir, tmp_path):
    """As on the Train page: a class folder named in Markdown (the error's hint, the button's help)
    and the data's folder (the caption) show their characters, no image and no bold."""
    from own_data_fixtures import write_class_folder

    name = "![x](t.png) **b**"  # an image (a folder name holds no "/", so a relative URL) and bold
    at = page()
    at.selectbox(key="tn_dataset").set_value("own").run()
    at.text_input(key="tn_data").set_value(str(write_class_folder(tmp_path / "one", classes=(name,)))).run()
    (error,) = [e.value for e in at.error if "class subfolders" in e.value]
    assert f"It has 1 ({name})" in shown(error) and markup(error) == set(), error
    launch = next(b for b in at.button if b.key == "tn_launch")
    assert launch.disabled and markup(launch.help) == set() and name in shown(launch.help)
    at.text_input(key="tn_data").set_value(str(write_class_folder(tmp_path / name, per_class=6))).run()
    (words,) = [c.value for c in at.caption if "18 images" in c.value]
    assert shown(words).startswith(f"{name}: 18 images (8x8x3) in 3 classes") and markup(words) == set()


def test_an_npz_uploaded_on_the_tournament_page_becomes_its_data(runs_dir, tmp_path, monkeypatch):
    from own_data_fixtures import write_npz

    monkeypatch.setenv("LRVIZ_DATA_DIR", str(tmp_path / "uploads"))
    content = write_npz(tmp_path / "arrays.npz").read_bytes()
    at = page()
    at.selectbox(key="tn_dataset").set_value("own").run()
    at.file_uploader(key="tn_upload").set_value(("arrays.npz", content, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (kept,) = (tmp_path / "uploads").iterdir()
    assert kept.read_bytes() == content and at.text_input(key="tn_data").value == str(kept)


def _finished_tournament(runs_dir, last: str = "complete", workers: int | None = None) -> str:
    """A finished tournament's folder as the job writes it: two schedules x two seeds, each trial
    a fabricated training run in the tournament's group; ``last``: the state of the last trial
    (``stopped``: its run stopped; ``running``: its run runs, in this process)."""
    cfg = tournament_config([{"name": "step", "params": {"factor": 0.25}}, {"name": "step", "params": {"factor": 0.5}}],
                            seeds=2, epochs=4, workers=workers)
    tid = runs_api.create_run(cfg, runs_dir)
    trials = []
    for i, (factor, seed, acc) in enumerate([(0.25, 1, 0.70), (0.25, 2, 0.72), (0.5, 1, 0.80), (0.5, 2, 0.82)]):
        state = last if i == 3 else "complete"
        rid = fabricate_run(runs_dir, factor=factor, seed=seed, accuracy=acc, epochs=4, group=tid,
                            state={"complete": "finished"}.get(state, state))
        if state == "running":
            import os

            st = json.loads((runs_dir / rid / "status.json").read_text())
            st.update(pid=os.getpid(), pid_create_time=None)
            (runs_dir / rid / "status.json").write_text(json.dumps(st))
        trials.append({"number": i, "schedule": f"Step decay (lr=0.01, factor={factor}, drop_every=5)", "seed": seed,
                       "state": state, "value": acc if state == "complete" else None, "run_id": rid})
    pd.DataFrame(trials).to_csv(runs_dir / tid / "trials.csv", index=False)
    board = [{"rank": 1, "schedule": trials[2]["schedule"], "mean_val_accuracy": 0.81, "std_val_accuracy": 0.01414,
              "trials": 2, "best_epoch": 4, "notes": "", "schedule_index": 1},
             {"rank": 2, "schedule": trials[0]["schedule"], "mean_val_accuracy": 0.71, "std_val_accuracy": 0.01414,
              "trials": 2, "best_epoch": 4, "notes": "", "schedule_index": 0}]
    pd.DataFrame(board).to_csv(runs_dir / tid / "leaderboard.csv", index=False)
    (runs_dir / tid / "verdict.json").write_text(json.dumps({"text": "Step decay F=0.5 leads: a clear win.",
                                                             "decisive": True}))
    st = json.loads((runs_dir / tid / "status.json").read_text())
    st.update(state="finished", trials_done=4, trials_total=4)
    (runs_dir / tid / "status.json").write_text(json.dumps(st))
    return tid


def test_a_finished_tournament_shows_leaderboard_verdict_curves_and_uses_the_winner(runs_dir):
    tid = _finished_tournament(runs_dir)
    at = page()
    assert not at.exception
    assert any(tid in m.value for m in at.markdown)
    assert any("a clear win" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert list(table["rank"]) == [1, 2] and table["mean validation accuracy"].iloc[0] == 0.81
    # 4 epochs of two step decays with D=5: the same LR at every batch, so the result is a tie
    (tie,) = [shown(i.value) for i in at.info if "can only tie" in shown(i.value)]
    assert "Step decay (factor=0.25), Step decay (factor=0.5)" in tie and "part at epoch 5" in tie
    charts = at.get("plotly_chart")
    spec = json.loads(charts[0].proto.spec)
    assert len(spec["data"]) == 4  # one validation-accuracy line per trial
    # in the app (its navigation): the winner takes the learner to Train, with it as the schedule
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
    app.switch_page("pages/tournament.py").run()
    next(b for b in app.button if b.key == "tn_winner").click().run()
    assert not app.exception
    assert app.title[0].value.startswith("Train")
    winner_config = {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}
    assert app.session_state["_page_inbox"]["explorer"]["curve"] == [winner_config]  # the explorer's, still waiting
    assert app.session_state["tr_s_name"] == "step" and app.session_state["tr_s_factor"] == 0.5
    assert [t.value for t in app.toast] == ["The tournament's winner is this run's schedule: "
                                            "Step decay (lr=0.01, factor=0.5, drop_every=5)."]


@pytest.mark.parametrize("workers", [None, 3, "absent"], ids=["auto", "3", "absent"])
def test_a_stopped_tournament_offers_resume_and_a_finished_one_does_not(runs_dir, monkeypatch, workers):
    """The resume runs with the parent's recorded workers: None (auto-sized) stays None, and so
    does a config.json without the key (the setting's default, as the engine reads it)."""
    tid = _finished_tournament(runs_dir)
    assert not any(b.key == "tn_resume" for b in page().button)
    import shutil

    shutil.rmtree(runs_dir)
    runs_dir.mkdir()
    tid = _finished_tournament(runs_dir, last="stopped", workers=None if workers == "absent" else workers)
    if workers == "absent":
        parent = json.loads((runs_dir / tid / "config.json").read_text())
        del parent["workers"]
        (runs_dir / tid / "config.json").write_text(json.dumps(parent))
        workers = None
    st = json.loads((runs_dir / tid / "status.json").read_text())
    st.update(state="stopped", trials_done=3)
    (runs_dir / tid / "status.json").write_text(json.dumps(st))
    got = {}
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: got.setdefault("cfg", cfg) and "t-2")
    at = page()
    resume = next(b for b in at.button if b.key == "tn_resume")
    assert resume.label == "Resume: run the 1 trial(s) left"
    resume.click().run()
    assert got["cfg"]["kind"] == "tournament" and got["cfg"]["parent"] == tid
    assert got["cfg"]["workers"] == workers and not at.exception


def test_a_running_tournament_says_how_long_is_left(runs_dir):
    import os

    tid = _finished_tournament(runs_dir, last="running")
    st = json.loads((runs_dir / tid / "status.json").read_text())
    st.update(state="running", pid=os.getpid(), pid_create_time=None, trials_done=3, running=1, eta_s=75.0)
    (runs_dir / tid / "status.json").write_text(json.dumps(st))
    at = page()
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == ["3/4 trials done · 1 running · about 1 min 15 s left"]
    st.update(eta_s=None)
    (runs_dir / tid / "status.json").write_text(json.dumps(st))
    texts = [p.proto.text for p in page().get("progress")]
    assert texts == ["3/4 trials done · 1 running · time left: known once a trial has finished"]
    last = pd.read_csv(runs_dir / tid / "trials.csv").iloc[3]["run_id"]
    run_status = json.loads((runs_dir / last / "status.json").read_text())
    (runs_dir / last / "status.json").write_text(json.dumps({**run_status, "state": "finished"}))
    st.update(eta_s=0.0, trials_done=4, running=0)  # every trial done, the job writing its files
    (runs_dir / tid / "status.json").write_text(json.dumps(st))
    assert [p.proto.text for p in page().get("progress")] == ["4/4 trials done · finishing…"]


def test_the_leaderboard_shows_blanks_not_none_and_fixed_decimals(runs_dir):
    """One seed has no spread: the cell is blank, not "None" (what the table showed before)."""
    import pyarrow as pa

    tid = _finished_tournament(runs_dir)
    board = pd.read_csv(runs_dir / tid / "leaderboard.csv")
    board["std_val_accuracy"] = float("nan")
    board.to_csv(runs_dir / tid / "leaderboard.csv", index=False)
    frame = page().dataframe[0]
    assert list(frame.value["notes"]) == ["", ""]  # the data too: the browser draws a null cell as "None"
    table = frame.proto.arrow_data
    shown = pa.ipc.open_stream(table.styler.display_values).read_all().to_pandas()
    assert list(shown["± std over seeds"]) == ["", ""] and list(shown["notes"]) == ["", ""]
    assert list(shown["mean validation accuracy"]) == ["0.8100", "0.7100"]


DAMAGES = {"leaderboard.csv": b"\xff\xfe\x00binary", "config.json": b'{"kind": "tournament", "epochs": ',
           "status.json": b'{"state": "stopped", "trials_done": "abc", "running": [1]}',
           "trials.csv": b"number,state\n0,exploded\n", "verdict.json": b'{"text": ["<img src=x>"]}'}


def test_a_damaged_tournament_file_never_breaks_the_page(runs_dir):
    """read_tournament names the damaged file (TournamentView.damaged) instead of raising: the page
    renders every damaged tournament, and the intact one beside them."""
    good = _finished_tournament(runs_dir)
    for name, data in DAMAGES.items():
        tid = _finished_tournament(runs_dir)
        (runs_dir / tid / name).write_bytes(data)
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.session_state["tn_id"] = tid
        at.run()
        assert not at.exception, (name, [e.value for e in at.exception])
        # the damage is named at the top of the view, and every tournament on disk stays listed
        assert any(f"Damaged: {name}" in shown(w.value) for w in at.warning), (name, [w.value for w in at.warning])
        listed = next(s for s in at.selectbox if s.label == "Tournament").options
        assert {tid, good} <= {o.split(" · ")[0] for o in listed}
        assert not any(b.key == "tn_resume" for b in at.button) or name != "config.json"
        assert not next(b for b in at.button if b.key == "tn_launch").disabled  # and a new one can start
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tn_id"] = good
    at.run()
    assert not at.exception and at.dataframe[0].value["rank"].tolist() == [1, 2]


def test_a_tournament_opened_on_the_runs_page_shows_its_leaderboard(runs_dir):
    """The kind's view (ui/views.py), not a training run's three empty charts."""
    tid = _finished_tournament(runs_dir)
    at = AppTest.from_file(str(Path(PAGE).with_name("runs.py")), default_timeout=30)
    at.query_params["run"] = tid
    at.run()
    assert not at.exception
    assert any(f"Tournament `{tid}`" in m.value for m in at.markdown)
    board = next(d for d in at.dataframe if "rank" in d.value.columns)
    assert board.value["rank"].tolist() == [1, 2] and board.value["mean validation accuracy"].tolist() == [0.81, 0.71]
    assert any(b.key == "runs_winner" for b in at.button)
    assert not any("Keras on" in c.value for c in at.caption)  # no training-run header


def test_a_stopped_tournaments_leaderboard_has_whole_ranks_and_no_none(runs_dir):
    """Issue #19: a schedule with no completed seed left NaN in its rank (the ranks then read
    1.000000) and in its numbers (drawn "None", whatever the Styler said). Now every cell is a
    value: whole ranks, blank where nothing is known; the key columns come first, with short
    headers (the table is about 460 px wide at 800 px), and the time to the target says "not
    reached" instead of a number."""
    import math

    tid = _finished_tournament(runs_dir, last="stopped")
    board = pd.read_csv(runs_dir / tid / "leaderboard.csv")
    board.loc[1, ["rank", "mean_val_accuracy", "std_val_accuracy", "best_epoch"]] = math.nan
    board.loc[1, "trials"] = 0
    board["target_accuracy"], board["seeds_reached"] = 0.95, [0, 0]
    board["epochs_to_target"] = board["seconds_to_target"] = math.nan
    board.to_csv(runs_dir / tid / "leaderboard.csv", index=False)
    frame = page().dataframe[0]
    data = frame.value
    assert not data.isna().any().any(), data
    assert list(data["rank"]) == ["1", ""] and list(data["mean validation accuracy"]) == ["0.8100", ""]
    assert list(data["time to target"]) == ["not reached · 0/2", ""]
    assert list(data.columns[:6]) == ["rank", "mean validation accuracy", "± std over seeds", "trials done",
                                      "time to target", "schedule"]
    headers = {name: c.get("label") for name, c in json.loads(frame.proto.columns).items()}
    assert [headers[c] for c in data.columns[:5]] == ["rank", "mean acc.", "± std", "seeds", "to 0.95"]


def test_a_tournament_stopped_before_any_epoch_draws_no_empty_charts(runs_dir):
    """Issue 19 (words that match what happens): a tournament stopped before any trial finished an
    epoch drew two empty charts "waiting for the first finished epochs…"; it waits for nothing."""
    from tournament_fakes import tournament_folder

    tournament_folder(runs_dir, state="stopped")
    at = page()
    assert not at.exception
    assert at.get("plotly_chart") == [] or not len(at.get("plotly_chart"))
    assert any(c.value == "No trial finished an epoch before the tournament stopped: there are no curves to draw."
               for c in at.caption)
    assert any(b.key == "tn_resume" for b in at.button)  # what it can do next is still there
