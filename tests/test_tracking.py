"""MLflow, opt in: a run logged to a real local MLflow store (SQLite in a temp folder), read
back with MLflow's own client; without it, MLflow is not imported."""

import os
import subprocess
import sys

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
