"""AppTest of the Train page, with the engine's process-spawning calls replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import fabricate_run
from streamlit.testing.v1 import AppTest

from lrviz import runs as store

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "train.py")


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "DEFAULT_RUNS_DIR", tmp_path)
    return tmp_path


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=30).run()


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
        ("tr_epochs", 0, "Argument `epochs` must be an integer >= 1"),
        ("tr_batch_size", -1, "Argument `batch_size` must be an integer >= 1"),
        ("tr_momentum", 1.5, "Argument `momentum` must be a number >= 0 and < 1"),
        ("tr_s_lr", -0.1, "Argument `lr` must be a finite number > 0"),
    ],
)
def test_invalid_value_is_rejected_at_the_input(runs_dir, key, value, needle):
    at = page()
    at.number_input(key=key).set_value(value).run()
    assert any(needle in e.value for e in at.error)
    assert launch_button(at).disabled
    assert not at.exception


def test_launch_passes_the_form_to_the_engine(runs_dir, monkeypatch):
    seen = {}

    def fake_start(config, runs_dir_arg):
        seen.update(config)
        return fabricate_run(runs_dir_arg, factor=config["schedule"]["params"]["factor"])

    monkeypatch.setattr(store, "start_run", fake_start)
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
        raise store.RunBusyError("Run X is running (epoch 3/40); stop it or wait for it to finish.")

    monkeypatch.setattr(store, "start_run", busy)
    at = page()
    launch_button(at).click().run()
    assert any("Run X is running (epoch 3/40)" in e.value for e in at.error)


def test_active_run_is_reattached_with_live_controls(runs_dir):
    rid = fabricate_run(runs_dir, state="running", epochs=10)
    st_ = store.read_json(runs_dir / rid / "status.json")
    st_.update(pid=os.getpid(), pid_create_time=None, batch=3, eta_s=12.0, lr=0.005)
    store.atomic_write_json(runs_dir / rid / "status.json", st_)
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
    assert any("boom: out of memory" in e.value and "5 finished epoch(s)" in e.value for e in at.error)


def test_continue_training_starts_a_child_run_with_the_new_lr(runs_dir, monkeypatch):
    rid = fabricate_run(runs_dir, epochs=5)
    (runs_dir / rid / "model.keras").write_bytes(b"stand-in")
    seen = {}

    def fake_start(config, runs_dir_arg):
        seen.update(config)
        return rid

    monkeypatch.setattr(store, "start_run", fake_start)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_run_id"] = rid
    at.run()
    at.number_input(key=f"train_resume_{rid}_epochs").set_value(9).run()
    at.number_input(key=f"train_resume_{rid}_lr").set_value(0.001).run()
    next(b for b in at.button if b.label == "Continue").click().run()
    assert not at.exception
    assert seen["parent"] == rid and seen["epochs"] == 9
    assert seen["schedule"]["params"]["lr"] == 0.001 and seen["schedule"]["params"]["drop_every"] == 2


def test_lr_finder_result_and_apply_buttons(runs_dir):
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_find_id"] = rid
    at.run()
    assert not at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "steepest descent: 0.0085" in texts and "valley: 0.0028" in texts
    assert any("diverged at lr=1.56" in c.value for c in at.caption)
    at.button(key="find_apply_steepest").click().run()
    assert at.number_input(key="tr_s_lr").value == 0.0085
    assert any("lr = 0.0085" in s.value for s in at.success)
    at.button(key="find_cycle_valley").click().run()
    assert at.selectbox(key="tr_s_name").value == "one_cycle"
    assert at.number_input(key="tr_s_max_lr").value == 0.0028
    assert at.session_state["explorer_add"][-1]["params"]["max_lr"] == 0.0028


def test_lr_finder_without_suggestion_says_why(runs_dir):
    from fakes import fabricate_lr_find

    rid = fabricate_lr_find(runs_dir, reason="the loss never fell by 5%")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["tr_find_id"] = rid
    at.run()
    assert any("No suggestion: the loss never fell by 5%" in w.value for w in at.warning)


def test_find_lr_button_starts_a_finder_with_the_form_data(runs_dir, monkeypatch):
    seen = {}

    def fake(config, runs_dir_arg):
        from fakes import fabricate_lr_find

        seen.update(config)
        return fabricate_lr_find(runs_dir_arg)

    monkeypatch.setattr(store, "start_lr_find", fake)
    at = page()
    at.number_input(key="tr_batch_size").set_value(32).run()
    next(b for b in at.button if b.label == "Find LR").click().run()
    assert seen["kind"] == "lr_find" and seen["batch_size"] == 32 and seen["dataset"] == "digits"
    assert seen["start"] == 1e-7 and seen["end"] == 10 and seen["num_steps"] == 100


def test_explorer_curves_are_offered_and_survive_the_list_shrinking(runs_dir):
    from lrviz.schedules import Schedule

    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["explorer_curves"] = [Schedule.create("time_keras2").to_config(),
                                           Schedule.create("cosine", {"lr": 0.05}).to_config()]
    at.run()
    assert at.selectbox(key="tr_s_name").value == "cosine" and at.number_input(key="tr_s_lr").value == 0.05
    at.session_state["explorer_curves"] = [Schedule.create("step").to_config()]
    at.run()
    assert not at.exception and at.selectbox(key="tr_from").value == 0


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
    assert "Keras on jax, NVIDIA H100 80GB HBM3" in captions
    assert "ReduceLROnPlateau on val_loss (×0.1, patience 3)" in captions


def test_plateau_and_backend_fields_reach_the_engine(runs_dir, monkeypatch):
    started = {}
    monkeypatch.setattr(store, "start_run", lambda cfg, d: started.setdefault("cfg", cfg) and "x")
    at = page()
    assert "tensorflow" in at.selectbox(key="tr_backend").options
    at.toggle(key="tr_plateau").set_value(True).run()
    at.number_input(key="tr_pl_factor").set_value(1.5).run()
    assert any("Argument `plateau_factor` must be a finite number > 0 and < 1" in e.value for e in at.error)
    at.number_input(key="tr_pl_factor").set_value(0.5).run()
    at.number_input(key="tr_pl_patience").set_value(2).run()
    launch_button(at).click().run()
    cfg = started["cfg"]
    assert cfg["plateau"]["factor"] == 0.5 and cfg["plateau"]["patience"] == 2 and cfg["backend"] == "tensorflow"
