"""The worker, end to end: tiny real runs in-process and through the spawned worker process
(live polling, set-LR, stop, resume, SIGTERM, SIGKILL)."""

import json
import os
import signal
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report

from lrviz import runs
from lrviz.data import write_synthetic_cifar
from lrviz.schedules import Schedule, steps_per_epoch_for
from lrviz.worker import run_worker

SMALL = {"limit": 200, "batch_size": 32}  # 7 batches per epoch
SPE = steps_per_epoch_for(200, 32)


def _own_pid(path):
    return os.getpid(), None


def wait_for(predicate, path, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    log = (path / "worker.log").read_text()[-3000:] if (path / "worker.log").exists() else ""
    pytest.fail(f"timed out; status={(path / 'status.json').read_text()}\nworker.log:\n{log}")


def history(path):
    f = path / "history.csv"
    return pd.read_csv(f) if f.exists() else pd.DataFrame()


def status(path):
    return json.loads((path / "status.json").read_text())


def assert_report_matches_predictions(path, class_names):
    pred = pd.read_csv(path / "predictions.csv")
    ref = classification_report(pred["y_true"], pred["y_pred"], labels=list(range(len(class_names))),
                                target_names=list(class_names), output_dict=True, zero_division=0)
    rep = pd.read_csv(path / "report.csv", index_col=0)
    rep.index = rep.index.astype(str)
    assert list(rep.index) == list(class_names) + ["accuracy", "macro avg", "weighted avg"]
    for row in list(class_names) + ["macro avg", "weighted avg"]:
        for col in ("precision", "recall", "f1-score", "support"):
            assert rep.loc[row, col] == pytest.approx(ref[row][col], abs=1e-12)
    assert rep.loc["accuracy", "f1-score"] == pytest.approx(ref["accuracy"])
    assert np.isnan(rep.loc["accuracy", "precision"]) and rep.loc["accuracy", "support"] == len(pred)
    conf = pd.read_csv(path / "confusion.csv", index_col=0)
    assert conf.to_numpy().sum() == len(pred) and np.trace(conf.to_numpy()) == (pred.y_true == pred.y_pred).sum()


# --------------------------------------------------------------------------- in-process


def test_lr_in_history_equals_the_schedule_and_report_equals_sklearn(tmp_path):
    sched = Schedule.create("step", {"lr": 0.05, "factor": 0.5, "drop_every": 1})  # drops every epoch
    rid = runs.create_run({**SMALL, "epochs": 3, "schedule": sched.to_config()}, tmp_path, launch=_own_pid)
    assert run_worker(tmp_path / rid, verbose=0, install_signals=False) == "finished"
    run = runs.load_run(rid, tmp_path)
    assert run.error is None and run.status["state"] == "finished" and run.status["epoch"] == 3
    h = run.history
    assert list(h.columns[:7]) == runs.HISTORY_COLUMNS and list(h["epoch"]) == [1, 2, 3]
    expected = [0.05 * 0.5 ** np.floor((1 + e) / 1) for e in range(3)]  # the tutorial's formula, 0-based e
    np.testing.assert_allclose(h["lr_planned"], expected, rtol=1e-12)
    np.testing.assert_allclose(h["lr"], expected, rtol=1e-6)  # float32 optimizer variable
    np.testing.assert_allclose(h["lr_last"], expected, rtol=1e-6)
    assert h[["loss", "accuracy", "val_loss", "val_accuracy"]].notna().all().all()
    assert_report_matches_predictions(run.dir, run.class_names)
    assert set(run.files) >= {"config.json", "history.csv", "report.csv", "confusion.csv", "model.keras",
                              "training.png", "predictions.csv"}
    assert run.files["training.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.config["steps_per_epoch"] == SPE and run.config["train_size"] == 200


def test_per_batch_schedule_is_set_before_every_batch(tmp_path):
    sched = Schedule.create("time_keras2", {"lr": 0.01, "decay": 0.05})
    rid = runs.create_run({**SMALL, "epochs": 2, "schedule": sched.to_config()}, tmp_path, launch=_own_pid)
    run_worker(tmp_path / rid, verbose=0, install_signals=False)
    h = runs.load_run(rid, tmp_path).history
    first = [0.01 / (1 + 0.05 * e * SPE) for e in range(2)]
    last = [0.01 / (1 + 0.05 * ((e + 1) * SPE - 1)) for e in range(2)]
    np.testing.assert_allclose(h["lr"], first, rtol=1e-6)
    np.testing.assert_allclose(h["lr_last"], last, rtol=1e-6)


def test_cifar_format_archive_trains_with_class_names(tmp_path):
    arch = write_synthetic_cifar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=20, n_test=20)
    rid = runs.create_run({"dataset": "cifar10", "cifar_archive": str(arch), "epochs": 1, "batch_size": 50},
                          tmp_path / "runs", launch=_own_pid)
    assert run_worker(tmp_path / "runs" / rid, verbose=0, install_signals=False) == "finished"
    run = runs.load_run(rid, tmp_path / "runs")
    assert run.extras["report"].index[0] == "airplane" and run.extras["report"].loc["accuracy", "support"] == 20
    assert_report_matches_predictions(run.dir, run.class_names)


def test_failure_is_recorded(tmp_path):
    arch = write_synthetic_cifar(tmp_path / "c.tar.gz", n_per_batch=2, n_test=2)
    rid = runs.create_run({"dataset": "cifar10", "cifar_archive": str(arch), "epochs": 1}, tmp_path / "r",
                          launch=_own_pid)
    arch.write_bytes(b"garbage")  # corrupt after validation
    assert run_worker(tmp_path / "r" / rid, verbose=0, install_signals=False) == "failed"
    st = runs.load_run(rid, tmp_path / "r").status
    # lrviz's own words for people, without the exception's class name (a RuntimeError keeps its type:
    # test_jobs.test_a_failing_job_is_marked_failed_with_its_progress_kept)
    assert st["state"] == "failed" and "corrupt" in st["error"] and "DataError" not in st["error"]
    assert st["error"][0].isupper() and st["error"] == st["error"].strip()


# --------------------------------------------------------------------------- worker process


class Poller(threading.Thread):
    """Reads status.json and history.csv as fast as it can; records anything partial, and the
    states and epoch counts it read (the fixture waits until it has read each stage)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.reads, self.problems, self.halt = path, 0, [], False
        self.states: set[str] = set()
        self.epochs: set[int] = set()

    def run(self):
        while not self.halt:
            for name in ("status.json", "history.csv"):
                f = self.path / name
                try:
                    raw = f.read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    if name == "status.json":
                        self.states.add(json.loads(raw)["state"])
                    else:
                        lines = raw.decode().splitlines()
                        assert raw.endswith(b"\n") and lines[0].startswith("epoch,loss,accuracy")
                        assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)
                        assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, len(lines)))
                        self.epochs.add(len(lines) - 1)
                    self.reads += 1
                except Exception as e:  # noqa: BLE001
                    self.problems.append(f"{name}: {e!r}: {raw[:200]!r}")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A worker process steered live: two LR overrides, then a stop request."""
    root = tmp_path_factory.mktemp("runs")
    rid = runs.start_run({**SMALL, "epochs": 300}, root)
    path = root / rid
    poller = Poller(path)
    poller.start()
    try:
        with pytest.raises(runs.RunBusyError, match=rid):
            runs.start_run({**SMALL}, root)
        wait_for(lambda: len(history(path)) >= 2, path)
        wait_for(lambda: max(poller.epochs, default=0) >= 2, path)  # the reader saw each stage too
        runs.set_lr(rid, root, factor=0.5)
        wait_for(lambda: len(status(path).get("lr_overrides", [])) == 1, path)
        n = len(history(path))
        wait_for(lambda: len(history(path)) >= n + 2, path)
        wait_for(lambda: max(poller.epochs) >= n + 2, path)
        runs.set_lr(rid, root, value=0.002)
        wait_for(lambda: len(status(path).get("lr_overrides", [])) == 2, path)
        n = len(history(path))
        wait_for(lambda: len(history(path)) >= n + 2, path)
        wait_for(lambda: max(poller.epochs) >= n + 2, path)
        runs.stop_run(rid, root)
        wait_for(lambda: status(path)["state"] not in runs.ACTIVE_STATES, path, timeout=60)
        wait_for(lambda: status(path)["state"] in poller.states, path)
    finally:
        poller.halt = True
        poller.join()
    return root, rid, poller


def test_live_reader_never_sees_a_partial_file(stopped_run):
    _, _, poller = stopped_run
    assert poller.problems == []
    # It read the files while the worker rewrote them, whatever the machine's speed: the fixture
    # waited until it had read each stage (>= 2 epochs, 2 more, 2 more, then the stop).
    assert {"running", "stopped"} <= poller.states and len(poller.epochs) >= 3


def test_stop_keeps_history_and_writes_the_report(stopped_run):
    root, rid, _ = stopped_run
    run = runs.load_run(rid, root)
    assert run.status["state"] == "stopped" and run.error is None
    done = run.status["epoch"]
    assert 6 <= done < 300 and list(run.history["epoch"]) == list(range(1, done + 1))
    assert_report_matches_predictions(run.dir, run.class_names)
    assert "model.keras" in run.files and "training.png" in run.files
    assert runs.active_run(root) is None


def test_set_lr_factor_and_value_combine_with_the_schedule(stopped_run):
    root, rid, _ = stopped_run
    run = runs.load_run(rid, root)
    sched = Schedule.from_config(run.config["schedule"])
    overrides = run.config["lr_overrides"]
    assert [o["kind"] for o in overrides] == ["factor", "value"] == [o["kind"] for o in run.status["lr_overrides"]]
    f_step, v_step = overrides[0]["step"], overrides[1]["step"]
    m_after_value = 0.002 / sched.at_step(v_step, SPE)
    h = run.history
    np.testing.assert_allclose(h["lr_planned"], [sched.at_epoch(e - 1, SPE) for e in h["epoch"]], rtol=1e-12)
    for _, row in h.iterrows():
        start = (row.epoch - 1) * SPE  # global step of the epoch's first batch
        m = 1.0 if start < f_step else (0.5 if start < v_step else m_after_value)
        assert row.lr == pytest.approx(m * row.lr_planned, rel=1e-5), row.epoch
    assert any(row.lr == pytest.approx(0.5 * row.lr_planned, rel=1e-5) for _, row in h.iterrows())
    assert any(h["lr"] < h["lr_planned"] * 0.99)
    with pytest.raises(ValueError, match="is stopped"):
        runs.set_lr(rid, root, value=0.1)


def test_resume_continues_model_optimizer_and_schedule(stopped_run):
    import keras

    root, parent, _ = stopped_run
    done = runs.load_run(parent, root).status["epoch"]
    rid = runs.start_run({"parent": parent, "epochs": done + 2, **SMALL}, root)
    path = root / rid
    wait_for(lambda: status(path)["state"] not in runs.ACTIVE_STATES, path)
    run = runs.load_run(rid, root)
    assert run.status["state"] == "finished" and run.config["parent"] == parent
    assert list(run.history["epoch"]) == [done + 1, done + 2]
    sched = Schedule.from_config(run.config["schedule"])
    np.testing.assert_allclose(run.history["lr"], [sched.at_epoch(e, SPE) for e in (done, done + 1)], rtol=1e-6)
    it_parent = int(keras.models.load_model(root / parent / "model.keras").optimizer.iterations.numpy())
    it_child = int(keras.models.load_model(path / "model.keras").optimizer.iterations.numpy())
    assert it_parent >= done * SPE and it_child == it_parent + 2 * SPE
    parent_last_loss = runs.load_run(parent, root).history["loss"].iloc[-1]
    assert run.history["loss"].iloc[0] < parent_last_loss * 2  # not a fresh model (fresh starts ~3)


def _start_and_wait_for_an_epoch(root):
    rid = runs.start_run({**SMALL, "epochs": 300}, root)
    path = root / rid
    wait_for(lambda: len(history(path)) >= 1 and status(path).get("pid"), path)
    return rid, path, status(path)["pid"]


def test_sigkill_leaves_a_readable_failed_run(tmp_path):
    rid, path, pid = _start_and_wait_for_an_epoch(tmp_path)
    os.kill(pid, signal.SIGKILL)
    run = wait_for(lambda: (r := runs.load_run(rid, tmp_path)).status["state"] == "failed" and r, path)
    assert run.status["error"] == f"worker process ended unexpectedly (pid {pid})"
    assert len(run.history) >= 1 and run.history["epoch"].iloc[0] == 1 and run.error is None
    assert runs.active_run(tmp_path) is None
    assert [r.state for r in runs.list_runs(tmp_path)] == ["failed"]


def test_sigterm_stops_gracefully(tmp_path):
    rid, path, pid = _start_and_wait_for_an_epoch(tmp_path)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: status(path)["state"] not in runs.ACTIVE_STATES, path, timeout=60)
    run = runs.load_run(rid, tmp_path)
    assert run.status["state"] == "stopped" and run.extras["report"] is not None and len(run.history) >= 1
