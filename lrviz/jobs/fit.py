"""A fit from your own script (kind ``"fit"``): a ``model.fit`` in a user's process, made an lrviz
run by the :class:`lrviz.keras.Dashboard` callback.

lrviz does not train these runs; the user's process does, so they are **not exclusive**: they
neither wait for nor block lrviz's own runs (:attr:`FitJob.exclusive`). Liveness is the user's
process: ``status.json`` carries its pid, so a killed script's run is marked failed by the next
read, with its finished epochs kept.

**Files** (written by the callback, each atomically)::

    config.json      what the fit is: epochs, initial_epoch, batch_size, steps_per_epoch, the
                     schedule (an lrviz schedule config, when ``schedule=`` set the LR), the LR's
                     source (``lr_source``: "lrviz", "float" or the LearningRateSchedule's class),
                     the model (class, name, layers, parameters, input and output shapes), the
                     optimizer (class and Keras config), class_names, dataset (words), backend,
                     device, process (pid, what runs it), versions, lr_overrides
    status.json      as a training run's, plus ``exclusive: false``
    history.csv      one row per finished epoch: epoch (1-based), the fit's logs (loss,
                     accuracy, val_loss, val_accuracy, and any other metric), lr and lr_last
                     (the epoch's first and last batch), epoch_time_s, ended_at
    tensorboard/     epoch scalars and the LR of every batch (``batch_learning_rate``)
    predictions.csv  y_true,y_pred on the validation data (when it has class labels);
    report.csv, confusion.csv, training.png

**Steering**: Stop and Set LR now go through the same control files as a training run's
(:meth:`FitJob.set_lr`). Setting the LR needs an optimizer whose LR is a value (a float, or
the schedule lrviz sets): one driven by a Keras ``LearningRateSchedule`` computes its LR inside
the compiled step, and the request is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lrviz.errors import FieldError
from lrviz.jobs.base import META_KEYS, Job, WorkerContext
from lrviz.jobs.training import TrainingJob
from lrviz.schedules import Schedule
from lrviz.settings import setting

__all__ = ["FitConfig", "FitJob", "STEERABLE_SOURCES"]

STEERABLE_SOURCES = ("lrviz", "float")  # an LR Set LR now can change from the next batch


@dataclass
class FitConfig:
    """What lrviz knows of a user's fit when it begins (the callback fills it in)."""

    epochs: int = setting(1, "The fit's `epochs` (the epoch it ends at, as Keras counts with `initial_epoch`).",
                          kind="int", low=1)
    initial_epoch: int = setting(0, "The fit's `initial_epoch`: finished epochs it continues from.", kind="int",
                                 low=0)
    batch_size: int | None = setting(None, "The fit's `batch_size`, when it was given one.", kind="int", low=1,
                                     optional=True)
    schedule: dict | None = setting(None, "The lrviz schedule that sets the LR before every batch (`schedule=`), "
                                    "or null when the fit's own optimizer does.", kind="mapping", optional=True,
                                    what="a schedule config (a mapping with a `name`)")
    lr_source: str = setting("float", "What sets the LR: lrviz's schedule, a float, or the class of the "
                             "optimizer's Keras LearningRateSchedule.", kind="text")
    dataset: str = setting("your data", "The data in words (the runs table's dataset column).", kind="text")


class FitJob(Job):
    kind = "fit"
    title = "fit from your script"
    setting_noun = "a fit's setting"
    Config = FitConfig
    exclusive = False
    files = ("config.json", "history.csv", "predictions.csv", "report.csv", "confusion.csv", "training.png")
    meta_keys: ClassVar[tuple[str, ...]] = (*META_KEYS, "lr_overrides", "model", "optimizer", "class_names",
                                            "backend", "device", "process")

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(config, Mapping) and config.get("kind", cls.kind) != cls.kind:
            raise FieldError("kind", f"'{cls.kind}' for a fit from your script", config["kind"])
        cfg = super().validate(config)
        if cfg["schedule"] is not None:
            cfg["schedule"] = Schedule.from_config(cfg["schedule"]).to_config()
        if cfg["initial_epoch"] >= cfg["epochs"]:
            raise FieldError("epochs", f"> initial_epoch ({cfg['initial_epoch']})", cfg["epochs"])
        return cfg

    @classmethod
    def prepare(cls, config: dict[str, Any], store: Any) -> None:
        super().prepare(config, store)
        config.setdefault("lr_overrides", [])

    @classmethod
    def id_hint(cls, config: Mapping[str, Any]) -> str:
        return "fit"

    @classmethod
    def initial_status(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": cls.kind, "epoch": config.get("initial_epoch", 0), "epochs": config["epochs"], "batch": 0,
                "steps_per_epoch": config.get("steps_per_epoch"), "lr_overrides": []}

    @classmethod
    def label(cls, config: Mapping[str, Any]) -> str | None:
        model = config.get("model") if isinstance(config.get("model"), Mapping) else {}
        optimizer = config.get("optimizer") if isinstance(config.get("optimizer"), Mapping) else {}
        bits = [str(model.get("class") or "model"), str(optimizer.get("class") or "optimizer")]
        try:
            if config.get("schedule") is not None:
                bits.append(Schedule.from_config(config["schedule"]).label())
            elif config.get("lr_source") not in (None, "float"):
                bits.append(str(config["lr_source"]))
        except (KeyError, ValueError, TypeError):
            pass
        return "Your fit: " + " · ".join(bits)

    @classmethod
    def load_extras(cls, path: Path, attempt: Callable[[str, Callable[[], Any], Any], Any]) -> dict[str, Any]:
        return TrainingJob.load_extras(path, attempt)

    # ------------------------------------------------------------------ control

    @classmethod
    def lr_fixed(cls, config: Mapping[str, Any]) -> str | None:
        source = config.get("lr_source")
        if source in STEERABLE_SOURCES:
            return None
        return (f"Run {config.get('id', '?')} is a fit whose optimizer computes its LR with a Keras {source} inside "
                "the compiled step, so lrviz cannot set it; give the optimizer a float learning rate, or pass "
                "schedule= to the Dashboard, to steer it.")

    @classmethod
    def set_lr(cls, store: Any, run_id: str, *, value: float | None = None, factor: float | None = None) -> None:
        """Change the fit's LR from its next batch (the same rules and files as a training run's);
        refused (:meth:`lr_fixed`) for a fit whose optimizer computes its LR with a Keras
        ``LearningRateSchedule``."""
        TrainingJob.set_lr(store, run_id, value=value, factor=factor)

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        raise RuntimeError("A fit from your script is trained by that script (lrviz.keras.Dashboard), "
                           "never by lrviz's worker.")
