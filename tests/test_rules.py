"""lrviz.rules: a rule kept as data, written in Keras' words and in plain words from that data.
The expected texts are written out by hand (Keras' own wording: ``Argument `x` must be > 0``)."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import lrviz.errors
from lrviz.errors import FieldError, plain_message
from lrviz.rules import Bounds, Rule, plain_words


@pytest.mark.parametrize("bounds,keras,plain", [
    (Bounds(0, 10, True, False), "> 0 and <= 10", "above 0 and at most 10"),
    (Bounds(0, 1, False, True), ">= 0 and < 1", "at least 0 and below 1"),
    (Bounds(0, 1, True, True), "> 0 and < 1", "above 0 and below 1"),
    (Bounds(1, None), ">= 1", "at least 1"),
    (Bounds(None, 1e6), "<= 1000000", "at most 1000000"),
    (Bounds(), "", ""),
])
def test_bounds_in_both_wordings(bounds, keras, plain):
    assert bounds.words() == keras and bounds.plain() == plain


@pytest.mark.parametrize("bounds,inside,outside", [
    (Bounds(0, 1, True, True), [1e-12, 0.5, 1 - 1e-12], [0, 1, -1, 2]),
    (Bounds(0, 1), [0, 0.5, 1], [-1e-12, 1 + 1e-12]),
    (Bounds(1, None), [1, 1e300], [0.999]),
])
def test_bounds_admit_exactly_their_interval(bounds, inside, outside):
    assert all(bounds.admits(v) for v in inside) and not any(bounds.admits(v) for v in outside)


def test_a_rule_is_its_keras_words_and_carries_its_data():
    r = Rule("an integer", Bounds(1, 100_000), optional=True)
    assert r == "an integer >= 1 and <= 100000 or null" and isinstance(r, str)
    assert r.bounds == Bounds(1, 100_000) and r.integer and r.optional
    assert r.plain() == "a whole number of at least 1 and at most 100000"
    e = FieldError("epochs", r, 0)
    assert str(e) == "Argument `epochs` must be an integer >= 1 and <= 100000 or null. Received: epochs=0"
    assert plain_message(e, "Epochs") == "Epochs must be a whole number of at least 1 and at most 100000."


def test_plain_words_come_from_the_data_not_from_the_text():
    # A name of the value that the text-reading fallback cannot know: the data says it.
    r = Rule("a share of the data", Bounds(0, 1, True, True), plain_what="a share")
    assert r == "a share of the data > 0 and < 1"
    assert plain_words(r) == "a share above 0 and below 1"
    assert plain_words(str(r)) == "a share of the data above 0 and below 1"  # text: read word by word


def test_a_rule_survives_an_error_raised_again_under_another_name():
    inner = FieldError("lr", Rule("a finite number", Bounds(0, 10, True)), 0.0)
    outer = FieldError(f"schedules[0].{inner.field}", inner.rule, inner.value)
    assert isinstance(outer.rule, Rule) and outer.rule.bounds == Bounds(0, 10, True)
    assert plain_message(outer, "LR") == "LR must be above 0 and at most 10."


def test_a_rule_pickles_with_its_data():  # errors cross process boundaries (workers)
    r = pickle.loads(pickle.dumps(Rule("an integer", Bounds(1, 5))))
    assert r == "an integer >= 1 and <= 5" and r.bounds == Bounds(1, 5) and r.plain().startswith("a whole number of")


def test_errors_module_uses_no_regular_expressions():
    tree = ast.parse(Path(lrviz.errors.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "re" not in imported and "re" not in modules
