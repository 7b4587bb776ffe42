"""``python -m lrviz train / runs / stop / set-lr`` as a user runs them."""

import os
import subprocess
import sys
import tarfile

import pytest
from fakes import cifar_archive_with

from lrviz import runs
from lrviz.cli import main

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def lrviz(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "lrviz", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def test_train_prints_progress_and_report_then_resume_with_new_lr(tmp_path):
    r = lrviz("train", "--limit", "100", "--epochs", "2", "--batch-size", "32", "--runs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Epoch 2/2" in r.stdout and "precision" in r.stdout and "weighted avg" in r.stdout
    (parent,) = [s.id for s in runs.list_runs(tmp_path)]
    assert runs.load_run(parent, tmp_path).status["state"] == "finished"

    r = lrviz("train", "--resume", str(tmp_path / parent), "--epochs", "3", "--lr", "0.001")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Epoch 3/3" in r.stdout
    child = runs.list_runs(tmp_path)[0]
    run = runs.load_run(child.id, tmp_path)
    assert run.config["parent"] == parent and run.config["limit"] == 100
    assert run.config["schedule"] == {"name": "step", "params": {"lr": 0.001, "factor": 0.5, "drop_every": 5}}
    assert list(run.history["epoch"]) == [3]

    out = lrviz("runs", "--runs-dir", str(tmp_path))
    assert child.id in out.stdout and parent in out.stdout and "finished" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "Argument `epochs` must be an integer >= 1 and <= 100000. Received: epochs=0"),
    (["--momentum", "abc"], "Argument `momentum` must be a number >= 0 and < 1. Received: momentum=abc"),
    (["--factor", "0"], "Argument `factor` must be"),
    (["--schedule", "cosine", "--factor", "0.5"], "Flag --factor does not belong to schedule `cosine`"),
    (["--dataset", "cifar10", "--cifar-archive", "/no/such.tar.gz"], "cifar_archive"),
    (["--dataset", "cifar10", "--cifar-archive", "/no/such.tar.gz"], "pass its path with --cifar-archive"),
    (["--momentum", "1.5"], "Argument `momentum` must be a number >= 0 and < 1"),
    (["--resume", ".."], "run_id"),
    (["--resume", "../etc"], "No run 'etc'"),
])
def test_bad_flags_are_one_line_exit_2(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        code = main(["train", "--runs-dir", str(tmp_path), *args])
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lrviz: error: ") and message in err and err.count("\n") == 1


def test_train_help_gives_every_flag_its_description_rule_and_default(capsys):
    """The help comes from the fields' one description (Setting / Param): the schedule's
    default is step decay (not None), each schedule flag says what it is, its rule and default."""
    from lrviz.schedules import REGISTRY

    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in out and "default None" not in out
    assert "--schedule NAME One of: constant," in out and "Default: step (the tutorial's step decay)" in out
    assert "--momentum FLOAT SGD momentum. Must be a number >= 0 and < 1. Default: 0.9." in out
    step = REGISTRY["step"]
    for p in step.params:
        assert p.cli_help() in out, p.name
    assert ("--factor V Drop factor F: the LR is multiplied by F at every drop. Must be a finite number > 0 and "
            "< 1. Default: 0.5. Schedules: step.") in out
    assert "--staircase Stairs:" in out and "Default: off. Schedules: exponential." in out


def test_set_lr_and_stop_on_unknown_or_finished_runs(tmp_path, capsys):
    assert main(["set-lr", "nope", "--factor", "0.5", "--runs-dir", str(tmp_path)]) == 2
    assert "No run 'nope'" in capsys.readouterr().err
    rid = runs.create_run({}, tmp_path, launch=lambda p: (os.getpid(), None))
    assert main(["set-lr", rid, "--value", "0.001", "--runs-dir", str(tmp_path)]) == 0
    assert main(["stop", rid, "--runs-dir", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path / rid / "control"))[-1] == "stop"
    assert main(["train", "--runs-dir", str(tmp_path)]) == 2
    assert f"Run {rid} is queued" in capsys.readouterr().err


def test_lr_find_in_the_foreground_prints_progress_and_suggestions(tmp_path):
    r = lrviz("lr-find", "--dataset", "digits", "--limit", "300", "--num-steps", "30", "--runs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "[INFO] step 30/30" in r.stdout or "Stopped early: diverged at lr=" in r.stdout
    assert "Suggested initial LRs:" in r.stdout
    for title in ("steepest descent", "minimum ÷ 10", "valley"):  # lr_find.SUGGESTIONS
        assert f"  {title} " in r.stdout
    (s,) = runs.list_runs(tmp_path)
    run = runs.load_run(s.id, tmp_path)
    assert run.kind == "lr_find" and run.state == "finished" and len(run.extras["lr_find"]) == run.status["step"]
    assert "LR range test" in lrviz("runs", "--runs-dir", str(tmp_path)).stdout


@pytest.mark.parametrize("command", ["train", "lr-find"])
@pytest.mark.parametrize("kind", ["corrupt", "hostile"])
def test_bad_cifar_archive_is_one_line_exit_2_and_no_run_folder(kind, command, tmp_path):
    if kind == "corrupt":
        arch = tmp_path / "cifar-10-python.tar.gz"
        arch.write_bytes(b"this is not gzip")
    else:
        evil = tarfile.TarInfo("../evil")  # a member that would escape the folder
        evil.size = 4
        arch = cifar_archive_with(tmp_path / "evil.tar.gz", evil)
    runs_dir = tmp_path / "runs"
    r = lrviz(command, "--cifar-archive", str(arch), "--runs-dir", str(runs_dir))
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith("lrviz: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "CIFAR-10 archive" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout and str(arch) in r.stderr
    assert ("corrupt" if kind == "corrupt" else "unsafe member path '../evil'") in r.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_plateau_flags_make_the_runs_plateau_settings(tmp_path, capsys):
    assert main(["train", "--runs-dir", str(tmp_path), "--plateau-factor", "2"]) == 2
    assert capsys.readouterr().err.startswith("lrviz: error: Argument `plateau_factor` must be a finite number > 0")
    code = main(["train", "--runs-dir", str(tmp_path), "--limit", "100", "--epochs", "3", "--plateau-patience", "0",
                 "--plateau-monitor", "loss", "--plateau-min-delta", "100"])
    assert code == 0
    (run,) = [runs.load_run(s.id, tmp_path) for s in runs.list_runs(tmp_path)]
    assert run.config["plateau"] == {"monitor": "loss", "factor": 0.1, "patience": 0, "min_delta": 100.0,
                                     "cooldown": 0, "min_lr": 0.0}
    # epoch 2 cannot improve on epoch 1 by 100: reduced from epoch 3 (the one after epoch 3 has no epoch to act on)
    assert [(o["source"], o["epoch"]) for o in run.config["lr_overrides"]] == [("plateau", 3)]


def test_runs_in_a_folder_that_does_not_exist_is_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["runs", "--runs-dir", str(missing)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith("lrviz: error: ")
    assert f"Runs folder {missing} does not exist" in out.err
    assert not missing.exists()
    (tmp_path / "a-file").write_text("")
    assert main(["runs", "--runs-dir", str(tmp_path / "a-file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_runs_in_an_empty_folder_is_an_empty_table_exit_0(tmp_path, capsys):
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.splitlines()[0].split() == ["run", "state", "epoch", "val_acc", "schedule"]
    assert out.out.splitlines()[1:] == [f"(no runs in {tmp_path})"]


EVIL = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, retitle the terminal


def test_runs_prints_no_control_characters_from_a_run_folder(tmp_path):
    """A copied run folder whose state, error and name hold terminal escape sequences and
    other control characters: ``lrviz runs`` prints the words, never the controls."""
    import json

    rid = runs.create_run({"limit": 100, "epochs": 2}, tmp_path, launch=lambda p: (os.getpid(), None))
    folder = tmp_path / rid
    status = json.loads((folder / "status.json").read_text())
    status.update(state=f"fail{EVIL}ed\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
                  error=f"{EVIL}boom\x9b31m red\x1b[0m\r\nline two \x00\x7f\u202egnp.exe")
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "name.json").write_text(json.dumps({"name": f"my{EVIL}run\x1b[5m"}))
    r = lrviz("runs", "--runs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    controls = [c for c in r.stdout if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f
                or 0x202a <= ord(c) <= 0x202e]
    assert controls == [], repr(r.stdout)
    assert "pwned" not in r.stdout and "ZXZpbA" not in r.stdout  # sequences go whole, with their text
    (row,) = [ln for ln in r.stdout.splitlines() if rid in ln]
    assert "boom red line two gnp.exe" in row and "“myrun”" in row and "failed" in row
