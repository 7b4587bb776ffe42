"""Bad input, generated from the registry and the run-config defaults (issue 6, "Bad input").

Every schedule parameter (warmup included) x {0, -1, nan, inf, -inf, 1e300, "abc", None, a list,
True, each declared bound and just beyond it} through three doors: ``Schedule.create``, the CLI
flags (in-process ``lrviz.cli.main``, plus a few real subprocesses) and the explorer's URL
(``ExplorerState.from_query``). The expectation comes from each parameter's rule written out as data
in ``rel_cases`` (``RULES``, ``CROSS_RULES``), never from lrviz's own ``Param`` bounds or checks: 0 is
fine for ``alpha``, ``decay``, ``warmup_epochs``; a bound is fine unless it is open; a value inside
its bounds that breaks a rule between parameters (``end_lr > lr``, ...) is refused, any other is
accepted.

Same for every Train-form field (``default_config()``) through ``validate_config`` and
``python -m lrviz train``. Hostile query strings on the real Explorer page (AppTest) never raise.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rel_cases import (
    CROSS_RULES,
    RULES,
    TRAIN_RULES,
    Rule,
    accepts,
    as_param_value,
    as_text,
    case_id,
    expected_value,
    message_names,
    one_line_naming,
    schedule_param_cases,
    train_accepts,
    train_cases,
)

from lrviz import cli
from lrviz import runs as runs_api
from lrviz.explorer import ExplorerState, default_curves
from lrviz.schedules import REGISTRY, WARMUP_PARAMS, Schedule

ROOT = Path(__file__).resolve().parents[2]
CASES = schedule_param_cases()
WARMUP_NAMES = {p.name for p in WARMUP_PARAMS}


def _create(name, p, value):
    if p.name in WARMUP_NAMES:
        return Schedule.create(name, {}, **{p.name: value})
    return Schedule.create(name, {p.name: value})


def _breaks_a_cross_rule(name, p, value) -> bool:
    """Whether an in-bounds ``value`` of ``p`` (the others at their defaults) breaks a rule between the
    schedule's parameters, by ``rel_cases.CROSS_RULES`` (not the spec's own ``cross_check``)."""
    rule = CROSS_RULES.get(name)
    if rule is None or p.name in WARMUP_NAMES:
        return False
    values = {q.name: (expected_value(RULES[q.name], value) if q.name == p.name else q.default)
              for q in REGISTRY[name].params}
    return not rule(values)


def test_rel_cases_cover_every_registry_parameter():
    covered = {(c[0], c[1].name) for c in CASES}
    expected = {(n, p.name) for n, s in REGISTRY.items() for p in s.params} | {("step", w) for w in WARMUP_NAMES}
    assert covered == expected
    assert len(CASES) >= 10 * len(expected)
    # a new parameter needs its rule written in rel_cases.RULES; a new rule between parameters in CROSS_RULES
    assert {p for _, p in expected} == set(RULES)
    assert {n for n, s in REGISTRY.items() if s.cross_check is not None} == set(CROSS_RULES)


def test_rel_cross_rules_agree_with_keras():
    """The piecewise rule as Keras' own PiecewiseConstantDecay enforces it."""
    import keras

    for boundaries, values in [([10, 20], [0.1, 0.01]), ([10, 20], [0.1, 0.01, 0.001, 1e-4])]:
        assert not CROSS_RULES["piecewise"]({"boundaries": boundaries, "values": values})
        with pytest.raises(ValueError):
            keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    assert CROSS_RULES["piecewise"]({"boundaries": [10, 20], "values": [0.1, 0.01, 0.001]})
    keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])


# --------------------------------------------------------------------------- Schedule.create


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rel_schedule_create(case):
    name, p, _, value, _ = case
    elem = value
    value = as_param_value(p, value)
    if accepts(RULES[p.name], elem):
        if _breaks_a_cross_rule(name, p, value):
            with pytest.raises(ValueError) as e:
                _create(name, p, value)
            assert "\n" not in str(e.value) and str(e.value).startswith("Argument `"), str(e.value)
            return
        s = _create(name, p, value)  # in bounds and keeping every rule: accepted
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
    if accepts(RULES[p.name], first) and text:
        if _breaks_a_cross_rule(name, p, text):
            assert code == 2 and out == "" and err.startswith("lrviz: error: Argument `"), (code, err)
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
    if accepts(RULES[p.name], first) and text:
        if _breaks_a_cross_rule(name, p, text):
            assert len(warnings) == 1, warnings
            assert state.curves == default_curves()
            return
        assert not warnings, warnings
        (curve,) = state.curves
        got = curve.warmup if key == "warmup" else (curve.warmup_start_factor if key == "warmup_start_factor"
                                                    else curve.params[key])
        want = expected_value(RULES[p.name], text)
        assert (list(got) if isinstance(want, list) else got) == want
    else:
        assert len(warnings) == 1 and f"`{key}`" in warnings[0], warnings
        assert state.curves == default_curves()


