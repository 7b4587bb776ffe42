"""Training job: MiniVGGNet on a schedule, streamed into its run folder (kind ``"train"``,
also the kind of runs written before kinds existed).

**Files** (each written atomically)::

    config.json      the settings below, plus id, created_at, versions, steps_per_epoch,
                     train_size, test_size, initial_epoch (resume) and lr_overrides
    status.json      state, phase, epoch (finished, 1-based), epochs, batch, steps_per_epoch,
                     lr, lr_multiplier, elapsed_s, eta_s, error, lr_overrides, last (latest row),
                     lr_route ("compiled step" or "per batch": the route the setter really
                     takes, written before the first batch; see below),
                     warnings (an optional part that failed while the run went on: a list of
                     {"source": "mlflow", "message": one line, "at": Unix time}; absent if none)
    history.csv      one row per finished epoch: epoch (1-based), loss, accuracy, val_loss,
                     val_accuracy, lr and lr_planned (the epoch's first batch), lr_last,
                     epoch_time_s, ended_at (see lrviz.callbacks.RunLogger)
    predictions.csv  y_true,y_pred on the test set; report.csv, confusion.csv
    model.keras      the model with its optimizer state (what a resume loads)
    training.png     the tutorial's four curves

**The LR comes from the schedule, before every batch**: the whole schedule is computed once
as a vector over global batch indices (``Schedule.per_step``, the function the explorer
plots) and :class:`lrviz.callbacks.ScheduleSetter` sets it; global step =
``epoch * steps_per_epoch + batch`` (0-based). On JAX the same vector is looked up inside the
compiled step instead (:mod:`lrviz.compiled_lr`: no Python between two batches; an override
rebuilds it and re-traces the step; proven equal by weights in ``tests/test_compiled_lr.py``).
**Set LR now** (:meth:`TrainingJob.set_lr`)
scales the rest of the schedule from the next batch (see :mod:`lrviz.callbacks`); each
override is recorded in ``status.json`` and ``config.json`` (``lr_overrides``).

**Stop** (``control/stop``, SIGINT or SIGTERM): the current batch finishes, the partial epoch
is not added to the history, the model is evaluated and every file written; state
``stopped``. **Resume** (``parent``): loads the parent's ``model.keras`` with its optimizer
state and trains epochs ``initial_epoch + 1 .. epochs`` (1-based) at the same global steps
of the schedule as if it had never stopped; the parent's overrides are not carried over.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lrviz.errors import FieldError
from lrviz.jobs import common
from lrviz.jobs.base import META_KEYS, Job, WorkerContext
from lrviz.plateau import validate_plateau
from lrviz.schedules import REGISTRY, Schedule, steps_per_epoch_for
from lrviz.settings import Setting, setting
from lrviz.store.control import STOP, lr_request_name
from lrviz.store.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json

__all__ = ["TrainConfig", "TrainingJob", "HISTORY_COLUMNS"]

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_planned"]  # and more

_LR = REGISTRY["constant"].param("lr")  # the schedules' one rule for an LR value (> 0 and <= 10)
# Set LR now: a value follows the schedules' LR rule; a factor scales the rest of the schedule
# (0.1-0.5 cools it down, 2 heats it up) and must keep the LR within that rule too.
SET_LR = {
    "value": Setting("value", None, "The LR from the next batch; the rest of the schedule continues from it.",
                     kind="float", label="New LR").with_bounds(_LR.bounds),
    "factor": Setting("factor", None, "Scales the rest of the schedule from the next batch: 0.1 to 0.5 cools it "
                      "down, 2 heats it up; the LR it gives must stay an LR the schedules accept.", kind="float",
                      low=0, low_open=True, label="Factor"),  # its upper bound depends on the LR now
}

_TUTORIAL_SCHEDULE = {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}


@dataclass
class TrainConfig(common.DataSettings):
    """The tutorial's experiment on the offline digits dataset, by default."""

    schedule: dict = setting(_TUTORIAL_SCHEDULE, "The LR schedule (a registry name and its parameters).",
                             kind="mapping", what="a schedule config (a mapping with a `name`)", cli=False)
    epochs: int = setting(40, "Total epochs; a resumed run continues from its parent's count up to this.",
                          kind="int", low=1, high=100_000, label="Epochs")
    parent: str | None = setting(None, "The run this one resumes from.", kind="run_id", optional=True, cli=False)
    max_batches: int | None = setting(None, "Stop (gracefully) after this many batches; for smoke runs and "
                                      "benchmarks.", kind="int", low=1, optional=True, cli=False)
    plateau: dict | None = setting(None, "ReduceLROnPlateau on top of the schedule: Keras' arguments (monitor, "
                                   "factor, patience, min_delta, cooldown, min_lr); null for none.", kind="mapping",
                                   optional=True, what="a mapping of ReduceLROnPlateau settings", cli=False)
    mlflow: bool = setting(False, "Also log the run to MLflow (on by itself when MLFLOW_TRACKING_URI is set).",
                           kind="bool", label="Log to MLflow")


