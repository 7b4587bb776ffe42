"""lrviz.fields: one description of a field for schedule parameters, job settings and the
explorer's inputs. Expected messages are written out by hand in Keras' words."""

from __future__ import annotations

import pytest

from lrviz.errors import FieldError, plain_message
from lrviz.fields import Field
from lrviz.rules import Bounds
from lrviz.schedules import REGISTRY, Param
from lrviz.settings import Setting


def test_a_setting_and_a_parameter_are_one_kind_of_field():
    assert issubclass(Param, Field) and Setting is Field
    lr = REGISTRY["step"].param("lr")
    assert isinstance(lr, Field) and lr.reads_text


@pytest.mark.parametrize("reads_text,value,expected", [
    (True, "0.5", 0.5), (True, " 2 ", 2.0), (True, 0.25, 0.25),
    (False, 0.5, 0.5), (False, 1, 1.0),
])
def test_numbers_and_numeric_text(reads_text, value, expected):
    f = Field("rate", 0.5, "A rate.", low=0, high=10, reads_text=reads_text)
    got = f.parse(value)
    assert got == expected and type(got) is float


def test_a_config_field_refuses_numeric_text_that_a_text_field_reads():
    f = Field("momentum", 0.9, "SGD momentum.", low=0, high=1, high_open=True, what="a number")
    with pytest.raises(FieldError) as e:
        f.parse("0.5")
    assert str(e.value) == "Argument `momentum` must be a number >= 0 and < 1. Received: momentum='0.5'"
    with pytest.raises(FieldError) as e:
        Field("momentum", 0.9, "", low=0, high=1, high_open=True, what="a number", reads_text=True).parse("1.5")
    assert str(e.value) == "Argument `momentum` must be a number >= 0 and < 1. Received: momentum=1.5"


@pytest.mark.parametrize("value", [True, None, float("nan"), float("inf"), "abc", 2.5, 0, 11, [1]])
def test_an_integer_field_refuses_what_is_not_a_whole_number_in_bounds(value):
    f = Field("epochs", 5, "", kind="int", low=1, high=10, reads_text=True)
    with pytest.raises(FieldError) as e:
        f.parse(value)
    assert e.value.field == "epochs" and e.value.rule == "an integer >= 1 and <= 10"
    assert plain_message(e.value, "Epochs").startswith("Epochs must be a whole number of at least 1 and at most 10")


def test_lists_read_as_text_each_item_checked():
    f = Field("values", (0.1,), "", kind="floats", low=0, low_open=True, high=10, reads_text=True)
    assert f.parse("0.1, 0.01;0.001") == (0.1, 0.01, 0.001)
    assert f.format((0.1, 0.01)) == "0.1,0.01"
    with pytest.raises(FieldError) as e:
        f.parse("0.1,0")
    assert str(e.value) == ("Argument `values` must be a comma-separated list of numbers > 0 and <= 10. "
                            "Received: values=0.1,0")
    plain = "Values must be numbers, separated by commas, each above 0 and at most 10."
    assert plain_message(e.value, "Values") == plain


def test_help_texts_say_the_rule_unit_and_default():
    f = Field("decay_epochs", 10.0, "Epochs per decay.", low=0, low_open=True, high=10_000, unit="epochs",
              reads_text=True)
    assert f.widget_help() == "Epochs per decay. Must be a finite number > 0 and <= 10000. Unit: epochs."
    assert f.cli_help() == "Epochs per decay. Must be a finite number > 0 and <= 10000. Unit: epochs. Default: 10."
    b = Field("nesterov", True, "Nesterov momentum.", kind="bool")
    assert b.cli_help() == "Nesterov momentum. Default: on."


def test_a_field_takes_another_fields_bounds():
    lr = Param("lr", 0.01, "LR", low=0, low_open=True, high=10)
    value = Setting("value", None, "New LR", kind="float").with_bounds(lr.bounds)
    assert value.bounds == Bounds(0, 10, True, False) and value.parse(10) == 10.0
    with pytest.raises(FieldError, match=r"must be a finite number > 0 and <= 10\. Received: value=0"):
        value.parse(0)


def test_set_lr_follows_the_schedules_lr_rule():
    from lrviz.jobs.training import SET_LR

    lr = REGISTRY["constant"].param("lr")
    assert SET_LR["value"].bounds == lr.bounds
    assert SET_LR["value"].rule() == lr.rule() == "a finite number > 0 and <= 10"
