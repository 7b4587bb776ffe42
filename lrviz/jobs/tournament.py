"""Tournament job (kind ``"tournament"``): every schedule of a list trained with seeds
``seed .. seed+K-1``, ranked by mean final validation accuracy; built on Optuna.

**Optuna does the bookkeeping.** One study per tournament (``direction="maximize"``), one
trial per (schedule, seed), enqueued with the categorical params ``schedule`` (the schedule's
label) and ``seed``, so Optuna's own tools (``optuna.load_study``, optuna-dashboard) read it.
A trial is an ordinary lrviz training run in the tournament's group (it shows on the Runs page,
opens, compares, resumes); its id is the trial's user attr ``run_id``; the validation accuracy
of each finished epoch is reported as the intermediate value of that (1-based) epoch and the
last one is the trial's value.

**Who runs the trials.** :meth:`TournamentJob.run` (the tournament's own worker) creates the
study, enqueues the trials and spawns ``workers`` local processes ``python -m lrviz
tournament-worker --storage URL --study NAME --runs-dir DIR --group ID``
(:mod:`lrviz.cli.tournament`); each takes waiting trials until none is left. Any machine that
sees the same runs folder (NFS) and the same storage (PostgreSQL) joins with that command.
The job polls once a second: it writes ``status.json`` (``trials_done`` / ``trials_total``,
``best``, ``best_mean``, ``verdict``), ``leaderboard.csv``, ``trials.csv`` and
``verdict.json``; it keeps ``workers`` local processes alive while trials wait.

**A worker killed mid-trial** stops beating (Optuna heartbeat, ``heartbeat_interval``): after
``grace_period`` its trial is marked failed and ``RetryHeartbeatStaleTrialCallback`` (``RetryFailedTrialCallback``)
enqueues it again (up to ``max_retry`` times); the killed run keeps its folder and every epoch
it finished (state ``failed``), and the leaderboard's ``notes`` say ``1 failed, 1 retried``.
Optuna 5.0's ``JournalStorage`` has no heartbeat, so the default storage is SQLite
(``study.db`` in the tournament's folder) through ``RDBStorage``.

**Stop** (``control/stop``, SIGINT/SIGTERM): the job asks every active trial run to stop
(after its current batch; the trial is marked failed with user attr ``stopped``), sends
SIGTERM to its worker processes and waits for them; finished trials are kept. Remote workers
see the stop file and take no new trial.

**Resume** (``parent``: an ended tournament's id): a new tournament on the parent's study and
settings (its own ``workers``). :func:`enqueue_missing` enqueues only the (schedule, seed) pairs
with no completed, pruned, waiting or running trial; a pair whose last attempt *stopped* with its
model saved continues from that run (a training resume, user attr ``resume_run``).

**Files**::

    config.json      the settings below, plus id, created_at, versions
    status.json      state, trials_done, trials_total, running, best, best_mean, verdict, eta_s
                     (lrviz.tournament.eta_seconds; None before the first trial completes),
                     study, storage (password hidden), workers (pids), respawned
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
import math
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from lrviz.errors import FieldError
from lrviz.jobs import common
from lrviz.jobs.base import META_KEYS, Job, WorkerContext
from lrviz.schedules import Schedule
from lrviz.settings import setting
from lrviz.store import ACTIVE_STATES, DEFAULT_RUNS_DIR, RunStore, atomic_write_json, atomic_write_text, read_json, send
from lrviz.store.control import STOP
from lrviz.tournament import (
    LEADERBOARD_COLUMNS,
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
           "study_name_of", "seeds_of", "worker_command", "tournament_stopping", "Heartbeat", "POLL_S"]

POLL_S = 1.0  # the job's poll period: control, stale trials, leaderboard
_TUTORIAL = preset("tutorial")


@dataclass
class TournamentConfig(common.DataSettings):
    """A training run's data and optimizer settings, and what the tournament compares."""

    seed: int = setting(1, "First seed: trials use seeds seed, seed+1, ..., seed+seeds-1.", kind="int", low=0,
                        high=2**32 - 1, label="First seed")
    schedules: list = setting(_TUTORIAL["schedules"], "The schedules to compare (registry configs: name, params).",
                              kind="mapping", what="a non-empty list of schedule configs (mappings with a `name`)",
                              cli=False)
    epochs: int = setting(40, "Epochs of every trial.", kind="int", low=1, high=100_000, label="Epochs")
    seeds: int = setting(3, "Seeds per schedule (K): one trial per schedule and seed.", kind="int", low=1, high=100,
                         label="Seeds")
    workers: int = setting(1, "Local worker processes running trials side by side.", kind="int", low=1, high=64,
                           label="Workers")
    storage: str | None = setting(None, "Optuna storage URL (e.g. postgresql://user@host/db for a cluster); "
                                  "empty: SQLite study.db in the tournament's folder. Keep its password in "
                                  "PGPASSWORD or ~/.pgpass (the CLI moves one given in the URL there).", kind="path",
                                  optional=True, label="Storage URL", metavar="URL")
    study: str | None = setting(None, "Optuna study name (empty: the tournament's run id).", kind="path",
                                optional=True, label="Study name", metavar="NAME")
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
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise FieldError("config", "a mapping", config)
        if config.get("kind", cls.kind) != cls.kind:
            raise FieldError("kind", f"'{cls.kind}' for a tournament", config["kind"])
        schedules = config.get("schedules", _TUTORIAL["schedules"])
        # a list is checked below: the generic checks know mappings only, so they get a stand-in
        cfg = super().validate({**config, "schedules": {}})
        common.check_data(cfg)
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, (list, tuple)) or not schedules:
            raise cls.settings()["schedules"].error(schedules)
        schedule_labels(schedules)  # FieldError naming schedules[i].<param>, or a duplicate
        cfg["schedules"] = [Schedule.from_config(s).to_config() for s in schedules]
        if cfg["storage"] is not None and "://" not in cfg["storage"]:
            raise FieldError("storage", "an SQLAlchemy URL such as postgresql://user@host/db or sqlite:///path",
                             cfg["storage"])
        if cfg["storage"] is not None and split_password(cfg["storage"])[1] is not None:
            raise FieldError("storage", "a URL without a password (config.json keeps it, in the runs folder); for "
                             "PostgreSQL give it as PGPASSWORD or in ~/.pgpass, which its client reads",
                             _hide_password(cfg["storage"]))
        return cfg

    @classmethod
    def prepare(cls, config: dict[str, Any], store: Any) -> None:
        """A resumed tournament (``parent``) takes its parent's study and settings (not its
        ``workers``): the study's completed trials count, the rest run again."""
        super().prepare(config, store)
        parent = config.get("parent")
        if parent is None:
            return
        ppath, pcfg = ended_tournament(store, parent)
        inherited = set(cls.settings()) - {"workers", "parent", "storage", "study"}
        config.update({k: v for k, v in pcfg.items() if k in inherited})
        config.update(storage=storage_url_of(pcfg, ppath), study=study_name_of(pcfg))

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
        study = optuna.create_study(storage=make_storage(url, config), study_name=name, direction="maximize",
                                    load_if_exists=True)
        study.set_user_attr("lrviz_tournament", config["id"])
        study.set_user_attr("schedules", labels)
        study.set_user_attr("seeds", seeds_of(config))
        study.set_user_attr("epochs", config["epochs"])
        study.set_user_attr("dataset", config["dataset"])
        fail_stale(study, url)  # a resumed study's trials left RUNNING by a crash count as missing
        enqueue_missing(study, config["schedules"], labels, seeds_of(config))
        pool = _WorkerPool(path, url, name, config["workers"])
        status.write(phase="running trials")
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


