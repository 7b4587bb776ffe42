"""The training worker: MiniVGGNet on a run's config, streamed into its run directory.

Run it as ``python -m lrviz.training <run_dir>`` (what :func:`lrviz.runs.start_run` spawns) or
in-process with :func:`run_worker` (what ``python -m lrviz train`` does in the foreground).
A run whose config has ``"kind": "lr_find"`` is an LR range test instead: the same command
runs :func:`lrviz.lr_finder.run_lr_find_worker` (same status, stop and failure handling).

**The LR comes from the schedule, before every batch.** The whole schedule is computed once
as a vector over global batch indices (``Schedule.per_step``, the function the explorer
plots) and :class:`RunCallback` sets ``optimizer.learning_rate`` from it in
``on_train_batch_begin``; global step = ``epoch * steps_per_epoch + batch`` (0-based).

**LR overrides** (``set_lr`` / ``python -m lrviz set-lr``) take effect from the next batch and
all reduce to one multiplier ``m`` (1 at the start) applied to the rest of the schedule::

    lr(step) = m * schedule(step)
    factor f at step s:  m <- m * f                      # scale the rest of the schedule
    value  v at step s:  m <- v / schedule(s)            # LR is v now; the schedule's shape
                                                         # continues from there (a later
                                                         # step drop still halves it)

(if ``schedule(s)`` is 0 the value is held constant instead). Each override is recorded in
``status.json`` and ``config.json`` (``lr_overrides``: step, epoch, batch, kind, value,
multiplier) and shows in ``history.csv``: ``lr`` is read back from the optimizer,
``lr_planned`` is the pure schedule.

History columns (one row per finished epoch, 1-based ``epoch``): ``loss, accuracy, val_loss,
val_accuracy``; ``lr``/``lr_planned``: the LR of the epoch's *first* batch (what Keras'
``LearningRateScheduler`` logs and the explorer's per-epoch curve shows); ``lr_last``: the LR
of its last batch (shows an override made mid-epoch); ``epoch_time_s`` (train + validation)
and ``ended_at`` (unix time).

**Stop** (``control/stop``, SIGINT or SIGTERM): the current batch finishes, Keras ends ``fit``,
the partial epoch is not added to the history, the model is evaluated on the test set and
the report, predictions, ``model.keras`` and ``training.png`` are written; state ``stopped``.
Any exception: state ``failed`` with the error text; the history written so far stays.

**Resume** (``parent`` in the config): loads the parent's ``model.keras`` with its optimizer
state, and trains epochs ``initial_epoch + 1 .. epochs`` (1-based; ``initial_epoch`` = the
parent's finished epochs), the schedule evaluated at the same global steps as if the run
had never stopped. The parent's overrides are not carried over.

With more than one GPU visible the model is built under ``tf.distribute.MirroredStrategy``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from lrviz import runs as store
from lrviz.schedules import Schedule, steps_per_epoch_for

__all__ = ["Control", "RunCallback", "run_worker", "main"]

STATUS_INTERVAL_S = 0.25  # status.json is rewritten at most 4 times per second


class Control:
    """Requests from outside: ``control/`` files written by the API, and signals."""

    def __init__(self, control_dir: Path):
        self.dir = control_dir
        self.stop_requested = False
        self._seen: set[str] = set()

    def request_stop(self, *_: Any) -> None:
        self.stop_requested = True

    def poll(self) -> list[dict[str, Any]]:
        """New LR requests, oldest first; sets ``stop_requested`` if a stop file appeared."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        if len(names) == len(self._seen):  # cheap path: nothing new (every batch)
            return []
        out = []
        for name in sorted(names):
            if name in self._seen or name.startswith("."):
                continue
            self._seen.add(name)
            if name == "stop":
                self.stop_requested = True
            elif name.startswith("lr-") and name.endswith(".json"):
                try:
                    out.append(store.read_json(self.dir / name))
                except (OSError, ValueError):
                    pass
        return out


class RunCallback:
    """Thin Keras callback: sets the LR per batch, polls control, hands plain floats to the store.

    Created through :func:`make_callback` so this module imports without Keras.
    """


