"""Tournament job (kind ``"tournament"``): every schedule of a list trained with seeds
``seed .. seed+K-1``, ranked by mean final validation accuracy; built on Optuna.

**Optuna does the bookkeeping.** One study per tournament (``direction="maximize"``), one
trial per (schedule, seed), enqueued with the categorical params ``schedule`` (the schedule's
label) and ``seed``, so Optuna's own tools (``optuna.load_study``, optuna-dashboard) read it.
A trial is an ordinary lrviz training run in the tournament's group (it shows on the Runs page,
opens, compares, resumes); its id is the trial's user attr ``run_id``; the validation accuracy
of each finished epoch is reported as the intermediate value of that (1-based) epoch and the
last one is the trial's value. The study records the tournament's settings (user attr
``lrviz_settings``: schedules, seeds, epochs, data settings, prune); a tournament or a worker
with other settings is refused, naming the first difference (:func:`check_study`).

**Who runs the trials.** :meth:`TournamentJob.run` (the tournament's own worker) creates the
study, enqueues the trials (in one transaction: :func:`enqueue_many`) and spawns local
processes ``python -m lrviz tournament-worker --storage URL --study NAME --runs-dir DIR
--group ID`` (:mod:`lrviz.cli.tournament`): ``workers`` of them, at most one per core, per
``WORKER_GPU_MIB`` of free GPU memory and per trial (:func:`local_workers`); each takes waiting
trials until none is left. Any machine that sees the same runs folder (NFS) and the same
storage (PostgreSQL) joins with that command. The job polls once a second: it writes
``status.json`` (``trials_done`` / ``trials_total``, ``best``, ``best_mean``, ``verdict``),
``leaderboard.csv``, ``trials.csv`` and ``verdict.json``; it keeps the local processes alive
while trials wait.

**A worker killed mid-trial** stops beating (Optuna heartbeat, ``heartbeat_interval``): after
``grace_period`` its trial is marked failed and ``RetryHeartbeatStaleTrialCallback`` (``RetryFailedTrialCallback``)
enqueues it again (up to ``max_retry`` times); the killed run keeps its folder and every epoch
it finished (state ``failed``), and the leaderboard's ``notes`` say ``1 failed, 1 retried``.
Optuna 5.0's ``JournalStorage`` has no heartbeat, so the default storage is SQLite
(``study.db`` in the tournament's folder) through ``RDBStorage``.

**The tournament killed** (SIGKILL, out of memory): its workers see it gone before they take
a trial and after every epoch (:func:`tournament_ended`: its pid on this machine, its status
on another), stop their run after that epoch and exit; any read marks the tournament failed,
and it resumes.

**Stop** (``control/stop``, SIGINT/SIGTERM): the job asks every active trial run to stop
(after its current batch; the trial is marked failed with user attr ``stopped``), sends
SIGTERM to its worker processes and waits for them; finished trials are kept. Remote workers
see the stop file and take no new trial.

**Resume** (``parent``: an ended tournament's id): a new tournament on the parent's study and
settings (its own ``workers``). :func:`resume_config` re-validates every setting it inherits
with :meth:`TournamentJob.validate`, opens only the parent's own ``study.db`` (checked: a
regular file, no symbolic link, an SQLite database holding Optuna's tables and the study;
never replaced) or a storage the caller names again, and refuses a parent with nothing left to
run. :func:`enqueue_missing` enqueues only the (schedule, seed) pairs with no completed,
pruned, waiting or running trial; a pair whose last attempt *stopped* with its model saved
continues from that run (a training resume, user attr ``resume_run``).

**The folder is data.** A tournament's folder may have been written by someone else:
:func:`read_tournament` reports a damaged file (``TournamentView.damaged``) instead of raising,
counts trials from the trial runs themselves, and nothing read from a folder names a database
to open or a host to send a password to.

**Files**::

    config.json      the settings below, plus id, created_at, versions
    status.json      state, trials_done, trials_total, running, best, best_mean, verdict, eta_s
                     (lrviz.tournament.eta_seconds; None before the first trial completes),
                     study, storage (password hidden), workers (pids), local_workers,
                     workers_note (why fewer than asked), respawned
    leaderboard.csv  one row per schedule (lrviz.tournament.LEADERBOARD_COLUMNS, plus
                     book_accuracy on cifar10)
    trials.csv       one row per Optuna trial: number, schedule, seed, state, value, run_id, ...
    verdict.json     lrviz.tournament.Verdict as JSON
    study.db         the Optuna study (default storage)
    study.db.claim.lock  taken while a local worker claims a trial (SQLite has no row locks)
    worker-<n>.log   output of each local tournament worker
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from lrviz.errors import FieldError, shown
from lrviz.jobs import common
from lrviz.jobs.base import META_KEYS, Job, WorkerContext
from lrviz.schedules import Schedule
from lrviz.settings import RUN_ID_PATTERN, setting
from lrviz.store import (
    ACTIVE_STATES,
    DEFAULT_RUNS_DIR,
    FINAL_STATES,
    RunStore,
    atomic_write_json,
    atomic_write_text,
    read_json,
    send,
)
from lrviz.store.control import STOP
from lrviz.tournament import (  # MAX_TRIALS: schedules x seeds of one tournament
    LEADERBOARD_COLUMNS,
    MAX_TRIALS,
    TrialRecord,
    eta_seconds,
    leaderboard,
    preset,
    schedule_labels,
    trial_pairs,
    verdict,
    winner_schedule,
)

__all__ = ["TournamentConfig", "TournamentJob", "TournamentView", "tournament_config", "read_tournament",
           "winner_schedule_of", "make_storage", "fail_stale", "make_pruner", "trial_records", "storage_url_of",
           "study_name_of", "seeds_of", "worker_command", "tournament_ended", "Heartbeat", "POLL_S", "MAX_TRIALS",
           "SEED_MAX", "WORKER_GPU_MIB", "CONNECT_TIMEOUT_S", "local_workers", "resume_config", "preflight",
           "check_study", "record_settings", "study_settings", "enqueue_many", "enqueue_missing",
           "normalize_storage", "probe_storage", "study_file_problem", "ended_tournament", "tournament_of",
           "claim_waiting_trial", "split_password", "parent_settings_error", "TOURNAMENT_PID_ENV"]

POLL_S = 1.0  # the job's poll period: control, stale trials, leaderboard
SEED_MAX = 2**32 - 1  # numpy's and keras.utils.set_random_seed's largest seed
WORKER_GPU_MIB = 2048  # GPU memory one local worker may take (MiniVGGNet, batch 64: CUDA context + model + batches)
CONNECT_TIMEOUT_S = 5.0  # a database server that does not answer within this is refused
TOURNAMENT_STALE_S = 120.0  # a worker on another machine takes a tournament silent this long for gone
TOURNAMENT_PID_ENV = "LRVIZ_TOURNAMENT_PID"  # set for the local workers: the pid of the job that spawned them
STUDY_FILE = "study.db"
STUDY_SETTINGS_ATTR = "lrviz_settings"
_STUDY_SIBLINGS = ("", "-journal", "-wal", "-shm", ".claim.lock")  # what SQLite and the claim lock write
_OPTUNA_TABLES = {"studies", "trials", "version_info"}
_STORAGE_RULE = "an sqlite:///PATH or postgresql://USER@HOST/DB URL"
_TUTORIAL = preset("tutorial")


@dataclass
class TournamentConfig(common.DataSettings):
    """A training run's data and optimizer settings, and what the tournament compares."""

    seed: int = setting(1, "First seed: trials use seeds seed, seed+1, ..., seed+seeds-1.", kind="int", low=0,
                        high=SEED_MAX, label="First seed")
    schedules: list = setting(_TUTORIAL["schedules"], "The schedules to compare (registry configs: name, params).",
                              kind="mapping", what="a non-empty list of schedule configs (mappings with a `name`)",
                              cli=False)
    epochs: int = setting(40, "Epochs of every trial.", kind="int", low=1, high=100_000, label="Epochs")
    seeds: int = setting(3, "Seeds per schedule (K): one trial per schedule and seed.", kind="int", low=1, high=100,
                         label="Seeds")
    workers: int = setting(1, "Local worker processes running trials side by side (at most one per core, per "
                              f"{WORKER_GPU_MIB:,} MiB of free GPU memory and per trial).", kind="int", low=1, high=64,
                           label="Workers")
    storage: str | None = setting(None, "Optuna storage URL (e.g. postgresql://user@host/db for a cluster); "
                                  "empty: SQLite study.db in the tournament's folder. Keep its password in "
                                  "PGPASSWORD or ~/.pgpass (the CLI moves one given in the URL there).", kind="path",
                                  optional=True, label="Storage URL", metavar="URL", what=_STORAGE_RULE)
    study: str | None = setting(None, "Optuna study name (empty: the tournament's run id).", kind="path",
                                optional=True, label="Study name", metavar="NAME",
                                what="a study name (one line of 1 to 512 characters)")
    prune: bool = setting(False, "Stop unpromising trials early (Optuna's SuccessiveHalvingPruner on validation "
                                 "accuracy per epoch).", kind="bool", label="Prune")
    heartbeat_interval: int = setting(10, "Seconds between a running trial's heartbeats.", kind="int", low=1,
                                      high=3600, cli=False)
    grace_period: int = setting(30, "Seconds without a heartbeat after which a trial counts as failed (and is "
                                    "retried).", kind="int", low=1, high=86_400, cli=False)
    max_retry: int = setting(2, "How often a failed (killed) trial is re-run.", kind="int", low=0, high=100,
                             cli=False)
    parent: str | None = setting(None, "The tournament this one resumes: its study, schedules and settings, "
                                 "running only the trials it has not completed.", kind="run_id", optional=True,
                                 cli=False)


