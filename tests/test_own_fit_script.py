"""A user's own training script, run for real in its own process on TensorFlow and on JAX, with
``lrviz.keras.Dashboard`` as its one lrviz line: its run lists while it trains, ``lrviz set-lr``
changes its LR from the next batch (the history, TensorBoard's reader and the optimizer's own
value agree), ``lrviz stop`` ends the fit after the current batch and the script's next line
runs; a killed script's run is failed with its epochs kept."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fit_fakes import batch_lrs

from lrviz import runs
from lrviz.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent("""
    import numpy as np, keras
    import lrviz.keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=100000, validation_split=0.25, verbose=0,
                        callbacks=[lrviz.keras.Dashboard(name="my script")])
    print("AFTER FIT", len(history.history["loss"]),
          float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), flush=True)
""")


def _start(tmp_path: Path, backend: str, *, write: bool = True) -> subprocess.Popen:
    if write:
        (tmp_path / "train.py").write_text(SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": backend, "LRVIZ_RUNS_DIR": str(tmp_path / "runs"),
           "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen([sys.executable, "train.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait(what, ok, proc, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = ok()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the script ended while waiting for {what}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _history(runs_dir: Path, rid: str):
    try:
        return runs.load_run(rid, runs_dir).history
    except (OSError, ValueError):
        return None


def _listed(runs_dir: Path):
    found = [s for s in runs.list_runs(runs_dir) if s.kind == "fit" and s.state == "running"]
    return found[0].id if found else None


@pytest.mark.parametrize("backend", ["tensorflow", "jax", pytest.param("torch", marks=pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (not in requirements; passed by hand "
                                                      "with torch 2.14 on 2026-12-03)"))])
def test_a_script_is_listed_steered_and_stopped_and_goes_on_after_fit(tmp_path, backend):
    runs_dir = tmp_path / "runs"
    proc = _start(tmp_path, backend)
    try:
        rid = _wait("the run to list as running", lambda: _listed(runs_dir), proc)
        assert runs.active_run(runs_dir) is None  # a fit never makes lrviz busy
        _wait("two epochs", lambda: (h := _history(runs_dir, rid)) is not None and len(h) >= 2, proc)
        assert cli(["set-lr", rid, "--value", "0.004", "--runs-dir", str(runs_dir)]) == 0
        _wait("an epoch at the new LR", lambda: (h := _history(runs_dir, rid)) is not None
              and np.isclose(h["lr"].iloc[-1], 0.004), proc)
        assert cli(["stop", rid, "--runs-dir", str(runs_dir)]) == 0
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    after = [line for line in out.splitlines() if line.startswith("AFTER FIT")]
    assert after, out[-3000:]  # the script's next line ran
    _, _, epochs_run, optimizer_lr = after[0].split()
    run = runs.load_run(rid, runs_dir)
    assert run.state == "stopped" and run.name == "my script" and run.config["backend"] == backend
    hist = run.history
    (override,) = run.config["lr_overrides"]
    changed = override["epoch"]  # the 1-based epoch of the first batch at the new LR
    before, after_rows = hist[hist["epoch"] < changed], hist[hist["epoch"] > changed]
    np.testing.assert_allclose(before[["lr", "lr_last"]].to_numpy(), 0.01, rtol=1e-6)
    np.testing.assert_allclose(after_rows[["lr", "lr_last"]].to_numpy(), 0.004, rtol=1e-6)
    assert float(optimizer_lr) == pytest.approx(0.004)  # the optimizer's own value agrees
    # Keras counts a stopped epoch too; lrviz keeps finished epochs only
    assert int(epochs_run) in (len(hist), len(hist) + 1)
    # every batch from the override's on ran at the new LR, every one before at the old
    lrs = batch_lrs(run.dir)
    step = override["step"]
    assert all(np.isclose(lrs[s], 0.01) for s in lrs if s < step)
    assert all(np.isclose(lrs[s], 0.004) for s in lrs if s >= step)


def test_a_script_ended_by_an_exception_outside_the_step_fails_its_run_with_the_reason(tmp_path):
    """The user's own callback raises after epoch 2: nothing in the training step sees it, the
    script ends on it (sys.excepthook), and the run says why, its 2 epochs kept."""
    script = SCRIPT.replace("callbacks=[lrviz.keras.Dashboard(name=\"my script\")]",
                            "callbacks=[lrviz.keras.Dashboard(name=\"my script\"), Breaks()]")
    script = script.replace("rng = np.random", "class Breaks(keras.callbacks.Callback):\n"
                            "    def on_epoch_end(self, epoch, logs=None):\n"
                            "        if epoch == 1:\n            raise OSError(\"my disk is full\")\n"
                            "rng = np.random")
    assert "Breaks()" in script
    (tmp_path / "train.py").write_text(script)
    proc = _start(tmp_path, "jax", write=False)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "OSError: my disk is full" in out
    (run,) = [runs.load_run(s.id, tmp_path / "runs") for s in runs.list_runs(tmp_path / "runs")]
    assert run.state == "failed" and run.status["error"] == "OSError: my disk is full"
    assert list(run.history["epoch"]) == [1, 2]


def test_a_killed_script_leaves_a_failed_run_with_its_epochs(tmp_path):
    runs_dir = tmp_path / "runs"
    proc = _start(tmp_path, "jax")
    try:
        rid = _wait("the run to list", lambda: _listed(runs_dir), proc)
        _wait("an epoch", lambda: (h := _history(runs_dir, rid)) is not None and len(h) >= 1, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = runs.load_run(rid, runs_dir)
    assert run.state == "failed" and "ended unexpectedly" in run.status["error"]
    assert len(run.history) >= 1 and list(run.history["epoch"]) == list(range(1, len(run.history) + 1))


NOTEBOOK = [
    """import os, psutil, numpy as np, keras
