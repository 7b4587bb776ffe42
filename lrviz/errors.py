"""One error type and one message format for bad input, everywhere in lrviz.

Keras words its argument errors as ``Argument `decay_steps` must be > 0. Received:
decay_steps=0``: the argument, the rule, the value. lrviz does the same, and carries the
argument's name as data (:attr:`FieldError.field`) so a page can show the message under the
input it is about without parsing the text, and a CLI can print it as one line.

    >>> e = FieldError("factor", "a finite number > 0 and < 1", 1.5)
    >>> str(e)
    'Argument `factor` must be a finite number > 0 and < 1. Received: factor=1.5'
    >>> e.field
    'factor'
"""

from __future__ import annotations

from typing import Any

from lrviz.rules import plain_words

__all__ = ["FieldError", "keras_message", "shown", "plain_message"]

_MAX_SHOWN = 200  # a 5,000-character value is cut in the message, never echoed whole


def shown(value: Any, *, as_typed: bool = False) -> str:
    """How a received value appears in a message: its ``repr`` (``'mnist'``, ``0.0``, ``None``),
    or with ``as_typed`` a non-empty string as the user typed it (``1.5`` from a text field);
    cut to 200 characters."""
    typed = as_typed and isinstance(value, str) and value.strip()
    text = value if typed else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def keras_message(field: str, rule: str, value: Any, *, hint: str = "", as_typed: bool = False) -> str:
    """``Argument `field` must be <rule>. Received: field=<value>`` (then `` <hint>``)."""
    text = f"Argument `{field}` must be {rule}. Received: {field}={shown(value, as_typed=as_typed)}"
    return text + (f". {hint}" if hint else "")


class FieldError(ValueError):
    """A bad value for one named field (a ``ValueError``, as Keras raises for bad arguments).

    ``field`` is the argument's name, ``rule`` what it must be (``"an integer >= 1"``), ``value``
    what was received; ``str(error)`` is :func:`keras_message` of the three. ``message``
    replaces the standard text where a rule reads better as a whole sentence.
    """

    def __init__(self, field: str, rule: str, value: Any = None, *, hint: str = "", as_typed: bool = False,
                 message: str | None = None):
        self.field, self.rule, self.value, self.hint = field, rule, value, hint
        if message is None:
            message = keras_message(field, rule, value, hint=hint, as_typed=as_typed)
        super().__init__(message)


# --------------------------------------------------------------------------- plain words for a page

_SHOWN_ON_PAGE = 40  # a value echoed on a page is cut much shorter than in a CLI message


def plain_message(error: BaseException, label: str | None = None) -> str:
    """A :class:`FieldError` in plain words for a page, under its input: the field's ``label``
    (its name, with spaces, when none is given), then the rule in words, no symbols, no code::

        >>> plain_message(FieldError("lr", "a finite number > 0 and <= 10", 0.0), "Learning rate")
        'Learning rate must be above 0 and at most 10.'
        >>> plain_message(FieldError("epochs", "an integer >= 1 and <= 100000", 2.5), "Epochs")
        'Epochs must be a whole number of at least 1 and at most 100000 (not 2.5).'

    The value is named (cut to 40 characters) only where it says what is wrong with it: a
    number that is not whole. The CLI and the library keep the Keras-style ``str(error)``.
    Anything else than a ``FieldError``, or one with a whole-sentence ``message``, is its text.
    """
    if not isinstance(error, FieldError) or not error.rule:
        return str(error)
    name = label or error.field.replace("_", " ").capitalize()
    rule = plain_words(error.rule)  # from the rule's data (lrviz.rules.Rule) where it has some
    text = f"{name} must be {rule}"
    v = error.value
    if "whole number" in rule and isinstance(v, float) and not isinstance(v, bool) and v == v and not v.is_integer():
        text += f" (not {shown(v)[:_SHOWN_ON_PAGE]})"
    if error.hint:
        text += f". {error.hint}"
    return text if text.endswith((".", "!", "?")) else text + "."  # a hint ends its own sentence