# epochs/train_size/batch_size/threshold of the explorer's URL: (field, low, high, integer)
URL_FIELDS = [("epochs", 1, 1000, True), ("train_size", 1, 100_000_000, True), ("batch_size", 1, 1_000_000, True),
              ("threshold", 0, None, False), ("readout_epoch", 1, 40, True)]


@pytest.mark.parametrize("field, low, high, integer", URL_FIELDS, ids=[f[0] for f in URL_FIELDS])
@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "1e300", "abc", "", "[1,2]", "1.5", "%00", "1;2"])
def test_rel_url_view_fields(field, low, high, integer, text):
    oracle = Rule("int" if integer else "float", low, not integer, high)
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
    assert set(runs_api.default_config()) == set(TRAIN_RULES)


@pytest.mark.parametrize("field, vid, value", train_cases(), ids=lambda x: str(x)[:24])
def test_rel_validate_config_field(field, vid, value):
    if train_accepts(field, value):
        cfg = runs_api.validate_config({field: value})
        if TRAIN_RULES[field][0] == "number" and value is not None:
            assert cfg[field] == value
    else:
        with pytest.raises(ValueError) as e:
            runs_api.validate_config({field: value})
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
    monkeypatch.setattr(runs_api, "spawn_worker", no_training)
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


# --------------------------------------------------------------------------- tournament: storage, study, group, resume


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_STORAGES = [  # (id, URL, what the message says); a {tmp} is the test's folder
    ("unknown_scheme", "foo://", "Argument `storage` must be an sqlite:///PATH or postgresql://USER@HOST/DB URL"),
    ("mysql", "mysql://u@127.0.0.1/db", "not mysql"),
    ("no_url", "/dev/null", "Argument `storage` must be an sqlite:///PATH or postgresql"),
    ("in_memory", "sqlite://", "an in-memory database lives in one process"),
    ("in_memory_named", "sqlite:///:memory:", "an in-memory database lives in one process"),
    ("uri_memory", "sqlite:///file:x?mode=memory&uri=true", "without options"),
    ("missing_folder", "sqlite:///{tmp}/no/such/folder/study.db", "in an existing folder"),
    ("dev_null", "sqlite:////dev/null", "is not a regular file"),
    ("a_folder", "sqlite:///{tmp}", "is not a regular file"),
    ("not_sqlite", "sqlite:///{tmp}/garbage.db", "is not an SQLite database"),
    ("other_tables", "sqlite:///{tmp}/other.db", "holds no Optuna storage"),
    ("driver_missing", "postgresql+psycopg2://u@127.0.0.1/db", "whose driver is installed"),
    ("pg_refused", "postgresql://u@127.0.0.1:{port}/db", "a database server that answers within 5 s"),
    ("pg_unroutable", "postgresql://u@10.255.255.1:5432/db", "a database server that answers within 5 s"),
    ("pg_no_host", "postgresql://u@no-such-host.invalid/db", "a database server that answers within 5 s"),
    ("empty", "", "Argument `storage` must be an sqlite:///PATH or postgresql"),
]


@pytest.mark.parametrize(("url", "says"), [c[1:] for c in BAD_STORAGES], ids=[c[0] for c in BAD_STORAGES])
def test_rel_cli_tournament_bad_storage_is_one_line_at_once(url, says, tmp_path, capsys):
    """Every bad --storage: one line naming `storage`, exit 2, within 7 s (a server that does not
    answer: 5 s), and no run folder. An in-memory SQLite used to fail after 12 s; a missing
    server hung for minutes; foo:// and a garbage file gave a traceback from the job."""
    import sqlite3

    (tmp_path / "garbage.db").write_bytes(os.urandom(4096))
    with sqlite3.connect(tmp_path / "other.db") as con:
        con.execute("CREATE TABLE accounts (id INTEGER)")
    before = sorted(p.name for p in tmp_path.iterdir())
    runs_dir = tmp_path / "runs"
    url = url.format(tmp=tmp_path, port=_closed_port())
    t0 = time.monotonic()
    code, _, err = _cli(["tournament", "--schedule", "constant", "--seeds", "1", "--epochs", "1", "--limit", "200",
                         "--storage", url, "--runs-dir", str(runs_dir)], capsys)
    took = time.monotonic() - t0
    assert code == 2 and err.startswith("lrviz: error: ") and err.count("\n") == 1, err
    assert says in err and "storage" in err, err
    assert took < 7.0, took
    assert not runs_dir.exists() and sorted(p.name for p in tmp_path.iterdir()) == before