import lrviz.keras
from lrviz import runs
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 6)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
def model():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax")])
    m.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m""",
    """first = lrviz.keras.Dashboard(name="cell 2")
h = model().fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[first])
print("CHILDREN", len(psutil.Process().children(recursive=True)), "PID", os.getpid())""",
    """class Raises(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise ValueError("my callback broke")
second = lrviz.keras.Dashboard(name="cell 3")
model().fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[second, Raises()])""",
    """for d in (first, second):
    r = runs.load_run(d.run_id)
    print("RUN", d.run_id, r.state, r.status.get("pid"), "|", r.status.get("error"))""",
]


def test_in_a_jupyter_notebook_a_fit_is_a_run_of_the_kernel_and_a_failed_cell_fails_its_run(tmp_path):
    """A real Jupyter kernel (nbclient): no worker process, no fork; a cell whose fit raised
    outside the training step (the user's callback) leaves a failed run with that reason."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    env_before = dict(os.environ)
    os.environ.update(KERAS_BACKEND="jax", LRVIZ_RUNS_DIR=str(tmp_path), CUDA_VISIBLE_DEVICES="",
                      PYTHONPATH=str(ROOT))
    try:
        NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True, cwd=str(tmp_path)).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out = "\n".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []) if o.get("text"))
    errors = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ValueError", out
    children, kernel_pid = out.split("CHILDREN ")[1].split()[0], out.split("PID ")[1].split()[0]
    assert children == "0"  # nothing forked, no worker: the kernel trained it
    lines = [line.split() for line in out.splitlines() if line.startswith("RUN ")]
    (_, _, state1, pid1, *_), (_, _, state2, pid2, *_) = lines
    assert (state1, pid1) == ("finished", kernel_pid) and (state2, pid2) == ("failed", kernel_pid)
    assert "ValueError: my callback broke" in out.splitlines()[-1]


def test_the_example_script_trains_and_leaves_a_finished_run(tmp_path):
    """examples/own_fit.py as a user runs it (1 epoch, lrviz setting the LR): it ends, prints its
    run, and the run holds that one epoch at the schedule's LR, named as the script names it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "own_fit.py"), "--epochs", "1",
                           "--schedule", "step:lr=0.02,factor=0.5,drop_every=5", "--runs-dir", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (summary,) = runs.list_runs(tmp_path)
    run = runs.load_run(summary.id, tmp_path)
    assert (run.kind, run.state, run.name) == ("fit", "finished", "digits CNN from my script")
    assert list(run.history["epoch"]) == [1] and run.history["lr"].iloc[0] == pytest.approx(0.02)
    assert done.stdout.strip().splitlines()[-1].startswith(f"run {run.id}: 1 epochs, final validation accuracy ")
