"""Every training run writes TensorBoard event files; read back with TensorBoard's own reader."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from lrviz import runs
from lrviz.schedules import Schedule
from lrviz.worker import run_worker


def scalars(folder):
    """tag -> {step: value}, whether written as tensors (tf.summary) or scalars (tensorboardX)."""
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    out = {tag: {e.step: float(make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}
           for tag in acc.Tags()["tensors"]}
    out.update({tag: {e.step: float(e.value) for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]})
    return out


def test_event_files_hold_history_and_the_lr_of_every_batch(tmp_path):
    sched = Schedule.create("one_cycle", {"max_lr": 0.05, "total_epochs": 3})
    rid = runs.create_run({"limit": 200, "batch_size": 32, "epochs": 3, "schedule": sched.to_config()}, tmp_path)
    assert run_worker(tmp_path / rid, verbose=0, install_signals=False) == "finished"
    hist = pd.read_csv(tmp_path / rid / "history.csv")
    train = scalars(tmp_path / rid / "tensorboard" / "train")
    val = scalars(tmp_path / rid / "tensorboard" / "validation")
    for key in ("loss", "accuracy"):
        assert sorted(train[f"epoch_{key}"]) == [1, 2, 3]  # steps are the 1-based epochs of history.csv
        np.testing.assert_allclose([train[f"epoch_{key}"][e] for e in hist["epoch"]], hist[key], rtol=1e-6)
        np.testing.assert_allclose([val[f"epoch_{key}"][e] for e in hist["epoch"]], hist[f"val_{key}"], rtol=1e-6)
    np.testing.assert_allclose([train["epoch_learning_rate"][e] for e in hist["epoch"]], hist["lr"], rtol=1e-6)
    spe = 7
    batch_lr = train["batch_learning_rate"]
    assert sorted(batch_lr) == list(range(3 * spe))  # every batch, by its 0-based global index
    np.testing.assert_allclose([batch_lr[s] for s in range(3 * spe)], sched.per_step(3, spe), rtol=1e-6)
    assert len(set(np.round(list(batch_lr.values()), 8))) > 3 * 2  # the one-cycle curve, not one value per epoch


def test_runs_without_event_files_still_open(tmp_path):
    rid = runs.create_run({"limit": 100, "epochs": 1}, tmp_path)
    assert run_worker(tmp_path / rid, verbose=0, install_signals=False) == "finished"
    import shutil

    shutil.rmtree(tmp_path / rid / "tensorboard")  # as a run written before event files existed
    run = runs.load_run(rid, tmp_path)
    assert run.error is None and len(run.history) == 1 and runs.list_runs(tmp_path)[0].state == "finished"