class TournamentJob(Job):
    kind = "tournament"
    title = "tournament"
    setting_noun = "a tournament setting"
    Config = TournamentConfig
    meta_keys: ClassVar[tuple[str, ...]] = (*META_KEYS, "preset")
    files = ("config.json", "leaderboard.csv", "trials.csv", "verdict.json", "study.db")
    progress_keys = ("trials_done", "trials_total")
    progress_unit = "trial"

    @classmethod
    def validate(cls, config: Mapping[str, Any], *, here: bool = True) -> dict[str, Any]:
        """The config normalised, or ``FieldError`` naming the field, the rule and the value.
        ``here=False`` leaves out what depends on this machine (an installed backend, an
        existing CIFAR-10 archive or SQLite folder): what a folder written elsewhere is read with."""
        if not isinstance(config, Mapping):
            raise FieldError("config", "a mapping", config)
        if config.get("kind", cls.kind) != cls.kind:
            raise FieldError("kind", f"'{cls.kind}' for a tournament", config["kind"])
        schedules = config.get("schedules", _TUTORIAL["schedules"])
        # a list is checked below: the generic checks know mappings only, so they get a stand-in
        cfg = super().validate({**config, "schedules": {}})
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, (list, tuple)) or not schedules:
            raise cls.settings()["schedules"].error(schedules)
        _check_trial_count(len(schedules), cfg["seeds"])  # before 100,000 schedule configs are checked one by one
        if here:
            common.check_data(cfg)
        schedule_labels(schedules)  # FieldError naming schedules[i].<param>, or a duplicate
        cfg["schedules"] = [Schedule.from_config(s).to_config() for s in schedules]
        _check_seed_range(cfg["seed"], cfg["seeds"])
        if cfg["storage"] is not None:
            cfg["storage"] = normalize_storage(cfg["storage"], here=here)
        _check_study_name(cfg["study"])
        return cfg

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

    # ------------------------------------------------------------------ worker

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        import optuna

        path, config, status, control = ctx.path, ctx.config, ctx.status, ctx.control
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        labels = schedule_labels(config["schedules"])
        url, name = storage_url_of(config, path), study_name_of(config)
        status.write(state="running", phase="creating the study", study=name, storage=_hide_password(url))
        storage = make_storage(url, config)
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
        check_study(study, config, url)  # another tournament's study: refused before any trial
        record_settings(study, config)
        study.set_user_attr("lrviz_tournament", config["id"])
        fail_stale(study, url)  # a resumed study's trials left RUNNING by a crash count as missing
        enqueue_missing(study, storage, url, config["schedules"], labels, seeds_of(config))
        waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False))
        n, why = local_workers(config["workers"], waiting)
        pool = _WorkerPool(path, url, name, n)
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


