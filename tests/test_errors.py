"""lrviz.errors: the Keras-style message for the CLI and the library, plain words for a page."""

from __future__ import annotations

import pytest

from lrviz.errors import FieldError, plain_message
from lrviz.jobs.training import TrainingJob
from lrviz.settings import settings_of
from lrviz.store import RunStore


def test_keras_text_is_unchanged():
    e = FieldError("lr", "a finite number > 0 and <= 10", 0.0)
    assert str(e) == "Argument `lr` must be a finite number > 0 and <= 10. Received: lr=0.0"


@pytest.mark.parametrize("field,rule,value,label,expected", [
    ("lr", "a finite number > 0 and <= 10", 0.0, "Learning rate", "Learning rate must be above 0 and at most 10."),
    ("momentum", "a number >= 0 and < 1", 1.5, "Momentum", "Momentum must be at least 0 and below 1."),
    ("epochs", "an integer >= 1 and <= 100000", 2.5, "Epochs",
     "Epochs must be a whole number of at least 1 and at most 100000 (not 2.5)."),
    ("limit", "an integer >= 1 or null", -3, None, "Limit must be a whole number of at least 1."),
    ("dataset", "one of digits, cifar10", "mnist", "Dataset", "Dataset must be one of digits, cifar10."),
])
def test_plain_words_use_the_label_and_the_rule(field, rule, value, label, expected):
    assert plain_message(FieldError(field, rule, value), label) == expected


def test_a_run_id_is_neither_a_regex_nor_echoed(tmp_path):
    with pytest.raises(FieldError) as e:
        RunStore(tmp_path).path("../" + "x" * 5000)
    text = plain_message(e.value, "Run")
    assert "\\A" not in text and "[A-Za-z" not in text and "xxxxxxxxxx" not in text and len(text) < 120
    assert text.startswith("Run must be letters, digits")


def test_every_training_setting_reads_without_symbols():
    for s in settings_of(TrainingJob.Config).values():
        if s.kind in ("int", "float"):
            text = plain_message(s.error(-1e9), s.label or None)
            assert not any(sym in text for sym in ("`", ">", "<", "=", "Received")), text


def test_other_errors_keep_their_text():
    assert plain_message(ValueError("Run X is running")) == "Run X is running"
    whole = FieldError("foo", "", 1, message="Argument `foo` is not a training setting (known: a, b).")
    assert plain_message(whole) == str(whole)


def test_a_hint_ends_its_own_sentence():
    e = FieldError("cifar_archive", "an existing file or folder", "/no", hint="Download it first.")
    want = "CIFAR-10 archive must be an existing file or folder. Download it first."  # not "first.."
    assert plain_message(e, "CIFAR-10 archive") == want