class TrainingJob(Job):
    kind = "train"
    title = "training run"
    Config = TrainConfig
    files = ("config.json", "history.csv", "predictions.csv", "report.csv", "confusion.csv", "model.keras",
             "training.png")
    meta_keys: ClassVar[tuple[str, ...]] = (*META_KEYS, "lr_overrides", "initial_epoch", "mlflow_run_id")

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(config, Mapping) and config.get("kind", cls.kind) != cls.kind:
            raise FieldError("kind", f"'{cls.kind}' for a training run", config["kind"])
        if isinstance(config, Mapping) and isinstance(config.get("schedule"), Schedule):
            config = {**config, "schedule": config["schedule"].to_config()}
        cfg = super().validate(config)
        common.check_data(cfg)
        cfg["schedule"] = Schedule.from_config(cfg["schedule"]).to_config()
        if cfg["plateau"] is not None:
            cfg["plateau"] = validate_plateau(cfg["plateau"], prefix="plateau_")
        return cfg

    @classmethod
    def prepare(cls, config: dict[str, Any], store: Any) -> None:
        """A resumed run keeps its parent's data and optimizer settings; epochs count on from it."""
        super().prepare(config, store)
        config.setdefault("lr_overrides", [])
        parent = config.get("parent")
        if parent is None:
            return
        ppath = store.existing(parent)
        if not (ppath / "model.keras").exists():
            raise FieldError("parent", "a run with a saved model.keras (a finished or stopped run)", parent)
        pcfg = read_json(ppath / "config.json")
        done = int(read_json(ppath / "status.json").get("epoch") or 0)
        for key in ("dataset", "cifar_archive", "limit", "momentum", "nesterov", "model", *common.OWN_DATA_KEYS):
            config[key] = pcfg.get(key, config[key])
        if config["dataset"] == "own":  # its held-out split was drawn with the parent's seed
            config["seed"] = pcfg.get("seed", config["seed"])
        if config["epochs"] <= done:
            raise FieldError("epochs", f"> {done} (the epochs its parent {parent} finished; it is the total to reach, "
                                       "as Keras' `epochs` with `initial_epoch`)", config["epochs"])
        config["initial_epoch"] = done

    @classmethod
    def id_hint(cls, config: Mapping[str, Any]) -> str:
        return f"{config['dataset']}-{config['schedule']['name']}"

    @classmethod
    def initial_status(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": cls.kind, "epoch": config.get("initial_epoch", 0), "epochs": config["epochs"], "batch": 0,
                "steps_per_epoch": None, "lr_overrides": []}

    @classmethod
    def label(cls, config: Mapping[str, Any]) -> str | None:
        try:
            return Schedule.from_config(config["schedule"]).label()
        except (KeyError, ValueError, TypeError):
            return None

    @classmethod
    def load_extras(cls, path: Path, attempt: Callable[[str, Callable[[], Any], Any], Any]) -> dict[str, Any]:
        from lrviz.report import read_confusion_csv, read_report_csv

        return {"report": attempt("report.csv", lambda: read_report_csv(path / "report.csv"), None),
                "confusion": attempt("confusion.csv", lambda: read_confusion_csv(path / "confusion.csv"), None)}

    # ------------------------------------------------------------------ control

    @classmethod
    def check_lr_change(cls, *, value: float | None = None, factor: float | None = None,
                        lr_now: float | None = None) -> tuple[str, float]:
        """``("value", v)`` or ``("factor", f)``, checked (:data:`SET_LR`): a value by the schedules'
        LR rule (> 0 and <= 10); a factor > 0 that, with ``lr_now`` (the run's LR) known, keeps
        ``lr_now * factor`` within that rule. ``FieldError`` naming the field otherwise."""
        if (value is None) == (factor is None):
            raise ValueError("set_lr takes exactly one of `value` or `factor`.")
        name, v = ("value", value) if value is not None else ("factor", factor)
        v = SET_LR[name].parse(v)
        if name == "factor" and isinstance(lr_now, (int, float)) and np.isfinite(lr_now) and lr_now > 0 \
                and lr_now * v > _LR.high:
            most = Setting("factor", None, "", low=0, low_open=True, high=float(f"{_LR.high / lr_now:.3g}"))
            raise FieldError("factor", f"{most.rule()} while the LR is {lr_now:.3g}, so that the LR stays "
                                       f"{_LR.rule().removeprefix('a finite number ')}", v)
        return name, float(v)

    @classmethod
    def set_lr(cls, store: Any, run_id: str, *, value: float | None = None, factor: float | None = None) -> None:
        """Change a running run's LR from its next batch: ``value`` (absolute) or ``factor``
        (checked by :meth:`check_lr_change` against the run's current LR)."""
        cls.check_lr_change(value=value, factor=factor)
        status = store.status(run_id)
        name, v = cls.check_lr_change(value=value, factor=factor, lr_now=status.get("lr"))
        if status.get("state") not in ("queued", "running"):
            raise ValueError(f"Run {run_id} is {status.get('state')}; the LR can only be changed while it runs "
                             "(resume it with a new LR instead).")
        store.request(run_id, lr_request_name(), {name: float(v)})

    # ------------------------------------------------------------------ worker

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        path, config, status, control = ctx.path, ctx.config, ctx.status, ctx.control
        schedule = Schedule.from_config(config["schedule"])
        placement = common.configure_backend(config.get("backend"))  # before Keras is imported
        config.update(backend=placement.backend, device=placement.device)
        status.write(backend=placement.backend, device=placement.device)
        ds = common.load_data(config, progress=status.loading)  # phase, files_done, files_total
        import keras

        from lrviz.batches import make_dataset
        from lrviz.callbacks import ControlPoller, PlateauReducer, RunLogger, ScheduleSetter, TensorBoardWriter
        from lrviz.compiled_lr import CompiledScheduleSetter, compiled_route

        common.seed_everything(config["seed"])
        batch, epochs = config["batch_size"], config["epochs"]
        initial_epoch = int(config.get("initial_epoch") or 0)
        spe = steps_per_epoch_for(len(ds.x_train), batch)
        classes = len(ds.class_names)
        if config.get("parent"):
            with placement.scope():
                model = keras.models.load_model(path.parent / config["parent"] / "model.keras")
            if tuple(model.input_shape[1:]) != ds.input_shape:
                raise ValueError(f"parent model expects {model.input_shape[1:]}, data is {ds.input_shape}")
        else:
            model = common.build_model(ds, config, schedule.initial_lr(), placement)
        train = make_dataset(ds.x_train, ds.y_train, classes, batch, shuffle=True, seed=config["seed"])
        test = make_dataset(ds.x_test, ds.y_test, classes, batch)
        lrs = schedule.per_step(epochs, spe)  # LR of every global batch index 0 .. epochs*spe-1
        config.update(steps_per_epoch=spe, train_size=len(ds.x_train), test_size=len(ds.x_test))
        atomic_write_json(path / "config.json", config)
        total = (epochs - initial_epoch) * spe
        if config.get("max_batches"):
            total = min(total, config["max_batches"])

        overrides: list[dict[str, Any]] = []

        def record_override(entry: dict[str, Any]) -> None:
            overrides.append(entry)
            config["lr_overrides"] = overrides
            atomic_write_json(path / "config.json", config)
            status.write(lr_overrides=overrides)

        # on JAX the LR is looked up inside the compiled step (lrviz.compiled_lr): no per-batch setter
        setter_class = CompiledScheduleSetter if compiled_route(placement.backend) else ScheduleSetter
        if setter_class is CompiledScheduleSetter:  # the route it really takes: it may fall back
            setter = setter_class(lrs, spe, on_override=record_override,
                                  on_route=lambda route: status.write(lr_route=route))
        else:
            setter = setter_class(lrs, spe, on_override=record_override)
            status.write(lr_route="per batch")
        poller = ControlPoller(control, on_lr_request=setter.request, max_batches=config.get("max_batches"))
        def on_row(row: dict[str, Any]) -> None:  # ctx.on_step(row) -> True: stop after this epoch
            if ctx.on_step is not None and ctx.on_step(row):
                control.request_stop()
                model.stop_training = True

        logger = RunLogger(status, path / "history.csv", spe, total,
                           lr_now=lambda: (setter.lr, setter.overrides.multiplier), on_row=on_row)
        callbacks = [poller, setter, logger, TensorBoardWriter(path / "tensorboard", spe, lambda: setter.lr,
                                                               placement.backend)]
        if config.get("plateau"):
            callbacks.append(PlateauReducer(config["plateau"], setter.request))
        tracker = _mlflow_tracker(path, config, status, control)
        if tracker is not None:
            callbacks.append(tracker)
        status.write(state="running", phase="training", steps_per_epoch=spe, epoch=initial_epoch)
        control.poll()  # stopped while loading: no training at all
        state = "failed"
        try:
            if not control.stop_requested:
                model.fit(train, validation_data=test, epochs=epochs, initial_epoch=initial_epoch,
                          callbacks=callbacks, shuffle=False, verbose=ctx.verbose)  # tf.data shuffles itself
            stopped = control.stop_requested
            status.write(phase="evaluating", eta_s=None)
            images = make_dataset(ds.x_test, ds.y_test, classes, batch, labels=False)
            _finish(path, model, ds, images, logger.rows)
            state = "stopped" if stopped else "finished"
        finally:
            if tracker is not None:
                tracker.finish(path, state)
        status.write(state=state, phase=None, eta_s=None)
        return state


