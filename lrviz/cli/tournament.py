"""``python -m lrviz tournament`` (run a schedule tournament, print the leaderboard as it
goes) and ``python -m lrviz tournament-worker`` (take a tournament's waiting trials: what the
tournament spawns locally, and what another machine runs to join).

    python -m lrviz tournament --preset tutorial --seeds 3 --workers 2
    python -m lrviz tournament --schedule 'step:factor=0.25|0.5|0.75,drop_every=5|10' --epochs 20
    python -m lrviz tournament-worker --storage postgresql://lrviz@db/lrviz --study NAME \\
        --runs-dir /mnt/shared/runs --group <tournament run id>

A worker takes one waiting trial at a time (atomically: two workers never take the same one,
and none creates a trial the tournament did not enqueue), beats its heartbeat while it runs,
trains it as an ordinary lrviz run of the group in this process, reports the validation
accuracy of every epoch (a true ``should_prune`` stops the run after that epoch) and tells
Optuna the final one. It ends when no trial waits, or when the tournament stops (SIGTERM or
the tournament's stop file: the current run stops after its batch, its trial is marked
failed with user attr ``stopped``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from lrviz import runs, worker
from lrviz.cli.common import UsageError, add_runs_dir_flag, add_setting_flags, flags_into, plain, runs_dir_of
from lrviz.errors import FieldError
from lrviz.jobs.common import DATA_KEYS
from lrviz.jobs.tournament import (
    Heartbeat,
    TournamentJob,
    check_study,
    claim_waiting_trial,
    fail_stale,
    local_workers,
    make_pruner,
    make_storage,
    normalize_storage,
    preflight,
    probe_storage,
    seeds_of,
    split_password,
    tournament_config,
    tournament_ended,
    tournament_of,
)
from lrviz.store import RunStore, send
from lrviz.store.control import STOP
from lrviz.tournament import PRESETS, parse_spec, schedule_labels

__all__ = ["register", "cmd_tournament", "cmd_tournament_worker", "work"]

_T = TournamentJob.settings()


def register(sub: Any) -> None:
    tp = sub.add_parser("tournament", help="train several schedules with several seeds and rank them (Optuna)",
                        description="Train MiniVGGNet once per schedule and seed, rank the schedules by mean final "
                                    "validation accuracy and say whether the winner's lead exceeds the spread "
                                    "between seeds. Each trial is an ordinary run under --runs-dir; the Optuna "
                                    "study is study.db in the tournament's folder unless --storage is given.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="schedule specs: NAME[:param=value,...]; value a|b|c makes a grid, e.g.\n"
                               "  --schedule 'step:factor=0.25|0.5|0.75,drop_every=5|10'  (6 schedules)\n"
                               "  --schedule 'time_keras2:decay=0.00025' --schedule constant")
    tp.add_argument("--preset", choices=tuple(PRESETS), default=None,
                    help="tutorial: constant 0.01, time_keras2 decay=0.01/40, step F=0.25 and F=0.5 (D=5), 40 epochs")
    tp.add_argument("--schedule", action="append", default=None, metavar="SPEC",
                    help="a schedule or grid to compare (repeat it); added to the preset's")
    add_setting_flags(tp, [_T[k] for k in (*DATA_KEYS, "epochs", "seeds", "workers", "storage", "study", "prune")])
    add_runs_dir_flag(tp)
    tp.add_argument("--detach", action="store_true", help="start the tournament in the background, print its id")
    tp.add_argument("--resume", default=None, metavar="ID",
                    help="continue the stopped or failed tournament ID: its study, schedules and settings (only "
                         "--workers may change); completed trials count, stopped ones continue from their model. "
                         "A study outside its own study.db (PostgreSQL) is opened only when --storage names it "
                         "again; its password comes from PGPASSWORD or ~/.pgpass")
    tp.set_defaults(func=cmd_tournament)

    wp = sub.add_parser("tournament-worker", help="run a tournament's waiting trials (joins from any machine)",
                        description="Take the waiting trials of a tournament's Optuna study one at a time and train "
                                    "each as a run of the tournament's group. Needs the same runs folder (shared "
                                    "storage such as NFS) and the same Optuna storage as the tournament.")
    wp.add_argument("--storage", required=True, help="the study's storage URL (postgresql://... for a cluster)")
    wp.add_argument("--study", required=True, help="the study's name (the tournament prints it)")
    wp.add_argument("--runs-dir", required=True, help="the runs folder holding the tournament")
    wp.add_argument("--group", required=True, help="the tournament's run id")
    wp.set_defaults(func=cmd_tournament_worker)


def _password_to_env(given: dict[str, Any]) -> None:
    """The password stays out of config.json: the job and its local workers inherit it as
    PGPASSWORD, which libpq reads when the URL has none."""
    if given.get("storage", "").startswith("postgresql"):
        given["storage"], password = split_password(given["storage"])
        if password is not None:
            os.environ["PGPASSWORD"] = password


def _config(args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    """The config to create, checked like the job will (:func:`preflight`) before any folder
    exists: a refusal leaves nothing behind."""
    store = RunStore(runs_dir)
    if args.resume is not None:
        given: dict[str, Any] = {}
        flags_into(given, args, (*DATA_KEYS, "epochs", "seeds", "storage", "study", "prune"))
        extra = [f"--{k.replace('_', '-')}" for k in given] + ["--preset"] * (args.preset is not None) + \
            ["--schedule"] * bool(args.schedule)
        if [e for e in extra if e != "--storage"]:
            raise UsageError(f"--resume takes the tournament's own settings; only --workers may change "
                             f"(given: {', '.join(extra)})")
        _password_to_env(given)
        try:  # the parent's settings, re-validated; its workers unless given; its storage named again
            config = tournament_config(parent=args.resume, workers=args.workers or 1, storage=given.get("storage"))
            return {**config, **preflight({**config, "workers": args.workers}, store)}
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.preset is None and not args.schedule:
        raise UsageError("Give --preset tutorial or at least one --schedule SPEC "
                         "(e.g. 'step:factor=0.5,drop_every=5').")
    given = {}
    flags_into(given, args, (*DATA_KEYS, "epochs", "seeds", "workers", "storage", "study", "prune"))
    _password_to_env(given)
    try:
        schedules = None
        if args.schedule:
            schedules = [] if args.preset is None else list(PRESETS[args.preset]["schedules"])
            for spec in args.schedule:
                schedules += parse_spec(spec)
        config = tournament_config(schedules, preset_name=args.preset, **given)
        preflight(config, store)
        return config
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_tournament(args: argparse.Namespace) -> int:
    from lrviz.data import DataError
    from lrviz.jobs import common

    runs_dir = runs_dir_of(args)
    config = _config(args, runs_dir)
    try:
        if config["dataset"] == "cifar10":
            common.load_data(config)  # read it now: a bad archive makes no run
        if args.detach:
            print(runs.start_run(config, runs_dir))
            return 0
        rid = runs.create_run(config, runs_dir, launch=lambda path: (os.getpid(), None))
    except DataError as e:
        raise UsageError(str(e).replace("\n", " ")) from None
    except (runs.RunBusyError, ValueError) as e:
        raise UsageError(str(e)) from None
    path = runs.run_path(rid, runs_dir)
    config = runs.read_json(path / "config.json")  # a resumed one took its parent's settings
    n = len(config["schedules"]) * config["seeds"]
    resumes = f", resuming {config['parent']}" if config.get("parent") else ""
    workers, why = local_workers(config["workers"], n)
    print(f"[INFO] tournament {rid} in {path}: {n} trials{resumes}, {workers} worker(s)"
          + (f" ({why})" if why else ""), flush=True)

    shown: list[Any] = [None]

    def show(rows: list[dict], verdict: Any) -> None:
        key = [(r["schedule"], r["trials"], r["notes"]) for r in rows]
        if key == shown[0]:
            return
        shown[0] = key
        print(format_leaderboard(rows), flush=True)
        print(f"[INFO] {plain(verdict.text)}", flush=True)

    state = worker.run_worker(path, verbose=0, on_step=show)
    status = runs.load_run(rid, runs_dir).status
    if state == "failed":
        sys.stderr.write(f"lrviz: error: tournament {rid} failed: {plain(status.get('error'))}\n")
        return 1
    print(plain(f"[INFO] tournament {rid} {state}: {status.get('trials_done')}/{status.get('trials_total')} trials; "
                f"files in {path}; study {status.get('study')} in {status.get('storage')}"))
    return 0


def format_leaderboard(rows: list[dict]) -> str:
    """The leaderboard as a fixed-width table (each line :func:`plain`: labels may come from a folder)."""
    lines = [f"{'rank':>4}  {'mean':>7} {'std':>7} {'n':>3} {'best ep':>7}  schedule"]
    for r in rows:
        rank = "-" if r["rank"] is None else str(r["rank"])
        mean = "-" if not r["trials"] else f"{r['mean_val_accuracy']:.4f}"
        std = "-" if r["trials"] < 2 else f"{r['std_val_accuracy']:.4f}"
        best = "-" if r["best_epoch"] is None else str(r["best_epoch"])
        book = f"  (book {r['book_accuracy']:.2f})" if r.get("book_accuracy") else ""
        notes = f"  [{r['notes']}]" if r["notes"] else ""
        lines.append(f"{rank:>4}  {mean:>7} {std:>7} {r['trials']:>3} {best:>7}  {r['schedule']}{book}{notes}")
    return "\n".join(plain(line) for line in lines)


# --------------------------------------------------------------------------- the worker


def cmd_tournament_worker(args: argparse.Namespace) -> int:
    try:
        done = work(args.storage, args.study, Path(args.runs_dir), args.group)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"[INFO] tournament worker {os.getpid()}: {done} trial(s) run", flush=True)
    return 0


class _Stop:
    """SIGTERM/SIGINT: take no new trial, and stop the current run after its batch."""

    def __init__(self) -> None:
        self.requested = False
        self.run_dir: Path | None = None

    def __call__(self, *_: Any) -> None:
        self.requested = True
        if self.run_dir is not None:
            send(self.run_dir, STOP, {})


def _open_study(storage_url: str, study_name: str, tconfig: dict[str, Any]) -> tuple[Any, Any, str]:
    """The study a worker takes trials of, checked: the storage answers (within a few seconds),
    the study exists and holds this tournament's settings. ``FieldError`` otherwise."""
    import optuna

    bare, password = split_password(storage_url)
    url = normalize_storage(bare)  # a tournament's storage rules; a password is fine: named on this command
    url = storage_url if password is not None else url
    if not study_name or not study_name.strip():
        raise TournamentJob.settings()["study"].error(study_name)
    probe_storage(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(url, tconfig)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=make_pruner(tconfig))
    except KeyError:
        raise FieldError("study", "the name of a study in the storage", study_name) from None
    check_study(study, tconfig, url)
    return study, storage, url


