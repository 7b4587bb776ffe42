"""AppTest of the Train page, with the engine's process-spawning calls replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from fakes import fabricate_run, run_page, shown
from streamlit.testing.v1 import AppTest

from lrviz import runs as runs_api

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "train.py")


def page() -> AppTest:
    return run_page("train")


def launch_button(at):
    return next(b for b in at.button if b.label == "Launch training")


def test_form_defaults_are_the_tutorials(runs_dir):
    at = page()
    assert not at.exception
    assert at.selectbox(key="tr_dataset").value == "digits"
    assert at.number_input(key="tr_epochs").value == 40 and at.number_input(key="tr_batch_size").value == 64
    assert at.number_input(key="tr_momentum").value == 0.9 and at.checkbox(key="tr_nesterov").value
    assert at.selectbox(key="tr_s_name").value == "step"
    assert at.slider(key="tr_s_factor").value == 0.5 and at.slider(key="tr_s_drop_every").value == 5
    assert not launch_button(at).disabled


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("tr_epochs", 0, "Epochs must be a whole number of at least 1 and at most 100000."),
        ("tr_batch_size", -1, "Batch size must be a whole number of at least 1 and at most 1000000."),
        ("tr_momentum", 1.5, "Momentum must be at least 0 and below 1."),
        ("tr_s_lr", -0.1, "Argument `lr` must be a finite number > 0"),  # the schedule editor's own message
    ],
)
def test_invalid_value_is_rejected_at_the_input(runs_dir, key, value, needle):
    at = page()
    at.number_input(key=key).set_value(value).run()
    assert any(needle in shown(e.value) for e in at.error)
    assert launch_button(at).disabled
    assert not at.exception


def test_launch_passes_the_form_to_the_engine(runs_dir, monkeypatch):
    seen = {}

    def fake_start(config, runs_dir_arg):
        seen.update(config)
        return fabricate_run(runs_dir_arg, factor=config["schedule"]["params"]["factor"])

    monkeypatch.setattr(runs_api, "start_run", fake_start)
    at = page()
    at.slider(key="tr_s_factor").set_value(0.25).run()
    at.number_input(key="tr_epochs").set_value(12).run()
    launch_button(at).click().run()
    assert not at.exception
    assert seen["epochs"] == 12 and seen["dataset"] == "digits" and seen["batch_size"] == 64
    assert seen["schedule"] == {"name": "step", "params": {"lr": 0.01, "factor": 0.25, "drop_every": 5}}
    # the fabricated run is finished: its report and downloads show
    assert any("Finished" in s.value for s in at.success)
    labels = [d.label for d in at.get("download_button")]
    assert "Report CSV" in labels and "History CSV" in labels


def test_second_launch_gets_the_busy_answer(runs_dir, monkeypatch):
    def busy(config, runs_dir_arg):
        raise runs_api.RunBusyError("Run X is running (epoch 3/40); stop it or wait for it to finish.")

    monkeypatch.setattr(runs_api, "start_run", busy)
    at = page()
    launch_button(at).click().run()
    assert any("Run X is running (epoch 3/40)" in shown(e.value) for e in at.error)


def test_active_run_is_reattached_with_live_controls(runs_dir):
    rid = fabricate_run(runs_dir, state="running", epochs=10)
    st_ = runs_api.read_json(runs_dir / rid / "status.json")
    st_.update(pid=os.getpid(), pid_create_time=None, batch=3, eta_s=12.0, lr=0.005)
    runs_api.atomic_write_json(runs_dir / rid / "status.json", st_)
    at = page()
    assert not at.exception
    assert any(rid in m.value for m in at.markdown)
    assert any(m.label == "Epochs done" and m.value == "5/10" for m in at.metric)
    stop = next(b for b in at.button if b.label == "Stop")
    stop.click().run()
    assert (runs_dir / rid / "control" / "stop").exists()


def test_failed_run_shows_its_error_and_keeps_epochs(runs_dir):
    rid = fabricate_run(runs_dir, state="failed", epochs=10)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = rid
    at.run()
    assert any("boom: out of memory" in shown(e.value) and "5 finished epoch(s)" in e.value for e in at.error)


def test_continue_training_starts_a_child_run_with_the_new_lr(runs_dir, monkeypatch):
    rid = fabricate_run(runs_dir, epochs=5)
    (runs_dir / rid / "model.keras").write_bytes(b"stand-in")
    seen = {}

    def fake_start(config, runs_dir_arg):
        seen.update(config)
        return rid

    monkeypatch.setattr(runs_api, "start_run", fake_start)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = rid
    at.run()
    at.number_input(key=f"tr_resume_{rid}_epochs").set_value(9).run()
    at.number_input(key=f"tr_resume_{rid}_lr").set_value(0.001).run()
    next(b for b in at.button if b.label == "Continue").click().run()
    assert not at.exception
    assert seen["parent"] == rid and seen["epochs"] == 9
    assert seen["schedule"]["params"]["lr"] == 0.001 and seen["schedule"]["params"]["drop_every"] == 2


def test_lr_find_result_and_apply_buttons(runs_dir):
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_find_id"] = rid
    at.run()
    assert not at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "Start at 0.0085 (steepest descent rule)" in texts  # one recommendation in words
    others = next(e for e in at.expander if e.label == "Other rules")
    other_texts = " ".join(m.value for m in others.markdown)
    # The other two rules' values (fabricate_lr_find: minimum ÷ 10 0.035, valley 0.0028) are only in
    # the "Other rules" expander, never beside the one recommendation.
    inside = {id(m) for m in others.markdown}
    outside = " ".join(m.value for m in at.markdown if id(m) not in inside)
    assert "Start at 0.0085" in outside and "Start at" not in other_texts
    assert "0.035" not in outside and "0.0028" not in outside
    assert "valley: 0.0028" in other_texts and "minimum ÷ 10: 0.035" in other_texts
    assert "slope" not in texts and "lr=" not in texts  # no formula-speak
    assert any("diverged at lr=1.56" in shown(c.value) for c in at.caption)
    at.button(key="tr_find_apply_steepest").click().run()
    assert at.number_input(key="tr_s_lr").value == 0.0085
    assert any("lr = 0.0085" in s.value for s in at.success)
    at.button(key="tr_find_cycle_valley").click().run()
    assert at.selectbox(key="tr_s_name").value == "one_cycle"
    assert at.number_input(key="tr_s_max_lr").value == 0.0028
    assert at.session_state["_page_inbox"]["explorer"]["curve"][-1]["params"]["max_lr"] == 0.0028


def test_lr_find_without_suggestion_says_why(runs_dir):
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(runs_dir, reason="the loss never fell by 5%")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_find_id"] = rid
    at.run()
    assert any("No suggestion: the loss never fell by 5%" in shown(w.value) for w in at.warning)


def test_lr_find_button_starts_a_finder_with_the_form_data(runs_dir, monkeypatch):
    seen = {}

    def fake(config, runs_dir_arg):
        from fakes import fabricate_lr_find

        seen.update(config)
        return fabricate_lr_find(runs_dir_arg)

    monkeypatch.setattr(runs_api, "start_lr_find", fake)
    at = page()
    at.number_input(key="tr_batch_size").set_value(32).run()
    next(b for b in at.button if b.label == "Find LR").click().run()
    assert seen["kind"] == "lr_find" and seen["batch_size"] == 32 and seen["dataset"] == "digits"
    assert seen["start"] == 1e-7 and seen["end"] == 10 and seen["num_steps"] == 100


def test_explorer_curves_are_offered_and_survive_the_list_shrinking(runs_dir):
    from lrviz.schedules import Schedule

    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["_page_shared"] = {"explorer_curves": [Schedule.create("time_keras2").to_config(),
                                                            Schedule.create("cosine", {"lr": 0.05}).to_config()]}
    at.run()
    assert at.selectbox(key="tr_s_name").value == "cosine" and at.number_input(key="tr_s_lr").value == 0.05
    at.session_state["_page_shared"] = {"explorer_curves": [Schedule.create("step").to_config()]}
    at.run()
    # The form still holds the cosine: the box says so, not the explorer's step decay.
    box = at.selectbox(key="tr_from")
    assert not at.exception and box.value == -1 and "Cosine" in box.options[-1]
    assert at.selectbox(key="tr_s_name").value == "cosine"


def test_a_reload_shows_the_latest_run_not_no_run_yet(runs_dir):
    """After a run ends, a fresh session (reload, new tab) shows it until a new one is launched."""
    import time

    older = fabricate_run(runs_dir, state="finished", epochs=4, factor=0.25)
    time.sleep(0.01)
    newest = fabricate_run(runs_dir, state="stopped", epochs=4, factor=0.5)
    at = page()
    assert not at.exception
    assert not any("No run yet" in i.value for i in at.info)
    assert any(newest in m.value for m in at.markdown) and not any(older in m.value for m in at.markdown)
    assert at.session_state["tr_run_id"] == newest


def test_an_empty_runs_folder_still_says_no_run_yet(runs_dir):
    at = page()
    assert any("No run yet" in i.value for i in at.info)


def test_run_header_shows_backend_device_and_plateau(runs_dir):
    rid = fabricate_run(runs_dir, backend="jax", plateau={"patience": 3})
    cfg_file = runs_dir / rid / "config.json"
    import json

    cfg = json.loads(cfg_file.read_text())
    cfg["device"] = "NVIDIA H100 80GB HBM3"  # what the worker records on a GPU
    cfg_file.write_text(json.dumps(cfg))
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = rid
    at.run()
    captions = " ".join(c.value for c in at.caption)
    assert "Keras on jax, NVIDIA H100 80GB HBM3" in shown(captions)
    assert "ReduceLROnPlateau on val_loss (×0.1, patience 3)" in shown(captions)


def test_a_dead_tracking_server_shows_as_one_warning_in_plain_text(runs_dir):
    """status.json's ``warnings`` (an integration that failed; the run went on) under the header."""
    import json

    rid = fabricate_run(runs_dir)
    status_file = runs_dir / rid / "status.json"
    status = json.loads(status_file.read_text())
    status["warnings"] = [{"source": "mlflow", "at": 0, "message": "MLflow tracking server unreachable at "
                           "http://127.0.0.1:9: Connection refused; the run goes on without it"}]
    status_file.write_text(json.dumps(status))
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = rid
    at.run()
    shown_warnings = [shown(w.value) for w in at.warning]
    assert shown_warnings.count(status["warnings"][0]["message"]) == 1
    assert any("Finished" in s.value for s in at.success)  # and the run still reads as finished