def _finish(path: Path, model: Any, ds: Any, images: Any, rows: list[dict[str, Any]]) -> None:
    """Predictions, report, confusion matrix, model and curves, each written atomically.
    ``images``: the test images' batches (no labels)."""
    import pandas as pd

    from lrviz.report import classification_report_frame, confusion_frame, frame_to_csv, report_text

    probs = model.predict(images, verbose=0)
    y_pred = np.argmax(probs, axis=1)
    y_true = ds.y_test
    atomic_write_text(path / "predictions.csv", pd.DataFrame({"y_true": y_true, "y_pred": y_pred}).to_csv(index=False))
    atomic_write_text(path / "report.csv", frame_to_csv(classification_report_frame(y_true, y_pred, ds.class_names)))
    atomic_write_text(path / "confusion.csv", frame_to_csv(confusion_frame(y_true, y_pred, ds.class_names)))
    print("[INFO] evaluating network...")
    print(report_text(y_true, y_pred, ds.class_names), flush=True)
    tmp = path / f".model.{os.getpid()}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path / "model.keras")
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a model behind
        raise
    if rows:
        from lrviz.curves_png import training_png

        title = "Training Loss and Accuracy on " + ("CIFAR-10" if ds.name == "cifar10" else ds.name)
        atomic_write_bytes(path / "training.png", training_png(pd.DataFrame(rows), title))



def _mlflow_tracker(path: Path, config: dict[str, Any], status: Any, control: Any) -> Any:
    """The MLflow logger when asked for (``mlflow`` in the config or ``MLFLOW_TRACKING_URI`` set);
    None otherwise, and then MLflow is never imported. Its one warning, if MLflow fails, goes
    to ``status.json`` (``warnings``); it abandons a pending call once the run is stopping
    (a signal, or ``control/stop``)."""
    if not (config.get("mlflow") or os.environ.get("MLFLOW_TRACKING_URI")):
        return None
    from lrviz.tracking import MLflowLogger

    return MLflowLogger(path, config, on_warning=lambda message: status.warn("mlflow", message),
                        stopping=lambda: control.stop_requested or (control.dir / STOP).exists())