def work(storage_url: str, study_name: str, runs_dir: Path, group: str, *, install_signals: bool = True) -> int:
    """Run waiting trials of the tournament ``group`` until none is left, the tournament stops
    or its process is gone (:func:`tournament_ended`, before every trial and after every epoch);
    return how many ran."""
    tconfig = tournament_of(RunStore(runs_dir), group)
    study, storage, storage_url = _open_study(storage_url, study_name, tconfig)
    stop = _Stop()
    if install_signals:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    done = 0
    while not stop.requested:
        gone = tournament_ended(runs_dir, group)
        if gone:
            print(f"[INFO] tournament worker {os.getpid()}: {gone}; no new trial", flush=True)
            break
        fail_stale(study, storage_url)
        claimed = claim_waiting_trial(study, storage, storage_url)
        if claimed is None:
            break
        trial, trial_id = claimed
        with Heartbeat(storage, trial_id, tconfig["heartbeat_interval"]):
            _run_trial(study, trial, tconfig, runs_dir, group, stop)
        done += 1
    return done


def _run_trial(study: Any, trial: Any, tconfig: dict[str, Any], runs_dir: Path, group: str, stop: _Stop) -> None:
    """One trial: an lrviz training run of the group, in this process; tell Optuna its outcome."""
    import psutil
    from optuna.trial import TrialState

    labels = schedule_labels(tconfig["schedules"])
    label = trial.suggest_categorical("schedule", labels)
    seed = trial.suggest_categorical("seed", seeds_of(tconfig))
    config = {k: tconfig[k] for k in DATA_KEYS}
    config.update(seed=seed, schedule=tconfig["schedules"][labels.index(label)], epochs=tconfig["epochs"])
    previous = trial.user_attrs.get("run_id")
    if previous:
        trial.set_user_attr("retry_of_run", previous)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    parent = _resumable(runs_dir, trial.user_attrs.get("resume_run"), tconfig["epochs"])
    if parent is not None:
        config["parent"] = parent.id
    try:
        rid = runs.create_run(config, runs_dir, group=group,
                              launch=lambda p: (os.getpid(), psutil.Process().create_time()))
    except (ValueError, runs.RunBusyError) as e:
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=TrialState.FAIL)
        return
    trial.set_user_attr("run_id", rid)
    if parent is not None:  # the epochs it continues from, as if one run had trained them all
        for epoch, value in _lineage_curve(parent, runs_dir).items():
            trial.report(value, epoch)
    path = runs.run_path(rid, runs_dir)
    pruned = []

    def on_epoch(row: dict[str, Any]) -> bool:
        trial.report(float(row["val_accuracy"]), int(row["epoch"]))  # epoch: 1-based
        if tconfig.get("prune") and trial.should_prune():
            pruned.append(int(row["epoch"]))
            return True
        gone = tournament_ended(runs_dir, group)
        if gone and not stop.requested:  # an orphan: stop this run (it resumes from its model) and leave
            print(f"[INFO] tournament worker {os.getpid()}: {gone}; stopping run {rid} after epoch "
                  f"{row['epoch']}", flush=True)
            stop.requested = True
        return stop.requested

    stop.run_dir = path
    try:
        state = worker.run_worker(path, verbose=0, install_signals=False, on_step=on_epoch)
    finally:
        stop.run_dir = None
        _clear_keras()
    history = runs.load_run(rid, runs_dir).history
    if state == "finished" and len(history):
        study.tell(trial, float(history["val_accuracy"].iloc[-1]))
    elif pruned:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        if state == "stopped":
            trial.set_user_attr("stopped", True)
        study.tell(trial, state=TrialState.FAIL)