# --------------------------------------------------------------------------- Optuna plumbing


def ended_tournament(store: RunStore, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The folder and config of the tournament ``run_id`` that a resume continues;
    ``FieldError("parent", ...)`` when there is none or it is still active."""
    try:
        path = store.existing(run_id)
        config = read_json(path / "config.json")
        state = store.status(run_id).get("state")
    except (OSError, ValueError):
        raise FieldError("parent", f"the id of a tournament in {store.root.resolve()}", run_id) from None
    if config.get("kind") != TournamentJob.kind:
        raise FieldError("parent", "the id of a tournament", run_id)
    if state in ACTIVE_STATES:
        raise FieldError("parent", "a tournament that has ended (stop it first)", run_id)
    return path, config


def storage_url_of(config: Mapping[str, Any], path: Path) -> str:
    """The study's storage: ``config["storage"]``, or SQLite ``study.db`` in the tournament's folder."""
    return config.get("storage") or f"sqlite:///{(Path(path) / 'study.db').resolve()}"


def study_name_of(config: Mapping[str, Any]) -> str:
    return config.get("study") or config["id"]


def seeds_of(config: Mapping[str, Any]) -> list[int]:
    return list(range(config["seed"], config["seed"] + config["seeds"]))


def make_storage(url: str, config: Mapping[str, Any]) -> Any:
    """An Optuna ``RDBStorage`` with heartbeats, failed (stale) trials re-enqueued by
    ``RetryHeartbeatStaleTrialCallback(max_retry)`` (Optuna 5's name for
    ``RetryFailedTrialCallback``); SQLite waits up to 60 s for a lock."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=config["max_retry"])
        return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=config["heartbeat_interval"],
                          grace_period=config["grace_period"], heartbeat_stale_trial_callback=retry)


