"""A schedule's parameters: :class:`Param` (a :class:`~lrviz.fields.Field` that reads text), the
shared ones (the LR rule, Keras 2's decay, the generic warmup) and the boolean flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz.errors import FieldError
from lrviz.fields import Field

__all__ = ["Param", "lr_param", "DECAY", "EPOCHS_BOUND", "WARMUP_PARAMS", "FLAG_HELP", "parse_flag"]

EPOCHS_BOUND = 10_000  # the longest length in epochs any parameter accepts


@dataclass(frozen=True)
class Param(Field):
    """One parameter of a schedule: a :class:`~lrviz.fields.Field` that also reads text (a page's
    text box, a shared link, a CLI flag), so ``"0.5"`` is 0.5. ``kind`` is ``"float"``, ``"int"``,
    ``"floats"`` or ``"ints"`` (the last two are comma-separated lists)."""

    reads_text: bool = True


def lr_param(default=0.01, name="lr", help="Initial learning rate (the tutorial's initAlpha).") -> Param:
    """The one rule of an LR value (> 0 and <= 10): every LR parameter, and the Train page's "set LR"."""
    return Param(name, default, help, low=0, low_open=True, high=10, unit="LR", log=True)


DECAY = Param(
    "decay", 0.00025, "Decay rate gamma; the tutorial uses 0.01 / 40 = 0.00025.",
    low=0, high=1, unit="1/step", log=True,
)


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# What each boolean parameter (ScheduleSpec.flags) does: its help on a page and on the CLI.
FLAG_HELP = {
    "staircase": "Stairs: the exponent x / decay_epochs is floored, so the LR drops once every decay_epochs "
                 "instead of smoothly.",
}


def parse_flag(name: str, value: Any) -> bool:
    """A boolean parameter (e.g. ``staircase``) from a bool, 0/1 or the text ``true``/``false``
    (also ``1``/``0``, ``yes``/``no``, any case). Anything else is refused, never read as false:
    ``Argument `staircase` must be true or false. Received: staircase=maybe``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE + _FALSE:
            return text in _TRUE
        raise FieldError(name, "true or false", value, as_typed=True)
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise FieldError(name, "true or false", value)


WARMUP_PARAMS = (
    Param("warmup", 0.0, "Linear warmup in front of the schedule (0 = none).", low=0, high=EPOCHS_BOUND,
          unit="epochs"),
    Param("warmup_start_factor", 0.1, "Warmup starts at this fraction of the schedule's first LR.", low=0,
          low_open=True, high=1),
)
