"""Settings of a job, described once: default, bounds, help. Validation, CLI flags and page
widgets are all derived from the description.

A job's config is a dataclass whose fields carry a :class:`Setting` in their metadata
(:func:`setting`), the way :class:`lrviz.schedules.Param` describes a schedule parameter::

    @dataclass
    class TrainConfig:
        epochs: int = setting(40, "Total epochs to train.", kind="int", low=1, high=100_000)

:func:`settings_of` lists them; :meth:`Setting.parse` checks one value (``FieldError`` naming
the field, the rule and the value); :meth:`Setting.parse_flag` checks text typed on the
command line; :meth:`Setting.widget_help` is what a page shows next to the input.

Config files are JSON, so a number setting takes numbers only, never numeric text (a page's
number input or the CLI's flag parser turns text into numbers first).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrviz.errors import FieldError

__all__ = ["Setting", "setting", "settings_of", "defaults_of", "validate_settings", "field_errors", "RUN_ID_PATTERN"]

RUN_ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\Z")  # \Z: no trailing newline

KINDS = ("int", "float", "bool", "choice", "path", "run_id", "mapping", "text")
TEXT_MAX = 60  # characters of a "text" setting (a name shown in tables and legends)


@dataclass(frozen=True)
class Setting:
    """One field of a job config.

    ``kind``: ``"int"``, ``"float"``, ``"bool"``, ``"choice"`` (one of ``choices``), ``"path"``
    (non-empty text), ``"run_id"`` or ``"mapping"`` (checked by the job, e.g. a schedule).
    ``low``/``high`` bound numbers (``*_open``: strict); ``optional`` admits ``None``.
    ``what`` names the kind in messages (default "an integer" / "a finite number" / "a path").
    ``cli=False`` keeps a setting off the command line's help (it still parses); ``metavar``
    names the flag's value in that help (default: the kind, e.g. ``INT``, ``PATH``).
    """

    name: str
    default: Any
    help: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()
    what: str | None = None
    label: str = ""
    unit: str = ""
    cli: bool = True
    metavar: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FieldError("kind", f"one of {', '.join(KINDS)}", self.kind)

    # ------------------------------------------------------------------ words

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def bounds(self) -> str:
        """The numeric bounds in words: ``>= 1 and <= 100000``."""
        return bounds_in_words(self.low, self.high, self.low_open, self.high_open, _num)

    def rule(self) -> str:
        """What a valid value is, in the words of the error message."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "path":
            text = self.what or "a path"
        elif self.kind == "text":
            text = f"one line of at most {TEXT_MAX} characters"
        elif self.kind == "run_id":
            text = "a run id (letters, digits, '_', '.', '-')"
        elif self.kind == "mapping":
            text = self.what or "a mapping"
        else:
            what = self.what or ("an integer" if self.kind == "int" else "a finite number")
            text = (what + " " + self.bounds()).strip()
        return text + (" or null" if self.optional else "")

    def widget_help(self) -> str:
        """Help for a page input: the description, then the rule (``Must be ...``)."""
        return f"{self.help} Must be {self.rule()}."

    def cli_help(self) -> str:
        """Help for the command-line flag: the description, the rule of a number and the default
        (``SGD momentum. Must be a number >= 0 and < 1. Default: 0.9.``). A default of None is
        left out: the description says what no value means (``all when empty``)."""
        text = self.help
        if self.kind in ("int", "float"):
            text += f" Must be {self.rule().removesuffix(' or null')}."
        if self.kind == "bool":
            text += f" Default: {'on' if self.default else 'off'}."
        elif self.default is not None:
            text += f" Default: {self.default}."
        return text

    # ------------------------------------------------------------------ checks

    def parse(self, value: Any) -> Any:
        """The value, normalised (``2.0`` -> ``2`` for an int); ``FieldError`` if it breaks the rule."""
        if value is None and self.optional:
            return None
        if self.kind in ("int", "float"):
            return self._number(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise self.error(value)
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise self.error(value)
            return value
        if self.kind == "path":
            if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
                raise self.error(value)
            return str(value)
        if self.kind == "text":
            if not isinstance(value, str) or "\n" in value or len(value) > TEXT_MAX:
                raise self.error(value)
            return value
        if self.kind == "run_id":
            if not isinstance(value, str) or not RUN_ID_PATTERN.match(value):
                raise self.error(value)
            return value
        if not isinstance(value, Mapping):
            raise self.error(value)
        return value

    def _number(self, value: Any) -> int | float:
        v = value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(value)
        if self.kind == "int":
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int):
                raise self.error(value)
        elif not math.isfinite(v):
            raise self.error(value)
        else:
            v = float(v)
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            raise self.error(value)
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            raise self.error(value)
        return v

    def parse_flag(self, text: str) -> Any:
        """A command-line value: text made into the setting's type and checked against the whole
        rule, so ``--momentum abc`` and ``--momentum 1.5`` get the same message as a config file
        (``Argument `momentum` must be a number >= 0 and < 1. Received: momentum=abc``), the value
        shown as typed."""
        if self.kind not in ("int", "float"):
            return text
        try:
            v: Any = int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise FieldError(self.name, self.rule(), text, as_typed=True) from None
        try:
            return self.parse(v)
        except FieldError:
            raise FieldError(self.name, self.rule(), text, as_typed=True) from None

    def error(self, value: Any) -> FieldError:
        return FieldError(self.name, self.rule(), value)