# --------------------------------------------------------------------------- limits


def _check_trial_count(n_schedules: int, seeds: int) -> None:
    """At most ``MAX_TRIALS`` trials (schedules x seeds); the message says the product."""
    if n_schedules * seeds <= MAX_TRIALS:
        return
    field = "schedules" if n_schedules > MAX_TRIALS else "seeds"
    raise FieldError(field, f"small enough for at most {MAX_TRIALS:,} trials", seeds if field == "seeds" else
                     n_schedules, message=f"Argument `{field}` must keep a tournament at most {MAX_TRIALS:,} trials "
                     f"(schedules × seeds). Received: {n_schedules:,} schedules × {seeds:,} seeds = "
                     f"{n_schedules * seeds:,}")


def _check_seed_range(seed: int, seeds: int) -> None:
    """The last seed ``seed + seeds - 1`` is a seed too: numpy and ``keras.utils.set_random_seed``
    take 0 .. 2**32 - 1."""
    if seed + seeds - 1 > SEED_MAX:
        raise FieldError("seed", f"<= {SEED_MAX - seeds + 1:,} with seeds={seeds}", seed,
                         message=f"Argument `seed` must be <= {SEED_MAX - seeds + 1} with seeds={seeds}: the last "
                                 f"seed, seed + seeds - 1, must be <= {SEED_MAX} (what numpy and "
                                 f"keras.utils.set_random_seed accept). Received: seed={seed}")


def _check_study_name(name: str | None) -> None:
    if name is None:
        return
    if len(name) > 512 or not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise TournamentJob.settings()["study"].error(name)


