"""Bad-input cases generated from the schedule registry and the run-config defaults, and the
oracle that says whether a value must be accepted.

The oracle is written out here as data (``RULES``, ``CROSS_RULES``, ``TRAIN_RULES``), from each
parameter's meaning in the schedule's formula and Keras' argument rules; it never reads a
``Param``'s or ``Setting``'s declared bounds nor calls its ``parse`` or a spec's ``cross_check``, so
a validator whose check or whose declared bounds drift from the rule is caught.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrviz.data import DATASETS
from lrviz.runs import RUN_ID_PATTERN, default_config
from lrviz.schedules import REGISTRY, WARMUP_PARAMS, Param

# (id, python value, text as typed on a command line / in a URL)
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("zero", 0, "0"),
    ("negative", -1, "-1"),
    ("nan", float("nan"), "nan"),
    ("inf", float("inf"), "inf"),
    ("neg_inf", float("-inf"), "-inf"),
    ("huge", 1e300, "1e300"),
    ("string", "abc", "abc"),
    ("none", None, ""),
    ("list", [1, 2], "[1,2]"),
    ("bool", True, "True"),
]


@dataclass(frozen=True)
class Rule:
    """A number's rule: its kind and its bounds (``None``: unbounded; ``*_open``: the bound itself is out)."""

    kind: str = "float"  # float, int; a list of them: floats, ints
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False


EPOCHS = 10_000  # lrviz's cap on any length in epochs
LR = Rule("float", 0, True, 10)  # an LR: > 0 (Keras' optimizers refuse <= 0 as a schedule's value), lrviz caps it at 10
LENGTH = Rule("float", 0, True, EPOCHS)  # a length in epochs: a zero length divides by zero in the formula
FRACTION_OPEN = Rule("float", 0, True, 1, True)  # a factor that must shrink the LR and never zero it

# Every registry parameter's rule, by name (a name means the same thing in every schedule).
RULES: dict[str, Rule] = {
    "lr": LR, "max_lr": LR, "base_lr": LR, "end_lr": LR, "warmup_start_lr": LR,
    "values": Rule("floats", 0, True, 10),  # piecewise: each value is an LR
    "boundaries": Rule("ints", 1, False, EPOCHS),  # epochs where the LR changes: whole epochs from 1
    "decay": Rule("float", 0, False, 1),  # time-based gamma; 0 = constant LR (the tutorial: "gamma=0: lr unchanged")
    "factor": FRACTION_OPEN,  # step decay's F: 0 would zero the LR, 1 never drops
    "drop_every": Rule("int", 1, False, EPOCHS),  # step decay's D: whole epochs, at least 1
    "decay_rate": FRACTION_OPEN,  # ExponentialDecay's rate, a decay: < 1
    "decay_epochs": LENGTH, "first_decay_epochs": LENGTH, "total_epochs": LENGTH, "half_cycle_epochs": LENGTH,
    "power": Rule("float", 0, True, 10),  # PolynomialDecay's power > 0
    "alpha": Rule("float", 0, False, 1),  # CosineDecay's floor as a fraction of the LR: 0..1, both included
    "warmup_epochs": Rule("float", 0, False, EPOCHS), "warmup": Rule("float", 0, False, EPOCHS),  # 0 = no warmup
    "t_mul": Rule("float", 1, False, 10),  # CosineDecayRestarts: periods never shrink
    "m_mul": Rule("float", 0, True, 1),  # CosineDecayRestarts: restart peaks never grow, never zero
    "pct_start": FRACTION_OPEN,  # one-cycle: the share of the cycle spent rising, strictly inside
    "div_factor": Rule("float", 1, False, 1e6), "final_div_factor": Rule("float", 1, False, 1e9),  # divisors >= 1
    "cycle_scale": Rule("float", 0, True, 1),  # triangular2-like amplitude scale, never grows
    "warmup_start_factor": Rule("float", 0, True, 1),  # the warmup's first LR as a fraction of the peak
}


# Rules between a schedule's parameters (Keras' PiecewiseConstantDecay: "boundaries ... strictly
# increasing", "values ... one more element than boundaries"; PolynomialDecay decays from lr down to
# end_lr; a cyclical LR (Smith) goes from base_lr up to max_lr). True: the values keep the rule.
CROSS_RULES: dict[str, Callable[[dict], bool]] = {
    "piecewise": lambda v: len(v["values"]) == len(v["boundaries"]) + 1
    and all(a < b for a, b in zip(v["boundaries"], v["boundaries"][1:])),
    "polynomial": lambda v: v["end_lr"] <= v["lr"],
    "triangular": lambda v: v["base_lr"] <= v["max_lr"],
}


def rule_of(p: Param) -> Rule:
    return RULES[p.name]


def boundary_values(rule: Rule) -> list[tuple[str, Any, str]]:
    """The rule's bounds themselves and just outside them (valid or not per *_open)."""
    out = []
    for side, bound in (("low", rule.low), ("high", rule.high)):
        if bound is None:
            continue
        out.append((f"at_{side}", bound, repr(float(bound))))
        step = max(abs(bound) * 1e-6, 1e-9) if rule.kind in ("float", "floats") else 1
        outside = bound - step if side == "low" else bound + step
        out.append((f"beyond_{side}", outside, repr(outside)))
    return out


def as_number(value: Any) -> float | None:
    """A Python number or typed text as a float; None for anything else (a bool is no number)."""
    if value is None or isinstance(value, (bool, list, tuple, dict)):
        return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return float(value)


def accepts(rule: Rule, value: Any) -> bool:
    """Whether ``value`` (a Python value or typed text) keeps ``rule``."""
    f = as_number(value)
    if f is None or not math.isfinite(f):
        return False
    if rule.kind in ("int", "ints") and f != int(f):
        return False
    if rule.low is not None and (f < rule.low or (rule.low_open and f == rule.low)):
        return False
    if rule.high is not None and (f > rule.high or (rule.high_open and f == rule.high)):
        return False
    return True


