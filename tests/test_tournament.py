"""lrviz.tournament (pure: specs, grids, presets, leaderboard) and the tournament command's bad
input (the verdict: tests/test_verdict.py). Statistics are checked against numpy computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tournament_fakes import FINAL, finished_trials

from lrviz.cli import main
from lrviz.errors import FieldError
from lrviz.jobs.tournament import TournamentJob, tournament_config
from lrviz.schedules import Schedule
from lrviz.tournament import (
    PRESETS,
    TARGET_ACCURACY,
    TrialRecord,
    book_accuracy,
    grid,
    leaderboard,
    parse_spec,
    preset,
    reached_text,
    schedule_labels,
    time_to_target,
    trial_pairs,
    winner_schedule,
)


def test_a_spec_is_a_schedule_config_with_its_params_validated():
    assert parse_spec("step:factor=0.5,drop_every=5") == [
        {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}]
    assert parse_spec("constant") == [{"name": "constant", "params": {"lr": 0.01}}]
    (pw,) = parse_spec("piecewise:boundaries=10,20,values=0.01,0.005,0.001")
    assert pw["params"] == {"boundaries": [10, 20], "values": [0.01, 0.005, 0.001]}
    (ex,) = parse_spec("exponential:staircase=true")
    assert ex["params"]["staircase"] is True
    assert [c["params"]["staircase"] for c in parse_spec("exponential:staircase=False|1|no|YES")] == [
        False, True, False, True]


def test_a_grid_is_every_combination_first_axis_slowest():
    specs = parse_spec("step:factor=0.25|0.5|0.75,drop_every=5|10")
    got = [(c["params"]["factor"], c["params"]["drop_every"]) for c in specs]
    assert got == [(0.25, 5), (0.25, 10), (0.5, 5), (0.5, 10), (0.75, 5), (0.75, 10)]
    assert grid("step", {"factor": [0.25, 0.5, 0.75], "drop_every": [5, 10]}) == specs
    assert [c["params"]["lr"] for c in grid("step", {"factor": [0.5]}, lr=0.1)] == [0.1]


@pytest.mark.parametrize(("spec", "field"), [
    ("step:factor=1.5", "factor"), ("nope", "schedule"), ("step:factor", "schedule"),
    ("step:factor=0.5,factor=0.25", "schedule"), ("step:speed=2", "speed"), ("", "schedule"),
    ("exponential:staircase=maybe", "staircase"), ("exponential:staircase=true|maybe", "staircase"),
])
def test_a_bad_spec_names_the_field(spec, field):
    with pytest.raises(FieldError) as e:
        parse_spec(spec)
    assert e.value.field == field


def test_the_tutorial_preset_and_the_book_figures():
    p = preset("tutorial")
    labels = [Schedule.from_config(s).label() for s in p["schedules"]]
    assert p["epochs"] == 40 and len(labels) == 4
    assert p["schedules"][1] == {"name": "time_keras2", "params": {"lr": 0.01, "decay": 0.00025}}
    assert [s["params"].get("factor") for s in p["schedules"]] == [None, None, 0.25, 0.5]
    assert [book_accuracy(label, "cifar10") for label in labels] == [None, 0.83, 0.75, 0.78]
    assert [book_accuracy(label, "digits") for label in labels] == [None] * 4
    p["schedules"][0]["params"]["lr"] = 1.0  # a copy: the preset itself is untouched
    assert PRESETS["tutorial"]["schedules"][0]["params"]["lr"] == 0.01
    with pytest.raises(FieldError, match="preset"):
        preset("book")


def _labels_before(schedules):
    """schedule_labels as it was (a list searched for each label: quadratic), the reference."""
    labels = []
    for i, cfg in enumerate(schedules):
        try:
            label = Schedule.from_config(cfg).label()
        except FieldError as e:
            raise FieldError(f"schedules[{i}].{e.field}", e.rule, e.value, message=f"schedules[{i}]: {e}") from None
        if label in labels:
            raise FieldError("schedules", f"distinct schedules ({label} is given twice)", cfg)
        labels.append(label)
    return labels


def _outcome(fn, schedules):
    try:
        return fn(schedules)
    except FieldError as e:
        return ("error", e.field, str(e))


@pytest.mark.parametrize("schedules", [
    PRESETS["tutorial"]["schedules"],
    parse_spec("step:factor=0.25|0.5|0.75,drop_every=5|10") + parse_spec("constant"),
    [{"name": "exponential", "params": {"staircase": True}}, {"name": "exponential"},
     {"name": "cosine", "warmup": 2}, {"name": "piecewise", "params": {"boundaries": [3], "values": [0.1, 0.01]}}],
    [{"name": "step"}, {"name": "constant"}, {"name": "step", "params": {"factor": 0.5}}],  # the same step twice
    [{"name": "step"}, {"name": "step", "params": {"factor": 2}}],  # a bad config
    [],
], ids=["tutorial", "grid", "flags-warmup-lists", "duplicate", "bad", "empty"])
def test_schedule_labels_are_what_they_were(schedules):
    assert _outcome(schedule_labels, schedules) == _outcome(_labels_before, schedules)


def test_schedule_labels_are_linear_in_the_number_of_schedules(monkeypatch):
    """Counted, not timed: how often two labels are compared. The list search compared each new
    label with every earlier one (about n^2/2 = 2,000,000 for 2,000 schedules); a set, about none."""
    compared = []

    class Counted(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            compared.append(1)
            return str.__eq__(self, other)

    label = Schedule.label
    monkeypatch.setattr(Schedule, "label", lambda self: Counted(label(self)))
    n = 2_000
    cfgs = [{"name": "step", "params": {"lr": 0.01 + i * 1e-6}} for i in range(n)]
    assert len(set(schedule_labels(cfgs))) == n
    assert len(compared) < 10 * n


def test_a_grid_of_1000_schedules_is_labelled_in_milliseconds():
    import time

    cfgs = grid("step", {"lr": [0.01 + i * 1e-5 for i in range(100)], "drop_every": list(range(1, 11))})
    t0 = time.perf_counter()
    assert len(set(schedule_labels(cfgs))) == 1_000
    assert time.perf_counter() - t0 < 1.0  # about 20 ms on a busy 2-core machine (validating each config)


def test_trials_go_seed_by_seed():
    assert trial_pairs(3, [1, 2]) == [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)]


# ------------------------------------------------------------------ leaderboard and verdict

def test_leaderboard_mean_std_and_rank_match_numpy():
    rows = leaderboard(finished_trials(), ["A", "B", "C"])
    by = {r["schedule"]: r for r in rows}
    for label, values in FINAL.items():
        assert by[label]["mean_val_accuracy"] == pytest.approx(np.mean(values), abs=1e-12)
        assert by[label]["std_val_accuracy"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        assert by[label]["trials"] == 3
        assert by[label]["best_epoch"] == 2  # every curve peaks at epoch 2 (1-based)
        assert by[label]["mean_time_s"] == pytest.approx(12.0)
    order = sorted(FINAL, key=lambda k: -np.mean(FINAL[k]))
    assert [r["schedule"] for r in rows] == order and [r["rank"] for r in rows] == [1, 2, 3]
    assert "book_accuracy" not in rows[0]


def test_leaderboard_counts_states_and_retries_and_leaves_unfinished_schedules_unranked():
    extra = [TrialRecord(20, "A", 4, "failed"), TrialRecord(21, "A", 4, "complete", 0.5, {1: 0.5}, retry=True),
             TrialRecord(22, "B", 4, "pruned", None, {1: 0.1}), TrialRecord(23, "D", 1, "running"),
             TrialRecord(24, "D", 2, "waiting")]
    rows = leaderboard(finished_trials(extra=extra), ["A", "B", "C", "D"], dataset="cifar10")
    by = {r["schedule"]: r for r in rows}
    a_values = FINAL["A"] + [0.5]
    assert by["A"]["mean_val_accuracy"] == pytest.approx(np.mean(a_values))
    assert (by["A"]["failed"], by["A"]["retried"], by["A"]["notes"]) == (1, 1, "1 failed, 1 retried")
    assert (by["B"]["trials"], by["B"]["pruned"], by["B"]["notes"]) == (3, 1, "1 pruned")
    assert by["D"]["rank"] is None and math.isnan(by["D"]["mean_val_accuracy"]) and rows[-1]["schedule"] == "D"
    assert by["D"]["notes"] == "1 running; 1 waiting"
    assert "book_accuracy" in by["A"]


def test_ties_share_the_smaller_rank():
    rows = leaderboard(finished_trials({"A": [0.9, 0.8], "B": [0.8, 0.9], "C": [0.1, 0.2]}), ["A", "B", "C"])
    assert [r["rank"] for r in rows] == [1, 1, 3]


def test_winner_schedule_is_the_rank_one_config():
    schedules = [{"name": "constant", "params": {"lr": 0.01}}, {"name": "step", "params": {"factor": 0.5}}]
    rows = leaderboard(finished_trials({"x": [0.5], "y": [0.7]}), ["x", "y"])
    assert winner_schedule(rows, schedules) == schedules[1]
    assert winner_schedule(leaderboard([], ["x", "y"]), schedules) is None


# ------------------------------------------------------------------ config and command line


def test_config_validation_names_the_field():
    cfg = tournament_config(preset_name="tutorial", seeds=2)
    assert cfg["kind"] == "tournament" and cfg["epochs"] == 40 and len(cfg["schedules"]) == 4
    assert TournamentJob.initial_status(cfg)["trials_total"] == 8
    for bad, field in [({"seeds": 0}, "seeds"), ({"workers": 1.5}, "workers"), ({"schedules": []}, "schedules"),
                       ({"schedules": "step"}, "schedules"), ({"storage": "db.sqlite"}, "storage"),
                       ({"schedules": [{"name": "step", "params": {"factor": 2}}]}, "schedules[0].factor"),
                       ({"epochs": 0}, "epochs"), ({"colour": 1}, "colour")]:
        with pytest.raises(FieldError) as e:
            tournament_config(**bad)
        assert e.value.field == field, bad


@pytest.mark.parametrize(("argv", "message"), [
    (["tournament"], "Give --preset tutorial or at least one --schedule"),
    (["tournament", "--schedule", "step:factor=1.5"], "Argument `factor` must be"),
    (["tournament", "--schedule", "exponential:staircase=maybe"],
     "Argument `staircase` must be true or false. Received: staircase=maybe"),
    (["tournament", "--preset", "tutorial", "--seeds", "0"], "Argument `seeds` must be an integer >= 1"),
    (["tournament", "--schedule", "constant", "--storage", "nowhere"], "Argument `storage` must be"),
    (["tournament", "--preset", "book"], "invalid choice"),
    (["tournament", "--resume", "20261125-000000-nowhere"], "Argument `parent`"),
    (["tournament", "--resume", "20261125-000000-x", "--epochs", "5"], "only --workers may change (given: --epochs)"),
    (["tournament", "--schedule", "constant", "--storage", "sqlite:///x.db", "--resume", "20261125-000000-x"],
     "(given: --storage, --schedule)"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrviz: error: ") and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("workers", [3, None], ids=["3", "auto"])
def test_resume_keeps_the_tournaments_settings_and_workers(tmp_path, monkeypatch, capsys, workers):
    """Without --workers the parent's recorded count, None (auto-sized by the engine) included."""
    from lrviz import runs

    cfg = tournament_config([{"name": "constant"}, {"name": "step"}], seeds=2, epochs=7, workers=workers, limit=300)
    tid = runs.create_run(cfg, tmp_path, launch=lambda p: (1, None))
    status = runs.read_json(tmp_path / tid / "status.json")
    runs.atomic_write_json(tmp_path / tid / "status.json", {**status, "state": "stopped"})
    started = []
    monkeypatch.setattr(runs, "start_run", lambda config, d: started.append(config) or "t-2")
    assert main(["tournament", "--resume", tid, "--runs-dir", str(tmp_path), "--detach"]) == 0
    assert main(["tournament", "--resume", tid, "--workers", "1", "--runs-dir", str(tmp_path), "--detach"]) == 0
    assert [c["workers"] for c in started] == [workers, 1] and all(c["parent"] == tid for c in started)
    assert capsys.readouterr().out.split() == ["t-2", "t-2"]