def _gpu_free_mib() -> int | None:
    """The free memory of the emptiest visible GPU, in MiB (``nvidia-smi``); None without one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = None
    if visible is not None and all(p.strip().isdigit() for p in visible.split(",")):
        wanted = {p.strip() for p in visible.split(",")}
    free = []
    for line in out.splitlines():
        index, _, mib = (p.strip() for p in line.partition(","))
        if mib.replace(".", "", 1).isdigit() and (wanted is None or index in wanted):
            free.append(int(float(mib)))
    return min(free) if free else None


def local_workers(asked: int, trials: int) -> tuple[int, str | None]:
    """How many local worker processes a tournament runs: ``asked``, but at most one per core
    (``os.cpu_count()``), one per ``WORKER_GPU_MIB`` of free GPU memory on a GPU, and one per
    trial to run; and why, when fewer than asked (None otherwise)."""
    cores = os.cpu_count() or 1
    limits = [(cores, f"{cores} core(s) here (os.cpu_count())")]
    free = _gpu_free_mib()
    if free is not None:
        limits.append((max(1, free // WORKER_GPU_MIB),
                       f"{free:,} MiB of free GPU memory at {WORKER_GPU_MIB:,} MiB per worker"))
    limits.append((max(1, trials), f"{trials:,} trial(s) to run"))
    n, why = asked, None
    for cap, reason in limits:
        if cap < n:
            n, why = cap, f"{cap} of the {asked} worker(s) asked: {reason}"
    return n, why


# --------------------------------------------------------------------------- storage: which database, is it one


def normalize_storage(url: str, *, here: bool = True) -> str:
    """A storage URL lrviz can keep a study in, normalised (an SQLite path made absolute), or
    ``FieldError("storage", ...)``: SQLite on a file (not in memory: the workers are other
    processes; in an existing folder; a regular file) or PostgreSQL with its driver installed.
    ``here=False`` skips the checks of this machine's files. A password is refused (config.json
    keeps the URL): PGPASSWORD or ~/.pgpass hold it."""
    from sqlalchemy.engine import make_url

    if split_password(url)[1] is not None:
        raise FieldError("storage", "a URL without a password (config.json keeps it, in the runs folder); for "
                         "PostgreSQL give it as PGPASSWORD or in ~/.pgpass, which its client reads",
                         _hide_password(url))
    if "://" not in url:
        raise FieldError("storage", _STORAGE_RULE, url)
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads, or an unknown dialect (foo://)
        raise FieldError("storage", _STORAGE_RULE, url) from None
    if backend == "postgresql":
        try:
            parsed.get_dialect().import_dbapi()
        except Exception:  # noqa: BLE001 - the driver is missing (postgresql+psycopg2:// without psycopg2)
            raise FieldError("storage", f"a PostgreSQL URL whose driver is installed ({parsed.get_driver_name()} is "
                             "not; postgresql:// uses psycopg: pip install psycopg[binary])", url) from None
        return url
    if backend != "sqlite":
        raise FieldError("storage", _STORAGE_RULE + f" (lrviz keeps studies in SQLite or PostgreSQL, not {backend})",
                         url)
    db = parsed.database
    if not db or db == ":memory:" or parsed.query or db.startswith("file:"):
        raise FieldError("storage", "an SQLite URL naming a file, sqlite:///PATH without options (an in-memory "
                         "database lives in one process; the tournament's workers are other processes)", url)
    path = Path(os.path.abspath(os.path.expanduser(db)))
    if here and not path.parent.is_dir():
        raise FieldError("storage", f"an SQLite file in an existing folder ({path.parent} does not exist)", url)
    if here and path.exists() and not path.is_file():
        raise FieldError("storage", f"an SQLite file ({path} is not a regular file)", url)
    return f"sqlite:///{path}"


def study_file_problem(db: Path, *, own: bool) -> str | None:
    """What keeps the SQLite file ``db`` from holding a study, or None. ``own``: a tournament's
    own ``study.db`` (a resume's study): it must exist and hold Optuna's tables, and neither it
    nor the files SQLite writes beside it may be a symbolic link. Otherwise (a file the user
    named): a missing or empty file is a new database. Read only: nothing is created or replaced."""
    import sqlite3
    from urllib.parse import quote

    if own:
        for suffix in _STUDY_SIBLINGS:
            beside = db.with_name(db.name + suffix)
            if beside.is_symlink():
                return f"{beside.name} is a symbolic link (never followed out of the runs folder)"
    if not db.exists():
        return "is missing" if own else None
    if not db.is_file():
        return "is not a regular file"
    size = db.stat().st_size
    if size == 0:
        return "is empty (0 bytes): no study in it" if own else None
    with open(db, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        return "is not an SQLite database"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    if head[24:28] == head[92:96] and pages and size < page * pages:  # the header's page count is valid
        return f"is truncated ({size:,} of {page * pages:,} bytes)"
    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=rw", uri=True, timeout=30)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error as e:
        return f"is damaged ({e})"
    if not check or check[0] != "ok":
        return f"is damaged ({shown(check[0] if check else None)})"
    if not _OPTUNA_TABLES <= tables and (own or tables):
        return "holds no Optuna storage" + (f" (its tables: {', '.join(sorted(tables)[:5])})" if tables else "")
    return None


def probe_storage(url: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse (``FieldError("storage", ...)``) a storage that cannot keep a study: an SQLite
    file holding something else than an SQLite database with Optuna's tables (a new or empty
    file is fine), a PostgreSQL server that does not answer within ``timeout`` seconds (name
    lookup included: the connection is tried in a thread that is given up)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        problem = study_file_problem(Path(parsed.database), own=False)
        if problem is not None:
            raise FieldError("storage", "an SQLite file that is new or holds an Optuna storage", url,
                             hint=f"{parsed.database} {problem}; it is left as it is")
        return
    outcome: list[BaseException | None] = []

    def connect() -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        try:
            engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(2, int(timeout))})
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            finally:
                engine.dispose()
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - any failure to connect is the answer
            outcome.append(e)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    rule = f"a database server that answers within {timeout:g} s"
    if not outcome:
        raise FieldError("storage", rule, _hide_password(url), hint="no answer")
    if outcome[0] is not None:
        reason = " ".join(str(getattr(outcome[0], "orig", None) or outcome[0]).split())
        raise FieldError("storage", rule, _hide_password(url), hint=shown(reason, as_typed=True))


# --------------------------------------------------------------------------- resume: what a parent may hand on


def ended_tournament(store: RunStore, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The folder and raw config of the tournament ``run_id`` that a resume continues;
    ``FieldError("parent", ...)`` when there is none, it is still active or its files cannot
    be read (a symbolic link is not read)."""
    try:
        path = store.existing(run_id)
        for name in ("config.json", "status.json"):
            if (path / name).is_symlink():
                raise ValueError(f"{name} is a symbolic link")
        config = read_json(path / "config.json")
        state = store.status(run_id).get("state")
    except (OSError, ValueError):
        raise FieldError("parent", f"the id of a tournament in {store.root.resolve()}", run_id) from None
    if config.get("kind") != TournamentJob.kind:
        raise FieldError("parent", "the id of a tournament", run_id)
    if state in ACTIVE_STATES:
        raise FieldError("parent", "a tournament that has ended (stop it first)", run_id)
    return path, config


def parent_settings_error(parent: str, error: FieldError) -> FieldError:
    """A parent's setting that a new tournament would refuse, as an error about ``parent``."""
    return FieldError("parent", "a tournament whose config.json holds valid settings", parent,
                      hint=f"Its config.json: {error}")


_INHERITED = tuple(k for k in TournamentConfig.__dataclass_fields__ if k not in ("workers", "parent", "storage",
                                                                                "study"))


def resume_config(store: RunStore, parent: str, *, workers: int | None = None,
                  storage: str | None = None) -> dict[str, Any]:
    """The validated config of a tournament resuming ``parent``: its settings, re-validated
    with :meth:`TournamentJob.validate` (a bad one: ``FieldError("parent", ...)`` quoting it);
    ``workers`` (default: the parent's); the parent's study, in its own ``study.db`` (checked by
    :func:`study_file_problem`) or in the storage the caller names again as ``storage`` (the
    URL in the parent's config.json is never opened on its word: a folder cannot pick the
    database, nor the host a password goes to). A parent with nothing left to run is refused."""
    path, pcfg = ended_tournament(store, parent)
    settings = TournamentJob.settings()
    if workers is None:
        try:
            workers = settings["workers"].parse(pcfg.get("workers", settings["workers"].default))
        except FieldError as e:
            raise parent_settings_error(parent, e) from None
    given = None if storage is None else normalize_storage(storage)
    home = _home_study(store, parent, pcfg)
    if home is not None:
        home = home.parent.resolve() / home.name  # the runs folder resolved, never the study file
        url = f"sqlite:///{home / STUDY_FILE}"
        if given is not None and given != url:
            raise FieldError("storage", f"the storage of {parent}'s study ({url}), or none", given)
    else:
        theirs = pcfg.get("storage")
        theirs = _hide_password(theirs) if isinstance(theirs, str) else theirs
        if given is None:
            raise FieldError("storage", "named again to resume a tournament whose study is not its own study.db: "
                             f"{parent}'s config.json names {shown(theirs)}; a resume opens only a database named "
                             "on its command line or page", None)
        try:
            same = isinstance(theirs, str) and normalize_storage(theirs, here=False) == given
        except FieldError:
            same = False
        if not same:
            raise FieldError("storage", f"the storage of {parent}'s study, as its config.json names it "
                             f"({shown(theirs)})", given)
        url = given
    candidate = {k: pcfg[k] for k in _INHERITED if k in pcfg}
    candidate.update(kind=TournamentJob.kind, parent=parent, workers=workers, storage=None,
                     study=pcfg.get("study") or pcfg.get("id") or parent)
    try:
        config = TournamentJob.validate(candidate)
    except FieldError as e:
        raise parent_settings_error(parent, e) from None
    config["storage"] = url  # checked above: its own study.db (below), or named again and normalized
    if home is not None:
        problem = study_file_problem(home / STUDY_FILE, own=True)
        if problem == "is missing" and home.name == parent:  # it failed before making one: a resume starts it
            if _state_of(path) == "finished":
                raise FieldError("parent", "a tournament with trials left to run", parent,
                                 hint=f"it finished and its {STUDY_FILE} is missing")
            return config
        if problem is not None:
            raise FieldError("parent", "a tournament whose study.db is an Optuna study", parent,
                             hint=f"{home / STUDY_FILE} {problem}; it is left as it is")
    else:
        probe_storage(url)
    _check_left_to_run(config, parent)
    return config


def _state_of(path: Path) -> Any:
    try:
        return read_json(path / "status.json").get("state")
    except (OSError, ValueError):
        return None


def _home_study(store: RunStore, parent: str, pcfg: Mapping[str, Any]) -> Path | None:
    """The folder (in this runs folder) whose ``study.db`` holds ``parent``'s study: its own
    folder when its config names no storage; the folder of an ancestor it resumed when its
    config names that ancestor's ``study.db`` (a resume of a resume); None otherwise (the study
    lives in a storage the caller must name). The path comes from the store, never from the URL."""
    from sqlalchemy.engine import make_url

    storage = pcfg.get("storage")
    if storage is None:
        return store.path(parent)
    try:
        parsed = make_url(storage) if isinstance(storage, str) else None
        db = Path(parsed.database) if parsed is not None and parsed.get_backend_name() == "sqlite" else None
    except Exception:  # noqa: BLE001 - not a URL: no home here
        return None
    if db is None or db.name != STUDY_FILE:
        return None
    lineage, cfg, rid = [], pcfg, parent
    while rid not in lineage and len(lineage) < 1000:
        lineage.append(rid)
        rid = cfg.get("parent")
        if not isinstance(rid, str) or not RUN_ID_PATTERN.match(rid):
            break
        try:
            cfg = read_json(store.existing(rid) / "config.json")
        except (OSError, ValueError):
            break
    if db.parent.name in lineage:
        return store.path(db.parent.name)
    return None


def _check_left_to_run(config: Mapping[str, Any], parent: str) -> None:
    """Open the parent's study: it must hold the study, with the same settings, and something to run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with _opened(config["storage"], config) as storage:
            study = optuna.load_study(study_name=config["study"], storage=storage)
            check_study(study, config, config["storage"])
            trials = study.get_trials(deepcopy=False)
    except KeyError:
        raise FieldError("parent", "a tournament whose study exists", parent,
                         hint=f"{_hide_password(config['storage'])} holds no study {config['study']!r}") from None
    except FieldError:
        raise
    except Exception as e:  # noqa: BLE001 - an old schema, a damaged database: one line, nothing changed
        raise FieldError("parent", "a tournament whose study can be opened", parent,
                         hint=shown(" ".join(str(e).split()), as_typed=True)) from None
    labels = schedule_labels(config["schedules"])
    if not _missing_pairs(trials, labels, seeds_of(config)):
        raise FieldError("parent", "a tournament with trials left to run", parent,
                         hint="every (schedule, seed) has a completed or pruned trial; start a new tournament to "
                              "train them again")


def preflight(config: Mapping[str, Any], store: RunStore) -> dict[str, Any]:
    """The checks a tournament passes before its folder is created (:meth:`TournamentJob.prepare`;
    the CLI calls it first, so that a refusal leaves nothing behind): a resume's config
    (:func:`resume_config`, returned); a named storage answers and holds no tournament with
    other settings under the study's name. Returns the settings to update ``config`` with."""
    if config.get("parent") is not None:
        return resume_config(store, config["parent"], workers=config["workers"], storage=config.get("storage"))
    url = config.get("storage")
    if url is None:
        return {}
    probe_storage(url)
    if config.get("study") is not None:
        _check_existing_study(url, config)
    return {}


def _check_existing_study(url: str, config: Mapping[str, Any]) -> None:
    import optuna
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and study_file_problem(Path(parsed.database), own=True) is not None:
        return  # a new file: no study in it yet (probe_storage refused anything else)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _opened(url, config) as storage:
        try:
            study = optuna.load_study(study_name=config["study"], storage=storage)
        except KeyError:
            return  # a new study
        check_study(study, config, url)


@contextlib.contextmanager
def _opened(url: str, config: Mapping[str, Any]) -> Any:
    """:func:`make_storage` for a check, its connections closed after (a page process lives long)."""
    storage = make_storage(url, config)
    try:
        yield storage
    finally:
        with contextlib.suppress(Exception):
            storage.remove_session()
            storage.engine.dispose()


# --------------------------------------------------------------------------- one study, one tournament's settings


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two tournaments the same experiment (recorded in the study as user attr
    ``lrviz_settings``): schedules (configs), seeds, epochs, the data settings, prune."""
    out: dict[str, Any] = {"schedules": list(config["schedules"]), "seeds": seeds_of(config),
                           "epochs": config["epochs"], "prune": config["prune"]}
    out.update({k: config[k] for k in common.DATA_KEYS if k != "seed"})
    return json.loads(json.dumps(out))  # as the study will hand it back


def check_study(study: Any, config: Mapping[str, Any], url: str) -> None:
    """Refuse (``FieldError("study", ...)``) a study that holds another experiment: another
    tournament's settings (the first difference named), or trials of something else than an
    lrviz tournament. Reads only (:func:`record_settings` writes)."""
    attrs = study.user_attrs
    mine = study_settings(config)
    recorded = attrs.get(STUDY_SETTINGS_ATTR)
    where = f"Study {study.study_name!r} in {_hide_password(url)}"
    if not isinstance(recorded, dict):  # lrviz before lrviz_settings kept these four
        recorded = {k: attrs[k] for k in ("seeds", "epochs", "dataset") if k in attrs}
        if "schedules" in attrs:
            recorded["schedule labels"] = attrs["schedules"]
        if not recorded and "lrviz_tournament" not in attrs and study.get_trials(deepcopy=False):
            raise FieldError("study", "a new study or one of an lrviz tournament", study.study_name,
                             hint=f"{where} holds trials of something else")
    theirs_mine = {**mine, "schedule labels": schedule_labels(config["schedules"])}
    for key, value in recorded.items():
        if key in theirs_mine and json.dumps(value, sort_keys=True) != json.dumps(theirs_mine[key], sort_keys=True):
            raise FieldError("study", "a new study or one of a tournament with the same settings", study.study_name,
                             hint=f"{where} holds a tournament with {key}={shown(value)}, not "
                                  f"{key}={shown(theirs_mine[key])}")


def record_settings(study: Any, config: Mapping[str, Any]) -> None:
    """Record the tournament's settings in a study that has none (after :func:`check_study`);
    ``schedules`` (labels), ``seeds``, ``epochs`` and ``dataset`` as well, as lrviz always did."""
    if isinstance(study.user_attrs.get(STUDY_SETTINGS_ATTR), dict):
        return
    mine = study_settings(config)
    study.set_user_attr(STUDY_SETTINGS_ATTR, mine)
    study.set_user_attr("schedules", schedule_labels(config["schedules"]))
    study.set_user_attr("seeds", mine["seeds"])
    study.set_user_attr("epochs", mine["epochs"])
    study.set_user_attr("dataset", mine["dataset"])


# --------------------------------------------------------------------------- Optuna plumbing


def storage_url_of(config: Mapping[str, Any], path: Path) -> str:
    """The study's storage: ``config["storage"]``, or SQLite ``study.db`` in the tournament's folder."""
    return config.get("storage") or f"sqlite:///{Path(path).resolve() / STUDY_FILE}"  # a study.db link: not followed


def study_name_of(config: Mapping[str, Any]) -> str:
    return config.get("study") or config["id"]


def seeds_of(config: Mapping[str, Any]) -> list[int]:
    return list(range(config["seed"], config["seed"] + config["seeds"]))


def make_storage(url: str, config: Mapping[str, Any]) -> Any:
    """An Optuna ``RDBStorage`` with heartbeats, failed (stale) trials re-enqueued by
    ``RetryHeartbeatStaleTrialCallback(max_retry)`` (Optuna 5's name for
    ``RetryFailedTrialCallback``); SQLite waits up to 60 s for a lock, a server answers within
    10 s or the connection fails."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}
    else:
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=config["max_retry"])
        return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=config["heartbeat_interval"],
                          grace_period=config["grace_period"], heartbeat_stale_trial_callback=retry)


