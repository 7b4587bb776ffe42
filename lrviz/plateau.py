"""ReduceLROnPlateau as a pure function of a validation curve: the training option and the
explorer's replay share it.

Keras' ``keras.callbacks.ReduceLROnPlateau`` (same names and defaults) multiplies the LR by
``factor`` when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
epochs, then waits ``cooldown`` epochs, and never goes below ``min_lr``. Its decision, epoch
by epoch (``keras/src/callbacks/reduce_lr_on_plateau.py`` and ``monitor_callback.py``, Keras 3)::

    if current is None: skip the epoch (Keras warns)
    improved = best is None or (f32(current + min_delta) < f32(best)   if minimising, e.g. val_loss
                                f32(current - min_delta) > f32(best)   if maximising, e.g. val_accuracy)
    if cooldown_counter > 0: cooldown_counter -= 1; wait = 0
    if improved: best = current; wait = 0
    elif cooldown_counter == 0:
        wait += 1
        if wait >= patience and f32(lr) > f32(min_lr):
            lr = max(lr * factor, min_lr); cooldown_counter = cooldown; wait = 0

Two details matter at the edges. **float32**: the sum is taken in Python floats, then
``keras.ops.less`` / ``greater`` turn both sides into float32 tensors (Keras' ``floatx``), so
an improvement smaller than float32 can see is no improvement; the LR is a float32 variable.
**NaN**: every comparison with NaN is False, so a NaN epoch is "not improved" (``wait`` grows
and a reduction can follow); a NaN as the *first* value becomes ``best`` and nothing improves
on it afterwards.

lrviz applies a reduction the way **Set LR now** does: as a factor on the rest of the
schedule (``new_lr / old_lr``), so a step schedule keeps its later drops. The replay
(:func:`replay`) runs the same decision over a finished run's recorded curve. Keras' own
class is the test oracle (``tests/test_plateau.py``); this module needs no Keras, so the
explorer can replay without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz.errors import FieldError
from lrviz.settings import Setting, setting, settings_of

__all__ = ["PlateauSettings", "Plateau", "replay", "validate_plateau", "plateau_settings", "MONITORS"]

MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


@dataclass
class PlateauSettings:
    """Keras' ``ReduceLROnPlateau`` arguments, with its defaults."""

    monitor: str = setting("val_loss", "Quantity watched for a plateau.", kind="choice", choices=MONITORS,
                           label="Monitor")
    factor: float = setting(0.1, "Multiply the LR by this on a plateau.", kind="float", low=0, high=1,
                            low_open=True, high_open=True, label="Factor")
    patience: int = setting(10, "Epochs with no improvement before the LR is reduced.", kind="int", low=0,
                            high=100_000, label="Patience")
    min_delta: float = setting(1e-4, "Smallest change that counts as an improvement.", kind="float", low=0,
                               label="Min delta")
    cooldown: int = setting(0, "Epochs to wait after a reduction before watching again.", kind="int", low=0,
                            high=100_000, label="Cooldown")
    min_lr: float = setting(0.0, "The LR is never reduced below this.", kind="float", low=0, label="Min LR")


def plateau_settings(prefix: str = "") -> dict[str, Setting]:
    """The settings, their names prefixed (``plateau_factor``: a run config and the CLI name
    them so, apart from a schedule's ``factor``)."""
    return {name: dataclasses.replace(s, name=prefix + name) for name, s in settings_of(PlateauSettings).items()}


def validate_plateau(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Plateau settings (defaults filled in) checked; ``FieldError`` naming the (prefixed) field."""
    if not isinstance(config, Mapping):
        raise FieldError(prefix.rstrip("_") or "plateau", "a mapping of ReduceLROnPlateau settings or null", config)
    specs = plateau_settings(prefix)
    unknown = sorted(set(config) - set(specs))
    if unknown:
        raise FieldError(prefix + unknown[0], "", config[unknown[0]],
                         message=f"Argument `{prefix + unknown[0]}` is not a ReduceLROnPlateau setting "
                                 f"(known: {', '.join(specs)}).")
    return {name: spec.parse(config.get(name, spec.default)) for name, spec in specs.items()}


class Plateau:
    """Keras' ReduceLROnPlateau decision as a small state machine (see the module docstring)."""

    def __init__(self, settings: Mapping[str, Any]):
        s = validate_plateau(settings)
        self.monitor, self.factor, self.patience = s["monitor"], s["factor"], s["patience"]
        self.min_delta, self.cooldown, self.min_lr = s["min_delta"], s["cooldown"], s["min_lr"]
        self.maximize = self.monitor.removeprefix("val_") == "accuracy"
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, current: float) -> bool:
        if self.best is None:
            return True
        # Keras compares in float32 (see the module docstring); NaN on either side gives False
        with np.errstate(over="ignore", invalid="ignore"):
            if self.maximize:
                return bool(np.float32(current - self.min_delta) > np.float32(self.best))
            return bool(np.float32(current + self.min_delta) < np.float32(self.best))

    def step(self, current: float | None, lr: float) -> float | None:
        """After an epoch whose ``monitor`` value is ``current`` and whose LR is ``lr``: the new
        LR if this epoch triggers a reduction, else None. ``current`` None (not logged) skips the
        epoch, as Keras does; NaN is an epoch that did not improve."""
        if current is None:
            return None
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
            return None
        if self.cooldown_counter > 0:
            return None
        self.wait += 1
        if self.wait >= self.patience and np.float32(lr) > np.float32(self.min_lr):
            self.cooldown_counter = self.cooldown
            self.wait = 0
            return max(lr * self.factor, self.min_lr)
        return None


def replay(values: Sequence[float], lr_per_epoch: Sequence[float], settings: Mapping[str, Any]
           ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The LR per epoch that ReduceLROnPlateau would have given a run whose monitored values
    were ``values`` (one per finished epoch) on the schedule ``lr_per_epoch``. A NaN value (a
    diverged epoch, as ``history.csv`` records it) counts as not improved, as in training.

    Returns ``(lr, reductions)``: ``lr[e]`` is epoch ``e``'s LR (0-based index) with every
    reduction so far applied as a factor on the schedule, and one ``{"epoch": 1-based epoch
    after which it happened, "old": lr, "new": lr, "factor": new/old}`` per reduction.
    """
    planned = np.asarray(lr_per_epoch, dtype=np.float64)
    plateau = Plateau(settings)
    multiplier = 1.0
    out = np.empty_like(planned)
    reductions = []
    for e in range(len(planned)):
        out[e] = planned[e] * multiplier
        if e < len(values):
            new = plateau.step(float(values[e]), float(out[e]))
            if new is not None and out[e] > 0:
                reductions.append({"epoch": e + 1, "old": float(out[e]), "new": float(new),
                                   "factor": float(new / out[e])})
                multiplier *= new / out[e]
    return out, reductions
