"""lrviz's schedules for your own optimizer: a registry schedule as a Keras ``LearningRateSchedule``
(a table of the explorer's values looked up in the compiled step), and the ways people name one;
and how the Dashboard reads the LR of every batch of a user's optimizer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from lrviz.errors import FieldError
from lrviz.schedules import REGISTRY, Schedule

__all__ = ["as_schedule", "LRVizSchedule", "schedule", "positive_int", "FloatLR", "ScheduledLR", "HORIZON_EPOCHS",
           "MAX_TABLE_STEPS"]

NAN = float("nan")

HORIZON_EPOCHS = 1000  # what schedule() tabulates when it is given no `epochs`
MAX_TABLE_STEPS = 1 << 22  # 16 MiB of float32: the longest table schedule() builds


def as_schedule(value: Any, params: Mapping[str, Any] | None = None, *, field: str = "schedule") -> Schedule:
    """An lrviz :class:`~lrviz.schedules.Schedule` from what people write: a ``Schedule``; a
    registry name (``"step"``) with ``params``; the tournament's text ``"step:factor=0.25"``;
    a schedule config ``{"name": ..., "params": ...}``; or a ``(name, params)`` pair.
    ``FieldError`` (a ``ValueError``) naming ``field`` otherwise."""
    if isinstance(value, Schedule) and not params:
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
        value, params = value[0], {**value[1], **(params or {})}
    if isinstance(value, Mapping):
        return Schedule.from_config({**value, "params": {**(value.get("params") or {}), **(params or {})}})
    if isinstance(value, str):
        if ":" in value:
            from lrviz.tournament import parse_spec

            configs = parse_spec(value)
            if len(configs) != 1:
                raise FieldError(field, "one schedule (a spec without `|` alternatives)", value)
            return Schedule.from_config({**configs[0], "params": {**configs[0]["params"], **(params or {})}})
        if value.strip() in REGISTRY:
            return Schedule.create(value.strip(), params or {})
    raise FieldError(field, f"an lrviz Schedule, a schedule name ({', '.join(REGISTRY)}) with its parameters, "
                            "or NAME:param=value text", value)


@keras.saving.register_keras_serializable(package="lrviz")
class LRVizSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A registry schedule as a Keras ``LearningRateSchedule``: the LR of every step computed
    once by lrviz (``Schedule.at_steps``, the explorer's function) and looked up in the compiled
    step, ``table[min(step, len - 1)]``: past the table's end the LR holds its last value.

    ``epochs``: the length of the table (default 1,000 epochs, at most 2**22 steps)."""

    def __init__(self, schedule: str | Mapping[str, Any], params: Mapping[str, Any] | None = None, *,
                 steps_per_epoch: int, epochs: int | None = None):
        self.schedule = as_schedule(schedule, params)
        self.steps_per_epoch = positive_int("steps_per_epoch", steps_per_epoch)
        self.epochs = None if epochs is None else positive_int("epochs", epochs)
        n = (self.epochs or HORIZON_EPOCHS) * self.steps_per_epoch
        if n > MAX_TABLE_STEPS:
            if self.epochs is not None:
                raise FieldError("epochs", f"at most {MAX_TABLE_STEPS // self.steps_per_epoch:,} at "
                                           f"{self.steps_per_epoch} steps per epoch (a table of at most "
                                           f"{MAX_TABLE_STEPS:,} steps)", epochs)
            n = MAX_TABLE_STEPS
        self.table = np.asarray(self.schedule.at_steps(np.arange(n), self.steps_per_epoch), dtype="float32")
        self._values = keras.ops.convert_to_tensor(self.table)

    def __call__(self, step: Any) -> Any:
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.table) - 1)
        return keras.ops.take(self._values, index)

    def get_config(self) -> dict[str, Any]:
        config = self.schedule.to_config()
        return {"schedule": config["name"], "params": {**config["params"], **{k: v for k, v in config.items()
                                                                             if k not in ("name", "params")}},
                "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LRVizSchedule:
        params = dict(config.get("params") or {})
        warmup = {k: params.pop(k) for k in ("warmup", "warmup_start_factor") if k in params}
        sched = Schedule.from_config({"name": config["schedule"], "params": params, **warmup})
        return cls(sched, steps_per_epoch=config["steps_per_epoch"], epochs=config.get("epochs"))


def schedule(name: Any, *, steps_per_epoch: int, epochs: int | None = None, **params: Any) -> LRVizSchedule:
    """The registry's schedule ``name`` as a Keras ``LearningRateSchedule`` for your optimizer,
    with the explorer's numbers::

        lr = lrviz.keras.schedule("step", lr=0.01, factor=0.5, drop_every=5, steps_per_epoch=len(x) // 64)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True), ...)

    ``name`` may also be a ``Schedule`` or ``"step:factor=0.5,drop_every=5"``; ``params`` are
    the schedule's parameters (:mod:`lrviz.schedules`), ``epochs`` the length of its table."""
    return LRVizSchedule(name, params, steps_per_epoch=steps_per_epoch, epochs=epochs)


def positive_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FieldError(field, "an integer >= 1", value)
    return int(value)


# --------------------------------------------------------------------------- the LR of every batch


class FloatLR:
    """An optimizer whose LR is a value: read before every batch (another callback may have set
    it); Set LR now assigns it from the next batch (a value, or a factor of the LR now)."""

    source = "float"

    def __init__(self, optimizer: Any, on_override: Any):
        self.optimizer, self.on_override = optimizer, on_override
        self.variable = optimizer.learning_rate  # the optimizer's own variable: no state sync to read it
        self.pending: list[dict[str, Any]] = []
        self.lr = NAN
        self.read()

    def read(self) -> float:
        """The variable's value; the last one read while the JAX trainer holds the optimizer's state
        outside its variables (between two syncs, which every callback that reaches ``self.model``
        makes, so a change made by another callback is seen)."""
        try:
            self.lr = float(keras.ops.convert_to_numpy(self.variable))
        except (TypeError, ValueError):  # a JAX variable whose value the trainer has taken for the epoch
            pass
        return self.lr

    def request(self, request: dict[str, Any]) -> None:
        self.pending.append(request)

    def batch(self, model: Any, step: int, epoch: int, batch: int) -> float:
        self.lr = self.read()
        while self.pending:
            req = self.pending.pop(0)
            new = float(req["value"]) if "value" in req else self.lr * float(req["factor"])
            model.optimizer.learning_rate = new  # through the model: the JAX trainer takes it from the next step
            self.variable = model.optimizer.learning_rate
            self.on_override({"step": step, "epoch": epoch + 1, "batch": batch + 1,
                              "kind": "value" if "value" in req else "factor",
                              "value": float(req.get("value", req.get("factor"))), "lr": new,
                              "source": req.get("source", "user"), "requested_at": req.get("requested_at"),
                              "applied_at": time.time()})
            self.lr = self.read()
        return self.lr


class ScheduledLR:
    """An optimizer driven by a Keras ``LearningRateSchedule``: the LR of each batch is the
    schedule at the optimizer's iteration, computed at the end of the epoch (one vector call,
    or one call a step when the schedule does not take vectors), never in the batch loop."""

    def __init__(self, optimizer: Any, lr_schedule: Any):
        self.schedule = lr_schedule
        self.source = type(lr_schedule).__name__
        self.next_iteration = int(keras.ops.convert_to_numpy(optimizer.iterations))  # of the next batch
        self.lr = float(self.values(np.array([self.next_iteration]))[0])

    def epoch(self, batches: int) -> np.ndarray:
        """The LRs of the epoch's ``batches`` batches, which ran at the next iterations."""
        lrs = self.values(self.next_iteration + np.arange(batches))
        self.next_iteration += batches
        self.lr = float(lrs[-1]) if batches else self.lr
        return lrs

    def values(self, iterations: np.ndarray) -> np.ndarray:
        if isinstance(self.schedule, LRVizSchedule):
            return self.schedule.table[np.minimum(iterations, len(self.schedule.table) - 1)].astype(np.float64)
        with contextlib.suppress(Exception):  # noqa: BLE001 - a schedule with `cond` takes no vectors
            out = np.asarray(keras.ops.convert_to_numpy(self.schedule(iterations)), dtype=np.float64)
            if out.shape == iterations.shape:
                return out
        return np.array([float(keras.ops.convert_to_numpy(self.schedule(int(i)))) for i in iterations])
