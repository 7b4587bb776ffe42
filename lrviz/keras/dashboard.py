"""The Dashboard callback: a user's own ``model.fit`` as an lrviz run (what it records, how a fit
ends and how it is steered: :mod:`lrviz.keras`). It composes the engine's own callbacks
(:mod:`lrviz.callbacks`) on the run folder the runs API creates for a ``fit`` run."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lrviz import runs
from lrviz.callbacks import ControlPoller, RunLogger, ScheduleSetter, TensorBoardWriter
from lrviz.errors import FieldError
from lrviz.jobs.common import StatusWriter, device_words, versions
from lrviz.jobs.fit import FitJob
from lrviz.keras.facts import (
    alias_accuracy,
    checked_name,
    create_time,
    fit_locals,
    labels_and_predictions,
    model_info,
    optimizer_info,
    process_info,
)
from lrviz.keras.lr_schedule import FloatLR, ScheduledLR, as_schedule, positive_int
from lrviz.store.control import Control
from lrviz.store.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from lrviz.text import shorten

__all__ = ["Dashboard"]

NAN = float("nan")


# --------------------------------------------------------------------------- the callback

_LIVE: weakref.WeakSet[Dashboard] = weakref.WeakSet()  # dashboards of this process whose fit has not ended
_HOOKED = False


class Dashboard(keras.callbacks.Callback):
    """Makes ``model.fit`` an lrviz run: live on the Runs page, stoppable and steerable from it.

    Args:
        name: what the run is called in tables and comparisons (one line, at most 60 characters).
        runs_dir: the runs folder (default ``$LRVIZ_RUNS_DIR``, else ``runs``).
        schedule: an lrviz schedule that sets the LR before every batch, exactly as lrviz's engine
            does: a ``Schedule``, a registry name (``"step"``), ``"step:factor=0.25,drop_every=5"``,
            a config ``{"name": ..., "params": ...}`` or ``(name, params)``. The optimizer's LR
            must then be a float. None: the optimizer's own LR (whatever sets it) is recorded.
        class_names: the names of the classes, for the report (default ``"0"``, ``"1"``, ...).
        data: the data in words, for the runs table (default "your data").
        steps_per_epoch: for a dataset whose length Keras does not know (needed by ``schedule``).
        report: evaluate the validation data at the end (when it has class labels).

    After the fit, :attr:`run_id` names the run. The same Dashboard in a later fit with
    ``initial_epoch`` > 0 continues its run; with ``initial_epoch`` 0 it starts a new one.
    """

    async_safe = True  # its batch-end work only counts batches and writes status.json

    def __init__(self, name: str | None = None, runs_dir: str | os.PathLike | None = None, schedule: Any = None, *,
                 class_names: Sequence[str] | None = None, data: str | None = None,
                 steps_per_epoch: int | None = None, report: bool = True):
        super().__init__()
        self.name = None if name is None else checked_name(name)
        if runs_dir is not None and not isinstance(runs_dir, (str, os.PathLike)):
            raise FieldError("runs_dir", "a path (a str or an os.PathLike)", runs_dir)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else runs.DEFAULT_RUNS_DIR
        self.schedule = None if schedule is None else as_schedule(schedule)
        if class_names is not None and (isinstance(class_names, str) or not all(isinstance(c, str)
                                                                                  for c in class_names)):
            raise FieldError("class_names", "a list of strings", class_names)
        self.class_names = None if class_names is None else list(class_names)
        if data is not None:
            data = FitJob.settings()["dataset"].parse(data)
        self.data = data
        self.steps_per_epoch = None if steps_per_epoch is None else positive_int("steps_per_epoch", steps_per_epoch)
        if not isinstance(report, bool):
            raise FieldError("report", "True or False", report)
        self.report = report
        self.run_id: str | None = None
        self._active = False
        self._failed_write = False
        self._thread: int | None = None

    # ------------------------------------------------------------------ Keras hooks

    def on_train_begin(self, logs: Any = None) -> None:
        for other in list(_LIVE):  # an earlier fit of this thread that never reached its end
            if other is not self and other._thread == threading.get_ident():
                other._abandon(None, "its fit ended without finishing (an exception outside the training step)")
        fit = fit_locals(self.model)
        self._guard(self._begin, fit)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if self._active:
            self._epoch = epoch
            self._guard(lambda: [p.on_epoch_begin(epoch, logs) for p in self._parts])

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if not self._active:
            return
        self._poller.on_train_batch_begin(batch, logs)
        step = self._epoch * self._spe + batch
        if self._setter is not None:
            self._setter.on_train_batch_begin(batch, logs)
            self._batch_lrs.append(self._setter.lr)
        elif isinstance(self._lr, FloatLR):
            self._batch_lrs.append(self._lr.batch(self.model if self._lr.pending else None, step, self._epoch, batch))
        else:
            self._batch_lrs.append(NAN)  # the schedule's LR at this iteration comes at the epoch's end
        self._batch_in_epoch = batch + 1

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self._active:
            self._guard(self._logger.on_train_batch_end, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self._active:
            self._guard(self._end_epoch, epoch, dict(logs or {}))  # a copy: the user's History stays as it was

    def on_train_end(self, logs: Any = None) -> None:
        if self._active:
            self._guard(self._end, "stopped" if self._control.stop_requested else "finished")

    # ------------------------------------------------------------------ begin

    def _begin(self, fit: Mapping[str, Any]) -> None:
        model, optimizer = self.model, self.model.optimizer
        epochs = int(self.params.get("epochs") or 1)
        initial_epoch = int(fit.get("initial_epoch") or 0)
        spe = self.params.get("steps") or self.steps_per_epoch
        lr_schedule = getattr(optimizer, "_learning_rate", None)
        scheduled = isinstance(lr_schedule, keras.optimizers.schedules.LearningRateSchedule)
        if self.schedule is not None:
            if scheduled:
                raise FieldError("schedule", "", self.schedule, message=(
                    f"Argument `schedule` sets the LR of every batch, but this optimizer's `learning_rate` is a "
                    f"LearningRateSchedule ({type(lr_schedule).__name__}). Give the optimizer a float learning "
                    "rate, or leave `schedule` out to record the LR its schedule gives."))
            if not spe:
                raise FieldError("steps_per_epoch", "an integer >= 1 when `schedule` is given and Keras does not "
                                                    "know the dataset's length", self.steps_per_epoch)
        self._val = (fit.get("val_x"), fit.get("val_y")) if "val_x" in fit else (fit.get("validation_data"), None)
        self._batch_size = fit.get("batch_size") if isinstance(fit.get("batch_size"), int) else None
        continuing = self.run_id is not None and initial_epoch > 0
        config = {"kind": FitJob.kind, "epochs": epochs, "initial_epoch": initial_epoch,
                  "batch_size": self._batch_size, "steps_per_epoch": spe,
                  "schedule": None if self.schedule is None else self.schedule.to_config(),
                  "lr_source": "lrviz" if self.schedule is not None else
                  (type(lr_schedule).__name__ if scheduled else "float"),
                  "dataset": self.data or "your data", "model": model_info(model),
                  "optimizer": optimizer_info(optimizer), "class_names": self.class_names,
                  "backend": keras.backend.backend(), "device": device_words(keras.backend.backend()),
                  "process": process_info()}
        if continuing:
            path = runs.run_path(self.run_id, self.runs_dir)
            old = runs.load_run(self.run_id, self.runs_dir)
            config = {**FitJob.validate({**old.config, **config}), "id": self.run_id,
                      "created_at": old.config.get("created_at"), "versions": versions(),
                      "lr_overrides": old.config.get("lr_overrides") or []}
            atomic_write_json(path / "config.json", config)
            rows = [r for r in old.history.to_dict("records") if int(r.get("epoch", 0)) <= initial_epoch]
        else:
            self.run_id = runs.create_run(config, self.runs_dir)
            path = runs.run_path(self.run_id, self.runs_dir)
            config = runs.load_run(self.run_id, self.runs_dir).config
            if self.name:
                runs.set_run_name(self.run_id, self.name, self.runs_dir)
            rows = []
        self._path, self._config, self._spe, self._epoch = path, config, int(spe or 0), initial_epoch
        self._status = StatusWriter(path)
        self._control = Control(path / "control")
        self._overrides: list[dict[str, Any]] = list(config.get("lr_overrides") or [])
        self._setter = self._lr = None
        if self.schedule is not None:
            self._setter = ScheduleSetter(self.schedule.per_step(epochs, self._spe), self._spe,
                                          on_override=self._record_override)
            request, lr_now = self._setter.request, lambda: (self._setter.lr, self._setter.overrides.multiplier)
        elif scheduled:
            self._lr = ScheduledLR(optimizer, lr_schedule)
            request, lr_now = None, lambda: (self._lr.lr, None)
        else:
            self._lr = FloatLR(optimizer, self._record_override)
            request, lr_now = self._lr.request, lambda: (self._lr.lr, None)
        self._poller = ControlPoller(self._control, on_lr_request=request)
        total = (epochs - initial_epoch) * self._spe
        self._logger = RunLogger(self._status, path / "history.csv", self._spe, total, lr_now=lr_now, all_logs=True)
        self._logger.rows = rows
        self._tb = TensorBoardWriter(path / "tensorboard", self._spe, lambda: NAN, keras.backend.backend(),
                                     tensorflow_writer=False)  # tensorboardX's: a scalar in microseconds
        self._parts = [p for p in (self._poller, self._setter, self._logger, self._tb) if p is not None]
        for part in self._parts:
            part.set_model(model)
            part.set_params(self.params)
        self._batch_lrs: list[float] = []
        self._batch_in_epoch = 0
        self._wrap_train_function()
        self._thread = threading.get_ident()
        self._active = True
        _LIVE.add(self)
        _install_hooks()
        now = time.time()
        self._status.write(state="running", phase="training", pid=os.getpid(), pid_create_time=create_time(),
                           host=socket.gethostname(), started_at=now if not continuing else
                           self._status.status.get("started_at") or now, epoch=initial_epoch, epochs=epochs,
                           batch=0, steps_per_epoch=spe, error=None, eta_s=None, lr=lr_now()[0])

    def _record_override(self, entry: dict[str, Any]) -> None:
        self._overrides.append(entry)
        self._config["lr_overrides"] = self._overrides
        atomic_write_json(self._path / "config.json", self._config)
        self._status.write(lr_overrides=self._overrides)

    # ------------------------------------------------------------------ epochs

    def _end_epoch(self, epoch: int, logs: dict[str, Any]) -> None:
        lrs = np.asarray(self._batch_lrs, dtype=np.float64)
        if isinstance(self._lr, ScheduledLR):
            lrs = self._lr.epoch(len(lrs))
        if not self._spe and not self._control.stop_requested:  # a dataset of unknown length: now it is known
            self._spe = self._logger.spe = self._tb.spe = self._logger.batch
            self._logger.total_batches = (int(self.params.get("epochs") or 1) - epoch) * self._spe
            self._status.write(steps_per_epoch=self._spe)
        first = epoch * self._spe
        for i, lr in enumerate(lrs):
            self._tb.record(first + i, lr)
        if self._setter is not None:
            self._setter.on_epoch_end(epoch, logs)
        elif len(lrs):
            logs.update(lr=float(lrs[0]), lr_planned=NAN, lr_last=float(lrs[-1]))
        alias_accuracy(logs)
        self._logger.on_epoch_end(epoch, logs)
        self._tb.on_epoch_end(epoch, logs)
        self._batch_lrs = []

    # ------------------------------------------------------------------ end

    def _end(self, state: str) -> None:
        self._active = False
        _LIVE.discard(self)
        self._unwrap_train_function()
        self._tb.on_train_end()
        if self.report:
            self._status.write(phase="evaluating", eta_s=None)
            try:
                self._write_report()
            except OSError:
                raise
            except Exception as e:  # noqa: BLE001 - a report that cannot be made never fails the fit
                self._status.warn("report", shorten(f"no report: {type(e).__name__}: {e}"))
        self._status.write(state=state, phase=None, eta_s=None)
        self._val = (None, None)

    def _abandon(self, error: BaseException | None, reason: str | None = None) -> None:
        """The fit ended without reaching its end: Ctrl+C is a stop, anything else a failure."""
        if not self._active:
            return
        self._active = False
        _LIVE.discard(self)
        self._unwrap_train_function()
        with contextlib.suppress(Exception):
            self._tb.on_train_end()
        interrupted = isinstance(error, KeyboardInterrupt)
        text = reason or shorten(f"{type(error).__name__}: {error}")
        with contextlib.suppress(OSError):
            self._status.write(state="stopped" if interrupted else "failed", phase=None, eta_s=None,
                               error=None if interrupted else text,
                               **({"stop_reason": "interrupted (Ctrl+C)"} if interrupted else {}))
        self._val = (None, None)

    def _write_report(self) -> None:
        from lrviz.report import classification_report_frame, confusion_frame, frame_to_csv

        labelled = labels_and_predictions(self.model, *self._val, batch_size=self._batch_size or 32)
        if labelled is not None:
            y_true, y_pred, n_classes = labelled
            names = self.class_names or [str(i) for i in range(n_classes)]
            if len(names) < n_classes:
                raise FieldError("class_names", f"a list of {n_classes} names (one per class)", self.class_names)
            import pandas as pd

            path = self._path
            atomic_write_text(path / "predictions.csv",
                              pd.DataFrame({"y_true": y_true, "y_pred": y_pred}).to_csv(index=False))
            atomic_write_text(path / "report.csv", frame_to_csv(classification_report_frame(y_true, y_pred, names)))
            atomic_write_text(path / "confusion.csv", frame_to_csv(confusion_frame(y_true, y_pred, names)))
        rows = self._logger.rows
        if rows and all(k in rows[0] for k in ("loss", "accuracy", "val_loss", "val_accuracy")):
            import pandas as pd

            from lrviz.curves_png import training_png

            atomic_write_bytes(self._path / "training.png", training_png(pd.DataFrame(rows), "Training Loss and "
                                                                                           "Accuracy"))

    # ------------------------------------------------------------------ the training step's exceptions

    def _wrap_train_function(self) -> None:
        model, dashboard = self.model, self
        inner = getattr(model.train_function, "_lrviz_inner", model.train_function)  # never wrapped twice
        self._inner = inner
        if inner is None:
            return

        def train_function(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except BaseException as e:
                dashboard._abandon(e)
                raise

        train_function._lrviz_inner = inner  # type: ignore[attr-defined]
        model.train_function = train_function

    def _unwrap_train_function(self) -> None:
        model = getattr(self, "_model", None)  # not self.model: on JAX that syncs the training state
        if model is not None and getattr(model.train_function, "_lrviz_inner", None) is self._inner:
            model.train_function = self._inner

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run a hook's work; a runs folder that cannot be written stops the recording (one
        warning) and never the fit."""
        if self._failed_write:
            return None
        try:
            return fn(*args)
        except OSError as e:
            self._failed_write = True
            self._active = False
            _LIVE.discard(self)
            with contextlib.suppress(Exception):
                self._unwrap_train_function()
            warnings.warn(f"lrviz.keras.Dashboard: the runs folder {self.runs_dir} cannot be written "
                          f"({type(e).__name__}: {e}); the fit goes on without the dashboard.", RuntimeWarning,
                          stacklevel=3)
            return None



def _install_hooks() -> None:
    """Record a fit that ends without reaching its end: the script's uncaught exception, a
    notebook cell's error, or the process ending."""
    global _HOOKED
    if _HOOKED:
        return
    _HOOKED = True
    previous = sys.excepthook

    def excepthook(kind: type, error: BaseException, tb: Any) -> None:
        for d in list(_LIVE):
            d._abandon(error)
        previous(kind, error, tb)

    sys.excepthook = excepthook
    atexit.register(lambda: [d._abandon(None, "the process ended while its fit ran") for d in list(_LIVE)])
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None:
        def post_run_cell(result: Any) -> None:
            error = getattr(result, "error_in_exec", None)
            for d in list(_LIVE):
                if d._thread == threading.get_ident():
                    d._abandon(error, None if error is not None else "the cell ended while its fit ran")

        shell.events.register("post_run_cell", post_run_cell)
