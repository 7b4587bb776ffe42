"""Bad-input cases generated from the schedule registry and the run-config defaults, and the
oracle that says, from a field's declared bounds alone, whether a value must be accepted.

The oracle deliberately does not call ``Param.parse``: it re-reads ``low``/``high``/``*_open``
and ``kind`` so that a validator that drifts from its declared bounds is caught.
"""

from __future__ import annotations

import math
import re
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


def boundary_values(p: Param) -> list[tuple[str, Any, str]]:
    """The declared bounds themselves and just outside them (valid or not per *_open)."""
    out = []
    for side, bound in (("low", p.low), ("high", p.high)):
        if bound is None:
            continue
        out.append((f"at_{side}", bound, repr(float(bound))))
        step = max(abs(bound) * 1e-6, 1e-9) if p.kind in ("float", "floats") else 1
        outside = bound - step if side == "low" else bound + step
        out.append((f"beyond_{side}", outside, repr(outside)))
    return out


def accepts(p: Param, value: Any) -> bool:
    """Whether ``value`` (a Python value or typed text) satisfies ``p``'s declared kind and bounds."""
    if value is None or isinstance(value, (bool, list, tuple, dict)):
        return False
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return False
    f = float(value)
    if not math.isfinite(f):
        return False
    if p.kind in ("int", "ints") and f != int(f):
        return False
    if p.low is not None and (f < p.low or (p.low_open and f == p.low)):
        return False
    if p.high is not None and (f > p.high or (p.high_open and f == p.high)):
        return False
    return True


def is_list(p: Param) -> bool:
    return p.kind in ("floats", "ints")


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
        for vid, value, text in BAD_VALUES + boundary_values(p):
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
    "limit": ("number", Param("limit", None, "", kind="int", low=1), True),
    "schedule": ("schedule",),
    "epochs": ("number", Param("epochs", 40, "", kind="int", low=1, high=100_000), False),
    "batch_size": ("number", Param("batch_size", 64, "", kind="int", low=1, high=1_000_000), False),
    "momentum": ("number", Param("momentum", 0.9, "", low=0, high=1, high_open=True), False),
    "nesterov": ("bool",),
    "seed": ("number", Param("seed", 42, "", kind="int", low=0, high=2**32 - 1), False),
    "parent": ("run_id_or_null",),
    "max_batches": ("number", Param("max_batches", None, "", kind="int", low=1), True),
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


def train_cases() -> list[tuple[str, str, Any]]:
    out = []
    for field in default_config():
        rule = TRAIN_RULES.get(field)
        extra = boundary_values(rule[1]) if rule and rule[0] == "number" else []
        for vid, value, _ in BAD_VALUES + extra:
            out.append((field, vid, value))
    return out