def _resumable(runs_dir: Path, run_id: str | None, epochs: int) -> Any:
    """The run a retried trial continues from: its last attempt, when that one stopped with
    its model saved before reaching ``epochs``; else None (the trial starts afresh)."""
    if not run_id:
        return None
    try:
        run = runs.load_run(run_id, runs_dir)
    except (ValueError, OSError):
        return None
    done = int(run.status.get("epoch") or 0)
    if run.state != "stopped" or not (run.dir / "model.keras").exists() or not 0 < done < epochs:
        return None
    return run


def _lineage_curve(run: Any, runs_dir: Path) -> dict[int, float]:
    """Validation accuracy by 1-based epoch over ``run`` and the runs it resumed (a stopped trial
    can be resumed again: each run's history holds only its own epochs)."""
    curve: dict[int, float] = {}
    seen: set[str] = set()
    while run is not None and run.id not in seen:
        seen.add(run.id)
        for row in run.history.itertuples():
            curve.setdefault(int(row.epoch), float(row.val_accuracy))
        parent = run.config.get("parent")
        try:
            run = runs.load_run(parent, runs_dir) if parent else None
        except (ValueError, OSError):
            run = None
    return dict(sorted(curve.items()))


def _clear_keras() -> None:
    """Free the finished model's graph before the next trial (one process trains many)."""
    import keras

    keras.backend.clear_session()
