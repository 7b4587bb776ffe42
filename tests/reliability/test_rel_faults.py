"""Faults: the runs folder fills up under a real worker (issue 6, "Faults"); a SIGTERM while
the MLflow tracking server does not answer.

"Full" is simulated honestly with ``RLIMIT_FSIZE`` on the worker process: the kernel refuses
any write that would make a file larger than the limit (``EFBIG``; Python ignores SIGXFSZ),
exactly as a full disk refuses the write that does not fit. The limit lets the small files
(config, status, history, report) through and stops the first big one (``model.keras``).

Already covered elsewhere, not repeated: SIGKILL mid-epoch
(tests/test_training.py::test_sigkill_leaves_a_readable_failed_run), SIGTERM
(::test_sigterm_stops_gracefully), an exception in the worker (::test_failure_is_recorded),
readers never seeing a partial file (::test_live_reader_never_sees_a_partial_file).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lrviz import runs as runs_api

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"limit": 200, "epochs": 3, "batch_size": 32}


def _launcher(fsize_limit: int):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    def launch(path: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        with open(path / "worker.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "lrviz.worker", str(path.resolve())],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    preexec_fn=limit, start_new_session=True)
        launch.proc = proc
        import psutil

        return proc.pid, psutil.Process(proc.pid).create_time()

    return launch


def _run_with_fsize(tmp_path: Path, fsize_limit: int, timeout: float = 180) -> tuple[str, Path, int]:
    launch = _launcher(fsize_limit)
    rid = runs_api.create_run(SMALL, tmp_path, launch=launch)
    try:
        code = launch.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        launch.proc.kill()
        raise
    return rid, tmp_path / rid, code


def _partial_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".model."))


def _check_history(path: Path, epochs: int) -> None:
    hist = pd.read_csv(path / "history.csv")
    assert list(hist["epoch"]) == list(range(1, epochs + 1))
    assert hist[["loss", "val_accuracy", "lr"]].notna().all().all()


@pytest.fixture(scope="module")
def disk_full_run(tmp_path_factory):
    """A 3-epoch run whose model.keras (hundreds of KiB) does not fit; small files do."""
    tmp = tmp_path_factory.mktemp("full")
    return _run_with_fsize(tmp, 64 * 1024)


def test_rel_disk_full_run_fails_with_a_clear_reason(disk_full_run):
    rid, path, code = disk_full_run
    run = runs_api.load_run(rid, path.parent)
    assert code == 1
    assert run.status["state"] == "failed", run.status
    assert "File too large" in run.status["error"] or "No space" in run.status["error"], run.status["error"]
    assert run.error is None  # every file it did write is readable
    _check_history(path, 3)  # the finished epochs are kept
    assert run.extras["report"] is not None and run.extras["confusion"] is not None  # written before the model
    assert "model.keras" not in run.files
    assert runs_api.active_run(path.parent) is None
    assert [r.state for r in runs_api.list_runs(path.parent)] == ["failed"]


def test_rel_disk_full_leaves_no_partial_files(disk_full_run):
    rid, path, code = disk_full_run
    assert _partial_files(path) == []


def test_rel_nothing_written_is_corrupted_when_status_cannot_be_written(tmp_path):
    """A limit so small that even status.json does not fit: the worker cannot report, but the
    run is not left 'running' forever: its pid is gone, so readers mark it failed, and what
    create_run wrote stays intact."""
    rid, path, code = _run_with_fsize(tmp_path, 300, timeout=120)
    assert code != 0
    time.sleep(0.2)
    run = runs_api.load_run(rid, tmp_path)
    assert run.status["state"] == "failed" and "ended unexpectedly" in run.status["error"]
    assert run.error is None and run.config["id"] == rid  # config.json/status.json still whole JSON
    assert runs_api.active_run(tmp_path) is None
    assert (path / "worker.log").read_text(errors="replace").startswith("Traceback")  # cut at the limit too


def test_rel_sigterm_while_mlflow_does_not_answer_stops_gracefully(tmp_path, silent_server):
    """The user gave MLflow 60 s a request: a SIGTERM sent while the run waits on it (the
    server has the connection) still stops the run at once, evaluated, with every file."""
    import signal

    port, accepted = silent_server
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "lrviz", "train", "--limit", "200", "--epochs", "3",
                             "--batch-size", "32", "--runs-dir", str(runs_dir)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert accepted.wait(180), "the run never called MLflow"
        time.sleep(0.5)  # well inside the call: MLflow sent its request and waits for the answer
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=120)
        after_signal = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    (summary,) = runs_api.list_runs(runs_dir)
    run = runs_api.load_run(summary.id, runs_dir)
    assert run.status["state"] == "stopped" and run.status["epoch"] == 0, run.status
    assert {"report.csv", "confusion.csv", "predictions.csv", "model.keras"} <= set(run.files), sorted(run.files)
    (w,) = run.status["warnings"]
    assert w["source"] == "mlflow" and "when the run was stopped" in w["message"], w
    assert [ln for ln in err.splitlines() if ln.startswith("lrviz: warning:")] == [f"lrviz: warning: {w['message']}"]
    assert after_signal < 30, after_signal  # the call alone could take 2 x 60 s
