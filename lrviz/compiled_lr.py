"""The schedule inside the compiled train step: the LR of every batch looked up in a vector by
the optimizer's own step counter, so no Python runs between two batches to set it.

**Why**: on JAX, a callback that reaches ``self.model`` between two batches makes the trainer
hand its state back to the variables and take it again (``jax_state_sync``), and the float
read-back blocks on the device; a per-batch setter costs about 8% of an H100's throughput
(``docs``: DESIGN.md section 3). Looked up inside the step, the LR costs nothing.

**How** (:class:`CompiledScheduleSetter`, a drop-in for :class:`lrviz.callbacks.ScheduleSetter`)::

    table[step] = lr(step)                       # float32, every global batch index of the run,
                                                 # lrviz.callbacks.LROverrides' arithmetic
    LR in the step = table[iterations + offset]  # offset = first global step - iterations then
    Set LR now / plateau at step s:  table[s:] = m * lrs[s:] (or the held value), then re-trace

The re-trace (``model.make_train_function(force=True)``) is what makes a new table count: the
table is a constant of the traced step. A ``keras.Variable`` the schedule reads instead would
not be: on JAX the step sees only the variables of the trainer's state, so a variable outside
them is frozen at its traced value (the weights prove it; the LR read back in Python looks
right). A change costs one trace (about a second); Set LR and plateau reductions are rare.

The optimizer keeps its own float LR variable (unused while the table drives the step) and gets
it back at the end of ``fit``, holding the LR of the last batch run: the saved ``model.keras`` is
the same as the per-batch setter's, and a resume on any backend loads it.

Where: :func:`compiled_route` (JAX). TensorFlow keeps the per-batch setter: its traced step
reads the LR variable on every call, so assigning it from a callback (only when the LR changes)
is one small eager op with no state hand-over, and a re-trace there costs more than it saves.
PyTorch runs eagerly: nothing to compile the table into.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from lrviz.callbacks import ScheduleSetter

__all__ = ["PlannedLR", "CompiledScheduleSetter", "compiled_route", "planned_table"]

COMPILED_BACKENDS = ("jax",)


def compiled_route(backend: str) -> bool:
    """True where the training job puts the schedule in the compiled step (:data:`COMPILED_BACKENDS`)."""
    return backend in COMPILED_BACKENDS


def planned_table(lrs: np.ndarray, multiplier: float, hold: float | None) -> np.ndarray:
    """``LROverrides.lr`` over a vector of planned LRs (float64, the same products as the
    per-batch setter's scalar ones): ``hold`` everywhere if set, else ``lrs * multiplier``."""
    lrs = np.asarray(lrs, dtype=np.float64)
    return np.full_like(lrs, hold) if hold is not None else lrs * multiplier


@keras.saving.register_keras_serializable(package="lrviz")
class PlannedLR(keras.optimizers.schedules.LearningRateSchedule):
    """``table[clip(step + offset, 0, len - 1)]``: the LR of every global batch index, float32,
    a constant of the traced step (replace ``table`` and re-trace to change it)."""

    def __init__(self, table: Any, offset: int = 0):
        self.table = np.asarray(table, dtype="float32")
        self.offset = int(offset)

    def __call__(self, step: Any) -> Any:
        index = keras.ops.clip(keras.ops.cast(step, "int32") + self.offset, 0, len(self.table) - 1)
        return keras.ops.take(keras.ops.convert_to_tensor(self.table), index)

    def get_config(self) -> dict[str, Any]:
        return {"table": self.table.tolist(), "offset": self.offset}


class CompiledScheduleSetter(ScheduleSetter):
    """:class:`~lrviz.callbacks.ScheduleSetter`'s schedule, overrides, logs and records, with the
    LR looked up inside the compiled step (:class:`PlannedLR`) instead of set before each batch.

    Before the first batch it puts a :class:`PlannedLR` in the optimizer's place of its LR; on a
    request (Set LR now, a plateau) it rebuilds the table from that batch on and re-traces the
    step, so the request acts from that batch exactly as the per-batch setter's would. Between
    changes it never touches the model.

    An optimizer without a float LR variable (one built with its own schedule) gets no table: the
    setter falls back to the per-batch one, whose ``optimizer.learning_rate = lr`` Keras refuses
    for such an optimizer (TypeError: "its learning rate is not settable"), so ``fit`` fails at
    the first batch, as it would with :class:`~lrviz.callbacks.ScheduleSetter`. The route taken
    is :attr:`route` (``on_route(route)`` is called once it is known, before the first batch)."""

    def __init__(self, lrs: np.ndarray, steps_per_epoch: int, on_override: Any = None, on_route: Any = None):
        super().__init__(lrs, steps_per_epoch, on_override=on_override)
        self.on_route = on_route
        self.route: str | None = None  # "compiled step" or "per batch" (the fallback); None before fit
        self.table = self.lrs.astype("float32")  # the LRs the optimizer uses (after overrides)
        self.schedule: PlannedLR | None = None
        self.retraces = 0  # re-traces done for requests (the first trace not counted)
        self.installs = 0  # compiled schedules put in the optimizer: 1 per fit, 0 on the fallback
        self._variable: Any = None  # the optimizer's own LR variable, given back at the end
        self._fallback = False
        self._first_step: int | None = None
        self._last_step: int | None = None

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self._fallback:
            return super().on_train_batch_begin(batch, logs)
        step = self.epoch * self.spe + batch
        if self.schedule is None and not self._install(step):
            return super().on_train_batch_begin(batch, logs)
        if self._pending:
            self._apply_pending(step, batch)
            self.table[step:] = planned_table(self.lrs[step:], self.overrides.multiplier, self.overrides.hold)
            self.schedule.table = self.table.copy()  # a snapshot: the new trace's constant
            self.model.make_train_function(force=True)
            self.retraces += 1
        self.lr = self.overrides.lr(float(self.lrs[step]))
        if batch == 0:
            self._first_step = step
        self._last_step = step

    def _install(self, step: int) -> bool:
        optimizer = self.model.optimizer
        variable = getattr(optimizer, "_learning_rate", None)
        if not isinstance(variable, keras.Variable):
            self._fallback = True
            self._report_route("per batch")
            return False
        iterations = int(keras.ops.convert_to_numpy(optimizer.iterations))
        self._variable = variable
        self.schedule = PlannedLR(self.table.copy(), offset=step - iterations)
        # the private slot, not the setter: the setter would untrack the LR variable and change the
        # optimizer's saved variables (a resume loading model.keras must find the same ones)
        optimizer._learning_rate = self.schedule
        self.model.make_train_function(force=True)
        self.installs += 1
        self._report_route("compiled step")
        return True

    def _report_route(self, route: str) -> None:
        if route != self.route and self.on_route is not None:
            self.on_route(route)
        self.route = route

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self._fallback or self.schedule is None:
            return super().on_epoch_end(epoch, logs)
        if logs is not None and self._first_step is not None:
            # float32 table entries: what the optimizer used, as the setter reads its variable back
            logs["lr"], logs["lr_planned"] = float(self.table[self._first_step]), float(self.lrs[self._first_step])
            logs["lr_last"] = float(self.table[self._last_step])

    def on_train_end(self, logs: Any = None) -> None:
        if self.schedule is None or self._fallback:
            return
        model = self.model  # on JAX, the trainer's state is back in the variables after this
        model.optimizer._learning_rate = self._variable
        if self._last_step is not None:
            self._variable.assign(float(self.table[self._last_step]))
        model.train_function = None  # the next fit traces its step with the optimizer as it is now
        self.schedule = None