def expected_value(rule: Rule, value: Any) -> Any:
    """An accepted value (a number, typed text, a list or comma-separated text) as the schedule holds it."""
    one = int if rule.kind in ("int", "ints") else float
    if rule.kind in ("floats", "ints"):
        items = value.split(",") if isinstance(value, str) else value
        return [one(as_number(x)) for x in items]
    return one(as_number(value))


def is_list(p: Param) -> bool:
    return RULES[p.name].kind in ("floats", "ints")


def as_param_value(p: Param, value: Any) -> Any:
    """For a list parameter the bad value replaces the first element of the default list."""
    return [value, *p.default[1:]] if is_list(p) else value


def as_text(p: Param, text: str) -> str:
    if is_list(p):
        return text if text == "" else ",".join([text, *(p.format([v]) for v in p.default[1:])])
    return text


def schedule_param_cases() -> list[tuple[str, Param, str, Any, str]]:
    """(schedule, param, case id, value, text) for every registry parameter (warmup too, on `step`)."""
    cases = []
    owners = [(name, p) for name, spec in REGISTRY.items() for p in spec.params]
    owners += [("step", p) for p in WARMUP_PARAMS]
    for name, p in owners:
        for vid, value, text in BAD_VALUES + boundary_values(RULES[p.name]):
            cases.append((name, p, vid, value, text))
    return cases


def case_id(case) -> str:
    name, p, vid = case[:3]
    return f"{name}.{p.name}={vid}"


def one_line_naming(message: str, field: str) -> bool:
    return "\n" not in message.strip() and (f"`{field}`" in message or f"--{field.replace('_', '-')}" in message)


def message_names(message: str, field: str) -> bool:
    return re.search(rf"Argument `{field}` must be .*Received: {field}=", message) is not None


# --------------------------------------------------------------------------- Train form

# The rule of every Train-form field, as the README and the form state it. A new field in
# default_config() without a rule here fails test_rel_every_train_field_has_a_rule.
TRAIN_RULES: dict[str, Any] = {
    "dataset": ("choice", tuple(DATASETS)),
    "cifar_archive": ("path_or_null",),
    "data": ("existing_data_or_null",),  # a class folder or an .npz that exists (none of the bad values is one)
    "image_size": ("image_size_or_null",),  # text: one integer or height,width, each 1..4096 pixels
    "color_mode": ("choice_or_null", ("grayscale", "rgb")),
    "val_split": ("number", Rule("float", 0, True, 1, True), True),  # a held-out share, strictly inside 0..1
    "model": ("model_or_null",),  # minivggnet, a keras.applications name, or an existing .keras file
    "limit": ("number", Rule("int", 1), True),
    "schedule": ("schedule",),
    "epochs": ("number", Rule("int", 1, False, 100_000), False),
    "batch_size": ("number", Rule("int", 1, False, 1_000_000), False),
    "momentum": ("number", Rule("float", 0, False, 1, True), False),  # Keras' SGD refuses < 0; 1 never forgets
    "nesterov": ("bool",),
    "seed": ("number", Rule("int", 0, False, 2**32 - 1), False),  # NumPy's seeds: 0 .. 2**32 - 1
    "parent": ("run_id_or_null",),
    "max_batches": ("number", Rule("int", 1), True),
    "backend": ("backend",),  # null = $KERAS_BACKEND or tensorflow; else an installed backend's name
    "mlflow": ("bool",),
    "plateau": ("mapping_or_null",),
}


def train_accepts(field: str, value: Any) -> bool:
    """Run configs are typed (JSON): a number field takes numbers only, not numeric text."""
    rule = TRAIN_RULES[field]
    kind = rule[0]
    if kind == "choice":
        return isinstance(value, str) and value in rule[1]
    if kind == "choice_or_null":
        return value is None or (isinstance(value, str) and value in rule[1])
    if kind == "existing_data_or_null":
        return value is None
    if kind == "image_size_or_null":
        return value is None or _image_size_ok(value)
    if kind == "model_or_null":
        import keras

        return value is None or (isinstance(value, str) and (value == "minivggnet" or (
            value[:1].isupper() and callable(getattr(keras.applications, value, None)))))
    if kind == "path_or_null":  # existence is only checked for cifar10 (tested separately)
        return value is None or (isinstance(value, str) and bool(value.strip()))
    if kind == "number":
        if value is None:
            return rule[2]
        return not isinstance(value, str) and accepts(rule[1], value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "schedule":
        return False  # none of the bad values is a schedule mapping
    if kind == "backend":
        from lrviz.jobs.common import installed_backends

        return value is None or (isinstance(value, str) and value in installed_backends())
    if kind == "mapping_or_null":
        return value is None  # none of the bad values is a mapping
    if kind == "run_id_or_null":
        return value is None or (isinstance(value, str) and RUN_ID_PATTERN.match(value) is not None)
    raise AssertionError(kind)


def _image_size_ok(value: Any) -> bool:
    """A run config's image size is text (JSON): "H,W" or "N", each 1..4096 pixels."""
    if not isinstance(value, str):
        return False
    parts = [p.strip() for p in value.replace("x", ",").split(",")]
    return len(parts) in (1, 2) and all(p.isdigit() and 1 <= int(p) <= 4096 for p in parts)


def train_cases() -> list[tuple[str, str, Any]]:
    out = []
    for field in default_config():
        rule = TRAIN_RULES.get(field)
        extra = boundary_values(rule[1]) if rule and rule[0] == "number" else []
        for vid, value, _ in BAD_VALUES + extra:
            out.append((field, vid, value))
    return out