def make_callback(keras: Any, run: RunWriter, lrs: np.ndarray, spe: int, initial_epoch: int,
                  control: Control, max_batches: int | None) -> Any:
    class _RunCallback(keras.callbacks.Callback, RunCallback):
        # Keras dispatches on_train_batch_end of async-safe callbacks to a thread instead of
        # pulling every batch's logs to Python first (a device sync per batch). Ours only counts
        # batches, flags a stop and writes status.json: safe there, and it keeps fit's pace.
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.multiplier = 1.0
            self.hold: float | None = None
            self.epoch = initial_epoch
            self.batch = 0  # batches finished in the current epoch
            self.batches_run = 0  # batches finished in this run
            self._assigned: float | None = None
            self._first_lr = (float("nan"), float("nan"))
            self._epoch_t0 = time.monotonic()

        def _set_lr(self, lr: float) -> None:
            if lr != self._assigned:
                self.model.optimizer.learning_rate = lr
                self._assigned = lr

        def _apply(self, req: dict[str, Any], step: int) -> None:
            planned = float(lrs[step])
            if "factor" in req:
                kind, value = "factor", float(req["factor"])
                self.multiplier *= value
                if self.hold is not None:
                    self.hold *= value
            else:
                kind, value = "value", float(req["value"])
                if planned > 0:
                    self.multiplier, self.hold = value / planned, None
                else:  # the schedule is 0 here: no shape to rescale, hold the value
                    self.hold = value
            run.record_override({"step": step, "epoch": self.epoch + 1, "batch": self.batch + 1, "kind": kind,
                                 "value": value, "multiplier": self.multiplier, "hold": self.hold,
                                 "requested_at": req.get("requested_at"), "applied_at": time.time()})

        def current_lr(self, step: int) -> float:
            return self.hold if self.hold is not None else float(lrs[step] * self.multiplier)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch, self.batch = epoch, 0
            self._epoch_t0 = time.monotonic()

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            step = self.epoch * spe + batch
            for req in control.poll():
                self._apply(req, step)
            self._set_lr(self.current_lr(step))
            if batch == 0:
                self._first_lr = (float(self.model.optimizer.learning_rate.numpy()), float(lrs[step]))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batch = batch + 1
            self.batches_run += 1
            if control.stop_requested or (max_batches is not None and self.batches_run >= max_batches):
                control.stop_requested = True
                self.model.stop_training = True
            run.progress(self.epoch, self.batch, self.batches_run, self.current_lr(self.epoch * spe + batch),
                         self.multiplier)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.batch < spe:  # stopped mid-epoch: not a finished epoch
                return
            logs = logs or {}
            row = {"epoch": epoch + 1}
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                row[k] = float(logs.get(k, float("nan")))
            row["lr"], row["lr_planned"] = self._first_lr
            row["lr_last"] = float(self.model.optimizer.learning_rate.numpy())
            row["epoch_time_s"] = time.monotonic() - self._epoch_t0
            row["ended_at"] = time.time()
            run.epoch_done(row)

    return _RunCallback()


class RunWriter:
    """Writes a run's status.json and history.csv (atomically) as the worker goes."""

    def __init__(self, path: Path, config: dict[str, Any]):
        self.path = path
        self.config = config
        self.rows: list[dict[str, Any]] = []
        self.overrides: list[dict[str, Any]] = []
        self.status: dict[str, Any] = store.read_json(path / "status.json")
        self._last_write = 0.0
        self._t0 = time.time()
        self.total_batches = 0
        self.done_before = 0  # batches of epochs before initial_epoch (resume)

    def write_status(self, **changes: Any) -> None:
        now = time.time()
        self.status.update(changes, updated_at=now)
        if self.status.get("started_at"):
            self.status["elapsed_s"] = now - self.status["started_at"]
        store.atomic_write_json(self.path / "status.json", self.status)
        self._last_write = time.monotonic()

    def progress(self, epoch: int, batch: int, batches_run: int, lr: float, multiplier: float) -> None:
        if time.monotonic() - self._last_write < STATUS_INTERVAL_S:
            return
        elapsed = time.time() - self._t0
        remaining = self.total_batches - batches_run
        eta = elapsed / batches_run * remaining if batches_run else None
        self.write_status(epoch=epoch, batch=batch, lr=lr, lr_multiplier=multiplier, eta_s=eta)

    def epoch_done(self, row: dict[str, Any]) -> None:
        import pandas as pd

        self.rows.append(row)
        csv = pd.DataFrame(self.rows).to_csv(index=False, lineterminator="\n", float_format="%.15g")
        store.atomic_write_text(self.path / "history.csv", csv)
        self.write_status(epoch=row["epoch"], batch=0, last=row)

    def record_override(self, entry: dict[str, Any]) -> None:
        self.overrides.append(entry)
        self.config["lr_overrides"] = self.overrides
        store.atomic_write_json(self.path / "config.json", self.config)
        self.write_status(lr_overrides=self.overrides)


def _configure_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    threads = os.environ.get("LRVIZ_TF_THREADS")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    return tf


