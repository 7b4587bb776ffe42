"""lrviz.settings and lrviz.errors: one description per setting, one message format."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import pytest

from lrviz.cli.common import Parser, add_setting_flags
from lrviz.errors import FieldError, keras_message
from lrviz.jobs.training import TrainingJob
from lrviz.settings import Setting, defaults_of, setting, settings_of, validate_settings


@dataclass
class Demo:
    n: int = setting(3, "How many.", kind="int", low=1, high=10)
    rate: float = setting(0.5, "A rate.", kind="float", low=0, high=1, high_open=True, what="a number")
    mode: str = setting("a", "Mode.", kind="choice", choices=("a", "b"))
    on: bool = setting(True, "Switch.", kind="bool")
    cap: int | None = setting(None, "Optional cap.", kind="int", low=1, optional=True)
    sched: dict = setting({"name": "x"}, "A mapping.", kind="mapping")


def test_keras_message_and_field_as_data():
    e = FieldError("factor", "a finite number > 0 and < 1", 1.5)
    assert isinstance(e, ValueError) and e.field == "factor" and e.value == 1.5
    assert str(e) == "Argument `factor` must be a finite number > 0 and < 1. Received: factor=1.5"
    want = "Argument `x` must be a path. Received: x='/no'. Try again."
    assert keras_message("x", "a path", "/no", hint="Try again.") == want
    assert str(FieldError("x", "y", "1.5", as_typed=True)).endswith("Received: x=1.5")
    assert len(str(FieldError("run_id", "short", "z" * 5000))) < 300  # a huge value is cut, never echoed whole


def test_rules_and_parsing_come_from_the_description():
    s = settings_of(Demo)
    assert list(s) == ["n", "rate", "mode", "on", "cap", "sched"]
    assert s["n"].rule() == "an integer >= 1 and <= 10" and s["rate"].rule() == "a number >= 0 and < 1"
    assert s["mode"].rule() == "one of a, b" and s["cap"].rule() == "an integer >= 1 or null"
    assert s["n"].parse(2.0) == 2 and isinstance(s["n"].parse(2.0), int) and s["rate"].parse(0) == 0.0
    for name, bad in [("n", 0), ("n", 11), ("n", 2.5), ("n", True), ("n", "3"), ("rate", 1.0), ("rate", math.nan),
                      ("mode", "c"), ("on", "yes"), ("cap", 0), ("sched", [1])]:
        with pytest.raises(FieldError) as e:
            s[name].parse(bad)
        assert e.value.field == name and str(e.value).startswith(f"Argument `{name}` must be {s[name].rule()}.")
    assert s["cap"].parse(None) is None
    assert s["n"].widget_help() == "How many. Must be an integer >= 1 and <= 10."


def test_defaults_are_fresh_copies_and_unknown_keys_are_named():
    a, b = defaults_of(Demo), defaults_of(Demo)
    a["sched"]["name"] = "changed"
    assert b["sched"] == {"name": "x"} and Demo().sched == {"name": "x"}
    with pytest.raises(FieldError, match="Argument `nn` is not a demo setting"):
        validate_settings(Demo, {"nn": 1}, what="a demo setting")
    cfg, meta = validate_settings(Demo, {"n": 4, "id": "r"}, what="x", passthrough=("id",))
    assert cfg["n"] == 4 and cfg["rate"] == 0.5 and meta == {"id": "r"}


def test_cli_flags_are_derived_from_the_settings(capsys):
    p = Parser(prog="t")
    add_setting_flags(p, settings_of(Demo).values())
    args = p.parse_args(["--n", "5", "--rate", "0.25", "--mode", "b", "--no-on", "--cap", "7"])
    assert (args.n, args.rate, args.mode, args.on, args.cap) == (5, 0.25, "b", False, 7)
    assert p.parse_args([]).n is None  # None = the job's default
    for typed in ("0", "11", "abc"):  # every bound of the rule, and the value as typed
        with pytest.raises(SystemExit):
            p.parse_args(["--n", typed])
        assert capsys.readouterr().err == \
            f"lrviz: error: Argument `n` must be an integer >= 1 and <= 10. Received: n={typed}\n"
    with pytest.raises(SystemExit):
        p.parse_args(["--rate", "abc"])  # the whole rule, "< 1" included
    want = "lrviz: error: Argument `rate` must be a number >= 0 and < 1. Received: rate=abc\n"
    assert capsys.readouterr().err == want
    helps = {a.dest: " ".join((a.help or "").split()) for a in p._actions}
    assert helps["rate"] == "A rate. Must be a number >= 0 and < 1. Default: 0.5."  # Setting.cli_help
    assert helps["on"] == "Switch. Default: on." and helps["mode"] == "Mode. Default: a."
    assert helps["cap"] == "Optional cap. Must be an integer >= 1."  # no "or null", no "default None"
    assert "--sched" not in p.format_help()  # a mapping (a schedule) has flags of its own


# The tutorial's experiment (README; /work/shared/seed: "SGD(learning_rate=0.01, ..., momentum=0.9,
# nesterov=True)", 40 epochs, batch 64, step decay alpha = 0.01 * F ** floor((1 + epoch) / D), F=0.5, D=5),
# written out here, not read from lrviz.
TUTORIAL = {"dataset": "digits", "epochs": 40, "batch_size": 64, "momentum": 0.9, "nesterov": True,
            "schedule": {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}},
            "plateau": None, "parent": None, "max_batches": None}


def test_training_defaults_are_the_tutorials_experiment():
    from lrviz.schedules import Schedule

    defaults = TrainingJob.defaults()
    assert {k: defaults.get(k, "<missing>") for k in TUTORIAL} == TUTORIAL
    validated = TrainingJob.validate({})  # an empty config runs the same experiment
    assert {k: validated.get(k, "<missing>") for k in TUTORIAL} == TUTORIAL
    curve = Schedule.from_config(defaults["schedule"]).per_epoch(40)
    want = [0.01 * 0.5 ** math.floor((1 + e) / 5) for e in range(40)]
    assert curve == pytest.approx(want, rel=1e-9) and curve[14] == pytest.approx(0.00125)  # README's readout


def test_plateau_defaults_are_keras_reduce_lr_on_plateau():
    import inspect

    import keras

    from lrviz.plateau import plateau_settings, validate_plateau

    signature = inspect.signature(keras.callbacks.ReduceLROnPlateau).parameters.items()
    keras_defaults = {name: p.default for name, p in signature if p.default is not inspect.Parameter.empty}
    ours = {name: s.default for name, s in plateau_settings().items()}
    assert set(ours) <= set(keras_defaults)  # Keras' names, none of our own
    assert {"monitor", "factor", "patience", "min_delta", "cooldown", "min_lr"} <= set(ours)
    assert ours == {name: keras_defaults[name] for name in ours}
    assert validate_plateau({}) == ours  # an empty mapping is Keras' ReduceLROnPlateau()


def test_finder_defaults_are_fastais_lr_find():
    from lrviz.lr_find import DEFAULTS, validate_lr_find_settings

    # fastai's Learner.lr_find(start_lr=1e-7, end_lr=10, num_it=100), its SmoothenValue(beta=0.98) and
    # its stop when the smoothed loss exceeds 4x the best (Smith's range test as fastai runs it).
    fastai = {"start": 1e-7, "end": 10.0, "num_steps": 100, "smoothing": 0.98, "stop_factor": 4.0}
    assert DEFAULTS == fastai and validate_lr_find_settings({}) == fastai


def test_training_settings_describe_every_default_once():
    specs = TrainingJob.settings()
    assert specs["epochs"].rule() == "an integer >= 1 and <= 100000"
    assert all(isinstance(s, Setting) and s.help for s in specs.values())
    p = argparse.ArgumentParser()
    add_setting_flags(p, specs.values())
    flags = {a.dest for a in p._actions}
    assert {"dataset", "batch_size", "momentum", "nesterov", "seed", "epochs"} <= flags
    assert not {"schedule", "parent", "max_batches"} & flags  # set through other flags or not for users
