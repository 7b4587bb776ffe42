"""The run store without training: config validation, ids, atomic files, busy lock, liveness."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from lrviz import runs
from lrviz.lr_find import CSV_COLUMNS
from lrviz.runs import RunBusyError, validate_config


def _own_pid(path):
    return os.getpid(), None  # "the worker" is this test process: alive while the test runs


def _set_state(path, **changes):
    st = json.loads((path / "status.json").read_text())
    st.update(changes)
    runs.atomic_write_json(path / "status.json", st)


def test_defaults_are_the_tutorials():
    cfg = validate_config({})
    assert cfg["dataset"] == "digits" and cfg["epochs"] == 40 and cfg["batch_size"] == 64
    assert cfg["momentum"] == 0.9 and cfg["nesterov"] is True and cfg["seed"] == 42 and cfg["parent"] is None
    assert cfg["schedule"] == {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}


@pytest.mark.parametrize("config, message", [
    ({"epochs": 0}, "Argument `epochs` must be an integer >= 1 and <= 100000. Received: epochs=0"),
    ({"epochs": True}, "Argument `epochs` must be an integer"),
    ({"batch_size": 2.5}, "Argument `batch_size` must be an integer >= 1"),
    ({"momentum": 1.0}, "Argument `momentum` must be a number >= 0 and < 1. Received: momentum=1.0"),
    ({"nesterov": "yes"}, "Argument `nesterov` must be true or false"),
    ({"dataset": "mnist"}, "Argument `dataset` must be one of digits, cifar10, own. Received: dataset='mnist'"),
    ({"schedule": {"name": "step", "params": {"factor": 0}}}, "Argument `factor` must be"),
    ({"schedule": {"name": "nope"}}, "Argument `schedule` must be one of"),
    ({"parent": "../x"}, "Argument `parent` must be a run id"),
    ({"epoch": 3}, "Argument `epoch` is not a run setting"),
    ({"dataset": "cifar10", "cifar_archive": "/no/such.tar.gz"}, "cifar_archive.*as the CIFAR-10 archive"),
])
def test_bad_config_names_field_rule_value(config, message):
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_limit_message_without_high_bound():
    with pytest.raises(ValueError, match=r"Argument `limit` must be an integer >= 1 or null. Received: limit=0"):
        validate_config({"limit": 0})


@pytest.mark.parametrize("bad", ["..", "../etc", "a/b", "/abs", "", ".hidden", "x" * 90, "a\nb", None, 3])
def test_run_ids_are_validated(bad, tmp_path):
    with pytest.raises(ValueError, match="run_id"):
        runs.load_run(bad, tmp_path)


def test_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No run 'nope'"):
        runs.load_run("nope", tmp_path)


def test_create_writes_config_and_queued_status(tmp_path):
    rid = runs.create_run({"limit": 50}, tmp_path)
    run = runs.load_run(rid, tmp_path)
    assert run.status["state"] == "queued" and run.config["limit"] == 50 and run.error is None
    assert "keras" in run.config["versions"] or "tensorflow" in run.config["versions"] or run.config["versions"]
    assert list(run.history.columns) == runs.HISTORY_COLUMNS and len(run.history) == 0
    assert set(run.files) == {"config.json"}


def test_busy_with_concurrent_starts_gives_exactly_one_run(tmp_path):
    results, errors = [], []
    barrier = threading.Barrier(3)

    def start():
        barrier.wait()
        try:
            results.append(runs.create_run({}, tmp_path, launch=_own_pid))
        except RunBusyError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 2
    assert results[0] in errors[0] and "epoch 0/40" in errors[0]
    assert runs.active_run(tmp_path) == results[0]
    with pytest.raises(RunBusyError, match="stop it before deleting"):
        runs.delete_run(results[0], tmp_path)


def test_concurrent_starts_across_processes(tmp_path):
    code = ("import os,sys; from lrviz import runs\n"
            "try:\n print('ok', runs.create_run({}, sys.argv[1], launch=lambda p: (os.getppid(), None)))\n"
            "except runs.RunBusyError as e:\n print('busy')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = sorted(p.communicate(timeout=60)[0].split()[0] for p in procs)
    assert outs == ["busy", "busy", "ok"]


def test_dead_worker_is_marked_failed_and_history_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rid = runs.create_run({}, tmp_path, launch=lambda p: (dead.pid, None))
    path = tmp_path / rid
    header = "epoch,loss,accuracy,val_loss,val_accuracy,lr,lr_planned\n"
    (path / "history.csv").write_text(header + "1,2,0.1,2,0.1,0.01,0.01\n")
    st = json.loads((path / "status.json").read_text())
    st.update(state="running", epoch=1, pid=dead.pid)
    (path / "status.json").write_text(json.dumps(st))
    assert runs.active_run(tmp_path) is None
    run = runs.load_run(rid, tmp_path)
    assert run.status["state"] == "failed"
    assert run.status["error"] == f"worker process ended unexpectedly (pid {dead.pid})"
    assert len(run.history) == 1
    runs.create_run({}, tmp_path)  # no longer busy
    runs.delete_run(rid, tmp_path)
    assert not path.exists()


def test_unreadable_files_give_error_not_exception(tmp_path):
    rid = runs.create_run({}, tmp_path)
    path = tmp_path / rid
    (path / "status.json").write_text('{"state": "runn')  # truncated
    (path / "history.csv").write_text("")
    run = runs.load_run(rid, tmp_path)
    assert "status.json" in run.error and "history.csv" in run.error
    listed = runs.list_runs(tmp_path)
    assert listed[0].id == rid and "status.json" in listed[0].error


def test_list_runs_newest_first(tmp_path):
    a = runs.create_run({}, tmp_path)
    _set_state(tmp_path / a, state="finished")  # a queued run without a worker blocks for a while
    time.sleep(0.01)
    b = runs.create_run({"epochs": 3}, tmp_path)
    (tmp_path / "not-a-run").mkdir()
    listed = runs.list_runs(tmp_path)
    assert [r.id for r in listed] == [b, a]
    assert listed[0].epochs == 3 and listed[0].schedule.startswith("Step decay")


def test_set_lr_and_stop_write_requests(tmp_path):
    rid = runs.create_run({}, tmp_path, launch=_own_pid)
    with pytest.raises(ValueError, match="exactly one"):
        runs.set_lr(rid, tmp_path)
    with pytest.raises(ValueError, match="Argument `factor` must be a finite number > 0. Received: factor=0"):
        runs.set_lr(rid, tmp_path, factor=0)
    runs.set_lr(rid, tmp_path, value=0.001)
    runs.stop_run(rid, tmp_path)
    names = sorted(os.listdir(tmp_path / rid / "control"))
    assert names[0].startswith("lr-") and names[1] == "stop"
    assert json.loads((tmp_path / rid / "control" / names[0]).read_text())["value"] == 0.001


def test_set_lr_refused_when_finished(tmp_path):
    rid = runs.create_run({}, tmp_path)
    _set_state(tmp_path / rid, state="finished")
    with pytest.raises(ValueError, match="is finished"):
        runs.set_lr(rid, tmp_path, factor=0.5)
    runs.stop_run(rid, tmp_path)  # no-op
    assert not (tmp_path / rid / "control" / "stop").exists()


def test_resume_needs_a_saved_model_and_more_epochs(tmp_path):
    parent = runs.create_run({}, tmp_path)
    _set_state(tmp_path / parent, state="stopped", epoch=40)
    with pytest.raises(ValueError, match="model.keras"):
        runs.create_run({"parent": parent}, tmp_path)
    (tmp_path / parent / "model.keras").write_bytes(b"x")
    with pytest.raises(ValueError, match="Argument `epochs` must be > 40"):
        runs.create_run({"parent": parent, "epochs": 40}, tmp_path)
    child = runs.create_run({"parent": parent, "epochs": 45, "dataset": "digits", "limit": 7}, tmp_path)
    cfg = runs.load_run(child, tmp_path).config
    assert cfg["initial_epoch"] == 40 and cfg["limit"] is None  # data settings come from the parent


def test_atomic_write_leaves_no_temp_files(tmp_path):
    for i in range(20):
        runs.atomic_write_json(tmp_path / "s.json", {"i": i})
    assert os.listdir(tmp_path) == ["s.json"]


# --------------------------------------------------------------------------- run kinds (LR range test)


def test_training_runs_are_kind_train_and_old_runs_without_kind_default_to_it(tmp_path):
    rid = runs.create_run({"limit": 50}, tmp_path)
    assert runs.load_run(rid, tmp_path).config["kind"] == "train"
    cfg = json.loads((tmp_path / rid / "config.json").read_text())
    del cfg["kind"]  # a run made before kinds existed
    runs.atomic_write_json(tmp_path / rid / "config.json", cfg)
    run = runs.load_run(rid, tmp_path)
    assert run.kind == "train" and "lr_find" not in run.extras and "suggestions" not in run.extras
    assert runs.list_runs(tmp_path)[0].kind == "train"
    with pytest.raises(ValueError, match="Argument `kind` must be 'train'"):
        validate_config({"kind": "other"})


def test_lr_find_run_is_created_listed_and_loaded_as_its_own_kind(tmp_path):
    rid = runs.create_run({"kind": "lr_find", "limit": 300, "num_steps": 30}, tmp_path)
    assert "-lr-find-" in rid
    run = runs.load_run(rid, tmp_path)
    assert run.kind == run.config["kind"] == "lr_find" and run.config["start"] == 1e-7
    assert run.status["state"] == "queued" and run.status["step"] == 0 and run.status["num_steps"] == 30
    frame = run.extras["lr_find"]
    assert list(frame.columns) == CSV_COLUMNS and len(frame) == 0 and run.extras["suggestions"] is None
    (s,) = runs.list_runs(tmp_path)
    assert s.kind == "lr_find" and (s.epoch, s.epochs) == (0, 30) and s.schedule.startswith("LR range test")


def test_lr_find_and_training_never_run_together(tmp_path):
    rid = runs.create_run({"kind": "lr_find"}, tmp_path)
    with pytest.raises(RunBusyError, match=rf"Run {rid} is queued \(LR range test, step 0/100\)"):
        runs.create_run({}, tmp_path)
    _set_state(tmp_path / rid, state="finished")
    train = runs.create_run({}, tmp_path)
    with pytest.raises(RunBusyError, match=rf"Run {train} is queued \(epoch 0/40\)"):
        runs.create_run({"kind": "lr_find"}, tmp_path)


def test_a_run_on_another_host_is_alive_while_it_reports_then_failed(tmp_path):
    """A shared runs folder (a tournament's cluster): a pid from another machine means nothing here."""
    import json
    import time

    rid = runs.create_run({}, tmp_path)
    st_file = tmp_path / rid / "status.json"
    st = json.loads(st_file.read_text())
    st.update(state="running", host="another-machine", pid=2**22 + 7, updated_at=time.time())
    st_file.write_text(json.dumps(st))
    assert runs.load_run(rid, tmp_path).state == "running" and runs.active_run(tmp_path) == rid
    st.update(updated_at=time.time() - 3600)
    st_file.write_text(json.dumps(st))
    run = runs.load_run(rid, tmp_path)
    assert run.state == "failed" and "no news from the worker on another-machine for 60 min" in run.status["error"]
