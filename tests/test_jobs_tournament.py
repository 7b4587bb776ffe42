"""The tournament job end to end on tiny real runs (digits, 200 images, batch 32, 2-4 epochs):
local workers, a worker killed mid-trial, stop, and two workers joining one study through a
real PostgreSQL server. The leaderboard is checked against numpy over the runs' own
history.csv; the study is opened with optuna.load_study in a process that never imports lrviz."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fakes import wait_until
from postgres_server import postgres_bin, postgres_server

from lrviz import runs
from lrviz.errors import FieldError
from lrviz.jobs.tournament import read_tournament, tournament_config, winner_schedule_of, worker_command
from lrviz.schedules import Schedule
from lrviz.store import pid_alive
from lrviz.worker import run_worker

TINY = {"dataset": "digits", "limit": 200, "batch_size": 32}
# four schedules that differ from the first epochs on (step decay drops after every epoch)
FOUR = [{"name": "constant", "params": {"lr": 0.01}}, {"name": "constant", "params": {"lr": 0.05}},
        {"name": "step", "params": {"lr": 0.05, "factor": 0.25, "drop_every": 1}},
        {"name": "step", "params": {"lr": 0.05, "factor": 0.5, "drop_every": 1}}]
pytestmark = pytest.mark.timeout(300)


def _final(runs_dir: Path, tid: str, timeout: float = 240) -> str:
    def ended():
        state = runs.load_run(tid, runs_dir).state
        return state if state in runs.FINAL_STATES else None

    return wait_until(ended, timeout, "the tournament to end", 0.5)


def _study_from_outside(storage: str, study: str) -> dict:
    """Open the study with Optuna alone, in a fresh process that cannot import lrviz."""
    code = ("import json, sys, optuna\n"
            f"s = optuna.load_study(study_name={study!r}, storage={storage!r})\n"
            "out = [{'number': t.number, 'state': t.state.name, 'value': t.value, 'params': t.params,\n"
            "        'run_id': t.user_attrs.get('run_id'), 'worker': t.user_attrs.get('worker'),\n"
            "        'steps': sorted(t.intermediate_values)} for t in s.trials]\n"
            "assert 'lrviz' not in sys.modules\n"
            "print(json.dumps({'trials': out, 'attrs': s.user_attrs}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, cwd="/",
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _final_val_accuracy(runs_dir: Path, rid: str) -> float:
    return float(pd.read_csv(runs_dir / rid / "history.csv")["val_accuracy"].iloc[-1])


def test_four_schedules_two_seeds_two_workers(tmp_path):
    cfg = tournament_config(FOUR, seeds=2, workers=2, epochs=2, target_accuracy=0.2, **TINY)
    tid = runs.create_run(cfg, tmp_path, launch=lambda p: (os.getpid(), None))
    seen, etas = [], []

    def on_step(rows, verdict):
        seen.append(sum(r["trials"] for r in rows))
        etas.append((seen[-1], runs.read_json(tmp_path / tid / "status.json").get("eta_s")))

    assert run_worker(tmp_path / tid, verbose=0, install_signals=False, on_step=on_step) == "finished"
    assert seen == sorted(seen) and seen[-1] == 8  # the leaderboard grew as trials finished
    assert all(eta is None for done, eta in etas if done == 0)  # no pace before a trial completed
    assert any(isinstance(eta, float) and eta > 0 for done, eta in etas if 0 < done < 8)
    assert runs.load_run(tid, tmp_path).status["eta_s"] is None

    view = read_tournament(tid, tmp_path)
    assert view.state == "finished" and view.status["trials_done"] == view.status["trials_total"] == 8
    assert list(view.trials["state"]) == ["complete"] * 8
    members = [r for r in runs.list_runs(tmp_path) if r.id != tid]
    assert len(members) == 8 and {r.state for r in members} == {"finished"}
    assert {runs.load_run(r.id, tmp_path).config["group"] for r in members} == {tid}
    assert sorted(view.run_ids) == sorted(r.id for r in members)

    # the leaderboard against numpy over each run's own history.csv
    labels = [Schedule.from_config(s).label() for s in FOUR]
    finals: dict[str, list[float]] = {label: [] for label in labels}
    for r in members:
        config = runs.load_run(r.id, tmp_path).config
        finals[Schedule.from_config(config["schedule"]).label()].append(_final_val_accuracy(tmp_path, r.id))
    board = pd.read_csv(tmp_path / tid / "leaderboard.csv")
    assert {"schedule", "mean_val_accuracy", "std_val_accuracy", "trials", "rank"} <= set(board.columns)
    assert "book_accuracy" not in board.columns
    for row in board.itertuples():
        assert row.trials == 2 == len(finals[row.schedule])
        assert row.mean_val_accuracy == pytest.approx(np.mean(finals[row.schedule]), abs=1e-9)
        assert row.std_val_accuracy == pytest.approx(np.std(finals[row.schedule], ddof=1), abs=1e-9)
    # the time to 0.2 against each run's own history.csv (the job had it from the workers, through Optuna)
    for row in board.itertuples():
        hits = []
        for r in members:
            if Schedule.from_config(runs.load_run(r.id, tmp_path).config["schedule"]).label() == row.schedule:
                h = pd.read_csv(tmp_path / r.id / "history.csv")
                at = np.flatnonzero(h["val_accuracy"].to_numpy() >= 0.2 - 1e-6)
                if at.size:
                    hits.append((h["epoch"].iloc[at[0]], h["epoch_time_s"].iloc[: at[0] + 1].sum()))
        assert row.target_accuracy == 0.2 and row.seeds_reached == len(hits)
        if hits:
            assert row.epochs_to_target == pytest.approx(np.mean([e for e, _ in hits]))
            assert row.seconds_to_target == pytest.approx(np.mean([t for _, t in hits]))
        else:
            assert np.isnan(row.epochs_to_target) and np.isnan(row.seconds_to_target)
    means = {k: np.mean(v) for k, v in finals.items()}
    expected_rank = {k: 1 + sum(m > means[k] for m in means.values()) for k in means}
    assert {row.schedule: row.rank for row in board.itertuples()} == expected_rank
    assert list(board["rank"]) == sorted(board["rank"])
    winner = board.iloc[0]["schedule"]
    assert Schedule.from_config(winner_schedule_of(tid, tmp_path)).label() == winner
    assert view.verdict["winner"] == winner and view.status["best"] == winner

    # the study, read by Optuna alone
    study = _study_from_outside(f"sqlite:///{tmp_path / tid / 'study.db'}", tid)
    trials = study["trials"]
    assert len(trials) == 8 and {t["state"] for t in trials} == {"COMPLETE"}
    assert {(t["params"]["schedule"], t["params"]["seed"]) for t in trials} == {(s, k) for s in labels for k in (1, 2)}
    for t in trials:
        assert t["value"] == pytest.approx(_final_val_accuracy(tmp_path, t["run_id"]))
        assert t["steps"] == [1, 2]  # val_accuracy reported per 1-based epoch
    assert len({t["worker"] for t in trials}) == 2  # both local workers ran trials
    assert study["attrs"]["lrviz_tournament"] == tid and study["attrs"]["schedules"] == labels


RACER = """
import json, os, sys, time
from pathlib import Path
import optuna
from lrviz.jobs.tournament import claim_waiting_trial, fail_stale, make_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, what, gate = sys.argv[1], sys.argv[2], Path(sys.argv[3])
storage = make_storage(url, {"heartbeat_interval": 1, "grace_period": 1, "max_retry": 5})
study = optuna.load_study(study_name="race", storage=storage)
(gate / f"ready-{os.getpid()}").touch()
while not (gate / "go").exists():  # every racer starts at the same moment: once all four are ready
    time.sleep(0.005)
