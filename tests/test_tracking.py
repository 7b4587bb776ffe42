"""MLflow, opt in: a run logged to a real local MLflow store (SQLite in a temp folder), read
back with MLflow's own client; without it, MLflow is not imported."""

import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest

from lrviz import runs
from lrviz.worker import run_worker


@pytest.fixture()
def store_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "lrviz-test")
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is relative to the working folder
    return uri


def test_a_run_logs_params_metrics_per_epoch_report_and_model(store_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    runs_dir = tmp_path / "runs"
    rid = runs.create_run({"limit": 200, "batch_size": 32, "epochs": 3,
                           "schedule": {"name": "step", "params": {"lr": 0.02, "factor": 0.5, "drop_every": 2}},
                           "plateau": {"patience": 5}}, runs_dir)
    assert run_worker(runs_dir / rid, verbose=0, install_signals=False) == "finished"
    cfg = runs.load_run(rid, runs_dir).config
    client = MlflowClient(store_uri)
    got = client.get_run(cfg["mlflow_run_id"])
    assert got.info.status == "FINISHED" and got.info.run_name == rid and got.data.tags["lrviz.run_id"] == rid
    p = got.data.params
    assert (p["dataset"], p["schedule"], p["schedule.factor"], p["batch_size"], p["plateau.patience"]) == (
        "digits", "step", "0.5", "32", "5")
    hist = pd.read_csv(runs_dir / rid / "history.csv")
    for key in ("loss", "val_accuracy", "lr"):
        series = client.get_metric_history(got.info.run_id, key)
        assert [m.step for m in series] == [1, 2, 3]
        np.testing.assert_allclose([m.value for m in series], hist[key], rtol=1e-9)
    arts = {a.path for a in client.list_artifacts(got.info.run_id)}
    assert {"report.csv", "confusion.csv", "history.csv", "model.keras"} <= arts
    local = client.download_artifacts(got.info.run_id, "report.csv", str(tmp_path))
    assert open(local).read() == (runs_dir / rid / "report.csv").read_text()


def test_a_stopped_run_ends_killed(store_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    runs_dir = tmp_path / "runs"
    rid = runs.create_run({"limit": 200, "batch_size": 32, "epochs": 5, "max_batches": 9}, runs_dir)
    assert run_worker(runs_dir / rid, verbose=0, install_signals=False) == "stopped"
    got = MlflowClient(store_uri).get_run(runs.load_run(rid, runs_dir).config["mlflow_run_id"])
    assert got.info.status == "KILLED"
    assert [m.step for m in MlflowClient(store_uri).get_metric_history(got.info.run_id, "loss")] == [1]


def test_without_the_option_mlflow_is_never_imported(tmp_path):
    code = ("import sys; from lrviz import runs; from lrviz.worker import run_worker; "
            f"rid = runs.create_run({{'limit': 100, 'epochs': 1}}, {str(tmp_path)!r}); "
            f"assert run_worker({str(tmp_path)!r} + '/' + rid, verbose=0) == 'finished'; "
            "assert 'mlflow' not in sys.modules, 'mlflow imported'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stderr[-2000:]


# ---------------------------------------------------------------- a tracking server that fails

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "TF_CPP_MIN_LOG_LEVEL": "3",
       "PYTHONPATH": ROOT}
TINY = ("--limit", "100", "--epochs", "2", "--batch-size", "32")
RUN_FILES = ("history.csv", "report.csv", "confusion.csv", "predictions.csv", "model.keras", "training.png")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(tmp_path, uri, **env):
    """``python -m lrviz train`` (tiny) with MLflow at ``uri``; (result, wall seconds, run)."""
    runs_dir = tmp_path / "runs"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "lrviz", "train", *TINY, "--runs-dir", str(runs_dir)],
                       capture_output=True, text=True, timeout=400, cwd=tmp_path,
                       env={**ENV, "MLFLOW_TRACKING_URI": uri, **env})
    wall = time.monotonic() - t0
    assert runs_dir.is_dir(), r.stderr[-3000:]
    (summary,) = runs.list_runs(runs_dir)
    return r, wall, runs.load_run(summary.id, runs_dir)


def _warning_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("lrviz: warning:")]


def _check_whole_run(r, run, epochs=2):
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert run.status["state"] == "finished" and run.status["epoch"] == epochs
    assert list(pd.read_csv(run.dir / "history.csv")["epoch"]) == list(range(1, epochs + 1))
    assert all((run.dir / f).is_file() for f in RUN_FILES), sorted(os.listdir(run.dir))
    assert "mlflow_run_id" not in run.config