def _strategy(tf: Any) -> Any:
    gpus = tf.config.list_physical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def run_worker(run_dir: str | Path, *, verbose: int | str = 2, install_signals: bool = True,
               on_step: Any = None) -> str:
    """Train the run in ``run_dir`` to the end (or, for a ``kind: lr_find`` run, run its LR range
    test, calling ``on_step(step, lr, loss, smoothed)`` after each batch); return its final state."""
    path = Path(run_dir)
    config = store.read_json(path / "config.json")
    writer = RunWriter(path, config)
    control = Control(path / "control")
    if install_signals:
        signal.signal(signal.SIGINT, control.request_stop)
        signal.signal(signal.SIGTERM, control.request_stop)
    try:
        import psutil

        ctime = psutil.Process().create_time()
    except Exception:  # noqa: BLE001
        ctime = None
    writer.write_status(state="running", pid=os.getpid(), pid_create_time=ctime, started_at=time.time(),
                        phase="loading data")
    try:
        if store.run_kind(config) == "lr_find":  # an LR range test run (lrviz.lr_finder)
            from lrviz.lr_finder import run_lr_find_worker

            state = run_lr_find_worker(path, config, control, on_step=on_step)
        else:
            state = _train(path, config, writer, control, verbose)
    except BaseException as e:  # noqa: BLE001 - every failure must end up in status.json
        traceback.print_exc()
        try:  # the lr_find worker writes status.json through its own writer: keep its progress
            writer.status = store.read_json(path / "status.json")
        except (OSError, ValueError):
            pass
        writer.write_status(state="failed", error=f"{type(e).__name__}: {e}", eta_s=None, phase=None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return "failed"
    return state


def _train(path: Path, config: dict[str, Any], writer: RunWriter, control: Control, verbose: int | str) -> str:
    from lrviz.data import load_dataset, make_tf_dataset

    schedule = Schedule.from_config(config["schedule"])
    ds = load_dataset(config["dataset"], cifar_archive=config.get("cifar_archive"), limit=config.get("limit"),
                      seed=config["seed"])
    tf = _configure_tf()
    import keras

    from lrviz.models import MiniVGGNet

    keras.utils.set_random_seed(config["seed"])
    batch, epochs = config["batch_size"], config["epochs"]
    initial_epoch = int(config.get("initial_epoch") or 0)
    spe = steps_per_epoch_for(len(ds.x_train), batch)
    classes = len(ds.class_names)
    with _strategy(tf).scope():
        if config.get("parent"):
            parent = store.run_path(config["parent"], path.parent)
            model = keras.models.load_model(parent / "model.keras")
            if tuple(model.input_shape[1:]) != ds.input_shape:
                raise ValueError(f"parent model expects {model.input_shape[1:]}, data is {ds.input_shape}")
        else:
            h, w, d = ds.input_shape
            model = MiniVGGNet.build(width=w, height=h, depth=d, classes=classes)
            opt = keras.optimizers.SGD(learning_rate=schedule.initial_lr(), momentum=config["momentum"],
                                       nesterov=config["nesterov"])
            model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    train = make_tf_dataset(ds.x_train, ds.y_train, classes, batch, shuffle=True, seed=config["seed"])
    test = make_tf_dataset(ds.x_test, ds.y_test, classes, batch)
    lrs = schedule.per_step(epochs, spe)  # LR of every global batch index 0 .. epochs*spe-1
    config.update(steps_per_epoch=spe, train_size=len(ds.x_train), test_size=len(ds.x_test))
    store.atomic_write_json(path / "config.json", config)
    writer.total_batches = (epochs - initial_epoch) * spe
    if config.get("max_batches"):
        writer.total_batches = min(writer.total_batches, config["max_batches"])
    cb = make_callback(keras, writer, lrs, spe, initial_epoch, control, config.get("max_batches"))
    writer.write_status(state="running", phase="training", steps_per_epoch=spe, epoch=initial_epoch)
    if (control.dir / "stop").exists():  # stopped while loading: no training at all
        control.stop_requested = True
    if not control.stop_requested:
        writer._t0 = time.time()
        model.fit(train, validation_data=test, epochs=epochs, initial_epoch=initial_epoch, callbacks=[cb],
                  shuffle=False, verbose=verbose)  # tf.data shuffles each epoch itself
    stopped = control.stop_requested
    writer.write_status(phase="evaluating", eta_s=None)
    _finish(path, model, ds, test, writer, keras)
    state = "stopped" if stopped else "finished"
    writer.write_status(state=state, phase=None, eta_s=None)
    return state


def _finish(path: Path, model: Any, ds: Any, test: Any, writer: RunWriter, keras: Any) -> None:
    """Predictions, report, confusion matrix, model and curves, each written atomically."""
    import pandas as pd

    from lrviz.report import classification_report_frame, confusion_frame, frame_to_csv, report_text

    probs = model.predict(test.map(lambda x, y: x), verbose=0)
    y_pred = np.argmax(probs, axis=1)
    y_true = ds.y_test
    store.atomic_write_text(path / "predictions.csv",
                            pd.DataFrame({"y_true": y_true, "y_pred": y_pred}).to_csv(index=False))
    store.atomic_write_text(path / "report.csv", frame_to_csv(classification_report_frame(y_true, y_pred,
                                                                                         ds.class_names)))
    store.atomic_write_text(path / "confusion.csv", frame_to_csv(confusion_frame(y_true, y_pred, ds.class_names)))
    print("[INFO] evaluating network...")
    print(report_text(y_true, y_pred, ds.class_names), flush=True)
    tmp = path / f".model.{os.getpid()}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path / "model.keras")
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a model behind
        raise
    if writer.rows:
        from lrviz.curves_png import training_png

        title = "Training Loss and Accuracy on " + ("CIFAR-10" if ds.name == "cifar10" else "digits")
        store.atomic_write_bytes(path / "training.png", training_png(pd.DataFrame(writer.rows), title))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m lrviz.training RUN_DIR\n")
        return 2
    state = run_worker(args[0], verbose=2)
    return 0 if state in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