taken = []
if what == "claim":
    while (claimed := claim_waiting_trial(study, storage, url)) is not None:
        taken.append(claimed[0].number)
        study.tell(claimed[0], 1.0)
else:
    fail_stale(study, url)
print(json.dumps(taken))
"""
needs_postgres = pytest.mark.skipif(postgres_bin() is None and os.environ.get("CI") != "true",
                                    reason="PostgreSQL server not installed (scripts/install-system-deps.sh)")


def _race(url: str, what: str, prepare) -> tuple[Any, list[int]]:
    """Four processes do ``what`` (claim / fail_stale) on the study ``race`` at the same moment."""
    import optuna

    from lrviz.jobs.tournament import make_storage

    storage = make_storage(url, {"heartbeat_interval": 1, "grace_period": 1, "max_retry": 5})
    study = optuna.create_study(study_name="race", storage=storage)
    prepare(study, storage)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory() as gate:
        procs = [subprocess.Popen([sys.executable, "-c", RACER, url, what, gate], env=env, stdout=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        # the gate opens once every racer has imported and connected (or one has died: it fails below)
        try:
            wait_until(lambda: len(list(Path(gate).glob("ready-*"))) == 4 or any(p.poll() is not None for p in procs),
                       120, "the four racers to import and connect", 0.05)
        except BaseException:
            for p in procs:
                p.kill()
            raise
        (Path(gate) / "go").touch()
        outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    return study, [n for out in outs for n in json.loads(out.strip().splitlines()[-1])]


def _with_db(tmp_path, db: str, body) -> None:
    if db == "sqlite":
        body(f"sqlite:///{tmp_path / 'study.db'}")
    else:
        with postgres_server() as url:
            body(url)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def test_each_waiting_trial_is_taken_by_exactly_one_worker(tmp_path, db):
    """Four processes empty a queue of 60 waiting trials at once. Optuna's SELECT ... FOR UPDATE
    is a no-op on SQLite: without the claim lock, 7-9 of 60 trials were taken twice, every try
    (a CI run once trained one tournament trial twice)."""
    import optuna

    def body(url: str) -> None:
        study, taken = _race(url, "claim", lambda s, _: [s.enqueue_trial({"x": i}) for i in range(60)])
        assert {t.state for t in study.get_trials()} == {optuna.trial.TrialState.COMPLETE}
        assert sorted(taken) == list(range(60))  # every trial once, none twice

    _with_db(tmp_path, db, body)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def test_a_stale_trial_is_failed_and_retried_once(tmp_path, db):
    """Four processes fail 40 stale trials at once (the job and every worker do it each poll):
    each is retried exactly once. Without the lock on SQLite, a stale trial was sometimes failed
    by two processes and retried twice (62 retries for 60)."""
    from optuna.trial import TrialState

    def stale(study, storage) -> None:
        study_id = storage.get_study_id_from_name("race")
        for _ in range(40):
            with pytest.warns(UserWarning, match="Heartbeat of storage"):  # we beat ourselves, below
                number = study.ask().number
            storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, number))
        time.sleep(2.5)  # past the 1 s grace period

    def body(url: str) -> None:
        study, _ = _race(url, "fail_stale", stale)
        trials = study.get_trials()
        assert sum(t.state == TrialState.FAIL for t in trials) == 40
        retries = [t.system_attrs["failed_trial"] for t in trials if t.state == TrialState.WAITING]
        assert sorted(retries) == list(range(40))  # one retry per stale trial

    _with_db(tmp_path, db, body)


def test_a_twice_resumed_trial_reports_the_whole_curve(tmp_path):
    """Stopped at 3, resumed and stopped at 6, resumed again: each run's history holds only its own
    epochs, so the epochs a trial continues from come from the whole chain of parents."""
    from fakes import fabricate_run

    from lrviz.jobs.tournament.worker import _lineage_curve

    first = fabricate_run(tmp_path, epochs=6, state="stopped")  # epochs 1-3
    second = fabricate_run(tmp_path, epochs=6, state="finished", accuracy=0.9)
    config = runs.read_json(tmp_path / second / "config.json")
    runs.atomic_write_json(tmp_path / second / "config.json", {**config, "parent": first})
    history = pd.read_csv(tmp_path / second / "history.csv").iloc[3:]  # epochs 4-6 of its own
    runs.atomic_write_text(tmp_path / second / "history.csv", history.to_csv(index=False))
    curve = _lineage_curve(runs.load_run(second, tmp_path), tmp_path)
    assert list(curve) == [1, 2, 3, 4, 5, 6]
    assert curve[2] == pytest.approx(runs.load_run(first, tmp_path).history["val_accuracy"].iloc[1])
    assert curve[6] == pytest.approx(0.9)


def test_a_worker_killed_mid_trial_is_retried_and_nothing_is_lost(tmp_path):
    cfg = tournament_config(FOUR[:2], seeds=1, workers=1, epochs=4, heartbeat_interval=1, grace_period=2, **TINY)
    tid = runs.start_run(cfg, tmp_path)

    def a_trial_after_epoch_1():
        for r in runs.list_runs(tmp_path):
            if r.id != tid and r.state == "running" and r.epoch >= 1:
                return r.id
        return None

    victim = wait_until(a_trial_after_epoch_1, 180, "a trial's first epoch", 0.05)
    pid = runs.load_run(victim, tmp_path).status["pid"]
    os.kill(pid, signal.SIGKILL)
    assert _final(tmp_path, tid) == "finished"

    view = read_tournament(tid, tmp_path)
    killed = runs.load_run(victim, tmp_path)
    assert killed.state == "failed" and "ended unexpectedly" in killed.status["error"]
    assert len(killed.history) >= 1  # its finished epochs are kept
    assert sorted(view.trials["state"]) == ["complete", "complete", "failed"]
    retry = view.trials[view.trials["retry"]]
    assert len(retry) == 1 and retry.iloc[0]["state"] == "complete" and retry.iloc[0]["run_id"] != victim
    assert len(runs.load_run(retry.iloc[0]["run_id"], tmp_path).history) == 4
    assert list(view.leaderboard["trials"]) == [1, 1]
    assert "1 failed, 1 retried" in " ".join(view.leaderboard["notes"].fillna(""))
    assert view.status["respawned"] == 1  # the dead worker was replaced while its trial waited


def test_stop_ends_every_worker_and_keeps_finished_trials(tmp_path):
    cfg = tournament_config(FOUR[:2], seeds=2, workers=1, epochs=3, **TINY)
    tid = runs.start_run(cfg, tmp_path)
    wait_until(lambda: read_tournament(tid, tmp_path).status.get("trials_done", 0) >= 1, 180, "a finished trial", 0.2)
    workers = read_tournament(tid, tmp_path).status["workers"]
    runs.stop_run(tid, tmp_path)
    assert _final(tmp_path, tid, 120) == "stopped"
    view = read_tournament(tid, tmp_path)
    assert not any(pid_alive(p) for p in workers)
    states = list(view.trials["state"])
    assert "complete" in states and "running" not in states
    for rid in view.run_ids:  # finished trials stay finished; the one in progress stopped cleanly
        assert runs.load_run(rid, tmp_path).state in ("finished", "stopped")


def test_a_stopped_tournament_resumes_where_it_stopped(tmp_path):
    """Stop mid-trial, resume: completed trials are not re-run, the stopped one continues from its
    saved model (a training resume), the rest run; the same Optuna study ends with every
    (schedule, seed) complete and each continued trial's curve whole from epoch 1."""
    # a trial outlasts the stop: it lands an epoch or two after epoch 1-3 (the job polls each second,
    # the run reads it after its batch), epochs take 0.1-0.3 s after the first (~2.5 s, tracing)
    cfg = tournament_config(FOUR[:2], seeds=2, workers=1, epochs=16, **TINY)
    tid = runs.start_run(cfg, tmp_path)

    def a_trial_done_and_one_mid_way():
        if read_tournament(tid, tmp_path).status.get("trials_done", 0) < 1:
            return None
        return next((r.id for r in runs.list_runs(tmp_path)
                     if r.id != tid and r.state == "running" and 1 <= r.epoch <= 3), None)

    wait_until(a_trial_done_and_one_mid_way, 180, "a finished trial and one mid-way", 0.05)
    runs.stop_run(tid, tmp_path)
    assert _final(tmp_path, tid, 120) == "stopped"
    first = read_tournament(tid, tmp_path)
    kept = {(t.schedule, t.seed): t.run_id for t in first.trials.itertuples() if t.state == "complete"}
    halted = [runs.load_run(t.run_id, tmp_path) for t in first.trials.itertuples() if t.state == "stopped"]
    assert kept and len(kept) < 4 and len(halted) == 1
    assert halted[0].state == "stopped" and 0 < len(halted[0].history) < 16 and (halted[0].dir / "model.keras").exists()

    with pytest.raises(FieldError) as refused:  # a training run is no tournament to resume
        runs.create_run(tournament_config(parent=next(iter(kept.values()))), tmp_path, launch=lambda p: (1, None))
    assert refused.value.field == "parent"
    tid2 = runs.start_run(tournament_config(parent=tid, workers=2), tmp_path)
    assert _final(tmp_path, tid2) == "finished"

    config2 = runs.load_run(tid2, tmp_path).config
    assert config2["parent"] == tid and config2["workers"] == 2
    assert {k: config2[k] for k in ("schedules", "epochs", "seeds", "limit", "study")} == \
        {**{k: cfg[k] for k in ("schedules", "epochs", "seeds", "limit")}, "study": tid}
    view = read_tournament(tid2, tmp_path)
    assert view.status["trials_done"] == view.status["trials_total"] == 4
    complete = {(t.schedule, t.seed): t.run_id for t in view.trials.itertuples() if t.state == "complete"}
    assert len(complete) == 4 and all(complete[pair] == rid for pair, rid in kept.items())  # not re-run
    new_runs = [r for r in runs.list_runs(tmp_path) if runs.load_run(r.id, tmp_path).config.get("group") == tid2]
    assert len(new_runs) == 4 - len(kept)
    stopped = halted[0]
    child = next(runs.load_run(rid, tmp_path) for rid in complete.values()
                 if runs.load_run(rid, tmp_path).config.get("parent") == stopped.id)
    assert child.config["initial_epoch"] == len(stopped.history)  # a training resume of the stopped run
    assert list(child.history["epoch"]) == list(range(len(stopped.history) + 1, 17))
    study = _study_from_outside(f"sqlite:///{tmp_path / tid / 'study.db'}", tid)
    done = [t for t in study["trials"] if t["state"] == "COMPLETE"]
    assert len(done) == 4 and all(t["steps"] == list(range(1, 17)) for t in done)