def test_rel_cli_tournament_in_memory_storage_subprocess_refused_at_once(tmp_path):
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lrviz", "tournament", "--schedule", "constant", "--storage",
                           "sqlite://", "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "in-memory" in done.stderr, done.stderr
    assert time.monotonic() - t0 < 12 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("argv", "says"), [
    (["--study", ""], "Argument `study` must be a study name (one line of 1 to 512 characters) or null. "
                      "Received: study=''"),
    (["--study", " "], "Argument `study` must be a study name"),
    (["--study", "a\nb"], "Argument `study` must be a study name"),
    (["--study", "x" * 513], "Argument `study` must be a study name"),
    (["--seed", "4294967295", "--seeds", "2"], "Argument `seed` must be <= 4294967294 with seeds=2"),
    (["--seed", "4294967296"], "Argument `seed` must be an integer >= 0 and <= 4294967295"),
    (["--seeds", "101"], "Argument `seeds` must be an integer >= 1 and <= 100. Received: seeds=101"),
    (["--workers", "0"], "Argument `workers` must be an integer >= 1"),
])
def test_rel_cli_tournament_bad_field_is_one_line(argv, says, tmp_path, capsys):
    code, _, err = _cli(["tournament", "--schedule", "constant", *argv, "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("lrviz: error: ") and err.count("\n") == 1, err
    assert says in err, err
    assert not any(tmp_path.iterdir())


def _a_tournament_and_a_run(runs_dir: Path) -> tuple[str, str]:
    from fakes import fabricate_run
    from tournament_fakes import tournament_folder

    return tournament_folder(runs_dir, complete=1), fabricate_run(runs_dir)


@pytest.mark.parametrize(("argv", "says"), [
    (["--group", "nope"], "Argument `group` must be the run id of a tournament in {runs}. Received: group='nope'"),
    (["--group", "../etc"], "Argument `group` must be the run id of a tournament in {runs}"),
    (["--group", "{run}"], "Argument `group` must be the run id of a tournament"),
    (["--study", "no-such-study"], "Argument `study` must be the name of a study in the storage. "
                                   "Received: study='no-such-study'"),
    (["--study", ""], "Argument `study` must be a study name"),
    (["--storage", "foo://"], "Argument `storage` must be an sqlite:///PATH"),
    (["--storage", "sqlite://"], "in-memory"),
    (["--storage", "postgresql://u@127.0.0.1:{port}/db"], "a database server that answers within 5 s"),
])
def test_rel_cli_tournament_worker_bad_flag_is_one_line(argv, says, tmp_path, capsys):
    """`tournament-worker --group nope` printed a raw '[Errno 2] No such file or directory' line."""
    tid, rid = _a_tournament_and_a_run(tmp_path)
    values = {"--storage": f"sqlite:///{tmp_path / tid / 'study.db'}", "--study": tid, "--group": tid}
    values.update(dict(zip(argv[::2], argv[1::2])))
    flat = [x.format(run=rid, port=_closed_port()) for k, v in values.items() for x in (k, v)]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _cli(["tournament-worker", *flat, "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("lrviz: error: ") and err.count("\n") == 1, err
    assert says.format(runs=tmp_path.resolve()) in err, err
    assert "Errno" not in err and sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("resume", ["nope", "../etc", "/", "{run}", "20990101-000000-x\n", ""])
def test_rel_cli_tournament_bad_resume_is_one_line(resume, tmp_path, capsys):
    tid, rid = _a_tournament_and_a_run(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _cli(["tournament", "--resume", resume.format(run=rid), "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("lrviz: error: ") and err.count("\n") == 1, err
    assert "Argument `parent`" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_rel_cli_tournament_silent_postgresql_is_refused_within_the_connect_timeout(tmp_path, capsys):
    """A server that takes the connection and never answers (a firewall that drops packets looks
    the same to libpq): refused after the 5 s connect timeout, not after minutes."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever reads or answers
        t0 = time.monotonic()
        code, _, err = _cli(["tournament", "--schedule", "constant", "--storage",
                             f"postgresql://u@127.0.0.1:{silent.getsockname()[1]}/db", "--runs-dir",
                             str(tmp_path / "runs")], capsys)
        took = time.monotonic() - t0
    with capsys.disabled():
        print(f"\n[storage] a silent PostgreSQL server refused after {took:.1f} s")
    assert code == 2 and err.count("\n") == 1 and "answers within 5 s" in err, err
    assert took < 7.0 and not (tmp_path / "runs").exists()
