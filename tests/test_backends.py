"""Keras 3 backends: the engine on JAX's CPU build (CI has no GPU), TensorFlow never imported
there, and the backend and device recorded with every run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from background import BackgroundJob, Command

from lrviz import runs
from lrviz.errors import FieldError
from lrviz.jobs import common

ROOT = Path(__file__).resolve().parents[1]
ENGINE_TESTS = ["tests/test_training.py", "tests/test_callbacks.py", "tests/test_lr_find.py", "tests/test_plateau.py",
                "tests/test_tensorboard.py", "tests/test_own_fit.py"]


def env(backend: str) -> dict:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT),
            "JAX_PLATFORMS": "cpu"}


def test_backend_setting_resolves_from_the_environment_and_must_be_installed(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert runs.validate_config({})["backend"] == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert runs.validate_config({})["backend"] == "tensorflow"
    assert runs.validate_config({"backend": "jax"})["backend"] == "jax"
    monkeypatch.setattr(common, "installed_backends", lambda: ("tensorflow",))
    with pytest.raises(FieldError) as e:
        runs.validate_config({"backend": "torch"})
    assert e.value.field == "backend" and "an installed backend (tensorflow)" in str(e.value)
    assert "pip install torch" in str(e.value)
    with pytest.raises(FieldError, match="Argument `backend` must be one of tensorflow, jax, torch"):
        runs.validate_config({"backend": "mxnet"})


def _jax_runs(tmp_path: Path) -> Command:
    code = f"""
import sys, json
sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
from lrviz import runs
from lrviz.worker import run_worker
d = {str(tmp_path)!r}
rid = runs.create_run({{"limit": 200, "batch_size": 32, "epochs": 3, "plateau": {{"patience": 1}}}}, d)
assert run_worker(d + "/" + rid, verbose=0, install_signals=False) == "finished"
stop = runs.create_run({{"limit": 200, "batch_size": 32, "epochs": 3, "max_batches": 9}}, d)
assert run_worker(d + "/" + stop, verbose=0, install_signals=False) == "stopped"
const = {{"name": "constant", "params": {{"lr": 0.001}}}}
child = runs.create_run({{"parent": stop, "epochs": 2, "schedule": const}}, d)
assert run_worker(d + "/" + child, verbose=0, install_signals=False) == "finished"
find = runs.create_run({{"kind": "lr_find", "limit": 200, "num_steps": 20}}, d)
assert run_worker(d + "/" + find, verbose=0, install_signals=False) == "finished"
assert not [m for m, v in sys.modules.items() if m.startswith("tensorflow") and v is not None]
print(json.dumps([rid, stop, child, find]))
"""
    return Command([sys.executable, "-c", code], env("jax"), timeout=600, cwd=ROOT)


JAX_RUNS = BackgroundJob("jax-runs", _jax_runs)


@pytest.mark.background(JAX_RUNS)
def test_jax_runs_train_stop_resume_and_lr_find_without_ever_importing_tensorflow():
    """TensorFlow made unimportable: a JAX run trains (schedule, plateau, TensorBoard files via
    tensorboardX), stops on request, resumes, and an LR range test runs."""
    r, tmp_path = JAX_RUNS.result(), JAX_RUNS.folder
    assert r.returncode == 0, r.stderr[-3000:]
    rid, stop, child, find = json.loads(r.stdout.strip().splitlines()[-1])
    run = runs.load_run(rid, tmp_path)
    assert (run.config["backend"], run.config["device"]) == ("jax", "CPU") and len(run.history) == 3
    assert run.status["backend"] == "jax" and run.extras["report"] is not None and "model.keras" in run.files
    assert (tmp_path / rid / "tensorboard" / "train").is_dir()
    assert list(runs.load_run(stop, tmp_path).history["epoch"]) == [1]
    assert list(runs.load_run(child, tmp_path).history["epoch"]) == [2]
    assert len(runs.load_run(find, tmp_path).extras["lr_find"]) == 20


def test_a_process_running_one_backend_refuses_a_run_on_another(tmp_path):
    import keras

    rid = runs.create_run({"limit": 100, "epochs": 1, "backend": "jax"}, tmp_path)
    from lrviz.worker import run_worker

    assert keras.backend.backend() == "tensorflow"
    assert run_worker(tmp_path / rid, verbose=0, install_signals=False) == "failed"
    err = runs.load_run(rid, tmp_path).status["error"]
    assert "Argument `backend` must be tensorflow in this process" in err and "own worker process" in err


CLI_ON_JAX = BackgroundJob("cli-on-jax", lambda tmp_path: Command(
    [sys.executable, "-m", "lrviz", "train", "--backend", "jax", "--limit", "100", "--epochs", "1", "--runs-dir",
     str(tmp_path)], env("tensorflow"), timeout=300, cwd=ROOT))


@pytest.mark.background(CLI_ON_JAX)
def test_the_cli_trains_on_jax_with_a_flag():
    r, tmp_path = CLI_ON_JAX.result(), CLI_ON_JAX.folder
    assert r.returncode == 0, r.stderr[-2000:]
    (s,) = runs.list_runs(tmp_path)
    assert runs.load_run(s.id, tmp_path).config["backend"] == "jax"


# The two reruns below are pytest sessions of their own: their tmp_path folders go under the job's
# folder (--basetemp), never beside this session's.
ENGINE_ON_JAX = BackgroundJob("engine-on-jax", lambda d: Command(
    [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--basetemp={d / 'tmp'}", *ENGINE_TESTS],
    {**env("jax"), "LRVIZ_BACKEND_SUITE": "1"}, timeout=900, cwd=ROOT))


@pytest.mark.skipif(os.environ.get("LRVIZ_BACKEND_SUITE") == "1", reason="already inside the JAX suite")
@pytest.mark.background(ENGINE_ON_JAX)
def test_the_engine_test_set_passes_on_jax():
    """The engine's own tests (schedule per batch, stop, set-LR, resume, LR range test with its
    bit-for-bit restore, reports, plateau, TensorBoard) rerun with KERAS_BACKEND=jax."""
    r = ENGINE_ON_JAX.result()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


COMPILED_ON_JAX = BackgroundJob("compiled-on-jax", lambda d: Command(
    [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rs", f"--basetemp={d / 'tmp'}",
     "tests/test_compiled_lr.py"], {**env("jax"), "LRVIZ_EXPECT_BACKEND": "jax"}, timeout=900, cwd=ROOT))


@pytest.mark.background(COMPILED_ON_JAX)
def test_the_compiled_step_schedule_equals_the_per_batch_setter_on_jax():
    """The proof of lrviz.compiled_lr on JAX's CPU build: trained weights equal to the per-batch
    setter's with no override, a mid-run Set LR and a plateau reduction, and the training job
    end to end (tests/test_compiled_lr.py, rerun with KERAS_BACKEND=jax)."""
    r = COMPILED_ON_JAX.result()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1]  # every proof ran on JAX