def test_plateau_and_backend_fields_reach_the_engine(runs_dir, monkeypatch):
    started = {}
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: started.setdefault("cfg", cfg) and "x")
    at = page()
    assert "tensorflow" in at.selectbox(key="tr_backend").options
    at.toggle(key="tr_plateau").set_value(True).run()
    at.number_input(key="tr_pl_factor").set_value(1.5).run()
    assert any("Factor must be above 0 and below 1." in shown(e.value) for e in at.error)
    at.number_input(key="tr_pl_factor").set_value(0.5).run()
    at.number_input(key="tr_pl_patience").set_value(2).run()
    launch_button(at).click().run()
    cfg = started["cfg"]
    assert cfg["plateau"]["factor"] == 0.5 and cfg["plateau"]["patience"] == 2 and cfg["backend"] == "tensorflow"


# --------------------------------------------------------------------------- what a learner sees (issue 13)


def _running(runs_dir, **status) -> str:
    """A fabricated run the store takes as running (its worker: this process)."""
    rid = fabricate_run(runs_dir, state="running", epochs=10)
    st_ = runs_api.read_json(runs_dir / rid / "status.json")
    st_.update(pid=os.getpid(), pid_create_time=None, batch=3, eta_s=12.0, lr=0.005, phase="training")
    st_.update(status)
    runs_api.atomic_write_json(runs_dir / rid / "status.json", st_)
    return rid