def enqueue_missing(study: Any, schedules: list[dict], labels: list[str], seeds: list[int]) -> int:
    """Enqueue one trial for every (schedule, seed) that has none completed, pruned, waiting or
    running; return how many. A new study gets them all; a resumed one the rest, each a retry
    of its last attempt: a stopped run with a saved model continues from it (user attr
    ``resume_run``). Optuna's ``skip_if_exists`` would skip failed pairs too."""
    from optuna.trial import TrialState

    settled = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False)
    n = 0
    for i, seed in trial_pairs(len(labels), seeds):
        mine = [t for t in trials if trial_params(t) == {"schedule": labels[i], "seed": seed}]
        if any(t.state in settled for t in mine):
            continue
        attrs: dict[str, Any] = {"schedule_index": i, "schedule_config": schedules[i]}
        last = max((t for t in mine if t.user_attrs.get("run_id")), key=lambda t: t.number, default=None)
        if last is not None:
            attrs["resume_run"] = last.user_attrs["run_id"]
        study.enqueue_trial({"schedule": labels[i], "seed": seed}, user_attrs=attrs)
        n += 1
    return n


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
    database (PostgreSQL locks the row)."""
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

    with open(f"{database}.claim.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    """The tournament's local worker processes; dead ones are replaced while trials wait
    (at most ``3 x workers`` replacements: a worker that dies at start is a bug, not bad luck)."""

    def __init__(self, path: Path, url: str, study: str, n: int):
        self.path, self.url, self.study, self.n = path, url, study, n
        self.procs: list[subprocess.Popen] = []
        self.respawned = 0
        self.fill()

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
        # N workers share the cores: each gets its slice instead of N x all of them
        env.setdefault("LRVIZ_TF_THREADS", str(max(1, (os.cpu_count() or 1) // self.n)))
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
                      max(config["workers"], running))
    if key == last:  # a heartbeat of our own
        ctx.status.write(running=running, workers=pool.pids(), respawned=pool.respawned, eta_s=eta)
        return last
    rows = leaderboard(records, labels, dataset=ctx.config["dataset"])
    v = verdict(rows, records)
    columns = [*LEADERBOARD_COLUMNS, *(["book_accuracy"] if ctx.config["dataset"] == "cifar10" else [])]
    atomic_write_text(ctx.path / "leaderboard.csv", _csv(rows, columns))
    trial_rows = [{"number": r.number, "schedule": r.schedule, "seed": r.seed, "state": r.state, "value": r.value,
                   "epochs_done": len(r.curve), "duration_s": r.duration_s, "retry": r.retry, "run_id": r.run_id}
                  for r in records]
    atomic_write_text(ctx.path / "trials.csv", _csv(trial_rows, ["number", "schedule", "seed", "state", "value",
                                                                  "epochs_done", "duration_s", "retry", "run_id"]))
    atomic_write_json(ctx.path / "verdict.json", asdict(v))
    top = rows[0] if rows and rows[0]["rank"] == 1 else None
    ctx.status.write(trials_done=done, running=running, best=top and top["schedule"],
                     best_mean=top and top["mean_val_accuracy"], verdict=v.text, workers=pool.pids(),
                     respawned=pool.respawned, eta_s=eta)
    if ctx.on_step is not None:
        ctx.on_step(rows, v)
    return key


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


def tournament_stopping(runs_dir: Path | str, group: str) -> bool:
    """Whether the tournament ``group`` was asked to stop or has stopped (workers take no new
    trial then). Read without the store's liveness check: the tournament may run elsewhere."""
    tdir = Path(runs_dir) / group
    if (tdir / "control" / STOP).exists():
        return True
    with contextlib.suppress(OSError, ValueError):
        return read_json(tdir / "status.json").get("state") in ("stopped", "finished")
    return False


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
    """A tournament as read from its folder (what a page shows)."""

    id: str
    dir: Path
    config: dict
    status: dict
    leaderboard: Any  # pandas DataFrame, one row per schedule, best first (empty before any trial)
    trials: Any  # pandas DataFrame, one row per Optuna trial
    verdict: dict | None
    winner: dict | None  # the rank-1 schedule config ("Use the winner")

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))

    @property
    def run_ids(self) -> list[str]:
        """The trials' lrviz training runs (retried ones included)."""
        if self.trials is None or "run_id" not in self.trials:
            return []
        return [r for r in self.trials["run_id"].dropna().astype(str)]


def read_tournament(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> TournamentView:
    """Everything a page shows about a tournament: config, status (liveness checked),
    leaderboard and trials (DataFrames), verdict and the winner's schedule config.
    Start one with ``runs.start_run(tournament_config(...))``; stop it with ``runs.stop_run``."""
    import pandas as pd

    store = RunStore(runs_dir)
    path = store.existing(run_id)
    config = read_json(path / "config.json")
    if config.get("kind") != TournamentJob.kind:
        raise FieldError("run_id", "the id of a tournament", run_id)
    status = store.status(run_id)

    def frame(name: str, columns: list[str]) -> Any:
        try:
            return pd.read_csv(path / name)
        except (OSError, ValueError):
            return pd.DataFrame(columns=columns)

    board = frame("leaderboard.csv", LEADERBOARD_COLUMNS)
    trials = frame("trials.csv", ["number", "schedule", "seed", "state", "value", "run_id"])
    try:
        v = read_json(path / "verdict.json")
    except (OSError, ValueError):
        v = None
    rows = board.to_dict("records")
    for r in rows:
        r["rank"] = None if pd.isna(r.get("rank")) else int(r["rank"])
    return TournamentView(run_id, path, config, status, board, trials, v, winner_schedule(rows, config["schedules"]))


def winner_schedule_of(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> dict | None:
    """The winning schedule's config (for a training run's ``schedule``); None before any
    trial completed."""
    return read_tournament(run_id, runs_dir).winner
