"""A tournament as read from its folder: what a page shows (:func:`read_tournament`, a
:class:`TournamentView`; :func:`winner_schedule_of`) and what a worker reads of the tournament
it runs trials for (:func:`tournament_of`, :func:`tournament_ended`).

**The folder is data.** It may have been written by someone else: a damaged file is named
(``TournamentView.damaged``) instead of raised, trials are counted from the trial runs
themselves, and nothing read from a folder names a database to open or a host to send a
password to."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError, shown
from lrviz.jobs.tournament.config import KIND, validate
from lrviz.jobs.tournament.pool import TOURNAMENT_PID_ENV
from lrviz.jobs.tournament.study import TRIAL_COLUMNS
from lrviz.schedules import Schedule
from lrviz.settings import RUN_ID_PATTERN
from lrviz.store import ACTIVE_STATES, DEFAULT_RUNS_DIR, FINAL_STATES, RunStore, read_json
from lrviz.store.control import STOP
from lrviz.tournament import TrialRecord, leaderboard, leaderboard_columns, schedule_labels, verdict, winner_schedule

__all__ = ["TournamentView", "read_tournament", "winner_schedule_of", "tournament_of", "tournament_ended",
           "run_history", "TOURNAMENT_STALE_S"]

TOURNAMENT_STALE_S = 120.0  # a worker on another machine takes a tournament silent this long for gone


@dataclass
class TournamentView:
    """A tournament as read from its folder (what a page shows).

    ``damaged``: None, or every file that could not be used, ``"<file>: <reason>"`` joined by
    ``"; "`` (``damaged_files``: the same as a dict); the view then holds what could be read
    (an unreadable config: ``config == {}``; a leaderboard that cannot be read: empty).
    ``trials_done`` / ``trials_total`` / ``running`` are counted from the trials and their runs
    (a tournament killed before it wrote its files still says what its trials did), and are
    also in ``status`` under the same keys."""

    id: str
    dir: Path
    config: dict
    status: dict
    leaderboard: Any  # pandas DataFrame, one row per schedule, best first (empty before any trial)
    trials: Any  # pandas DataFrame, one row per trial (TRIAL_COLUMNS)
    verdict: dict | None
    winner: dict | None  # the rank-1 schedule config ("Use the winner")
    damaged: str | None = None
    damaged_files: dict | None = None
    trials_done: int = 0
    trials_total: int = 0
    running: int = 0

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))

    @property
    def run_ids(self) -> list[str]:
        """The trials' lrviz training runs (retried ones included)."""
        if self.trials is None or "run_id" not in self.trials:
            return []
        return [r for r in self.trials["run_id"].dropna().astype(str)]


_STATUS_TYPES = {  # what the page reads from status.json, and the type it must have
    "state": "text", "trials_done": "count", "trials_total": "count", "running": "count", "eta_s": "number",
    "phase": "text", "error": "text", "best": "text", "verdict": "text", "study": "text", "storage": "text",
    "best_mean": "number", "local_workers": "count", "workers_note": "text"}
_TRIAL_STATES = ("complete", "running", "waiting", "pruned", "failed", "stopped")
_RUN_TO_TRIAL = {"finished": "complete", "stopped": "stopped", "failed": "failed", "running": "running",
                 "queued": "running"}