def _missing_pairs(trials: list[Any], labels: list[str], seeds: list[int]) -> list[tuple[int, int, Any]]:
    """``(schedule index, seed, last attempt or None)`` of every pair with no completed, pruned,
    waiting or running trial."""
    from optuna.trial import TrialState

    settled = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
    by_pair: dict[tuple[str, int], list[Any]] = {}
    for t in trials:
        params = trial_params(t)
        if set(params) == {"schedule", "seed"}:
            by_pair.setdefault((params["schedule"], params["seed"]), []).append(t)
    out = []
    for i, seed in trial_pairs(len(labels), seeds):
        mine = by_pair.get((labels[i], seed), [])
        if any(t.state in settled for t in mine):
            continue
        out.append((i, seed, max((t for t in mine if t.user_attrs.get("run_id")), key=lambda t: t.number,
                                 default=None)))
    return out


def enqueue_missing(study: Any, storage: Any, url: str, schedules: list[dict], labels: list[str],
                    seeds: list[int]) -> int:
    """Enqueue one trial for every (schedule, seed) that has none completed, pruned, waiting or
    running; return how many. A new study gets them all; a resumed one the rest, each a retry
    of its last attempt: a stopped run with a saved model continues from it (user attr
    ``resume_run``). Optuna's ``skip_if_exists`` would skip failed pairs too."""
    items = []
    for i, seed, last in _missing_pairs(study.get_trials(deepcopy=False), labels, seeds):
        attrs: dict[str, Any] = {"schedule_index": i, "schedule_config": schedules[i]}
        if last is not None:
            attrs["resume_run"] = last.user_attrs["run_id"]
        items.append(({"schedule": labels[i], "seed": seed}, attrs))
    with _claim_lock(url):  # the retry callback numbers new trials too (under this lock on SQLite)
        enqueue_many(study, storage, items)
    return len(items)


