"""What a valid value is, kept as data: :class:`Bounds` and :class:`Rule`.

A rule is written two ways from the same data, never by reading one wording back into the
other: Keras' words for the CLI and the library (``> 0 and <= 10``, in ``Argument `lr` must be
a finite number > 0 and <= 10. Received: lr=0.0``), and plain words for a page (``above 0 and
at most 10``). :class:`Rule` is a ``str`` (its Keras words), so every place that carries or
prints a rule as text keeps working, and :attr:`lrviz.errors.FieldError.rule` keeps the data
when an error is re-raised under another name.

No lrviz import here: :mod:`lrviz.errors` and :mod:`lrviz.fields` both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Bounds", "Rule", "fmt", "plain_words", "RUN_ID_WORDS"]

RUN_ID_WORDS = "letters, digits, '_', '.' and '-' only, starting with a letter or digit"

# What a value is, in Keras' words -> in plain words (empty: a number needs no name on a page).
_PLAIN_WHAT = {
    "a finite number": "", "a number": "", "an integer": "a whole number",
    "a comma-separated list of numbers": "numbers, separated by commas, each",
    "a comma-separated list of integers": "whole numbers, separated by commas, each",
}
_SYMBOL_WORDS = {">=": "at least", "<=": "at most", ">": "above", "<": "below"}


def fmt(v: Any) -> str:
    """Shortest faithful text for a number (ints stay ints): bounds in messages, values in code."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.10g}"


@dataclass(frozen=True)
class Bounds:
    """Numeric bounds: ``low``/``high`` (None: unbounded), each strict when its ``*_open`` is set."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, v: float) -> bool:
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return not (self.high is not None and (v > self.high or (self.high_open and v == self.high)))

    def _sides(self) -> list[tuple[str, float]]:
        out = []
        if self.low is not None:
            out.append((">" if self.low_open else ">=", self.low))
        if self.high is not None:
            out.append(("<" if self.high_open else "<=", self.high))
        return out

    def words(self) -> str:
        """Keras' words: ``>= 1 and <= 100000``, ``> 0`` (empty without bounds)."""
        return " and ".join(f"{op} {fmt(v)}" for op, v in self._sides())

    def plain(self) -> str:
        """Plain words: ``at least 1 and at most 100000``, ``above 0``."""
        return " and ".join(f"{_SYMBOL_WORDS[op]} {fmt(v)}" for op, v in self._sides())


class Rule(str):
    """A rule as data whose text is Keras' words: ``what`` a value is (``an integer``), its
    :class:`Bounds`, ``optional`` (None allowed: `` or null``), and ``plain_what``, what it is
    in plain words when that is not the usual translation of ``what``.

        >>> r = Rule("an integer", Bounds(1, 10))
        >>> r, r.plain()
        ('an integer >= 1 and <= 10', 'a whole number of at least 1 and at most 10')
    """

    what: str
    bounds: Bounds
    optional: bool
    plain_what: str | None

    def __new__(cls, what: str, bounds: Bounds | None = None, *, optional: bool = False,
                plain_what: str | None = None) -> Rule:
        bounds = bounds or Bounds()
        text = " ".join(t for t in (what, bounds.words()) if t) + (" or null" if optional else "")
        self = super().__new__(cls, text)
        self.what, self.bounds, self.optional, self.plain_what = what, bounds, optional, plain_what
        return self

    @property
    def integer(self) -> bool:
        """Whether the rule asks for whole numbers (a page then says which typed value is not)."""
        return self.what in ("an integer", "a comma-separated list of integers")

    def plain(self) -> str:
        """The rule in plain words, no symbols (a page does not say "or null": it shows an empty
        input for None)."""
        what = self.plain_what if self.plain_what is not None else _PLAIN_WHAT.get(self.what, self.what)
        bounds = self.bounds.plain()
        if what == "a whole number" and bounds:
            what = "a whole number of"
        return " ".join(t for t in (what, bounds) if t)


def plain_words(rule: str) -> str:
    """A rule in plain words: a :class:`Rule`'s from its data. A rule written as a sentence by
    code that has no field (``> initial_epoch (3)``) is read word by word: its name of the value
    and each comparison symbol are put in words."""
    if isinstance(rule, Rule):
        return rule.plain()
    text = rule.strip()
    if text.startswith("a run id"):  # the store's confinement rule names its regex
        return RUN_ID_WORDS
    for what in sorted(_PLAIN_WHAT, key=len, reverse=True):
        if text == what or text.startswith(what + " "):
            text = (_PLAIN_WHAT[what] + text[len(what):]).strip()
            break
    text = " ".join(_SYMBOL_WORDS.get(word, word) for word in text.split(" "))
    text = text.replace(" or null", "").strip()
    if text.startswith("a whole number ") and not text.startswith("a whole number of "):
        text = "a whole number of " + text.removeprefix("a whole number ")
    return text