def bounds_in_words(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False,
                    fmt: Any = str) -> str:
    """``>= 1 and <= 100000``, ``> 0 and < 1``, ``> 0`` (empty without bounds): the one wording
    of bounds in every message (settings here, schedule parameters in :mod:`lrviz.schedules`)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {fmt(low)}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {fmt(high)}")
    return " and ".join(parts)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def setting(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field holding a :class:`Setting` (its name is filled in by :func:`settings_of`)."""
    meta = {"setting": {"default": default, "help": help, **kw}}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settings_of(config_cls: type) -> dict[str, Setting]:
    """The :class:`Setting` of every field of a config dataclass, in declaration order."""
    out = {}
    for f in dataclasses.fields(config_cls):
        if "setting" in f.metadata:
            out[f.name] = Setting(name=f.name, **f.metadata["setting"])
    return out


def defaults_of(config_cls: type) -> dict[str, Any]:
    return {name: copy.deepcopy(s.default) for name, s in settings_of(config_cls).items()}


def field_errors(settings: Mapping[str, Setting], values: Mapping[str, Any]) -> dict[str, FieldError]:
    """Each value checked on its own against the setting under the same key: the error of every
    field that breaks its rule, by the setting's name (the field a page shows it under). Where a
    validation stops at the first bad field, a form shows all of them at once (keys without a
    setting are skipped)."""
    out: dict[str, FieldError] = {}
    for key, value in values.items():
        spec = settings.get(key)
        if spec is None:
            continue
        try:
            spec.parse(value)
        except FieldError as e:
            out[spec.name] = e
    return out


def validate_settings(config_cls: type, config: Mapping[str, Any], *, what: str,
                      passthrough: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check every setting of ``config`` (defaults filled in); return ``(settings, meta)``.

    ``meta`` holds the keys in ``passthrough`` (what the engine itself writes into a config,
    e.g. ``id``, ``versions``); any other unknown key is an error naming it.
    """
    if not isinstance(config, Mapping):
        raise FieldError("config", "a mapping", config)
    specs = settings_of(config_cls)
    unknown = sorted(set(config) - set(specs) - set(passthrough))
    if unknown:
        raise FieldError(unknown[0], "", config[unknown[0]],
                         message=f"Argument `{unknown[0]}` is not {what} (known: {', '.join(specs)}).")
    cfg = {name: spec.parse(config.get(name, spec.default)) for name, spec in specs.items()}
    meta = {k: config[k] for k in passthrough if k in config}
    return cfg, meta