def test_a_tracking_server_that_is_down_costs_the_run_nothing(tmp_path):
    """Nothing listens on the port: MLflow's defaults (7 retries with backoff) held this run
    for 257 s and failed it with 0 epochs; now it finishes whole with one warning line."""
    uri = f"http://127.0.0.1:{_free_port()}"
    r, wall, run = _train(tmp_path, uri)
    _check_whole_run(r, run)
    message = (f"MLflow tracking server unreachable at {uri}: Connection refused; the run goes on without it")
    assert [w["source"] for w in run.status["warnings"]] == ["mlflow"]
    assert run.status["warnings"][0]["message"] == message
    assert _warning_lines(r.stderr) == [f"lrviz: warning: {message}"]
    assert wall < 120, wall  # was 257 s before the first epoch


def test_a_tracking_server_that_never_answers_is_left_within_the_users_timeout(tmp_path, silent_server):
    """The server accepts the connection and says nothing; the user's own MLflow settings
    (1 s per request, no retry) are the bound that applies."""
    port, accepted = silent_server
    uri = f"http://127.0.0.1:{port}"
    r, wall, run = _train(tmp_path, uri, MLFLOW_HTTP_REQUEST_TIMEOUT="1", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    _check_whole_run(r, run)
    assert accepted.is_set()
    (line,) = _warning_lines(r.stderr)
    assert line == (f"lrviz: warning: MLflow tracking server unreachable at {uri}: no answer within 1 s (read "
                    "timeout); the run goes on without it")
    assert len(run.status["warnings"]) == 1
    assert wall < 120, wall


def test_a_hung_call_is_abandoned_at_its_deadline_and_the_rest_are_skipped():
    """The deadline holds whatever the call hangs in (DNS, a locked database), not only HTTP."""
    import threading

    from lrviz.tracking import BoundedCalls

    warnings, later = [], []
    calls = BoundedCalls("MLflow tracking store", "sqlite:///x.db", 0.5, warnings.append)
    t0 = time.monotonic()
    assert calls.call("create_run", threading.Event().wait, 30) is None
    assert 0.5 <= time.monotonic() - t0 < 2.5
    assert calls.call("log_batch", later.append, 1) is None
    assert later == [] and not calls.enabled
    assert warnings == ["MLflow tracking store unreachable at sqlite:///x.db: no answer within 0.5 s (create_run); "
                        "the run goes on without it"]


def test_a_failing_call_reports_its_reason_once_and_a_good_one_its_value():
    from lrviz.tracking import BoundedCalls

    warnings = []
    calls = BoundedCalls("MLflow tracking server", "http://h:1", 5, warnings.append)
    assert calls.call("get", lambda: 42) == 42 and warnings == []

    def refuse():
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as e:
            raise RuntimeError("API request failed") from e

    assert calls.call("get", refuse) is None and calls.call("get", refuse) is None
    assert warnings == ["MLflow tracking server unreachable at http://h:1: Connection refused; the run goes on "
                        "without it"]


@pytest.mark.parametrize("environ, settings, deadline", [
    ({}, {"MLFLOW_HTTP_REQUEST_TIMEOUT": "3", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}, 2 * 3 + 2),
    ({"MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}, {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}, 2 * 10 + 2),
    # the user's 3 retries: urllib3 sleeps factor * 2**(k-1) (+ jitter) before retries k = 2, 3
    ({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"},
     {"MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}, 4 * 3 + (2 * 2 + 2 * 4) + 2),
])
def test_http_bounds_keep_what_the_user_set(environ, settings, deadline):
    from lrviz.tracking import http_bounds

    assert http_bounds(environ) == (settings, pytest.approx(deadline))


def test_the_warning_never_shows_a_password():
    from lrviz.tracking import hide_password

    assert hide_password("https://me:s3cret@mlflow.example:5000/x") == "https://me:***@mlflow.example:5000/x"
    assert hide_password("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_mlflow_asked_for_but_not_installed_warns_and_the_run_finishes(tmp_path):
    blocker = tmp_path / "no-mlflow"
    (blocker / "mlflow").mkdir(parents=True)
    (blocker / "mlflow" / "__init__.py").write_text("raise ImportError(\"No module named 'mlflow'\")\n")
    runs_dir = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "lrviz", "train", *TINY, "--mlflow", "--runs-dir", str(runs_dir)],
                       capture_output=True, text=True, timeout=400, cwd=tmp_path,
                       env={**ENV, "PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"})
    assert runs_dir.is_dir(), r.stderr[-3000:]
    (summary,) = runs.list_runs(runs_dir)
    run = runs.load_run(summary.id, runs_dir)
    _check_whole_run(r, run)
    message = ("MLflow cannot be used here (ImportError: No module named 'mlflow'; pip install mlflow); the run goes "
               "on without it")
    assert [w["message"] for w in run.status["warnings"]] == [message]
    assert _warning_lines(r.stderr) == [f"lrviz: warning: {message}"]
