"""MLflow, opt in: a training run also logged to an MLflow tracking server or store.

On when the run's config has ``mlflow: true`` (``--mlflow``, the Train page's toggle) or
``MLFLOW_TRACKING_URI`` is set in the worker's environment; otherwise MLflow is never
imported and need not be installed. MLflow's own client writes everything:

* parameters: the run's settings, the schedule flattened (``schedule``, ``schedule.lr``, ...)
  and the plateau settings (``plateau.factor``, ...); tags ``lrviz.run_id``, ``lrviz.kind``;
* metrics per finished epoch (step = the 1-based epoch): ``loss, accuracy, val_loss,
  val_accuracy, lr, lr_planned``;
* artifacts at the end: ``report.csv``, ``confusion.csv``, ``history.csv``, ``training.png``
  and the model (``model.keras``, with its optimizer state);
* the MLflow run ends FINISHED (finished), KILLED (stopped) or FAILED, and its id is kept in
  the lrviz run's ``config.json`` (``mlflow_run_id``).

The experiment is ``$MLFLOW_EXPERIMENT_NAME`` or ``lrviz``; the tracking URI is MLflow's
(``$MLFLOW_TRACKING_URI``, else its default local store).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import keras

from lrviz.store.files import atomic_write_json, read_json

__all__ = ["MLflowLogger", "flat_params", "ARTIFACTS"]

ARTIFACTS = ("report.csv", "confusion.csv", "history.csv", "training.png", "model.keras")
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_planned")
_END = {"finished": "FINISHED", "stopped": "KILLED"}


def flat_params(config: dict[str, Any]) -> dict[str, str]:
    """The settings as MLflow parameters (strings, nested mappings flattened with dots)."""
    out: dict[str, str] = {}
    for key in ("dataset", "cifar_archive", "limit", "epochs", "batch_size", "momentum", "nesterov", "seed", "parent",
                "initial_epoch", "steps_per_epoch", "train_size", "test_size"):
        if config.get(key) is not None:
            out[key] = str(config[key])
    sched = config.get("schedule") or {}
    out["schedule"] = str(sched.get("name"))
    for k, v in (sched.get("params") or {}).items():
        out[f"schedule.{k}"] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    for k in ("warmup", "warmup_start_factor"):
        if k in sched:
            out[f"schedule.{k}"] = str(sched[k])
    for k, v in (config.get("plateau") or {}).items():
        out[f"plateau.{k}"] = str(v)
    return out


class MLflowLogger(keras.callbacks.Callback):
    """Logs one lrviz training run to MLflow (see the module docstring); call :meth:`finish`
    once the run's files are written."""

    def __init__(self, run_dir: Path, config: dict[str, Any]):
        super().__init__()
        from mlflow.tracking import MlflowClient

        self.dir = Path(run_dir)
        self.config = config
        self.client = MlflowClient()
        self.run_id: str | None = None
        self._batches = 0
        self.spe = int(config.get("steps_per_epoch") or 0)

    def _start(self) -> None:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "lrviz")
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(name)
        run = self.client.create_run(exp_id, run_name=str(self.config.get("id")),
                                     tags={"lrviz.run_id": str(self.config.get("id")), "lrviz.kind": "train"})
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in flat_params(self.config).items()])
        cfg = read_json(self.dir / "config.json")
        cfg["mlflow_run_id"] = self.run_id
        atomic_write_json(self.dir / "config.json", cfg)
        self.config["mlflow_run_id"] = self.run_id

    def on_train_begin(self, logs: Any = None) -> None:
        self._start()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._batches = 0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.run_id is None or self._batches < self.spe:  # a cut epoch is not a finished epoch
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, epoch + 1) for k, v in (logs or {}).items() if k in METRICS]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, run_dir: Path, state: str) -> None:
        """Upload the run's files and end the MLflow run with lrviz's final state."""
        if self.run_id is None:
            return
        for name in ARTIFACTS:
            f = Path(run_dir) / name
            if f.is_file():
                self.client.log_artifact(self.run_id, str(f))
        self.client.set_terminated(self.run_id, status=_END.get(state, "FAILED"))
