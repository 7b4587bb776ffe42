"""Keras callbacks of the training worker, one job each, composed by :mod:`lrviz.jobs.training`.

* :class:`ControlPoller` -- reads stop and set-LR requests (``control/`` files, signals, a
  batch budget) before every batch and stops ``fit`` after the current batch.
* :class:`ScheduleSetter` -- sets ``optimizer.learning_rate`` before every batch from the
  schedule computed once as a vector over global batch indices (``Schedule.per_step``, the
  function the explorer plots), scaled by :class:`LROverrides`; adds the epoch's LRs to the
  logs (``lr``, ``lr_planned``, ``lr_last``) the way Keras' ``LearningRateScheduler`` adds
  ``learning_rate``. On JAX the training job uses its subclass
  :class:`lrviz.compiled_lr.CompiledScheduleSetter` instead: the same vector looked up inside
  the compiled step.
* :class:`RunLogger` -- writes ``status.json`` (at most 4 times a second) and one
  ``history.csv`` row per finished epoch.
* :class:`PlateauReducer` -- ReduceLROnPlateau (:mod:`lrviz.plateau`): on a plateau, asks the
  setter to scale the rest of the schedule, like a Set-LR factor.
* :class:`TensorBoardWriter` -- TensorBoard event files (TensorFlow's summary writer): epoch
  scalars for train and validation, and the LR of every batch.

Order matters and is the order of the list given to ``fit``: poller, setter, then the others
(the poller hands LR requests to the setter before it sets the batch's LR; the logger and
the TensorBoard writer read the LRs the setter put in the epoch's logs).

All three are marked ``async_safe``: Keras then runs ``on_train_batch_end`` in a thread
instead of pulling every batch's logs to Python first (a device sync per batch). Their
batch-end work only counts batches and writes ``status.json``. Decisions that must hold for
the very next batch (setting the LR, stopping) are taken in ``on_train_batch_begin``, which
Keras always calls synchronously.

**Overrides** (``set_lr``) all reduce to one multiplier ``m`` (1 at the start) applied to the
rest of the schedule::

    lr(step) = m * schedule(step)
    factor f at step s:  m <- m * f                      # scale the rest of the schedule
    value  v at step s:  m <- v / schedule(s)            # LR is v now; the schedule's shape
                                                         # continues from there (a later
                                                         # step drop still halves it)

(if ``schedule(s)`` is 0 the value is held constant instead).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lrviz.store.files import atomic_write_text

__all__ = ["LROverrides", "ControlPoller", "ScheduleSetter", "RunLogger", "PlateauReducer", "TensorBoardWriter"]

NAN = float("nan")


class LROverrides:
    """The multiplier arithmetic of LR overrides (no Keras): ``lr(planned)`` after ``apply``."""

    def __init__(self) -> None:
        self.multiplier = 1.0
        self.hold: float | None = None

    def apply(self, request: dict[str, Any], planned: float) -> tuple[str, float]:
        """Apply ``{"factor": f}`` or ``{"value": v}`` at a step whose schedule LR is ``planned``."""
        if "factor" in request:
            value = float(request["factor"])
            self.multiplier *= value
            if self.hold is not None:
                self.hold *= value
            return "factor", value
        value = float(request["value"])
        if planned > 0:
            self.multiplier, self.hold = value / planned, None
        else:  # the schedule is 0 here: no shape to rescale, hold the value
            self.hold = value
        return "value", value

    def lr(self, planned: float) -> float:
        return self.hold if self.hold is not None else float(planned * self.multiplier)


class ControlPoller(keras.callbacks.Callback):
    """Stops ``fit`` after the current batch when asked; passes LR requests on.

    ``control``: a :class:`lrviz.store.Control` (``poll()`` -> new LR requests, and
    ``stop_requested``). ``on_lr_request(request)`` receives each LR request before the batch
    it applies to. ``max_batches``: stop after this many batches of this run (a budget).
    """

    async_safe = True

    def __init__(self, control: Any, on_lr_request: Callable[[dict[str, Any]], Any] | None = None,
                 max_batches: int | None = None):
        super().__init__()
        self.control = control
        self.on_lr_request = on_lr_request
        self.max_batches = max_batches
        self.batches_started = 0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        for request in self.control.poll():
            if self.on_lr_request is not None:
                self.on_lr_request(request)
        self.batches_started += 1
        if self.max_batches is not None and self.batches_started >= self.max_batches:
            self.control.stop_requested = True
        if self.control.stop_requested:
            self.model.stop_training = True  # Keras ends fit once this batch is done


class ScheduleSetter(keras.callbacks.Callback):
    """Sets the LR before every batch: ``lrs[epoch * steps_per_epoch + batch]`` times the overrides.

    ``lrs``: the LR of every global batch index (0-based), e.g. ``Schedule.per_step(epochs, spe)``.
    Requests given to :meth:`request` apply from the next batch; each applied one is passed to
    ``on_override(entry)`` (step, 1-based epoch and batch, kind, value, multiplier, hold, times).
    """

    async_safe = True

    def __init__(self, lrs: np.ndarray, steps_per_epoch: int,
                 on_override: Callable[[dict[str, Any]], Any] | None = None):
        super().__init__()
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.spe = int(steps_per_epoch)
        self.on_override = on_override
        self.overrides = LROverrides()
        self.epoch = 0
        self.lr = NAN  # the LR set for the latest batch
        self._pending: list[dict[str, Any]] = []
        self._assigned: float | None = None
        self._first = (NAN, NAN)

    def request(self, request: dict[str, Any]) -> None:
        self._pending.append(request)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        step = self.epoch * self.spe + batch
        planned = float(self.lrs[step])
        self._apply_pending(step, batch)
        self.lr = self.overrides.lr(planned)
        if self.lr != self._assigned:
            self.model.optimizer.learning_rate = self.lr
            self._assigned = self.lr
        if batch == 0:  # what the optimizer really holds (float32), and the pure schedule
            self._first = (float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)), planned)

    def _apply_pending(self, step: int, batch: int) -> None:
        """Apply the requests waiting, at global ``step`` (its ``batch`` in the epoch), and report each."""
        planned = float(self.lrs[step])
        while self._pending:
            req = self._pending.pop(0)
            kind, value = self.overrides.apply(req, planned)
            if self.on_override is not None:
                self.on_override({"step": step, "epoch": self.epoch + 1, "batch": batch + 1, "kind": kind,
                                  "value": value, "multiplier": self.overrides.multiplier,
                                  "hold": self.overrides.hold, "source": req.get("source", "user"),
                                  "requested_at": req.get("requested_at"), "applied_at": time.time()})

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if logs is not None:
            logs["lr"], logs["lr_planned"] = self._first
            logs["lr_last"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class RunLogger(keras.callbacks.Callback):
    """Writes progress to ``status.json`` and each finished epoch to ``history.csv``.

    ``status``: a :class:`lrviz.jobs.common.StatusWriter`. ``total_batches``: batches this
    run will train (for the ETA). ``lr_now() -> (lr, multiplier)`` is reported in the status.
    ``on_row(row)`` is called after each row is written.
    A row holds the 1-based ``epoch``, Keras' logs (``loss, accuracy, val_loss,
    val_accuracy``, and ``lr, lr_planned, lr_last`` when a :class:`ScheduleSetter` ran
    first; with ``all_logs`` every other number in the logs too: a user's own metrics),
    ``epoch_time_s`` and ``ended_at``. An epoch cut short by a stop is not a row.
    ``steps_per_epoch`` 0: not known before the first epoch ends (then set it, and
    ``total_batches``, from :attr:`batch`); no ETA until then.
    The ETA is measured from the end of the first batch, which carries the graph tracing.
    """

    async_safe = True

    def __init__(self, status: Any, history_path: Path, steps_per_epoch: int, total_batches: int,
                 lr_now: Callable[[], tuple[float, float]] | None = None,
                 on_row: Callable[[dict[str, Any]], Any] | None = None, all_logs: bool = False):
        super().__init__()
        self.on_row = on_row
        self.all_logs = all_logs
        self.status = status
        self.history_path = Path(history_path)
        self.spe = int(steps_per_epoch)
        self.total_batches = int(total_batches)
        self.lr_now = lr_now
        self.rows: list[dict[str, Any]] = []
        self.epoch = 0
        self.batch = 0  # batches finished in the current epoch
        self.batches_run = 0  # batches finished in this run
        self._epoch_t0 = time.monotonic()
        self._rate_t0: float | None = None  # end of the first batch
        self._lock = threading.Lock()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch, self.batch = epoch, 0
        self._epoch_t0 = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        # Keras runs async-safe batch ends on a thread pool: they may finish out of order and
        # side by side, so count under a lock and keep the highest batch seen (a plain
        # `self.batch = batch + 1` could end an epoch at 21/22 and drop its history row).
        with self._lock:
            self.batch = max(self.batch, batch + 1)
            self.batches_run += 1
            if self._rate_t0 is None:
                self._rate_t0 = time.monotonic()
            lr, multiplier = self.lr_now() if self.lr_now is not None else (None, None)
            self.status.throttled(epoch=self.epoch, batch=self.batch, lr=lr, lr_multiplier=multiplier,
                                  eta_s=self._eta())

    def _eta(self) -> float | None:
        """Seconds left at the pace since the first batch ended (None until that pace is known)."""
        if self.batches_run < 2 or self._rate_t0 is None or self.total_batches <= 0:
            return None
        pace = (time.monotonic() - self._rate_t0) / (self.batches_run - 1)
        return pace * max(self.total_batches - self.batches_run, 0)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.batch < self.spe:  # stopped mid-epoch: not a finished epoch
            return
        logs = logs or {}
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_planned", "lr_last"):
            row[key] = _float(logs.get(key, NAN))
        if self.all_logs:
            row.update({k: _float(v) for k, v in logs.items() if k not in row and _is_number(v)})
        row["epoch_time_s"] = time.monotonic() - self._epoch_t0
        row["ended_at"] = time.time()
        self.rows.append(row)
        atomic_write_text(self.history_path, history_csv(self.rows))
        # the ETA too: epochs shorter than the status throttle would otherwise freeze it
        self.status.write(epoch=row["epoch"], batch=0, last=row, eta_s=self._eta())
        if self.on_row is not None:
            self.on_row(row)


def history_csv(rows: list[dict[str, Any]]) -> str:
    """``history.csv`` of ``rows``: the columns in the order first seen, floats as ``%.15g``, a
    missing value or NaN empty, as pandas' ``to_csv(float_format="%.15g")`` writes them, in a
    fraction of its time (it runs after every epoch, in the training loop)."""
    import csv
    import io

    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(v: Any) -> str:
    if v is None or isinstance(v, float) and v != v:
        return ""
    return f"{v:.15g}" if isinstance(v, float) else str(v)


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return not isinstance(v, (bool, str))
    except (TypeError, ValueError):
        return False


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return NAN


class PlateauReducer(keras.callbacks.Callback):
    """ReduceLROnPlateau on top of any schedule: when :class:`lrviz.plateau.Plateau` decides on a
    reduction after an epoch, ``request({"factor": new/old, "source": "plateau", ...})`` is called
    (give it :meth:`ScheduleSetter.request`), so the rest of the schedule is scaled from the next
    batch and the reduction is recorded like an override. ``old`` is the LR of the epoch's last
    batch, as Keras' own callback reads it from the optimizer (or the setter's ``lr_last`` in the
    logs: an optimizer driven by :class:`lrviz.compiled_lr.PlannedLR` reads the next batch's)."""

    def __init__(self, settings: dict[str, Any], request: Callable[[dict[str, Any]], Any]):
        super().__init__()
        from lrviz.plateau import Plateau

        self.plateau = Plateau(settings)
        self.request = request
        self.reductions: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        current = (logs or {}).get(self.plateau.monitor)
        if current is None:
            return
        old = (logs or {}).get("lr_last")
        old = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate) if old is None else old)
        new = self.plateau.step(float(current), old)
        if new is not None and old > 0:
            self.reductions.append({"epoch": epoch + 1, "old": old, "new": new})
            self.request({"factor": new / old, "source": "plateau", "requested_at": time.time()})


