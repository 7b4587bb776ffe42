"""A validated schedule (:class:`Schedule`): a registry entry plus parameter values, evaluated at
any batch, described in words and as Keras code; and how many batches an epoch has."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz.errors import FieldError
from lrviz.keras_code import assemble
from lrviz.rules import Bounds, Rule, fmt
from lrviz.schedules.params import WARMUP_PARAMS, parse_flag
from lrviz.schedules.registry import REGISTRY, get_spec
from lrviz.schedules.spec import ScheduleSpec

__all__ = ["Schedule", "distinct_labels", "steps_per_epoch_for", "CIFAR10_TRAIN_SIZE", "TUTORIAL_BATCH_SIZE",
           "KERAS2_STEPS_PER_EPOCH"]

# The tutorial's CIFAR-10 set-up: 50,000 training images, batch 64.
CIFAR10_TRAIN_SIZE = 50_000
TUTORIAL_BATCH_SIZE = 64
_WHOLE_POSITIVE = Rule("an integer", Bounds(1))  # "an integer >= 1"


def steps_per_epoch_for(n_samples: int, batch_size: int) -> int:
    """Batches per epoch as Keras counts them: ``ceil(n_samples / batch_size)``."""
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise FieldError("n_samples", _WHOLE_POSITIVE, n_samples)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise FieldError("batch_size", _WHOLE_POSITIVE, batch_size)
    return int(math.ceil(n_samples / batch_size))


KERAS2_STEPS_PER_EPOCH = steps_per_epoch_for(CIFAR10_TRAIN_SIZE, TUTORIAL_BATCH_SIZE)  # 782


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: a registry entry plus parameter values, and an optional
    linear warmup (``warmup`` epochs > 0) that is played first and shifts the schedule.

    Stateless: callers pass the step or epoch in. Build one with :meth:`create`.
    """

    name: str
    params: Mapping[str, Any]
    warmup: float = 0.0
    warmup_start_factor: float = 0.1

    @classmethod
    def create(cls, name: str, params: Mapping[str, Any] | None = None, **warmup: Any) -> Schedule:
        """Validate ``params`` (missing ones take their defaults; unknown ones are an error)."""
        spec = get_spec(name)
        given = dict(params or {})
        unknown = set(given) - {p.name for p in spec.params} - set(spec.flags)
        if unknown:
            first = sorted(unknown)[0]
            takes = ", ".join([p.name for p in spec.params] + list(spec.flags))
            raise FieldError(first, "", given[first], message=f"Argument `{first}` is not a parameter of schedule "
                                                              f"`{name}` (it takes: {takes}).")
        values: dict[str, Any] = {}
        for p in spec.params:
            values[p.name] = p.parse(given.get(p.name, p.default))
        for f in spec.flags:
            values[f] = parse_flag(f, given.get(f, False))
        if spec.cross_check:
            spec.cross_check(values)
        w = {p.name: p.parse(warmup.get(p.name, p.default)) for p in WARMUP_PARAMS}
        extra = set(warmup) - set(w)
        if extra:
            raise ValueError(f"Unknown argument `{sorted(extra)[0]}` for a warmup (it takes warmup, "
                             "warmup_start_factor).")
        return cls(name, values, float(w["warmup"]), float(w["warmup_start_factor"]))

    @property
    def spec(self) -> ScheduleSpec:
        return REGISTRY[self.name]

    @property
    def stepwise(self) -> bool:
        return self.spec.stepwise and self.warmup == 0

    # -- evaluation -------------------------------------------------------------------------

    def at_steps(self, steps: Any, steps_per_epoch: int) -> np.ndarray:
        """LR used for each 0-based global batch index in ``steps`` (vectorised)."""
        spe = int(steps_per_epoch)
        if spe < 1:
            raise FieldError("steps_per_epoch", Rule("", Bounds(1)), steps_per_epoch)
        s = np.asarray(steps, dtype=np.float64)
        if self.warmup <= 0:
            return self.spec.fn(s, spe, **self.params)
        w_steps = self.warmup * spe
        base = self.spec.fn(np.maximum(s - w_steps, 0.0), spe, **self.params)
        first = float(self.spec.fn(np.zeros(1), spe, **self.params)[0])
        start = first * self.warmup_start_factor
        warm = start + (first - start) * s / w_steps
        return np.where(s < w_steps, warm, base)

    def at_step(self, step: int, steps_per_epoch: int) -> float:
        """LR for one batch as a Python ``float`` (what Keras callbacks accept)."""
        return float(self.at_steps(np.array([step]), steps_per_epoch)[0])

    def per_epoch(self, epochs: int, steps_per_epoch: int = 1) -> np.ndarray:
        """LR at the first batch of each epoch index 0..epochs-1."""
        return self.at_steps(np.arange(int(epochs)) * int(steps_per_epoch), steps_per_epoch)

    def at_epoch(self, epoch: int, steps_per_epoch: int = 1) -> float:
        """LR at the first batch of the 0-based ``epoch``, as a Python ``float``.

        ``schedule.at_epoch`` can be passed to ``keras.callbacks.LearningRateScheduler``
        for per-epoch schedules.
        """
        return self.at_step(int(epoch) * int(steps_per_epoch), steps_per_epoch)

    def per_step(self, epochs: int, steps_per_epoch: int) -> np.ndarray:
        """LR for every batch of ``epochs`` epochs."""
        return self.at_steps(np.arange(int(epochs) * int(steps_per_epoch)), steps_per_epoch)

    # -- description ------------------------------------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict; ``Schedule.from_config(s.to_config()) == s``."""
        cfg: dict[str, Any] = {
            "name": self.name,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
        }
        if self.warmup > 0:
            cfg["warmup"] = self.warmup
            cfg["warmup_start_factor"] = self.warmup_start_factor
        return cfg

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Schedule:
        if not isinstance(config, Mapping) or "name" not in config:
            raise FieldError("config", "a mapping with a `name`", config)
        warm = {k: config[k] for k in ("warmup", "warmup_start_factor") if k in config}
        return cls.create(config["name"], config.get("params", {}), **warm)

    def label(self) -> str:
        """Short human summary, e.g. ``Step decay (lr=0.01, factor=0.5, drop_every=5)``."""
        spec = self.spec
        parts = [f"{p.name}={p.format(self.params[p.name])}" for p in spec.params]
        parts += [f for f in spec.flags if self.params.get(f)]
        if self.warmup > 0:
            parts.append(f"warmup={fmt(self.warmup)}ep")
        return f"{spec.title} ({', '.join(parts)})"

    def short_label(self) -> str:
        """Title plus only the parameters that differ from the defaults, e.g. ``Step decay (factor=0.25)``."""
        spec = self.spec
        parts = [f"{p.name}={p.format(self.params[p.name])}" for p in spec.params
                 if self.params[p.name] != p.parse(p.default)]
        parts += [f for f in spec.flags if self.params.get(f)]
        if self.warmup > 0:
            parts.append(f"warmup={fmt(self.warmup)}ep")
        return spec.title + (f" ({', '.join(parts)})" if parts else "")

    def _label_parts(self) -> dict[str, str | None]:
        """What :func:`distinct_labels` may name, by key: every parameter as ``name=value``, each
        flag, the warmup (and its start factor while there is one)."""
        parts: dict[str, str | None] = {p.name: f"{p.name}={p.format(self.params[p.name])}" for p in self.spec.params}
        parts.update({f: f if self.params.get(f) else f"no {f}" for f in self.spec.flags})
        parts["warmup"] = f"warmup={fmt(self.warmup)}ep" if self.warmup > 0 else "no warmup"
        parts["warmup_start_factor"] = (f"warmup_start_factor={fmt(self.warmup_start_factor)}"
                                        if self.warmup > 0 else None)
        return parts

    def keras_code(self, steps_per_epoch: int = KERAS2_STEPS_PER_EPOCH) -> str:
        """Self-contained Keras 3 code that defines ``optimizer`` and ``callbacks``
        reproducing this schedule, warmup included."""
        snippet = self.spec.keras_export(self.params)
        return assemble(snippet, int(steps_per_epoch), self.warmup, self.warmup_start_factor)

    def initial_lr(self) -> float:
        return self.at_step(0, 1)


def distinct_labels(schedules: Sequence[Schedule]) -> list[str]:
    """One label per schedule, all different, each saying what tells it apart from the others.

    A schedule alone of its kind is its title (``Step decay``); two or more of one kind are
    named by the parameters whose values differ between them, as the tutorial compares them::

        Step decay (factor=0.25), Step decay (factor=0.5)

    Schedules that are the same in every parameter are numbered (``Step decay #2``).
    """
    by_kind: dict[str, list[int]] = {}
    for i, s in enumerate(schedules):
        by_kind.setdefault(s.name, []).append(i)
    labels = [s.spec.title for s in schedules]
    for members in by_kind.values():
        if len(members) < 2:
            continue
        parts = [schedules[i]._label_parts() for i in members]
        differ = [k for k in parts[0] if len({p[k] for p in parts if p[k] is not None}) > 1]
        for i, p in zip(members, parts):
            named = [p[k] for k in differ if p[k] is not None]
            if named:
                labels[i] += f" ({', '.join(named)})"
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
