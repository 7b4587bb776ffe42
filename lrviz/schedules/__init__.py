"""The schedule zoo: pure, vectorised learning-rate schedules and their registry.

Every schedule is a function ``fn(step, steps_per_epoch, **params) -> ndarray`` of the
0-based *global batch index* ``step`` (what Keras calls ``optimizer.iterations``).
Three kinds of time are derived from it, and each spec says which one it reads:

* ``"epoch"``      -- ``epoch = step // steps_per_epoch`` (0-based, the index that
  ``keras.callbacks.LearningRateScheduler`` passes). The LR only changes at epoch starts.
* ``"step"``       -- the raw batch index (Keras 2's ``decay`` argument worked like this).
* ``"continuous"`` -- ``x = step / steps_per_epoch``, fractional epochs; the curve is smooth
  when applied per batch, like Keras' own ``keras.optimizers.schedules`` classes with
  ``decay_steps = epochs * steps_per_epoch``.

So one function serves the explorer's curves, the CLI's table and the LR that the
training callback sets before every batch: one source of truth per formula.

Epochs shown to people are 1-based (Keras prints "Epoch 15/40" for index 14); every
``epoch`` argument in this package is the 0-based index.

One concern a module: :mod:`~lrviz.schedules.functions` (the formulas),
:mod:`~lrviz.schedules.params` (:class:`Param` and the shared parameters),
:mod:`~lrviz.schedules.spec` (:class:`ScheduleSpec`), :mod:`~lrviz.schedules.registry` (every
schedule, described once) and :mod:`~lrviz.schedules.schedule` (:class:`Schedule`, a validated
schedule). Import from ``lrviz.schedules``.

No TensorFlow, Keras or Streamlit import here: this package must load in milliseconds.
"""

from lrviz.schedules.params import FLAG_HELP, WARMUP_PARAMS, Param
from lrviz.schedules.registry import REGISTRY, get_spec
from lrviz.schedules.schedule import (
    CIFAR10_TRAIN_SIZE,
    KERAS2_STEPS_PER_EPOCH,
    TUTORIAL_BATCH_SIZE,
    Schedule,
    distinct_labels,
    steps_per_epoch_for,
)
from lrviz.schedules.spec import ScheduleSpec

__all__ = [
    "Param",
    "ScheduleSpec",
    "Schedule",
    "REGISTRY",
    "distinct_labels",
    "get_spec",
    "steps_per_epoch_for",
    "KERAS2_STEPS_PER_EPOCH",
    "CIFAR10_TRAIN_SIZE",
    "TUTORIAL_BATCH_SIZE",
    "WARMUP_PARAMS",
    "FLAG_HELP",
]
