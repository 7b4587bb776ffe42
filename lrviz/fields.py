"""One description of a field, for schedule parameters and job settings alike.

A :class:`Field` says everything about one input once: name, default, help, unit, its kind
and its bounds. Its :class:`~lrviz.rules.Rule` (data, whose text is Keras' words) gives the
error message, the page's plain words, the CLI flag's help and the page input's help;
:meth:`Field.parse` checks a value, :meth:`Field.parse_flag` text typed on a command line.

Two ways to receive a value, and the field says which (``reads_text``):

* a *job setting* comes from a JSON config, so a number takes numbers only, never numeric
  text (a page's number input or the CLI's flag parser turns text into numbers first);
  :class:`lrviz.settings.Setting` is this.
* a *schedule parameter* is also typed as text (a page's text box, a shared link, a CLI
  flag), so ``"0.5"`` reads as 0.5 and lists are comma-separated;
  :class:`lrviz.schedules.Param` is this, and so are the explorer's own inputs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz.errors import FieldError
from lrviz.rules import RUN_ID_WORDS, Bounds, Rule, fmt

__all__ = ["Field", "KINDS", "RUN_ID_PATTERN", "TEXT_MAX"]

RUN_ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\Z")  # \Z: no trailing newline

NUMBERS, LISTS = ("int", "float"), ("ints", "floats")
KINDS = (*NUMBERS, *LISTS, "bool", "choice", "path", "run_id", "mapping", "text")
TEXT_MAX = 60  # characters of a "text" field (a name shown in tables and legends)


@dataclass(frozen=True)
class Field:
    """One input, described once.

    ``kind``: ``"int"``, ``"float"``, ``"ints"``/``"floats"`` (comma-separated lists, only for
    fields that read text), ``"bool"``, ``"choice"`` (one of ``choices``), ``"path"`` (non-empty
    text), ``"text"`` (one short line), ``"run_id"`` or ``"mapping"`` (checked by its owner, e.g.
    a schedule). ``low``/``high`` bound numbers (``*_open``: strict); ``optional`` admits None.
    ``what`` names the kind in messages (default "an integer" / "a finite number" / "a path").
    ``reads_text``: numeric text is a number (see the module's docstring).
    UI hints: ``label``, ``unit``, ``log`` (a log-scaled input), ``slider`` (min, max, step).
    CLI hints: ``cli=False`` keeps the field off the help (it still parses); ``metavar``.
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
    log: bool = False
    slider: tuple[float, float, float] | None = None
    cli: bool = True
    metavar: str = ""
    reads_text: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FieldError("kind", f"one of {', '.join(KINDS)}", self.kind)

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.low, self.high, self.low_open, self.high_open)

    def with_bounds(self, bounds: Bounds) -> Field:
        """The same field with another field's bounds (``SET_LR`` takes the schedules' LR rule)."""
        return dataclasses.replace(self, low=bounds.low, high=bounds.high, low_open=bounds.low_open,
                                   high_open=bounds.high_open)

    # ------------------------------------------------------------------ words

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def rule(self) -> Rule:
        """What a valid value is: data, whose text is the words of the error message."""
        whole = self.kind in ("int", "ints")
        if self.kind in NUMBERS:
            what = self.what or ("an integer" if whole else "a finite number")
            return Rule(what, self.bounds, optional=self.optional)
        if self.kind in LISTS:
            what = "a comma-separated list of " + ("integers" if whole else "numbers")
            return Rule(what, self.bounds, optional=self.optional)
        if self.kind == "bool":
            return Rule("true or false", optional=self.optional)
        if self.kind == "choice":
            return Rule("one of " + ", ".join(self.choices), optional=self.optional)
        if self.kind == "text":
            return Rule(f"one line of at most {TEXT_MAX} characters", optional=self.optional)
        if self.kind == "run_id":
            return Rule("a run id (letters, digits, '_', '.', '-')", optional=self.optional, plain_what=RUN_ID_WORDS)
        default = "a path" if self.kind == "path" else "a mapping"
        return Rule(self.what or default, optional=self.optional)

    def widget_help(self) -> str:
        """Help for a page input: the description, the rule (``Must be ...``) and the unit."""
        return f"{self.help} Must be {self.rule()}." + (f" Unit: {self.unit}." if self.unit else "")

    def cli_help(self) -> str:
        """Help for the command-line flag: the description, the rule of a number, the unit and the
        default (``SGD momentum. Must be a number >= 0 and < 1. Default: 0.9.``). A default of None
        is left out: the description says what no value means (``all when empty``)."""
        text = self.help
        if self.kind in NUMBERS + LISTS:
            text += f" Must be {self.rule().removesuffix(' or null')}."
        if self.unit:
            text += f" Unit: {self.unit}."
        if self.kind == "bool":
            text += f" Default: {'on' if self.default else 'off'}."
        elif self.default is not None:
            text += f" Default: {self.format(self.default)}."
        return text

    def format(self, value: Any) -> str:
        """Inverse of :meth:`parse` for text fields, URLs and CLI flags."""
        if self.kind in LISTS:
            return ",".join(fmt(v) for v in value)
        if self.kind in NUMBERS and self.reads_text:
            return fmt(value)
        return str(value)

    def error(self, value: Any) -> FieldError:
        """The field's error for ``value`` (shown as typed where the field reads text)."""
        return FieldError(self.name, self.rule(), value, as_typed=self.reads_text)

    # ------------------------------------------------------------------ checks

    def parse(self, value: Any) -> Any:
        """The value, normalised (``2.0`` -> ``2`` for an int, ``"0.5"`` -> 0.5 where the field
        reads text); ``FieldError`` naming the field, the rule and the value otherwise."""
        if value is None and self.optional:
            return None
        if self.kind in NUMBERS:
            return self._number(value, value)
        if self.kind in LISTS:
            items = value
            if isinstance(value, str):
                items = [s for s in value.replace(";", ",").split(",") if s.strip()]
            if not isinstance(items, (list, tuple, np.ndarray)) or len(items) == 0:
                raise self.error(value)
            return tuple(self._number(v, value) for v in items)
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

    def _number(self, v: Any, original: Any) -> int | float:
        """One number, checked against the kind and the bounds (``original``: what the message shows)."""
        if isinstance(v, bool) or v is None:
            raise self.error(original)
        if isinstance(v, str) and self.reads_text:
            try:
                v = float(v.strip())
            except ValueError:
                raise self.error(original) from None
        elif not self.reads_text and not isinstance(v, (int, float)):  # JSON numbers only
            raise self.error(original)
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            raise self.error(original) from None
        if not math.isfinite(f):
            raise self.error(original)
        if self.kind in ("int", "ints"):
            if f != int(f):
                raise self.error(original)
            out: int | float = int(v) if isinstance(v, (int, np.integer)) else int(f)
        else:
            out = f
        if not self.bounds.admits(out):
            raise self.error(original)
        return out

    def parse_flag(self, text: str) -> Any:
        """A command-line value: text made into the field's type and checked against the whole
        rule, so ``--momentum abc`` and ``--momentum 1.5`` get the same message as a config file
        (``Argument `momentum` must be a number >= 0 and < 1. Received: momentum=abc``), the value
        shown as typed. Text that is not a number is passed on as it is."""
        if self.kind not in NUMBERS:
            return text
        try:
            v: Any = int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise FieldError(self.name, self.rule(), text, as_typed=True) from None
        try:
            return self.parse(v)
        except FieldError:
            raise FieldError(self.name, self.rule(), text, as_typed=True) from None