def _progress_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def _badges(at) -> str:
    return " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize("phase,line,badge", [
    ("loading data", "Loading data and building the model…", "Loading…"),
    ("evaluating", "Evaluating on the test set…", "Evaluating…"),
])
def test_progress_says_the_phase_in_plain_words(runs_dir, phase, line, badge):
    _running(runs_dir, phase=phase, eta_s=None)
    at = page()
    assert not at.exception
    assert line in _progress_text(at) and "Epoch" not in _progress_text(at)
    assert badge in _badges(at) and "Running" not in _badges(at)


def test_no_eta_before_the_pace_is_known(runs_dir):
    _running(runs_dir, eta_s=None)
    at = page()
    text = _progress_text(at)
    assert "Epoch 6/10 · batch 3/10" in text and "ETA estimating…" in text


def test_stop_says_stopping_and_disables_stop(runs_dir):
    rid = _running(runs_dir)
    at = page()
    next(b for b in at.button if b.label == "Stop").click().run()
    assert (runs_dir / rid / "control" / "stop").exists()
    assert "Stopping…" in _badges(at)
    assert next(b for b in at.button if b.label == "Stop").disabled
    assert "Stopping after the current batch" in _progress_text(at)


def test_launch_says_the_active_run_before_and_after_a_click(runs_dir):
    """The reason is said before the click (help, caption); a click anyway (e.g. from a tab drawn
    before the run started) gets the busy answer naming the run, and starts nothing."""
    rid = _running(runs_dir)
    at = page()
    assert rid in (launch_button(at).help or "")
    assert any(rid in c.value and "still running" in c.value for c in at.caption)
    before = {p.name for p in runs_dir.iterdir()}
    launch_button(at).click().run()
    assert any(f"Run {rid} is" in shown(e.value) for e in at.error)
    assert {p.name for p in runs_dir.iterdir()} == before
    # said once: the answer, not the answer and the caption (issue 19)
    assert not any("still running" in c.value for c in at.caption)


