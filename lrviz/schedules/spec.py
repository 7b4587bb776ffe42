"""What lrviz knows about one schedule: :class:`ScheduleSpec` (the registry's entries are in
:mod:`lrviz.schedules.registry`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz.keras_code import Snippet
from lrviz.schedules.params import Param

__all__ = ["ScheduleSpec"]


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    """Everything lrviz knows about one schedule, described once: adding a schedule is one
    entry in the registry (and its oracle test).

    ``time``: which time ``fn`` reads (see the module docstring). ``keras_export`` writes the
    Keras 3 code that reproduces the curve (:mod:`lrviz.keras_code`). ``peak_param`` is the
    parameter an LR range test's suggestion sets: the initial LR, the peak of a cyclic schedule,
    None where no single parameter is the LR (piecewise values). ``decays``: the LR never rises
    once the schedule's own warmup is over (``warmup_param``: the parameter holding that warmup's
    length in epochs, cosine's ``warmup_epochs``); tested as a property over the registry.
    ``example``: parameters that make the curve change within 5 short epochs (the exported code
    is run with them in a real ``fit``).
    """

    name: str
    title: str
    summary: str
    params: tuple[Param, ...]
    latex: str
    fn: Callable[..., np.ndarray]
    time: str  # "epoch" | "step" | "continuous"
    keras_export: Callable[[Mapping[str, Any]], Snippet]
    example: Mapping[str, Any]
    peak_param: str | None = "lr"
    decays: bool = True
    warmup_param: str | None = None
    cross_check: Callable[[Mapping[str, Any]], None] | None = None
    flags: tuple[str, ...] = ()  # boolean parameters (e.g. staircase)

    @property
    def stepwise(self) -> bool:
        """True when the curve is constant within an epoch (draw it as stairs)."""
        return self.time == "epoch"

    @property
    def own_warmup(self) -> bool:
        """True when the schedule has a warmup of its own (cosine: Keras' ``warmup_target``), so
        editors offer no second, generic one in front of it."""
        return self.warmup_param is not None

    def warmup_epochs(self, params: Mapping[str, Any]) -> float:
        """Length of the schedule's own warmup for ``params`` (0 without one), in epochs."""
        return float(params[self.warmup_param]) if self.warmup_param else 0.0

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        d = {p.name: p.default for p in self.params}
        d.update({f: False for f in self.flags})
        return d
