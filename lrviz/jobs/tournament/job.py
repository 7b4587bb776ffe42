"""The tournament job (kind ``"tournament"``): :class:`TournamentJob`, registered in
:data:`lrviz.jobs.JOBS`, and its run (the tournament's own worker process): create the study,
enqueue the trials, keep the local worker processes running while trials wait, and write
``status.json``, ``leaderboard.csv``, ``trials.csv`` and ``verdict.json`` as trials finish."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from lrviz.jobs.base import Job, WorkerContext
from lrviz.jobs.tournament import config as tconfig
from lrviz.jobs.tournament.pool import WorkerPool, local_workers
from lrviz.jobs.tournament.resume import preflight
from lrviz.jobs.tournament.storage import fail_stale, hide_password, make_storage, storage_url_of
from lrviz.jobs.tournament.study import (
    TRIAL_COLUMNS,
    check_study,
    enqueue_missing,
    record_settings,
    trial_records,
    trial_rows,
)
from lrviz.store import RunStore, atomic_write_json, atomic_write_text, send
from lrviz.store.control import STOP
from lrviz.tournament import eta_seconds, leaderboard, leaderboard_columns, schedule_labels, verdict

__all__ = ["TournamentJob", "POLL_S", "csv_text"]

POLL_S = 1.0  # the job's poll period: control, stale trials, leaderboard


class TournamentJob(Job):
    kind = tconfig.KIND
    title = "tournament"
    setting_noun = tconfig.SETTING_NOUN
    Config = tconfig.TournamentConfig
    meta_keys: ClassVar[tuple[str, ...]] = tconfig.TOURNAMENT_META_KEYS
    files = ("config.json", "leaderboard.csv", "trials.csv", "verdict.json", "study.db")
    progress_keys = ("trials_done", "trials_total")
    progress_unit = "trial"

    @classmethod
    def validate(cls, config: Mapping[str, Any], *, here: bool = True) -> dict[str, Any]:
        """:func:`lrviz.jobs.tournament.config.validate`: the config normalised, or ``FieldError``
        naming the field, the rule and the value (``here=False``: as read from a folder written
        elsewhere)."""
        return tconfig.validate(config, here=here)

    @classmethod
    def prepare(cls, config: dict[str, Any], store: Any) -> None:
        """Under the store lock, before the folder exists: :func:`preflight` (a resume takes its
        parent's study and settings, not its ``workers``; a named storage must answer and hold
        no tournament with other settings)."""
        super().prepare(config, store)
        config.update(preflight(config, store))

    @classmethod
    def initial_status(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": cls.kind, "trials_done": 0, "trials_total": len(config["schedules"]) * config["seeds"],
                "running": 0, "best": None, "best_mean": None, "verdict": None}

    @classmethod
    def progress_text(cls, status: Mapping[str, Any]) -> str:
        return f"tournament, trial {status.get('trials_done', 0)}/{status.get('trials_total', '?')}"

    @classmethod
    def label(cls, config: Mapping[str, Any]) -> str | None:
        try:
            return (f"Tournament: {len(config['schedules'])} schedules x {config['seeds']} seeds, "
                    f"{config['epochs']} epochs")
        except (KeyError, TypeError):
            return "Tournament"

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        import optuna

        path, config, status, control = ctx.path, ctx.config, ctx.status, ctx.control
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        labels = schedule_labels(config["schedules"])
        url, name = storage_url_of(config, path), tconfig.study_name_of(config)
        status.write(state="running", phase="creating the study", study=name, storage=hide_password(url))
        storage = make_storage(url, config)
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
        check_study(study, config, url)  # another tournament's study: refused before any trial
        record_settings(study, config)
        study.set_user_attr("lrviz_tournament", config["id"])
        fail_stale(study, url)  # a resumed study's trials left RUNNING by a crash count as missing
        enqueue_missing(study, storage, url, config["schedules"], labels, tconfig.seeds_of(config))
        waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False))
        n, why = local_workers(config["workers"], waiting)
        pool = WorkerPool(path, url, name, n)
        status.write(phase="running trials", local_workers=n, workers_note=why)
        last = None
        try:
            while True:
                control.poll()
                if control.stop_requested:
                    break
                fail_stale(study, url)
                trials = study.get_trials(deepcopy=False)
                waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in trials)
                running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
                if waiting:
                    pool.fill()
                last = _report(ctx, trials, labels, pool, last)
                if not waiting and not running:
                    break
                if waiting and not pool.alive() and pool.exhausted():
                    raise RuntimeError(f"every tournament worker keeps failing; see {path / 'worker-1.log'}")
                time.sleep(POLL_S)
            if control.stop_requested:
                status.write(phase="stopping")
                _stop_trial_runs(path.parent, study.get_trials(deepcopy=False))
                pool.terminate()
            pool.wait()
        except BaseException:
            pool.terminate()
            pool.wait()
            raise
        trials = study.get_trials(deepcopy=False)
        _report(ctx, trials, labels, pool, None)
        state = "stopped" if control.stop_requested else "finished"
        status.write(state=state, phase=None, eta_s=None, running=0)
        return state


def _report(ctx: WorkerContext, trials: list[Any], labels: list[str], pool: WorkerPool, last: Any) -> Any:
    """Write leaderboard.csv, trials.csv, verdict.json and the status when something changed;
    hand the rows to ``ctx.on_step(rows, verdict)`` (the CLI prints them)."""
    records = trial_records(trials)
    key = [(r.number, r.state, len(r.curve)) for r in records]
    done = sum(r.state in ("complete", "pruned") for r in records)
    running = sum(r.state == "running" for r in records)
    config = ctx.config
    eta = eta_seconds(records, len(config["schedules"]) * config["seeds"], config["epochs"],
                      max(pool.n, running))
    if key == last:  # a heartbeat of our own
        ctx.status.write(running=running, workers=pool.pids(), respawned=pool.respawned, eta_s=eta)
        return last
    rows = leaderboard(records, labels, dataset=config["dataset"], target=config.get("target_accuracy"))
    v = verdict(rows, records)
    atomic_write_text(ctx.path / "leaderboard.csv", csv_text(rows, leaderboard_columns(config["dataset"])))
    atomic_write_text(ctx.path / "trials.csv", csv_text(trial_rows(records), TRIAL_COLUMNS))
    atomic_write_json(ctx.path / "verdict.json", asdict(v))
    top = rows[0] if rows and rows[0]["rank"] == 1 else None
    ctx.status.write(trials_done=done, running=running, best=top and top["schedule"],
                     best_mean=top and top["mean_val_accuracy"], verdict=v.text, workers=pool.pids(),
                     respawned=pool.respawned, eta_s=eta)
    if ctx.on_step is not None:
        ctx.on_step(rows, v)
    return key


def csv_text(rows: list[Mapping[str, Any]], columns: list[str]) -> str:
    """``rows`` as CSV text (``columns`` in this order, ``\\n`` line ends): None and NaN are empty
    cells, a float is written in full (``repr``), and a cell with a comma, a quote or a line break
    is quoted with its quotes doubled (the csv module's rules, which ``pandas.read_csv`` reads)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v
                         for v in (r.get(c) for c in columns)])
    return out.getvalue()


def _stop_trial_runs(runs_dir: Path, trials: list[Any]) -> None:
    """Ask every running trial's lrviz run to stop after its current batch."""
    for t in trials:
        rid = t.user_attrs.get("run_id")
        if t.state.name == "RUNNING" and rid:
            with contextlib.suppress(OSError, ValueError):
                send(RunStore(runs_dir).existing(rid), STOP, {})