@needs_postgres  # in CI a missing server fails
def test_two_workers_join_one_study_through_postgresql(tmp_path):
    with postgres_server() as url:
        cfg = tournament_config(FOUR[:2], seeds=2, workers=1, epochs=3, storage=url, study="pg-cup", **TINY)
        tid = runs.start_run(cfg, tmp_path)
        wait_until(lambda: read_tournament(tid, tmp_path).status.get("phase") == "running trials", 120, "the study")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "LRVIZ_TF_THREADS": "1"}
        joiner = subprocess.Popen(worker_command(url, "pg-cup", tmp_path.resolve(), tid), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert _final(tmp_path, tid) == "finished"
            out, _ = joiner.communicate(timeout=120)
        finally:
            joiner.kill()
        assert joiner.returncode == 0, out
        study = _study_from_outside(url, "pg-cup")
    trials = study["trials"]
    assert len(trials) == 4 and {t["state"] for t in trials} == {"COMPLETE"}
    workers = {t["worker"].split(":")[1] for t in trials}
    assert str(joiner.pid) in workers and len(workers) == 2, workers  # both processes took trials
    view = read_tournament(tid, tmp_path)
    assert view.status["storage"].startswith("postgresql://") and list(view.leaderboard["trials"]) == [2, 2]
    for t in trials:
        assert t["value"] == pytest.approx(_final_val_accuracy(tmp_path, t["run_id"]))


@needs_postgres
def test_a_password_in_the_storage_url_never_reaches_the_runs_folder(tmp_path):
    """A server that requires a password: the library refuses a URL carrying one (config.json
    would keep it), naming the field with the password hidden; the CLI takes it, hands it to
    the job and its workers as PGPASSWORD, and no file under the runs folder holds it."""
    secret = "s3cret-Pw"
    with postgres_server(password=secret) as url:
        with pytest.raises(FieldError) as refused:
            tournament_config(FOUR[:1], storage=url, **TINY)
        message = str(refused.value)
        assert refused.value.field == "storage" and secret not in message and "(password hidden)" in message

        env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
        env.update(PYTHONPATH=str(Path(__file__).resolve().parents[1]), LRVIZ_TF_THREADS="1")
        done = subprocess.run([sys.executable, "-m", "lrviz", "tournament", "--schedule", "constant:lr=0.05",
                               "--seeds", "1", "--epochs", "1", "--dataset", "digits", "--limit", "200",
                               "--batch-size", "32", "--runs-dir", str(tmp_path), "--storage", url,
                               "--study", "pw-cup"], env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        assert secret not in done.stdout + done.stderr
        leaks = [str(f) for f in tmp_path.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]
        assert not leaks
        study = _study_from_outside(url, "pw-cup")
        assert [t["state"] for t in study["trials"]] == ["COMPLETE"]
        with pytest.raises(subprocess.CalledProcessError):  # the server does ask for the password
            _study_from_outside(url.replace(f":{secret}@", "@"), "pw-cup")


def test_a_killed_tournament_stops_its_workers_and_resumes(tmp_path):
    """SIGKILL of the tournament process: its workers used to keep taking trials (and `--resume`
    was refused as busy while they did). Now each notices after its current epoch, stops that run
    and leaves without a new trial; the tournament reads as failed, counted from its runs, and
    resumes to the end, the stopped trial continuing from its model."""
    cfg = tournament_config(FOUR[:2], seeds=1, workers=1, epochs=4, **TINY)
    tid = runs.start_run(cfg, tmp_path)

    def a_trial_after_epoch_1():
        status = runs.read_json(tmp_path / tid / "status.json")
        for r in runs.list_runs(tmp_path):
            if r.id != tid and r.state == "running" and r.epoch >= 1 and status.get("workers"):
                return r.id, status
        return None

    victim, status = wait_until(a_trial_after_epoch_1, 180, "a trial's first epoch", 0.05)
    members = {r.id for r in runs.list_runs(tmp_path) if r.id != tid}
    os.kill(status["pid"], signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in status["workers"]), 90, "the orphaned workers to leave", 0.2)
    assert {r.id for r in runs.list_runs(tmp_path) if r.id != tid} == members  # no trial taken after the kill
    assert runs.load_run(victim, tmp_path).state == "stopped"  # after the epoch it was in, its model saved
    view = read_tournament(tid, tmp_path)
    finished = sum(runs.load_run(r, tmp_path).state == "finished" for r in members)
    assert view.state == "failed" and "ended unexpectedly" in view.status["error"]
    assert (view.trials_done, view.running, view.trials_total) == (finished, 0, 2)
    assert runs.active_run(tmp_path) is None  # nothing keeps a resume busy

    tid2 = runs.start_run(tournament_config(parent=tid, workers=1), tmp_path)
    assert _final(tmp_path, tid2) == "finished"
    view2 = read_tournament(tid2, tmp_path)
    assert view2.trials_done == view2.trials_total == 2
    child = next(r for r in runs.list_runs(tmp_path) if r.parent == victim)
    assert len(runs.load_run(child.id, tmp_path).history) == 4 - len(runs.load_run(victim, tmp_path).history)


def test_lrviz_stop_stops_the_runs_a_dead_tournament_left_behind(tmp_path, capsys):
    """`lrviz stop` of a tournament whose process is gone exited 0 and did nothing; its trials ran on."""
    from tournament_fakes import tournament_folder

    from lrviz import cli
    from lrviz.store import spawn_worker

    head = tournament_folder(tmp_path, study=False, state="running")  # its process is gone
    orphan = runs.create_run({"limit": 200, "batch_size": 32, "epochs": 200}, tmp_path, group=head,
                             launch=spawn_worker)
    try:
        wait_until(lambda: runs.load_run(orphan, tmp_path).status.get("epoch", 0) >= 1, 120, "the orphan's epoch 1")
        assert runs.load_run(head, tmp_path).state == "failed"
        assert cli.main(["stop", head, "--runs-dir", str(tmp_path)]) == 0
        assert _final(tmp_path, orphan, 60) == "stopped"
        assert runs.load_run(orphan, tmp_path).status["epoch"] < 200
    finally:
        pid = runs.load_run(orphan, tmp_path).status.get("pid")
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