def enqueue_many(study: Any, storage: Any, items: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """``study.enqueue_trial(params, user_attrs=attrs)`` for every item, in one transaction: Optuna
    commits each trial alone (about 200 trials/s on a quiet disk, 36/s on a busy one). The rows
    are Optuna's own (``trials``, ``trial_system_attributes`` ``fixed_params``,
    ``trial_user_attributes``, values as JSON), written through SQLAlchemy on tables read from
    the database itself; if that fails (another schema), trials are enqueued one by one."""
    if not items:
        return
    try:
        _insert_waiting_trials(storage, study.study_name, items)
    except Exception as e:  # noqa: BLE001 - nothing was committed: Optuna's own way, one commit each
        print(f"[WARN] bulk enqueue failed ({type(e).__name__}: {e}); enqueueing one by one", file=sys.stderr)
        for params, attrs in items:
            study.enqueue_trial(params, user_attrs=attrs)


def _insert_waiting_trials(storage: Any, study_name: str, items: list[tuple[dict, dict]]) -> None:
    from sqlalchemy import MetaData, Table, func, insert, select

    engine = storage.engine
    meta = MetaData()
    studies, trials, system, user = (Table(name, meta, autoload_with=engine) for name in
                                     ("studies", "trials", "trial_system_attributes", "trial_user_attributes"))
    study_id = storage.get_study_id_from_name(study_name)
    with engine.begin() as conn:
        # the lock Optuna takes to number a new trial (PostgreSQL honours it; SQLite: the claim lock)
        conn.execute(select(studies.c.study_id).where(studies.c.study_id == study_id).with_for_update())
        first = conn.execute(select(func.count()).select_from(trials).where(trials.c.study_id == study_id)).scalar()
        rows = [{"number": first + k, "study_id": study_id, "state": "WAITING", "datetime_start": None,
                 "datetime_complete": None} for k in range(len(items))]
        ids = conn.execute(insert(trials).returning(trials.c.trial_id, sort_by_parameter_order=True), rows).scalars()
        ids = list(ids)
        conn.execute(insert(system), [{"trial_id": tid, "key": "fixed_params", "value_json": json.dumps(params)}
                                      for tid, (params, _) in zip(ids, items)])
        attrs = [{"trial_id": tid, "key": k, "value_json": json.dumps(v)}
                 for tid, (_, a) in zip(ids, items) for k, v in a.items()]
        if attrs:
            conn.execute(insert(user), attrs)


def make_pruner(config: Mapping[str, Any]) -> Any:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner() if config.get("prune") else optuna.pruners.NopPruner()


def fail_stale(study: Any, url: str) -> None:
    """Mark trials whose heartbeat stopped as failed (the retry callback re-enqueues them).
    Under the claim lock: on SQLite two processes could otherwise both fail, and both retry,
    one stale trial."""
    import optuna

    with _claim_lock(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def claim_waiting_trial(study: Any, storage: Any, url: str) -> tuple[Any, int] | None:
    """Take a waiting trial of ``study`` (storage ``url``) for this process (WAITING -> RUNNING);
    None if none waits.
    Unlike ``study.ask()``, never creates a new trial when the queue is empty.

    Each trial is taken by exactly one process. Optuna's ``RDBStorage`` takes it with
    ``SELECT ... FOR UPDATE``, which PostgreSQL honours and SQLite ignores: two processes could
    both read WAITING and both take the trial (optuna/optuna#4621; seen in CI as 9 runs for
    8 trials). A SQLite database lives on one machine, so there a file lock beside it
    (``<db>.claim.lock``) makes read-and-take one step."""
    import optuna
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    with _claim_lock(url):
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return optuna.Trial(study, trial_id), trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return None


@contextlib.contextmanager
def _claim_lock(url: str) -> Any:
    """An exclusive lock on ``<db>.claim.lock`` for a SQLite database; nothing for a server
    database (PostgreSQL locks the row). A symbolic link there is refused (``O_NOFOLLOW``)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: no database to lock
        database = None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    try:
        fd = os.open(f"{database}.claim.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise OSError(f"cannot take the claim lock {database}.claim.lock ({e.strerror}; a symbolic link is never "
                      "followed)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class Heartbeat:
    """Records a trial's heartbeat every ``interval`` seconds while the ``with`` block runs
    (what ``study.optimize`` does for its own trials)."""

    def __init__(self, storage: Any, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a lost beat is retried; never kill the trial for it
                self.storage.record_heartbeat(self.trial_id)
            if self._done.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join()


_STATES = {"COMPLETE": "complete", "RUNNING": "running", "WAITING": "waiting", "PRUNED": "pruned", "FAIL": "failed"}


def trial_params(trial: Any) -> dict[str, Any]:
    """A trial's params; for a waiting one, those it was enqueued with (Optuna keeps them in
    ``system_attrs["fixed_params"]`` until a worker suggests them)."""
    return trial.params or trial.system_attrs.get("fixed_params") or {}


def trial_records(trials: list[Any]) -> list[TrialRecord]:
    """Optuna trials as :class:`lrviz.tournament.TrialRecord` (trials without our params skipped)."""
    out = []
    for t in trials:
        params = trial_params(t)
        if "schedule" not in params or "seed" not in params:
            continue
        state = _STATES.get(t.state.name, t.state.name.lower())
        if state == "failed" and t.user_attrs.get("stopped"):
            state = "stopped"
        duration = t.duration.total_seconds() if t.duration is not None else None
        out.append(TrialRecord(t.number, params["schedule"], int(params["seed"]), state,
                               t.value if state == "complete" else None,
                               {int(k): float(v) for k, v in t.intermediate_values.items()}, duration,
                               "failed_trial" in t.system_attrs, t.user_attrs.get("run_id")))
    return out


# --------------------------------------------------------------------------- the job's loop


class _WorkerPool:
    """The tournament's local worker processes, started by :meth:`fill` while trials wait; dead ones are replaced
    (at most ``3 x workers`` replacements: a worker that dies at start is a bug, not bad luck)."""

    def __init__(self, path: Path, url: str, study: str, n: int):
        self.path, self.url, self.study, self.n = path, url, study, n
        self.procs: list[subprocess.Popen] = []
        self.respawned = 0

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def exhausted(self) -> bool:
        return self.respawned >= 3 * self.n

    def fill(self) -> None:
        missing = self.n - len(self.alive())
        for _ in range(missing):
            if self.procs:
                if self.exhausted():
                    return
                self.respawned += 1
            self.procs.append(self._spawn(len(self.procs) + 1))

    def _spawn(self, index: int) -> subprocess.Popen:
        env = dict(os.environ)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        env[TOURNAMENT_PID_ENV] = str(os.getpid())  # the worker leaves when this process is gone
        # N workers share the cores: each gets its slice instead of N x all of them
        env.setdefault("LRVIZ_TF_THREADS", str(max(1, (os.cpu_count() or 1) // self.n)))
        if self.n > 1:  # N workers share a GPU: none may take all its memory at start (TensorFlow, JAX do)
            env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        cmd = worker_command(self.url, self.study, self.path.parent.resolve(), self.path.name)
        with open(self.path / f"worker-{index}.log", "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env, close_fds=True)

    def pids(self) -> list[int]:
        return [p.pid for p in self.alive()]

    def terminate(self) -> None:
        for p in self.alive():
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 120.0) -> None:
        """Wait for every worker; SIGKILL those still there after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def worker_command(url: str, study: str, runs_dir: Path | str, group: str) -> list[str]:
    """The command line of a tournament worker (what another machine runs to join)."""
    return [sys.executable, "-m", "lrviz", "tournament-worker", "--storage", url, "--study", study,
            "--runs-dir", str(runs_dir), "--group", group]


def _report(ctx: WorkerContext, trials: list[Any], labels: list[str], pool: _WorkerPool, last: Any) -> Any:
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
    rows = leaderboard(records, labels, dataset=ctx.config["dataset"])
    v = verdict(rows, records)
    columns = [*LEADERBOARD_COLUMNS, *(["book_accuracy"] if ctx.config["dataset"] == "cifar10" else [])]
    atomic_write_text(ctx.path / "leaderboard.csv", _csv(rows, columns))
    atomic_write_text(ctx.path / "trials.csv", _csv(_trial_rows(records), TRIAL_COLUMNS))
    atomic_write_json(ctx.path / "verdict.json", asdict(v))
    top = rows[0] if rows and rows[0]["rank"] == 1 else None
    ctx.status.write(trials_done=done, running=running, best=top and top["schedule"],
                     best_mean=top and top["mean_val_accuracy"], verdict=v.text, workers=pool.pids(),
                     respawned=pool.respawned, eta_s=eta)
    if ctx.on_step is not None:
        ctx.on_step(rows, v)
    return key


TRIAL_COLUMNS = ["number", "schedule", "seed", "state", "value", "epochs_done", "duration_s", "retry", "run_id"]


def _trial_rows(records: list[TrialRecord]) -> list[dict[str, Any]]:
    return [{"number": r.number, "schedule": r.schedule, "seed": r.seed, "state": r.state, "value": r.value,
             "epochs_done": len(r.curve), "duration_s": r.duration_s, "retry": r.retry, "run_id": r.run_id}
            for r in records]


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        text = repr(v) if isinstance(v, float) else str(v)
        return f'"{text}"' if any(c in text for c in ',"\n') else text

    return "\n".join([",".join(columns)] + [",".join(cell(r.get(c)) for c in columns) for r in rows]) + "\n"


def _stop_trial_runs(runs_dir: Path, trials: list[Any]) -> None:
    """Ask every running trial's lrviz run to stop after its current batch."""
    for t in trials:
        rid = t.user_attrs.get("run_id")
        if t.state.name == "RUNNING" and rid:
            with contextlib.suppress(OSError, ValueError):
                send(RunStore(runs_dir).existing(rid), STOP, {})


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
    if raw.get("kind") != TournamentJob.kind:
        raise FieldError("group", where, group)
    try:
        return TournamentJob.validate(raw)
    except FieldError as e:
        raise FieldError("group", "a tournament whose config.json holds valid settings", group,
                         hint=f"Its config.json: {e}") from None


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (None when it has none, or is no URL)."""
    from sqlalchemy.engine import URL, make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: nothing to split
        return url, None
    query = {k: v for k, v in parsed.query.items() if k != "password"}  # libpq also reads ?password=
    password = parsed.password if parsed.password is not None else parsed.query.get("password")
    if password is None:
        return url, None
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, query)
    return bare.render_as_string(hide_password=False), str(password)


def _hide_password(url: str) -> str:
    """``url`` as shown to people: without its password (user part or ``?password=``), said."""
    bare, password = split_password(url)
    return bare if password is None else f"{bare}  (password hidden)"


# --------------------------------------------------------------------------- the API for pages


def tournament_config(schedules: list[Mapping[str, Any]] | None = None, *, preset_name: str | None = None,
                      **settings: Any) -> dict[str, Any]:
    """A validated tournament config (``kind`` set) for :func:`lrviz.runs.start_run`: the
    schedules given, or those of a preset (``"tutorial"``: its 4 schedules and 40 epochs);
    ``settings`` override the rest. ``FieldError`` naming the field otherwise."""
    cfg: dict[str, Any] = {"kind": TournamentJob.kind}
    if preset_name is not None:
        cfg.update(preset(preset_name), preset=preset_name)
    if schedules is not None:
        cfg["schedules"] = schedules
    cfg.update(settings)
    return TournamentJob.validate(cfg)


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
    if raw_kind not in (None, TournamentJob.kind) or (raw_kind is None and status.get("kind") not in
                                                      (None, TournamentJob.kind)):
        raise FieldError("run_id", "the id of a tournament", run_id)
    labels = schedule_labels(config["schedules"]) if config else None
    board = _read_frame(path, "leaderboard.csv", LEADERBOARD_COLUMNS, damaged,
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
    if kind != TournamentJob.kind:
        return {}, kind
    try:
        return TournamentJob.validate(raw, here=False), kind
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
            r["value"] = _final_accuracy(run.dir) if state == "complete" else None
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
                     "value": _final_accuracy(run.dir) if state == "complete" else None,
                     "epochs_done": run.status.get("epoch"), "duration_s": run.status.get("elapsed_s"),
                     "retry": False, "run_id": rid})
        corrected = True
    return rows, corrected


def _history(run_dir: Path) -> Any:
    import pandas as pd

    try:
        if (run_dir / "history.csv").is_symlink():
            return None
        h = pd.read_csv(run_dir / "history.csv")
        return h if {"epoch", "val_accuracy"} <= set(h.columns) and len(h) else None
    except Exception:  # noqa: BLE001 - a damaged history is that run's problem, shown on its own page
        return None


def _final_accuracy(run_dir: Path) -> float | None:
    h = _history(run_dir)
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
        rid = r.get("run_id")
        if r["state"] == "complete" and isinstance(rid, str):
            with contextlib.suppress(OSError, ValueError):
                h = _history(store.existing(rid))
                if h is not None:
                    curve = {int(e): float(a) for e, a in zip(h["epoch"], h["val_accuracy"])}
        value = r.get("value")
        records.append(TrialRecord(int(r["number"]) if r.get("number") is not None else -1, str(r["schedule"]),
                                   int(r["seed"]), str(r["state"]),
                                   float(value) if value is not None and r["state"] == "complete" else None,
                                   curve, r.get("duration_s"), bool(r.get("retry")), rid))
    board = leaderboard(records, labels, dataset=config["dataset"])
    columns = [*LEADERBOARD_COLUMNS, *(["book_accuracy"] if config["dataset"] == "cifar10" else [])]
    return pd.DataFrame(board, columns=columns), asdict(verdict(board, records))


def winner_schedule_of(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> dict | None:
    """The winning schedule's config (for a training run's ``schedule``); None before any
    trial completed."""
    return read_tournament(run_id, runs_dir).winner
