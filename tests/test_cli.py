"""`python -m lrviz schedule`: CSV output, flags from the registry, one-line errors with exit 2."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from lrviz.cli import main
from lrviz.schedules import REGISTRY


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_step_schedule_csv(capsys):
    code, out, err = run_cli(capsys, "schedule", "--schedule", "step", "--factor", "0.5", "--drop-every", "5",
                             "--epochs", "40")
    assert code == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 40 and rows[0]["epoch"] == "1"
    by_epoch = {int(r["epoch"]): float(r["lr"]) for r in rows}
    assert by_epoch[15] == pytest.approx(0.00125) and by_epoch[4] == 0.01 and by_epoch[5] == pytest.approx(0.005)


def test_per_batch_keras2_decay(capsys):
    code, out, _ = run_cli(capsys, "schedule", "--schedule", "time_keras2", "--epochs", "2", "--per-batch")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2 * 782
    assert float(rows[782]["lr"]) == pytest.approx(0.01 / (1 + 0.00025 * 782))
    assert rows[782]["epoch"] == "2" and rows[782]["batch"] == "1"


def test_keras_code_flag(capsys):
    code, out, _ = run_cli(capsys, "schedule", "--schedule", "step", "--keras-code")
    assert code == 0 and "LearningRateScheduler(step_decay)" in out
    compile(out, "<cli>", "exec")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--factor", "1.5"], "Argument `factor` must be a finite number > 0 and < 1. Received: factor=1.5"),
        (["--factor", "nan"], "factor=nan"),
        (["--drop-every", "0"], "Argument `drop_every` must be an integer >= 1"),
        (["--lr", "-1"], "Argument `lr`"),
        (["--decay", "0.1"], "Flag --decay does not belong to schedule `step`"),
        (["--schedule", "bogus"], "Argument `schedule` must be one of"),
        (["--epochs", "0"], "Argument `epochs` must be an integer >= 1"),
        (["--epochs", "ten"], "epochs"),
        (["--schedule", "piecewise", "--boundaries", "5,2", "--values", "1,2,3"], "strictly increasing"),
        (["--schedule", "piecewise", "--boundaries", "5"], "one more entry than `boundaries`"),
    ],
)
def test_bad_values_one_line_exit_2(capsys, args, needle):
    try:
        code = main(["schedule", *args])
    except SystemExit as e:  # argparse-level errors (types) exit from inside the parser
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_help_lists_every_schedule_and_parameter():
    out = subprocess.run([sys.executable, "-m", "lrviz", "schedule", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for spec in REGISTRY.values():
        assert spec.name in out
        for p in spec.params:
            assert p.flag in out


def test_subprocess_exit_code_and_no_tensorflow():
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "lrviz", "schedule", "--factor", "7"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("import time:")]
    assert lines == ["lrviz: error: Argument `factor` must be a finite number > 0 and < 1. Received: factor=7"]
    assert "tensorflow" not in r.stderr  # -X importtime lists every module imported


@pytest.mark.parametrize("text, shown", [
    ("\x1b[2J\x1b]0;pwned\x07ok", "ok"),  # clear screen (CSI), set title (OSC ... BEL): gone whole
    ("a\x1b]8;;http://e.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # a hyperlink (OSC 8 ... ST)
    ("\x9b31mred\x9b0m", "red"),  # C1 CSI
    ("tab\there\r\nnext", "tab here next"),  # line and tab breaks: one space each run
    ("bell\x07 nul\x00 del\x7f c1\x85\x9c", "bell nul del c1 "),  # other C0, DEL, C1
    ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override reorders what is shown
    ("title\x1b]0;never ends", "title"),  # an unterminated OSC takes the rest
    ("Step decay (lr=0.01) → é ✓", "Step decay (lr=0.01) → é ✓"),  # printable text as it is
])
def test_plain_removes_terminal_controls(text, shown):
    from lrviz.cli.common import plain

    assert plain(text) == shown


def test_the_command_line_reaches_job_kinds_through_the_runs_api_only():
    """Like the pages (tests/test_views.py): no module of lrviz/cli imports lrviz.jobs, so a kind's
    modules can change without the command line. One exception: the tournament's trial worker, engine
    code that creates its trials through the runs API (so lrviz.runs cannot import it: a cycle) and
    that `tournament-worker` calls; the engine never calls its own command line."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for f in sorted((root / "lrviz" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{f.relative_to(root)}: {n}" for n in names
                      if n.startswith("lrviz.jobs") and n != "lrviz.jobs.tournament.worker"]
    assert not found, found


@pytest.mark.parametrize("command", ["train", "lr-find", "tournament"])
def test_help_names_the_chosen_model_not_only_minivggnet(capsys, command):
    """--model picks the model: the help of the commands that train says so (MiniVGGNet is the default)."""
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines where it likes
    assert "MiniVGGNet by default" in out and "--model" in out