@pytest.mark.parametrize("mode,amount,message", [
    ("value", 1e6, "New LR must be above 0 and at most 10."),
    ("value", 0.0, "New LR must be above 0 and at most 10."),
    ("× factor", 0.0, "Factor must be above 0."),
    ("× factor", 8.0, "Factor must be above 0 and at most 5 while the LR is 2, so that the LR stays above 0 and "
                      "at most 10."),
])
def test_set_lr_rejects_what_the_schedules_reject_and_keeps_saying_so(runs_dir, mode, amount, message):
    rid = _running(runs_dir, lr=2.0)
    at = page()
    key = f"tr_ctl_{rid}"
    if mode != "value":
        at.segmented_control(key=f"{key}_mode").set_value(mode).run()
    at.number_input(key=f"{key}_amount").set_value(amount).run()
    assert any(message in shown(e.value) for e in at.error)
    apply = at.button(key=f"{key}_apply")
    assert apply.disabled
    at.run()  # the live panel refreshes: the message stays until the input changes
    assert any(message in shown(e.value) for e in at.error)
    assert not list((runs_dir / rid / "control").glob("lr-*"))
    at.number_input(key=f"{key}_amount").set_value(0.5).run()
    assert not at.error


def test_set_lr_engine_rule_is_the_schedules_lr_rule(runs_dir):
    from lrviz.errors import FieldError
    from lrviz.schedules import REGISTRY

    rid = _running(runs_dir, lr=2.0)
    high = REGISTRY["step"].param("lr").high  # the bound the schedule editor applies
    with pytest.raises(FieldError) as e:
        runs_api.set_lr(rid, runs_dir, value=high * 1e5)
    assert e.value.field == "value" and "Received: value=" in str(e.value)  # Keras-style for the CLI
    runs_api.set_lr(rid, runs_dir, value=high)  # the bound itself is an LR
    with pytest.raises(FieldError):
        runs_api.set_lr(rid, runs_dir, factor=high / 2.0 * 1.5)  # 2.0 x factor would pass the LR bound
    runs_api.set_lr(rid, runs_dir, factor=0.5)
    assert len(list((runs_dir / rid / "control").glob("lr-*"))) == 2


