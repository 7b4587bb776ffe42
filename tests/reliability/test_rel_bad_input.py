"""Bad input, generated from the registry and the run-config defaults (issue 6, "Bad input").

Every schedule parameter (warmup included) x {0, -1, nan, inf, -inf, 1e300, "abc", None, a list,
True, each declared bound and just beyond it} through three doors: ``Schedule.create``, the CLI
flags (in-process ``lrviz.cli.main``, plus a few real subprocesses) and the explorer's URL
(``ExplorerState.from_query``). The expectation comes from the parameter's declared bounds
(``rel_cases.accepts``), never from a hand-written list: 0 is fine for ``alpha``, ``decay``,
``warmup_epochs``; a bound is fine unless it is open.

Same for every Train-form field (``default_config()``) through ``validate_config`` and
``python -m lrviz train``. Hostile query strings on the real Explorer page (AppTest) never raise.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rel_cases import (
    TRAIN_RULES,
    accepts,
    as_param_value,
    as_text,
    case_id,
    message_names,
    one_line_naming,
    schedule_param_cases,
    train_accepts,
    train_cases,
)

from lrviz import cli
from lrviz import runs as store
from lrviz.explorer import ExplorerState, default_curves
from lrviz.schedules import REGISTRY, WARMUP_PARAMS, Schedule

ROOT = Path(__file__).resolve().parents[2]
CASES = schedule_param_cases()
WARMUP_NAMES = {p.name for p in WARMUP_PARAMS}


def _create(name, p, value):
    if p.name in WARMUP_NAMES:
        return Schedule.create(name, {}, **{p.name: value})
    return Schedule.create(name, {p.name: value})


def _cross_check_rejects(name, p, value) -> bool:
    """A value inside its own bounds may still break a rule between parameters (end_lr <= lr, ...)."""
    spec = REGISTRY[name]
    if spec.cross_check is None or p.name in WARMUP_NAMES:
        return False
    values = {q.name: q.parse(value if q.name == p.name else q.default) for q in spec.params}
    values.update({f: False for f in spec.flags})
    try:
        spec.cross_check(values)
    except ValueError:
        return True
    return False


def test_rel_cases_cover_every_registry_parameter():
    covered = {(c[0], c[1].name) for c in CASES}
    expected = {(n, p.name) for n, s in REGISTRY.items() for p in s.params} | {("step", w) for w in WARMUP_NAMES}
    assert covered == expected
    assert len(CASES) >= 10 * len(expected)


# --------------------------------------------------------------------------- Schedule.create


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rel_schedule_create(case):
    name, p, _, value, _ = case
    elem = value
    value = as_param_value(p, value)
    if accepts(p, elem):
        try:
            s = _create(name, p, value)
        except ValueError as e:
            assert _cross_check_rejects(name, p, value), f"in-bounds value refused: {e}"
            assert "\n" not in str(e) and str(e).startswith("Argument `")
            return
        curve = s.per_step(12, 7)
        assert np.all(np.isfinite(curve)) and np.all(curve >= 0), f"{s.label()} gives {curve}"
    else:
        with pytest.raises(ValueError) as e:
            _create(name, p, value)
        assert message_names(str(e.value), p.name), str(e.value)
        assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- CLI flags


def _cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rel_cli_schedule_flag(case, capsys):
    name, p, _, _, text = case
    text = as_text(p, text)
    code, out, err = _cli(["schedule", "--schedule", name, f"{p.flag}={text}", "--epochs", "5"], capsys)
    first = text.split(",")[0] if p.kind in ("floats", "ints") else text
    if accepts(p, first) and text:
        if code == 2:
            assert _cross_check_rejects(name, p, text), f"in-bounds {p.flag}={text} refused: {err}"
            return
        assert code == 0, err
        lrs = [float(line.split(",")[1]) for line in out.strip().splitlines()[1:]]
        assert len(lrs) == 5 and all(math.isfinite(v) and v >= 0 for v in lrs)
    else:
        assert code == 2, out
        assert out == ""
        assert err.startswith("lrviz: error: ") and err.count("\n") == 1, err
        assert one_line_naming(err, p.name), err


@pytest.mark.parametrize("argv, field", [
    (["--schedule", "step", "--factor", "nan"], "factor"),
    (["--schedule", "cosine", "--warmup-epochs=-1"], "warmup_epochs"),
    (["--schedule", "piecewise", "--boundaries", "10,abc"], "boundaries"),
    (["--schedule", "step", "--warmup", "inf"], "warmup"),
])
def test_rel_cli_schedule_subprocess(argv, field):
    r = subprocess.run([sys.executable, "-m", "lrviz", "schedule", *argv], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lrviz: error: Argument `" + field + "`"), r.stderr


# --------------------------------------------------------------------------- URL (explorer)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rel_url_curve_param(case):
    name, p, _, _, text = case
    text = as_text(p, text)
    key = p.name
    state, warnings = ExplorerState.from_query({"c": [f"{name};{key}={text}"]})
    first = text.split(",")[0] if p.kind in ("floats", "ints") else text
    if accepts(p, first) and text:
        if warnings:
            assert _cross_check_rejects(name, p, text), warnings
            assert state.curves == default_curves()
            return
        (curve,) = state.curves
        got = curve.warmup if key == "warmup" else (curve.warmup_start_factor if key == "warmup_start_factor"
                                                    else curve.params[key])
        assert got == p.parse(text)
    else:
        assert len(warnings) == 1 and f"`{key}`" in warnings[0], warnings
        assert state.curves == default_curves()


# epochs/train_size/batch_size/threshold of the explorer's URL: (field, low, high, integer)
URL_FIELDS = [("epochs", 1, 1000, True), ("train_size", 1, 100_000_000, True), ("batch_size", 1, 1_000_000, True),
              ("threshold", 0, None, False), ("readout_epoch", 1, 40, True)]


@pytest.mark.parametrize("field, low, high, integer", URL_FIELDS, ids=[f[0] for f in URL_FIELDS])
@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "1e300", "abc", "", "[1,2]", "1.5", "%00", "1;2"])
def test_rel_url_view_fields(field, low, high, integer, text):
    from lrviz.schedules import Param

    oracle = Param(field, None, "", kind="int" if integer else "float", low=low, high=high, low_open=not integer)
    state, warnings = ExplorerState.from_query({field: [text]})
    default = getattr(ExplorerState(), field)
    if accepts(oracle, text) and text:
        assert not warnings and getattr(state, field) == (int(float(text)) if integer else float(text))
    else:
        assert len(warnings) == 1 and f"`{field}`" in warnings[0], warnings
        assert getattr(state, field) == default


HOSTILE_QUERIES = [
    {"c": ["step;factor=nan"], "epochs": ["1e300"], "threshold": ["-inf"]},
    {"c": ["<script>alert(1)</script>"], "log_y": ["maybe"], "per_batch": ["2"]},
    {"c": [";;;", "=", "step;=", "step;factor", "step;factor=0.5;factor=abc", "nope;lr=1"]},
    {"c": ["step;" + "lr=0.01;" * 2000], "readout_epoch": ["99999"]},
    {"c": ["piecewise;boundaries=1,1,1;values=1,2"], "batch_size": ["0x10"], "train_size": ["1e-300"]},
    {"c": ["cosine;warmup_epochs=1e300;alpha=-0", "triangular;base_lr=5;max_lr=1"] * 5},
    {"c": ["step;lr=1e-320", "time_recursive;decay=1", "one_cycle;div_factor=1e6;final_div_factor=1e9"],
     "epochs": ["1000"], "per_batch": ["1"], "log_y": ["1"]},
    {"c": ["\x00\u202e\ufeffstep"], "epochs": ["٤٠"]},  # NUL, RTL override, BOM, Arabic-Indic digits
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: str(list(q.items()))[:40])
def test_rel_from_query_never_raises(query):
    state, warnings = ExplorerState.from_query(query)
    assert 1 <= len(state.curves) <= 6 and all(isinstance(w, str) for w in warnings)
    lrs = state.curves[0].per_epoch(min(state.epochs, 50), state.steps_per_epoch)
    assert np.all(np.isfinite(lrs))


@pytest.mark.parametrize("query", HOSTILE_QUERIES[:6], ids=lambda q: str(list(q.items()))[:40])
def test_rel_explorer_page_with_hostile_query(query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "explorer.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 1  # the view still draws


# --------------------------------------------------------------------------- Train form fields


def test_rel_every_train_field_has_a_rule():
    assert set(store.default_config()) == set(TRAIN_RULES)


@pytest.mark.parametrize("field, vid, value", train_cases(), ids=lambda x: str(x)[:24])
def test_rel_validate_config_field(field, vid, value):
    if train_accepts(field, value):
        cfg = store.validate_config({field: value})
        if TRAIN_RULES[field][0] == "number" and value is not None:
            assert cfg[field] == value
    else:
        with pytest.raises(ValueError) as e:
            store.validate_config({field: value})
        msg = str(e.value)
        assert "\n" not in msg and f"Argument `{field}`" in msg, msg
        if field != "schedule":
            assert f"Received: {field}=" in msg, msg


TRAIN_FLAGS = [(f, rule[1]) for f, rule in TRAIN_RULES.items() if rule[0] == "number"]


@pytest.mark.parametrize("field, param", TRAIN_FLAGS, ids=[f for f, _ in TRAIN_FLAGS])
def test_rel_cli_train_bad_numbers(field, param, tmp_path, capsys, monkeypatch):
    from lrviz import worker

    def no_training(*a, **k):
        raise AssertionError("a bad flag reached the worker")

    monkeypatch.setattr(worker, "run_worker", no_training)
    monkeypatch.setattr(store, "spawn_worker", no_training)
    runs_dir = tmp_path / "runs"
    flag = "--" + field.replace("_", "-")
    tried = 0
    for text in ["0", "-1", "nan", "inf", "1e300", "abc", "", "[1,2]", "0.5", "True"]:
        try:
            typed = float(text)
        except ValueError:
            typed = text
        if param.kind == "int" and isinstance(typed, float) and math.isfinite(typed) and typed == int(typed):
            typed = int(typed)
        if text and train_accepts(field, typed):
            continue  # a valid value would start a run
        tried += 1
        code, out, err = _cli(["train", "--runs-dir", str(runs_dir), f"{flag}={text}"], capsys)
        assert code == 2, (text, err)
        assert err.startswith("lrviz: error: ") and err.count("\n") == 1, err
        assert one_line_naming(err, field), err
        assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]
    assert tried >= 6


@pytest.mark.parametrize("argv, field", [
    (["--epochs", "0"], "epochs"),
    (["--momentum", "nan"], "momentum"),
    (["--dataset", "cifar10", "--cifar-archive", "/no/such/archive.tar.gz"], "cifar_archive"),
])
def test_rel_cli_train_subprocess_creates_nothing(argv, field, tmp_path):
    runs_dir = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "lrviz", "train", "--runs-dir", str(runs_dir), *argv],
                       capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("lrviz: error: ") and f"Argument `{field}`" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