class TensorBoardWriter(keras.callbacks.Callback):
    """TensorBoard event files in ``log_dir/train`` and ``log_dir/validation``, written with
    TensorFlow's summary writer (so ``tensorboard --logdir runs`` shows every run).

    Per epoch (step = the 1-based epoch, as lrviz shows epochs): ``epoch_loss`` and
    ``epoch_accuracy`` in both folders (Keras' own TensorBoard callback uses these names) and
    ``epoch_learning_rate`` (the epoch's first batch) in train. Per batch (step = the 0-based
    global batch index): ``batch_learning_rate``, so warmups and one-cycle show; the values
    are collected as the batches run and written at the end of each epoch.

    ``tensorflow_writer``: TensorFlow's writer (default: on the TensorFlow backend) or
    tensorboardX's, which writes the same events without TensorFlow and about 50 times faster
    a scalar (a user's fit whose epochs last a fraction of a second takes it).
    """

    def __init__(self, log_dir: Path, steps_per_epoch: int, lr_now: Callable[[], float],
                 backend: str = "tensorflow", tensorflow_writer: bool | None = None):
        super().__init__()
        self.spe = int(steps_per_epoch)
        self.lr_now = lr_now
        if backend == "tensorflow" if tensorflow_writer is None else tensorflow_writer:
            self.train, self.validation = (_TFSummary(Path(log_dir) / d) for d in ("train", "validation"))
        else:  # no TensorFlow here: tensorboardX writes the same event format
            self.train, self.validation = (_TBXSummary(Path(log_dir) / d) for d in ("train", "validation"))
        self.epoch = 0
        self._batch_lrs: list[tuple[int, float]] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.record(self.epoch * self.spe + batch, self.lr_now())

    def record(self, step: int, lr: float) -> None:
        """The LR of one batch (0-based global ``step``), written at the end of its epoch (a
        caller that knows its batches' LRs only later calls this instead of the batch hook)."""
        self._batch_lrs.append((int(step), float(lr)))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        logs = logs or {}
        complete = len(self._batch_lrs) >= self.spe  # an epoch cut by a stop has no epoch scalars
        for step, lr in self._batch_lrs:
            self.train.scalar("batch_learning_rate", lr, step)
        self._batch_lrs.clear()
        if complete:
            for key in ("loss", "accuracy"):
                if key in logs:
                    self.train.scalar(f"epoch_{key}", float(logs[key]), epoch + 1)
                if f"val_{key}" in logs:
                    self.validation.scalar(f"epoch_{key}", float(logs[f"val_{key}"]), epoch + 1)
            if "lr" in logs:
                self.train.scalar("epoch_learning_rate", float(logs["lr"]), epoch + 1)
        self.train.flush()
        self.validation.flush()

    def on_train_end(self, logs: Any = None) -> None:
        self.train.close()
        self.validation.close()


class _TFSummary:
    """One TensorBoard folder written with TensorFlow's summary writer."""

    def __init__(self, folder: Path):
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(folder))

    def scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.scalar(tag, value, step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _TBXSummary:
    """One TensorBoard folder written with tensorboardX (no TensorFlow needed)."""

    def __init__(self, folder: Path):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(folder))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