@pytest.mark.parametrize("key,typed,message", [
    ("tr_epochs", 2.5, "Epochs must be a whole number of at least 1 and at most 100000 (not 2.5)."),
    ("tr_batch_size", 64.5, "Batch size must be a whole number of at least 1 and at most 1000000 (not 64.5)."),
])
def test_typed_numbers_are_validated_never_rounded(runs_dir, key, typed, message):
    at = page()
    at.number_input(key=key).set_value(typed).run()
    assert at.number_input(key=key).value == typed
    assert any(shown(e.value) == message for e in at.error)
    assert launch_button(at).disabled


def test_a_huge_subset_reaches_the_engine_as_typed(runs_dir, monkeypatch):
    seen = {}
    monkeypatch.setattr(runs_api, "start_run", lambda cfg, d: seen.setdefault("cfg", cfg) and "x")
    at = page()
    at.toggle(key="tr_use_limit").set_value(True).run()
    at.number_input(key="tr_limit").set_value(1e12).run()
    assert at.number_input(key="tr_limit").value == 1e12
    assert any("(22 batches per epoch)" in c.value for c in at.caption)  # all 1,347 digits, batch 64
    launch_button(at).click().run()
    assert runs_api.validate_config(seen["cfg"])["limit"] == 10**12


def test_schedule_preview_shows_the_chosen_epochs(runs_dir):
    import json

    at = page()
    at.number_input(key="tr_epochs").set_value(12).run()
    spec = json.loads(next(c for c in at.get("plotly_chart") if "tr_preview" in c.proto.id).proto.spec)
    xs = [x for t in spec["data"] for x in (t.get("x") or [])] if isinstance(spec["data"][0].get("x"), list) else None
    from fakes import plotly_values

    xs = plotly_values(spec["data"][0]["x"])
    ys = plotly_values(spec["data"][0]["y"])
    assert xs[0] == 1 and xs[-1] == 13  # epochs 1..12 as stairs
    assert ys[0] == 0.01 and ys[4] == 0.005 and ys[9] == 0.0025  # the tutorial's F=0.5, D=5 (epoch 5, 10 drop)


def test_start_from_box_follows_the_applied_schedule(runs_dir):
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_find_id"] = rid
    at.run()
    at.button(key="tr_find_cycle_valley").click().run()
    box = at.selectbox(key="tr_from")
    assert box.value == -1 and "max_lr=0.0028" in box.options[-1]
    assert not at.exception


def test_a_resumed_run_shows_its_parents_epochs(runs_dir):
    import json

    parent = fabricate_run(runs_dir, epochs=4)
    (runs_dir / parent / "model.keras").write_bytes(b"stand-in")
    child = fabricate_run(runs_dir, epochs=8, parent=parent)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = child
    at.run()
    assert not at.exception
    names = [[t.get("name") for t in json.loads(c.proto.spec)["data"]] for c in at.get("plotly_chart")
             if child in c.proto.id]
    assert any("training loss (parent run)" in n for n in names)
    assert any("validation accuracy (parent run)" in n for n in names)
    assert any("LR used (parent run)" in n for n in names)


