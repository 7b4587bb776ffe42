"""What a tournament takes from a folder, a study and a command line ("Hold at the seams"):
a resume re-validates everything it inherits and opens only its own study (checked, never
replaced) or a storage named again; one study holds one tournament's settings; limits say
their numbers; the read API counts trials from their runs. Folders and studies are real
(``tournament_fakes``: real configs, real SQLite studies), built without training."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from tournament_fakes import TINY, TWO, edit_config, tournament_folder, tree

from lrviz import cli, runs
from lrviz.errors import FieldError
from lrviz.jobs.tournament import (
    MAX_TRIALS,
    enqueue_many,
    local_workers,
    make_storage,
    read_tournament,
    resume_config,
    tournament_config,
)
from lrviz.store import RunStore

pytestmark = pytest.mark.timeout(300)


def _resume(runs_dir: Path, tid: str, **kw) -> dict:
    return resume_config(RunStore(runs_dir), tid, **kw)


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _one_line(err: str) -> bool:
    return err.startswith("lrviz: error: ") and err.count("\n") == 1


# ------------------------------------------------------------------ A. a resume re-validates what it inherits


@pytest.mark.parametrize(("field", "value"), [
    ("epochs", -5), ("epochs", "40"), ("seeds", 0), ("batch_size", 0), ("dataset", "mnist"), ("momentum", 1.5),
    ("heartbeat_interval", 0), ("max_retry", -1), ("schedules", [{"name": "evil"}]), ("schedules", "step"),
    ("seed", 2**32 - 1), ("limit", "all"), ("workers", "many"), ("prune", "yes"), ("study", "two\nlines"),
])
def test_a_resume_validates_every_inherited_setting_like_a_new_tournament(tmp_path, capsys, field, value):
    """The old resume copied these into the new config unchecked (epochs=-5 made a tournament)."""
    tid = tournament_folder(tmp_path)
    edit_config(tmp_path, tid, **{field: value, **({"seeds": 2} if field == "seed" else {})})
    before = sorted(p.name for p in tmp_path.iterdir())
    if field != "workers":  # the API's resume takes the workers it is given; the CLI's inherits them
        with pytest.raises(FieldError) as e:
            runs.create_run(tournament_config(parent=tid), tmp_path, launch=lambda p: (os.getpid(), None))
        assert e.value.field == "parent" and "Its config.json: " in str(e.value)
        assert f"`{field}`" in str(e.value) or (field == "schedules" and "schedule" in str(e.value))
    code, err = _cli(["tournament", "--resume", tid, "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and _one_line(err) and "Argument `parent` must be a tournament whose config.json" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder made


def test_a_resume_takes_only_the_inherited_settings_and_its_own_workers(tmp_path):
    tid = tournament_folder(tmp_path, complete=1, workers=2, prune=True)
    edit_config(tmp_path, tid, group="someone-else", versions={"evil": 1})
    config = _resume(tmp_path, tid)
    assert config["parent"] == tid and config["workers"] == 2 and config["prune"] is True
    assert config["study"] == tid
    assert config["storage"] == f"sqlite:///{tmp_path.resolve() / tid / 'study.db'}"
    assert "group" not in config and "versions" not in config
    assert _resume(tmp_path, tid, workers=1)["workers"] == 1


def test_a_resume_never_opens_a_database_its_folder_names(tmp_path, capsys):
    """The parent's config.json names an SQLite file outside the runs folder: a resume must be
    given it again (the old one opened, or created, it). Named again, it is used."""
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    runs_dir.mkdir()
    outside.mkdir()
    tid = tournament_folder(runs_dir, complete=1)
    evil = f"sqlite:///{outside / 'evil.db'}"
    edit_config(runs_dir, tid, storage=evil)
    for call in (lambda: runs.create_run(tournament_config(parent=tid), runs_dir, launch=lambda p: (1, None)),
                 lambda: _resume(runs_dir, tid)):
        with pytest.raises(FieldError) as e:
            call()
        assert e.value.field == "storage" and "named again" in str(e.value) and "evil.db" in str(e.value)
    code, err = _cli(["tournament", "--resume", tid, "--runs-dir", str(runs_dir)], capsys)
    assert code == 2 and _one_line(err) and "Argument `storage`" in err
    code, err = _cli(["tournament", "--resume", tid, "--storage", f"sqlite:///{tmp_path / 'other.db'}",
                      "--runs-dir", str(runs_dir)], capsys)
    assert code == 2 and _one_line(err) and "as its config.json names it" in err
    assert not any(outside.iterdir()) and not (tmp_path / "other.db").exists()  # nothing opened, nothing made
    shutil.copy(runs_dir / tid / "study.db", outside / "evil.db")  # the user's own copy, named on the command
    assert _resume(runs_dir, tid, storage=evil)["storage"] == evil


def test_a_resume_of_a_resume_finds_the_study_where_the_first_put_it_even_moved(tmp_path):
    """A resume's config names its parent's study.db by absolute path; resuming it again opens
    that study from this runs folder (the ancestor's folder), never the path as written."""
    first = tournament_folder(tmp_path / "a", complete=1)
    second = tournament_folder(tmp_path / "a", study=False)
    edit_config(tmp_path / "a", second, parent=first, study=first,
                storage=f"sqlite:///{(tmp_path / 'a').resolve() / first / 'study.db'}")
    shutil.move(tmp_path / "a", tmp_path / "b")  # the whole runs folder moved (or copied to another machine)
    config = _resume(tmp_path / "b", second)
    assert config["storage"] == f"sqlite:///{(tmp_path / 'b').resolve() / first / 'study.db'}"
    assert config["study"] == first
    other = tournament_folder(tmp_path / "b", complete=1)  # a tournament it never resumed: not its study
    edit_config(tmp_path / "b", second, storage=f"sqlite:///{(tmp_path / 'b').resolve() / other / 'study.db'}")
    with pytest.raises(FieldError, match="named again"):
        _resume(tmp_path / "b", second)


def test_resuming_a_tournament_with_nothing_left_is_refused(tmp_path, capsys):
    """The old --resume of a finished tournament created an empty one."""
    done = tournament_folder(tmp_path, complete=2, state="finished")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = _cli(["tournament", "--resume", done, "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and _one_line(err), err
    assert "Argument `parent` must be a tournament with trials left to run" in err
    with pytest.raises(FieldError, match="trials left to run"):
        runs.start_run(tournament_config(parent=done), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    half = tournament_folder(tmp_path, complete=1, state="finished")  # finished, one pair failed: it may retry
    assert _resume(tmp_path, half)["parent"] == half


# ------------------------------------------------------------------ B. one study, one tournament's settings


def _fresh_config(storage: str, study: str, **over) -> dict:
    schedules = over.pop("schedules", TWO)
    return tournament_config(schedules, storage=storage, study=study, **{"seeds": 1, "epochs": 2, **TINY, **over})


def _run_folders(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.exists() else []


@pytest.mark.parametrize(("change", "named"), [({"epochs": 3}, "epochs=2, not epochs=3"),
                                              ({"limit": 300}, "limit=200, not limit=300"),
                                              ({"seeds": 2}, "seeds=[1], not seeds=[1, 2]"),
                                              ({"schedules": TWO[:1]}, "schedules=")])
def test_a_second_tournament_with_other_settings_cannot_join_the_study(tmp_path, capsys, change, named):
    """Same --storage and --study, other settings: the old second tournament reported the first
    one's results as its own. The first one's settings are in the study (as the job records them)."""
    import optuna

    from lrviz.jobs.tournament import record_settings

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = _fresh_config(url, "cup")
    record_settings(optuna.create_study(storage=make_storage(url, first), study_name="cup"), {**first, "id": "t1"})
    with pytest.raises(FieldError) as e:
        runs.create_run(_fresh_config(url, "cup", **change), tmp_path / "runs", launch=lambda p: (1, None))
    assert e.value.field == "study" and named in str(e.value)
    argv = ["tournament", "--storage", url, "--study", "cup", "--epochs", str(change.get("epochs", 2)),
            "--seeds", str(change.get("seeds", 1)), "--limit", str(change.get("limit", 200)), "--batch-size", "32",
            "--schedule", "constant:lr=0.01", *([] if "schedules" in change else ["--schedule", "constant:lr=0.05"]),
            "--runs-dir", str(tmp_path / "runs")]
    code, err = _cli(argv, capsys)
    assert code == 2 and _one_line(err) and "Argument `study`" in err and named in err, err
    assert _run_folders(tmp_path / "runs") == []
    runs.create_run(_fresh_config(url, "cup"), tmp_path / "runs", launch=lambda p: (1, None))  # the same: joins


def test_a_worker_refuses_a_study_of_other_settings(tmp_path, capsys):
    import optuna

    from lrviz.jobs.tournament import record_settings

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    record_settings(optuna.create_study(storage=make_storage(url, _fresh_config(url, "cup")), study_name="cup"),
                    _fresh_config(url, "cup"))
    tid = tournament_folder(tmp_path / "runs", study=False, epochs=2)
    edit_config(tmp_path / "runs", tid, epochs=5)
    code, err = _cli(["tournament-worker", "--storage", url, "--study", "cup", "--runs-dir", str(tmp_path / "runs"),
                      "--group", tid], capsys)
    assert code == 2 and _one_line(err) and "epochs=2, not epochs=5" in err, err


# ------------------------------------------------------------------ D. limits, with their numbers


def test_a_tournament_has_at_most_1000_trials_said_with_the_numbers(tmp_path, capsys):
    schedules = [{"name": "constant", "params": {"lr": 1e-4 * (i + 1)}} for i in range(1000)]
    t0 = time.perf_counter()
    with pytest.raises(FieldError) as e:
        tournament_config(schedules, seeds=100)
    assert time.perf_counter() - t0 < 1.0  # counted before 1,000 schedule configs are checked
    assert str(e.value) == ("Argument `seeds` must keep a tournament at most 1,000 trials (schedules × seeds). "
                            "Received: 1,000 schedules × 100 seeds = 100,000")
    assert e.value.field == "seeds" and MAX_TRIALS == 1000
    with pytest.raises(FieldError) as e:
        tournament_config(schedules + [{"name": "step"}], seeds=1)
    assert e.value.field == "schedules" and "1,001 schedules × 1 seeds = 1,001" in str(e.value)
    assert len(tournament_config(schedules, seeds=1)["schedules"]) == 1000  # exactly the cap is fine
    grid = "|".join(f"{0.001 * (i + 1):.3f}" for i in range(40))
    code, err = _cli(["tournament", "--schedule", f"constant:lr={grid}", "--seeds", "30", "--runs-dir",
                      str(tmp_path)], capsys)
    assert code == 2 and _one_line(err) and "40 schedules × 30 seeds = 1,200" in err, err
    assert not any(tmp_path.iterdir())


def test_seeds_stay_within_what_numpy_and_keras_accept(tmp_path, capsys):
    """--seed 4294967295 --seeds 2 made a trial with seed 2**32, which failed: '1/2 trials', exit 0."""
    code, err = _cli(["tournament", "--schedule", "constant", "--seed", "4294967295", "--seeds", "2",
                      "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and _one_line(err) and not any(tmp_path.iterdir())
    assert ("Argument `seed` must be <= 4294967294 with seeds=2: the last seed, seed + seeds - 1, must be <= "
            "4294967295 (what numpy and keras.utils.set_random_seed accept). Received: seed=4294967295") in err
    assert tournament_config(TWO, seed=2**32 - 2, seeds=2)["seed"] == 2**32 - 2
    import keras

    keras.utils.set_random_seed(2**32 - 1)  # the last seed allowed is one Keras takes
    with pytest.raises(ValueError):
        keras.utils.set_random_seed(2**32)


def test_local_workers_are_capped_by_cores_gpu_memory_and_trials(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert local_workers(1, 10) == (1, None)
    assert local_workers(8, 100) == (2, "2 of the 8 worker(s) asked: 2 core(s) here (os.cpu_count())")
    assert local_workers(2, 1) == (1, "1 of the 2 worker(s) asked: 1 trial(s) to run")
    fake = tmp_path / "nvidia-smi"  # what nvidia-smi prints for two GPUs, 5,000 and 30,000 MiB free
    fake.write_text("#!/bin/sh\nprintf '0, 5000\\n1, 30000\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert local_workers(8, 100) == (2, "2 of the 8 worker(s) asked: 5,000 MiB of free GPU memory at 2,048 MiB "
                                        "per worker")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert local_workers(8, 100) == (8, None)  # the visible GPU has room for 14
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_workers(20, 100)[0] == 16  # no GPU visible: the cores


def test_enqueueing_is_one_transaction_and_gives_optunas_own_trials(tmp_path, capsys):
    """1,000 trials (the cap) enqueued in one transaction read back exactly like study.enqueue_trial's,
    and a worker takes them as usual. The rates are printed for the README."""
    import optuna

    from lrviz.jobs.tournament import claim_waiting_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = {"heartbeat_interval": 10, "grace_period": 30, "max_retry": 2}
    items = [({"schedule": f"s{i % 100}", "seed": i // 100}, {"schedule_index": i % 100,
              "schedule_config": {"name": "constant", "params": {"lr": 0.01}}}) for i in range(1000)]
    rates = {}
    for way in ("one by one", "bulk"):
        url = f"sqlite:///{tmp_path / (way.replace(' ', '-') + '.db')}"
        storage = make_storage(url, cfg)
        study = optuna.create_study(storage=storage, study_name="q", direction="maximize")
        study.enqueue_trial({"schedule": "first", "seed": 0})  # numbering continues after it
        n = 200 if way == "one by one" else 1000
        t0 = time.perf_counter()
        if way == "bulk":
            enqueue_many(study, storage, items)
        else:
            for params, attrs in items[:n]:
                study.enqueue_trial(params, user_attrs=attrs)
        rates[way] = n / (time.perf_counter() - t0)
        trials = study.get_trials()
        if way == "one by one":
            reference = [(t.number, t.state, t.system_attrs, t.user_attrs, t.datetime_start) for t in trials]
        else:
            got = [(t.number, t.state, t.system_attrs, t.user_attrs, t.datetime_start) for t in trials]
            assert got[: len(reference)] == reference and len(got) == 1001
            choices = ["first", *(f"s{i}" for i in range(100))]
            trial = claim_waiting_trial(study, storage, url)[0]
            assert trial.number == 0 and trial.suggest_categorical("schedule", choices) == "first"
            trial = claim_waiting_trial(study, storage, url)[0]
            assert trial.number == 1 and trial.suggest_categorical("schedule", choices) == "s0"
    with capsys.disabled():
        print(f"\n[enqueue] one by one: {rates['one by one']:.0f} trials/s, bulk: {rates['bulk']:.0f} trials/s")
    assert rates["bulk"] > 2 * rates["one by one"]


# ------------------------------------------------------------------ C. the read API counts from the trials' runs


def test_the_read_api_counts_trials_from_their_runs_when_the_job_died(tmp_path):
    """The tournament process was SIGKILLed before it wrote its files: status.json says 0 done,
    trials.csv says running; the runs say 2 finished and 1 running. The page said '0/4 trials
    done · 2 running' beside charts of 2 finished trials."""
    from fakes import fabricate_run

    tid = tournament_folder(tmp_path, schedules=TWO, seeds=2, study=False)
    labels = ["Constant (lr=0.01)", "Constant (lr=0.05)"]
    rids = []
    for lr, seed, state, acc in [(0.01, 1, "finished", 0.6), (0.05, 1, "finished", 0.8), (0.01, 2, "running", 0.5)]:
        rids.append(fabricate_run(tmp_path, group=tid, schedule={"name": "constant", "params": {"lr": lr}},
                                  epochs=2, state=state, accuracy=acc))
        edit_config(tmp_path, rids[-1], seed=seed)  # the trial's seed
    st = runs.read_json(tmp_path / rids[2] / "status.json")
    runs.atomic_write_json(tmp_path / rids[2] / "status.json", {**st, "pid": os.getpid(), "pid_create_time": None})
    trials = ("number,schedule,seed,state,value,epochs_done,duration_s,retry,run_id\n"
              f"0,{labels[0]},1,running,,1,,False,{rids[0]}\n1,{labels[1]},1,running,,1,,False,{rids[1]}\n"
              f"2,{labels[0]},2,waiting,,0,,False,\n3,{labels[1]},2,waiting,,0,,False,\n")
    (tmp_path / tid / "trials.csv").write_text(trials)
    st = runs.read_json(tmp_path / tid / "status.json")
    runs.atomic_write_json(tmp_path / tid / "status.json", {**st, "state": "running", "pid": 2**22 + 99,
                                                            "trials_done": 0, "running": 2})
    view = read_tournament(tid, tmp_path)
    assert view.state == "failed" and "ended unexpectedly" in view.status["error"]
    assert (view.trials_done, view.running, view.trials_total) == (2, 1, 4)
    assert (view.status["trials_done"], view.status["running"]) == (2, 1)
    states = {r.run_id: r.state for r in view.trials.itertuples() if isinstance(r.run_id, str)}
    assert states == {rids[0]: "complete", rids[1]: "complete", rids[2]: "running"}
    assert list(view.leaderboard["schedule"][:2]) == [labels[1], labels[0]]  # ranked from the runs' histories
    assert list(view.leaderboard["rank"][:2]) == [1, 2] and view.leaderboard["mean_val_accuracy"][0] == 0.8
    assert view.winner == {"name": "constant", "params": {"lr": 0.05}} and view.damaged is None


# ------------------------------------------------------------------ F. a damaged file damages only its own tournament


def _finished_view_folder(runs_dir: Path) -> str:
    tid = tournament_folder(runs_dir, complete=2, state="finished")
    (runs_dir / tid / "leaderboard.csv").write_text(
        "rank,schedule,mean_val_accuracy,std_val_accuracy,trials,best_epoch,notes,schedule_index\n"
        "1,Constant (lr=0.05),0.8,,1,2,,1\n2,Constant (lr=0.01),0.6,,1,2,,0\n")
    (runs_dir / tid / "trials.csv").write_text("number,schedule,seed,state,value,run_id\n"
                                               "0,Constant (lr=0.01),1,complete,0.6,\n"
                                               "1,Constant (lr=0.05),1,complete,0.8,\n")
    (runs_dir / tid / "verdict.json").write_text(json.dumps({"text": "lr=0.05 is the only one", "decisive": None}))
    return tid


def _write(name: str, data: bytes):
    return lambda p: (p / name).write_bytes(data)


def _truncate(name: str):
    return lambda p: (p / name).write_bytes((p / name).read_bytes()[: len((p / name).read_bytes()) // 2])


def _json_edit(name: str, **changes):
    return lambda p: (p / name).write_text(json.dumps({**json.loads((p / name).read_text()), **changes}))


DAMAGES = {
    "leaderboard_binary": (_write("leaderboard.csv", bytes(range(256)) * 3), "leaderboard.csv"),
    "leaderboard_empty": (_write("leaderboard.csv", b""), "leaderboard.csv"),
    "leaderboard_columns": (_write("leaderboard.csv", b"a,b\n1,2\n"), "leaderboard.csv"),
    "leaderboard_index": (_write("leaderboard.csv", b"rank,schedule,mean_val_accuracy,std_val_accuracy,trials,"
                                                    b"schedule_index\n1,x,0.8,,1,7\n"), "leaderboard.csv"),
    "config_truncated": (_truncate("config.json"), "config.json"),
    "config_bad_setting": (_json_edit("config.json", epochs=-1), "config.json"),
    "config_no_schedules": (_json_edit("config.json", schedules="step"), "config.json"),
    "status_truncated": (_truncate("status.json"), "status.json"),
    "status_words": (_json_edit("status.json", trials_done="abc", running=[1]), "status.json"),
    "trials_binary": (_write("trials.csv", b"\xff\xfe\x00garbage\n\x00"), "trials.csv"),
    "trials_state": (_write("trials.csv", b"number,schedule,seed,state,value,run_id\n0,x,1,exploded,,\n"),
                     "trials.csv"),
    "trials_run_id": (_write("trials.csv", b"number,schedule,seed,state,value,run_id\n0,x,1,complete,1,../../etc\n"),
                      "trials.csv"),
    "verdict_truncated": (_truncate("verdict.json"), "verdict.json"),
    "verdict_types": (_json_edit("verdict.json", text=["<img src=x>"]), "verdict.json"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_tournament_file_is_named_and_the_rest_still_reads(tmp_path, damage):
    how, name = DAMAGES[damage]
    good = _finished_view_folder(tmp_path)
    bad = _finished_view_folder(tmp_path)
    how(tmp_path / bad)
    view = read_tournament(bad, tmp_path)
    assert view.damaged is not None and view.damaged.startswith(f"{name}: "), view.damaged
    assert set(view.damaged_files) == {name}
    assert isinstance(view.trials_done, int) and isinstance(view.trials_total, int) and isinstance(view.state, str)
    if name == "verdict.json":
        assert view.verdict is None
    if name == "leaderboard.csv":
        assert not len(view.leaderboard) and view.winner is None
    if name == "config.json":
        assert view.config == {} and view.winner is None
    ok = read_tournament(good, tmp_path)
    assert ok.damaged is None and ok.winner == {"name": "constant", "params": {"lr": 0.05}}
    listed = {r.id for r in runs.list_runs(tmp_path)}
    assert {good, bad} <= listed


def test_a_symlinked_tournament_file_is_not_followed(tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (tmp_path / "secret.csv").write_text("rank,schedule,mean_val_accuracy,std_val_accuracy,trials,schedule_index\n"
                                         "1,TOP SECRET,0.9,,1,0\n")
    tid = _finished_view_folder(runs_dir)
    (runs_dir / tid / "leaderboard.csv").unlink()
    os.symlink(tmp_path / "secret.csv", runs_dir / tid / "leaderboard.csv")
    view = read_tournament(tid, runs_dir)
    assert view.damaged == "leaderboard.csv: a symbolic link (not followed)"
    assert "TOP SECRET" not in view.leaderboard.to_csv()


def test_reading_a_tournament_writes_nothing_but_liveness(tmp_path):
    tid = _finished_view_folder(tmp_path)
    before = tree(tmp_path)
    read_tournament(tid, tmp_path)
    assert tree(tmp_path) == before


# ------------------------------------------------------------------ the same on a real PostgreSQL server


def _needs_postgres():
    from postgres_server import postgres_bin

    return pytest.mark.skipif(postgres_bin() is None and os.environ.get("CI") != "true",
                              reason="PostgreSQL server not installed (scripts/install-system-deps.sh)")


@_needs_postgres()
def test_postgresql_one_study_one_settings_and_a_resume_names_its_server(tmp_path, capsys, monkeypatch):
    """On a real server: a second tournament with other settings is refused; a resume of a
    PostgreSQL tournament must name the server again (the folder alone is not enough), and then
    goes ahead."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial
    from postgres_server import postgres_server

    from lrviz.jobs.tournament import record_settings

    with postgres_server() as url:
        first = _fresh_config(url, "pg-cup")
        tid = runs.create_run(first, tmp_path, launch=lambda p: (2**22 + 7, None))
        study = optuna.create_study(storage=make_storage(url, first), study_name="pg-cup", direction="maximize")
        record_settings(study, first)
        labels = ["Constant (lr=0.01)", "Constant (lr=0.05)"]
        study.add_trial(create_trial(params={"schedule": labels[0], "seed": 1}, value=0.5,
                                     distributions={"schedule": CategoricalDistribution(labels),
                                                    "seed": CategoricalDistribution([1])}))
        status = runs.read_json(tmp_path / tid / "status.json")
        runs.atomic_write_json(tmp_path / tid / "status.json", {**status, "state": "stopped", "pid": None})
        before = _run_folders(tmp_path)

        code, err = _cli(["tournament", "--schedule", "constant:lr=0.01", "--schedule", "constant:lr=0.05",
                          "--seeds", "1", "--epochs", "3", "--limit", "200", "--batch-size", "32", "--storage", url,
                          "--study", "pg-cup", "--runs-dir", str(tmp_path)], capsys)
        assert code == 2 and _one_line(err) and "epochs=2, not epochs=3" in err, err
        code, err = _cli(["tournament", "--resume", tid, "--runs-dir", str(tmp_path)], capsys)
        assert code == 2 and _one_line(err) and "Argument `storage` must be named again" in err, err
        assert _run_folders(tmp_path) == before

        started = []
        monkeypatch.setattr(runs, "start_run", lambda config, d: started.append(config) or "t-2")
        code, err = _cli(["tournament", "--resume", tid, "--storage", url, "--runs-dir", str(tmp_path), "--detach"],
                         capsys)
        assert code == 0, err
    assert started[0]["storage"] == url and started[0]["study"] == "pg-cup" and started[0]["parent"] == tid
