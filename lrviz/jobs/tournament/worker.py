"""The trial worker: ``python -m lrviz.jobs.tournament.worker --storage URL --study NAME
--runs-dir DIR --group ID`` (what the tournament spawns locally; ``python -m lrviz
tournament-worker`` with the same flags is what another machine runs to join, and calls
:func:`work`).

A worker takes one waiting trial at a time (atomically: two workers never take the same one,
and none creates a trial the tournament did not enqueue), beats its heartbeat while it runs,
trains it as an ordinary lrviz run of the group in this process, reports the validation
accuracy of every epoch (a true ``should_prune`` stops the run after that epoch) and tells
Optuna the final one. It ends when no trial waits, or when the tournament stops (SIGTERM or
the tournament's stop file: the current run stops after its batch, its trial is marked
failed with user attr ``stopped``), or its process is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from lrviz import runs
from lrviz.errors import FieldError
from lrviz.jobs.common import DATA_KEYS
from lrviz.jobs.tournament.config import seeds_of, settings
from lrviz.jobs.tournament.read import tournament_ended, tournament_of
from lrviz.jobs.tournament.storage import (
    Heartbeat,
    claim_waiting_trial,
    fail_stale,
    make_storage,
    normalize_storage,
    probe_storage,
    split_password,
)
from lrviz.jobs.tournament.study import EPOCH_TIMES_ATTR, check_study, make_pruner
from lrviz.store import RunStore, send
from lrviz.store.control import STOP
from lrviz.tournament import schedule_labels
from lrviz.worker import run_worker

__all__ = ["work", "main"]


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
        raise settings()["study"].error(study_name)
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
    return how many ran. ``FieldError`` (a ``ValueError``) for a storage, study or group that
    cannot be used."""
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
        state = run_worker(path, verbose=0, install_signals=False, on_step=on_epoch)
    finally:
        stop.run_dir = None
        _clear_keras()
    run = runs.load_run(rid, runs_dir)
    history = run.history
    seconds = _lineage_curve(run, runs_dir, "epoch_time_s")  # epochs 1..n, those it continues from too
    if seconds and list(seconds) == list(range(1, len(seconds) + 1)):
        trial.set_user_attr(EPOCH_TIMES_ATTR, list(seconds.values()))
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


def _lineage_curve(run: Any, runs_dir: Path, column: str = "val_accuracy") -> dict[int, float]:
    """``column`` of ``history.csv`` (validation accuracy; ``epoch_time_s``: the seconds of each
    epoch) by 1-based epoch over ``run`` and the runs it resumed (a stopped trial can be resumed
    again: each run's history holds only its own epochs); epochs without a finite value left out."""
    curve: dict[int, float] = {}
    seen: set[str] = set()
    while run is not None and run.id not in seen:
        seen.add(run.id)
        if column in run.history:
            for epoch, value in zip(run.history["epoch"], run.history[column]):
                with contextlib.suppress(TypeError, ValueError):
                    if math.isfinite(float(value)):
                        curve.setdefault(int(epoch), float(value))
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


def main(argv: list[str] | None = None) -> int:
    """``python -m lrviz.jobs.tournament.worker``: :func:`work` with the four flags; a refusal is
    one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m lrviz.jobs.tournament.worker",
                                     description="Take a tournament's waiting trials (python -m lrviz "
                                                 "tournament-worker is the same, with the CLI's help).")
    for flag in ("--storage", "--study", "--runs-dir", "--group"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    try:
        done = work(args.storage, args.study, Path(args.runs_dir), args.group)
    except (FileNotFoundError, ValueError) as e:
        sys.stderr.write(f"lrviz tournament worker: error: {' '.join(str(e).split())}\n")
        return 2
    print(f"[INFO] tournament worker {os.getpid()}: {done} trial(s) run", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