def test_eta_after_the_first_epoch_is_within_3x_of_the_real_remaining_time(tmp_path):
    """A real tiny run in this process: the ETA status.json holds when epoch 1 ends (what the
    progress line shows) against the time the remaining epochs really took."""
    import time

    from lrviz.worker import run_worker

    rid = runs_api.create_run({"limit": 400, "epochs": 6, "batch_size": 32}, tmp_path)  # 13 batches per epoch
    seen = []

    def on_row(row):
        seen.append((time.time(), runs_api.read_json(tmp_path / rid / "status.json").get("eta_s")))

    assert run_worker(tmp_path / rid, verbose=0, install_signals=False, on_step=on_row) == "finished"
    hist = pd.read_csv(tmp_path / rid / "history.csv")
    end = float(hist["ended_at"].iloc[-1])
    shown = [(eta, end - t) for t, eta in seen[:-1] if eta is not None]  # None: "estimating…" on the page
    assert shown, seen
    for eta, actual in shown:  # 0.5 s: a status write is up to 0.25 s old
        assert 0 < eta <= 3 * actual + 0.5, (eta, actual, seen)


def test_a_schedule_sent_by_the_tournament_fills_the_form(runs_dir):
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["_page_inbox"] = {"train": {"schedule": [
        {"name": "step", "params": {"lr": 0.01, "factor": 0.25, "drop_every": 5}}]}}
    at.run()
    assert not at.exception
    assert at.session_state["tr_s_name"] == "step" and at.session_state["tr_s_factor"] == 0.25
    assert at.session_state["_page_inbox"]["train"] == {}  # taken once


def test_every_bad_field_shows_its_error_next_to_it_at_once(runs_dir):
    """Issue 19: Epochs 0 and Momentum 1.5 showed only momentum's error."""
    at = page()
    at.number_input(key="tr_epochs").set_value(0).run()
    at.number_input(key="tr_momentum").set_value(1.5).run()
    errors = [shown(e.value) for e in at.error]
    assert "Epochs must be a whole number of at least 1 and at most 100000." in errors
    assert "Momentum must be at least 0 and below 1." in errors
    assert launch_button(at).disabled and launch_button(at).help == \
        "Fix the highlighted values first: Epochs, Momentum."


def test_cifar10_without_its_data_cannot_launch_and_says_why_in_page_words(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    at = page()
    at.selectbox(key="tr_dataset").set_value("cifar10").run()
    (warning,) = [w.value for w in at.warning if "CIFAR-10" in w.value]
    assert "give its path as the CIFAR-10 archive" in warning
    assert "--cifar-archive" not in warning and "cifar_archive" not in warning  # no command-line words here
    assert launch_button(at).disabled and "CIFAR-10 is not on this machine" in launch_button(at).help
    at.toggle(key="tr_cifar_download").set_value(True).run()  # online: Keras may download it
    assert not launch_button(at).disabled
    at.text_input(key="tr_cifar_archive").set_value(str(tmp_path / "nope.tar.gz")).run()
    (error,) = [shown(e.value) for e in at.error]  # the field's error, once, and no second warning saying it
    assert error.startswith("CIFAR-10 archive must be an existing file or folder.") and not error.endswith("..")
    assert not [w for w in at.warning if "CIFAR-10" in w.value] and launch_button(at).disabled


def test_a_reload_shows_the_last_lr_range_tests_suggestions(runs_dir):
    from fakes import fabricate_lr_find

    fabricate_lr_find(runs_dir)
    at = page()  # a fresh session: nothing in its state points at the test
    assert not at.exception
    assert "Start at 0.0085 (steepest descent rule)" in " ".join(m.value for m in at.markdown)


def test_keras2_decay_says_it_barely_moves_on_digits(runs_dir):
    at = page()
    at.selectbox(key="tr_s_name").set_value("time_keras2").run()
    (note,) = [i.value for i in at.info if "Keras 2" in i.value]
    # digits: 1,347 training images, batch 64 -> 22 batches per epoch; 40 epochs = 880 batches
    assert "22 batches per epoch" in note and f"to {0.01 / (1 + 0.00025 * 880):.6g} in 40 epochs" in note
    assert f"reaches {0.01 / (1 + 0.00025 * 782 * 40):.6g}" in note and f"decay = {0.00025 * 782 / 22:.6g}" in note
    at.selectbox(key="tr_s_name").set_value("step").run()
    assert not [i for i in at.info if "Keras 2" in i.value]