def test_a_grid_too_big_for_a_tournament_is_refused_before_it_is_built(monkeypatch):
    """10^6 combinations: refused with the sizes before one config is built (it used to build them all)."""
    from lrviz import tournament as pure
    from lrviz.tournament import MAX_TRIALS, grid

    built = []
    monkeypatch.setattr(pure.Schedule, "create", lambda *a, **k: built.append(a))  # building one fails the test
    with pytest.raises(ValueError, match=r"at most 1,000 schedules .* 1,000 factor × 1,000 drop_every = 1,000,000"):
        grid("step", {"factor": [0.5] * 1000, "drop_every": list(range(1, 1001))})
    assert built == []
    monkeypatch.undo()
    assert len(grid("step", {"factor": [0.5] * 10, "drop_every": list(range(1, MAX_TRIALS // 10 + 1))})) == MAX_TRIALS


# ------------------------------------------------------------------ time to accuracy


def _timed(seed: int, accuracies: list[float], seconds: list[float], schedule: str = "A",
           state: str = "complete") -> TrialRecord:
    curve = dict(enumerate(accuracies, start=1))
    return TrialRecord(seed, schedule, seed, state, accuracies[-1] if state == "complete" else None, curve,
                       epoch_times=dict(enumerate(seconds, start=1)))


def test_time_to_accuracy_is_the_mean_over_the_seeds_that_reach_it():
    """A small fake history worked by hand. Target 0.95: seed 1 first reaches it at epoch 3 after
    2.0 + 1.5 + 1.5 = 5.0 s; seed 2 at epoch 2 after 3.0 + 1.0 = 4.0 s (Keras' float32 0.95,
    0.949999988, counts); seed 3 never does; the running trial does not count. So 2 of 3 seeds,
    (3 + 2) / 2 = 2.5 epochs and (5.0 + 4.0) / 2 = 4.5 s. B reaches it in none of its 2 seeds."""
    f32_095 = float(np.float32(0.95))
    assert f32_095 < 0.95
    trials = [_timed(1, [0.50, 0.93, 0.96, 0.97], [2.0, 1.5, 1.5, 1.5]),
              _timed(2, [0.60, f32_095, 0.96, 0.98], [3.0, 1.0, 1.0, 1.0]),
              _timed(3, [0.50, 0.70, 0.90, 0.94], [2.0, 2.0, 2.0, 2.0]),
              _timed(4, [0.99, 0.99], [0.1, 0.1], state="running"),
              _timed(5, [0.40, 0.90, 0.92, 0.93], [1.0] * 4, schedule="B"),
              _timed(6, [0.30, 0.80, 0.85, 0.94], [1.0] * 4, schedule="B")]
    a, b = sorted(leaderboard(trials, ["A", "B"], target=0.95), key=lambda r: r["schedule"])
    assert (a["target_accuracy"], a["seeds_reached"], a["trials"]) == (0.95, 2, 3)
    assert a["epochs_to_target"] == pytest.approx(2.5) and a["seconds_to_target"] == pytest.approx(4.5)
    assert reached_text(a) == "2.5 ep · 4.5 s · 2/3"
    assert b["seeds_reached"] == 0 and math.isnan(b["epochs_to_target"]) and math.isnan(b["seconds_to_target"])
    assert reached_text(b) == "not reached · 0/2"  # not 0, not NaN
    # the same seed 3 with 0.90 as the target: epoch 3 after 6.0 s
    assert time_to_target(trials[2].curve, trials[2].epoch_times, 0.90) == (3, 6.0)
    # an epoch without a time: the epochs still count, the seconds are unknown (and left out of the mean)
    assert time_to_target({1: 0.5, 2: 0.96}, {2: 1.0}, 0.95) == (2, None)
    (c,) = leaderboard([_timed(1, [0.96], []), _timed(2, [0.5, 0.97], [1.0, 2.0])], ["A"], target=0.95)
    assert (c["seeds_reached"], c["epochs_to_target"], c["seconds_to_target"]) == (2, 1.5, 3.0)
    assert reached_text({"trials": 0, "seeds_reached": 0}) == "" and reached_text({"trials": 2}) == ""


def test_the_target_is_a_setting_with_a_default_by_dataset():
    assert tournament_config(epochs=2)["target_accuracy"] == 0.95 == TARGET_ACCURACY["digits"]
    assert tournament_config(epochs=2, target_accuracy=0.5)["target_accuracy"] == 0.5
    assert TournamentJob.validate({"dataset": "cifar10", "epochs": 2}, here=False)["target_accuracy"] == 0.70
    for bad in (0, 1.5, "0.9"):
        with pytest.raises(FieldError) as e:
            tournament_config(epochs=2, target_accuracy=bad)
        assert e.value.field == "target_accuracy"
    (row,) = leaderboard([], ["A"], dataset="cifar10")
    assert row["target_accuracy"] == 0.70 and row["seeds_reached"] == 0 and reached_text(row) == ""


def test_the_trial_worker_is_engine_code_the_cli_only_calls():
    """The engine used to start its workers as `python -m lrviz tournament-worker` (its own command
    line, where the import-cycle test cannot see the edge); now the engine's own module, which the
    CLI's command imports."""
    import ast
    import importlib.util
    from pathlib import Path

    from lrviz.cli import tournament as cli_tournament
    from lrviz.jobs.tournament import worker_command
    from lrviz.jobs.tournament.worker import work

    cmd = worker_command("sqlite:///x.db", "s", "/runs", "g")
    assert cmd[1:3] == ["-m", "lrviz.jobs.tournament.worker"] and importlib.util.find_spec(cmd[2]) is not None
    assert cli_tournament.work is work
    jobs = Path(__file__).resolve().parents[1] / "lrviz" / "jobs"
    for f in jobs.rglob("*.py"):
        tree = ast.parse(f.read_text())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert "tournament-worker" not in strings, f
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(
            "lrviz.cli")], f


def test_leaderboard_csv_is_the_csv_modules_and_reads_back_whole():
    """The hand-written writer quoted a cell with a quote without doubling it (the row then read
    as other columns); normal values are written as before: floats in full, None and NaN empty."""
    import csv
    import io

    from lrviz.jobs.tournament.job import csv_text

    rows = [{"rank": 1, "schedule": "Step decay (lr=0.01, factor=0.5)", "mean": 0.1 + 0.2, "notes": None},
            {"rank": None, "schedule": 'say "hi",\nthen go', "mean": math.nan, "notes": "1 failed, 1 retried"}]
    text = csv_text(rows, ["rank", "schedule", "mean", "notes"])
    assert text.splitlines()[:2] == ["rank,schedule,mean,notes",
                                     '1,"Step decay (lr=0.01, factor=0.5)",0.30000000000000004,']
    back = list(csv.DictReader(io.StringIO(text)))
    assert [r["schedule"] for r in back] == [rows[0]["schedule"], rows[1]["schedule"]]
    assert back[1] == {"rank": "", "schedule": 'say "hi",\nthen go', "mean": "", "notes": "1 failed, 1 retried"}


def test_trial_records_take_the_seconds_of_each_epoch_from_the_study():
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    from lrviz.jobs.tournament import trial_records

    dist = {"schedule": CategoricalDistribution(["A"]), "seed": CategoricalDistribution([1])}
    trials = [create_trial(params={"schedule": "A", "seed": 1}, distributions=dist, value=0.9,
                           intermediate_values={1: 0.5, 2: 0.9}, user_attrs={"epoch_time_s": [2.5, 1.25]}),
              create_trial(params={"schedule": "A", "seed": 1}, distributions=dist, value=0.9,
                           user_attrs={"epoch_time_s": [1.0, "x", -1, float("nan")]}),  # a worker's junk left out
              create_trial(params={"schedule": "A", "seed": 1}, distributions=dist, value=0.9)]  # an older worker
    assert [r.epoch_times for r in trial_records(trials)] == [{1: 2.5, 2: 1.25}, {1: 1.0}, {}]