def read_tournament(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> TournamentView:
    """Everything a page shows about a tournament: config, status (liveness checked),
    leaderboard and trials (DataFrames), verdict and the winner's schedule config, and the
    trials counted from the trials and their runs. A damaged file is named in
    ``TournamentView.damaged`` instead of raising; ``FileNotFoundError`` / ``FieldError`` only for
    an id that names no run, or a run of another kind.
    Start one with ``runs.start_run(tournament_config(...))``; stop it with ``runs.stop_run``."""
    import pandas as pd

    store = RunStore(runs_dir)
    path = store.existing(run_id)
    damaged: dict[str, str] = {}
    config, raw_kind = _read_config(path, damaged)
    status = _read_status(store, run_id, path, damaged)
    if raw_kind not in (None, KIND) or (raw_kind is None and status.get("kind") not in (None, KIND)):
        raise FieldError("run_id", "the id of a tournament", run_id)
    labels = schedule_labels(config["schedules"]) if config else None
    board = _read_frame(path, "leaderboard.csv", leaderboard_columns(), damaged,
                        lambda f: _leaderboard_problem(f, labels))
    trials = _read_frame(path, "trials.csv", TRIAL_COLUMNS, damaged, _trials_problem)
    v = _read_verdict(path, damaged)
    rows, corrected = _true_trials(store, run_id, trials, status, pd)
    if corrected:
        trials = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
        if config:  # the files are behind the runs (the job died): the leaderboard from the runs
            board, v = _board_from_rows(store, rows, labels, config, pd)
    done = len({(r["schedule"], r["seed"]) for r in rows if r["state"] in ("complete", "pruned")})
    running = sum(r["state"] == "running" for r in rows)
    if config:
        total = len(config["schedules"]) * config["seeds"]
    else:
        total = status.get("trials_total") if isinstance(status.get("trials_total"), int) else len(rows)
    status.update(trials_done=done, running=running, trials_total=total)
    winner = None
    if config and len(board):
        records = board.to_dict("records")
        for r in records:
            r["rank"] = None if pd.isna(r.get("rank")) else int(r["rank"])
        winner = winner_schedule(records, config["schedules"])
    text = "; ".join(f"{name}: {why}" for name, why in damaged.items()) or None
    return TournamentView(run_id, path, config, status, board, trials, v, winner, text, damaged or None, done, total,
                          running)


def winner_schedule_of(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> dict | None:
    """The winning schedule's config (for a training run's ``schedule``); None before any
    trial completed."""
    return read_tournament(run_id, runs_dir).winner


def _read_config(path: Path, damaged: dict[str, str]) -> tuple[dict[str, Any], Any]:
    """The config, validated as a tournament's wherever it was written (``here=False``), and the
    kind it claims; ``({}, kind)`` with the reason in ``damaged`` when it cannot be used."""
    f = path / "config.json"
    if f.is_symlink():
        damaged["config.json"] = "a symbolic link (not followed)"
        return {}, None
    try:
        raw = read_json(f)
    except FileNotFoundError:
        damaged["config.json"] = "missing"
        return {}, None
    except (OSError, ValueError) as e:
        damaged["config.json"] = _reason(e)
        return {}, None
    kind = raw.get("kind")
    if kind != KIND:
        return {}, kind
    try:
        return validate(raw, here=False), kind
    except FieldError as e:
        damaged["config.json"] = str(e)
        return {}, kind


def _read_status(store: RunStore, run_id: str, path: Path, damaged: dict[str, str]) -> dict[str, Any]:
    """The status (liveness checked) with fields of the wrong type left out and named."""
    if (path / "status.json").is_symlink():
        damaged["status.json"] = "a symbolic link (not followed)"
        return {"state": "unknown"}
    try:
        status = store.status(run_id)
    except FileNotFoundError:
        damaged["status.json"] = "missing"
        return {"state": "unknown"}
    except (OSError, ValueError) as e:
        damaged["status.json"] = _reason(e)
        return {"state": "unknown"}
    bad = []
    for key, kind in _STATUS_TYPES.items():
        v = status.get(key)
        if v is None:
            continue
        number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if kind == "count" and number and float(v).is_integer() and v >= 0:
            status[key] = int(v)
        elif not ((kind == "number" and number) or (kind == "text" and isinstance(v, str))):
            bad.append(key)
    if bad:
        words = {"count": "a whole number >= 0", "number": "a number", "text": "text"}
        damaged["status.json"] = "; ".join(f"`{k}` is not {words[_STATUS_TYPES[k]]} ({shown(status[k])[:40]})"
                                           for k in bad)
        status = {k: v for k, v in status.items() if k not in bad}
        status.setdefault("state", "unknown")
    return status


def _read_frame(path: Path, name: str, columns: list[str], damaged: dict[str, str], problem: Any) -> Any:
    import pandas as pd

    empty = pd.DataFrame(columns=columns)
    f = path / name
    if f.is_symlink():
        damaged[name] = "a symbolic link (not followed)"
        return empty
    if not f.exists():
        return empty
    try:
        frame = pd.read_csv(f)
        why = problem(frame)
    except Exception as e:  # noqa: BLE001 - empty, binary, ragged: the file is damaged, the page goes on
        why = _reason(e)
    if why:
        damaged[name] = why
        return empty
    return frame


def _leaderboard_problem(frame: Any, labels: list[str] | None) -> str | None:
    import pandas as pd

    need = ["rank", "schedule", "mean_val_accuracy", "std_val_accuracy", "trials", "schedule_index"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        return f"no column {', '.join(missing)}"
    for c in ("rank", "mean_val_accuracy", "std_val_accuracy", "trials", "schedule_index"):
        if not pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any():
            return f"column {c} is not numeric"
    index = frame["schedule_index"]
    if index.isna().any() or (index != index.round()).any() or (labels is not None and
                                                                 not index.between(0, len(labels) - 1).all()):
        return "column schedule_index does not index the config's schedules"
    return None


def _trials_problem(frame: Any) -> str | None:
    need = ["number", "schedule", "seed", "state", "run_id"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        return f"no column {', '.join(missing)}"
    states = set(frame["state"].dropna().astype(str))
    if not states <= set(_TRIAL_STATES):
        return f"unknown trial state {shown(sorted(states - set(_TRIAL_STATES))[0])}"
    if not frame["run_id"].dropna().map(lambda r: isinstance(r, str) and bool(RUN_ID_PATTERN.match(r))).all():
        return "a run_id that is no run id"
    return None


def _read_verdict(path: Path, damaged: dict[str, str]) -> dict | None:
    f = path / "verdict.json"
    if f.is_symlink():
        damaged["verdict.json"] = "a symbolic link (not followed)"
        return None
    try:
        v = read_json(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        damaged["verdict.json"] = _reason(e)
        return None
    if not isinstance(v.get("text"), (str, type(None))) or not isinstance(v.get("decisive"), (bool, type(None))):
        damaged["verdict.json"] = "`text` is not text or `decisive` is not true, false or null"
        return None
    return v


def _reason(e: BaseException) -> str:
    return shown(f"{type(e).__name__}: {' '.join(str(e).split())}", as_typed=True)


def _true_trials(store: RunStore, tid: str, trials: Any, status: Mapping[str, Any],
                 pd: Any) -> tuple[list[dict[str, Any]], bool]:
    """The trials as their runs say: trials.csv (what the job last wrote), a trial whose run has
    ended since given the run's state, a run of the group the job never wrote down given to its
    trial (or added); and whether anything changed. A trial counts as running only while its run
    runs (or, before its run exists, while the tournament does)."""
    rows = [{k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
            for r in trials.to_dict("records")] if len(trials) else []
    every = {rec.id: rec for rec in store.records()}
    alive = status.get("state") in ACTIVE_STATES
    corrected = False

    def settle(r: dict[str, Any], run: Any) -> None:
        nonlocal corrected
        state = _RUN_TO_TRIAL.get(run.state)
        if state is not None and state != r["state"]:
            r["state"] = state
            r["value"] = final_accuracy(run.dir) if state == "complete" else None
            corrected = True

    listed = {r.get("run_id") for r in rows}
    for r in rows:
        if r["state"] not in ("running", "waiting"):
            continue
        run = every.get(r.get("run_id")) if isinstance(r.get("run_id"), str) else None
        if run is not None and run.state in FINAL_STATES:
            settle(r, run)
        elif run is None and r["state"] == "running" and not alive:
            r["state"] = "failed"
            corrected = True
    for rid, run in sorted(every.items()):
        if run.config.get("group") != tid or rid in listed or run.state not in _RUN_TO_TRIAL:
            continue
        try:
            label = Schedule.from_config(run.config["schedule"]).label()
            seed = int(run.config["seed"])
        except (KeyError, TypeError, ValueError):
            continue
        mine = next((r for r in rows if r.get("run_id") is None and r["state"] in ("running", "waiting", "failed")
                     and (r["schedule"], r["seed"]) == (label, seed)), None)
        if mine is not None:  # its trial, written before the run existed
            mine["run_id"] = rid
            settle(mine, run)
            continue
        state = _RUN_TO_TRIAL[run.state]
        rows.append({"number": None, "schedule": label, "seed": seed, "state": state,
                     "value": final_accuracy(run.dir) if state == "complete" else None,
                     "epochs_done": run.status.get("epoch"), "duration_s": run.status.get("elapsed_s"),
                     "retry": False, "run_id": rid})
        corrected = True
    return rows, corrected


def run_history(run_dir: Path) -> Any:
    """A trial run's ``history.csv`` (a DataFrame with ``epoch`` and ``val_accuracy``), or None
    when it is missing, a symbolic link, damaged or empty."""
    import pandas as pd

    try:
        if (run_dir / "history.csv").is_symlink():
            return None
        h = pd.read_csv(run_dir / "history.csv")
        return h if {"epoch", "val_accuracy"} <= set(h.columns) and len(h) else None
    except Exception:  # noqa: BLE001 - a damaged history is that run's problem, shown on its own page
        return None


def final_accuracy(run_dir: Path) -> float | None:
    """The last epoch's validation accuracy of a run (None without a usable history)."""
    h = run_history(run_dir)
    try:
        return None if h is None else float(h["val_accuracy"].iloc[-1])
    except (TypeError, ValueError):
        return None


def _board_from_rows(store: RunStore, rows: list[dict[str, Any]], labels: list[str], config: Mapping[str, Any],
                     pd: Any) -> tuple[Any, dict]:
    """The leaderboard and verdict of ``rows`` (curves read from the runs' history.csv)."""
    records = []
    for r in rows:
        curve: dict[int, float] = {}
        times: dict[int, float] = {}
        rid = r.get("run_id")
        if r["state"] == "complete" and isinstance(rid, str):
            with contextlib.suppress(OSError, ValueError, TypeError):
                h = run_history(store.existing(rid))
                if h is not None:
                    curve = {int(e): float(a) for e, a in zip(h["epoch"], h["val_accuracy"])}
                    if "epoch_time_s" in h:  # a number >= 0 or nothing (the folder is data)
                        times = {int(e): float(t) for e, t in zip(h["epoch"], h["epoch_time_s"])
                                 if isinstance(t, (int, float)) and math.isfinite(t) and t >= 0}
        value = r.get("value")
        records.append(TrialRecord(int(r["number"]) if r.get("number") is not None else -1, str(r["schedule"]),
                                   int(r["seed"]), str(r["state"]),
                                   float(value) if value is not None and r["state"] == "complete" else None,
                                   curve, r.get("duration_s"), bool(r.get("retry")), rid, times))
    board = leaderboard(records, labels, dataset=config["dataset"], target=config.get("target_accuracy"))
    return pd.DataFrame(board, columns=leaderboard_columns(config["dataset"])), asdict(verdict(board, records))


# --------------------------------------------------------------------------- what a worker reads of its tournament


def tournament_of(store: RunStore, group: str) -> dict[str, Any]:
    """The validated config of the tournament ``group`` (what a worker runs trials for);
    ``FieldError("group", ...)`` when there is none, or its config.json would be refused."""
    where = f"the run id of a tournament in {store.root.resolve()}"
    try:
        path = store.existing(group)
        if (path / "config.json").is_symlink():
            raise ValueError("config.json is a symbolic link")
        raw = read_json(path / "config.json")
    except (OSError, ValueError):
        raise FieldError("group", where, group) from None
    if raw.get("kind") != KIND:
        raise FieldError("group", where, group)
    try:
        return validate(raw)
    except FieldError as e:
        raise FieldError("group", "a tournament whose config.json holds valid settings", group,
                         hint=f"Its config.json: {e}") from None


def tournament_ended(runs_dir: Path | str, group: str) -> str | None:
    """Why the tournament ``group`` takes no more trials, or None while it runs: it was asked to
    stop, it has ended, or its process is gone (on this machine: its pid, and any read marks it
    failed; on another: no status for ``TOURNAMENT_STALE_S``). A worker the tournament spawned
    also leaves when it is no longer its parent process (``LRVIZ_TOURNAMENT_PID``)."""
    spawner = os.environ.get(TOURNAMENT_PID_ENV)
    if spawner and spawner.isdigit() and os.getppid() != int(spawner):
        return f"the tournament process {spawner} that started this worker is gone"
    store = RunStore(runs_dir)
    try:
        path = store.existing(group)
        if (path / "control" / STOP).exists():
            return f"tournament {group} was asked to stop"
        status = store.status(group)  # liveness checked: a dead tournament here is marked failed
    except (OSError, ValueError) as e:
        return f"tournament {group} cannot be read ({e})"
    state = status.get("state")
    if state not in ACTIVE_STATES:
        return f"tournament {group} is {state}"
    host = status.get("host")
    if host and host != socket.gethostname():
        try:
            age = time.time() - float(status.get("updated_at") or 0)
        except (TypeError, ValueError):
            age = math.inf
        if age > TOURNAMENT_STALE_S:
            return f"no news from tournament {group} on {host} for {age:.0f} s"
    return None
