"""Where a tournament's Optuna study lives, and the steps every process takes on it: which
storage URLs are accepted (:func:`normalize_storage`), a password kept out of them
(:func:`split_password`), whether a database can hold a study (:func:`study_file_problem`,
:func:`probe_storage`), the storage itself (:func:`make_storage`, heartbeats and retries), and
the read-then-write steps guarded by the claim lock (:func:`claim_waiting_trial`,
:func:`fail_stale`, :func:`enqueue_many`)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError, shown

__all__ = ["STORAGE_RULE", "STUDY_FILE", "CONNECT_TIMEOUT_S", "normalize_storage", "split_password",
           "hide_password", "study_file_problem", "probe_storage", "storage_url_of", "make_storage",
           "opened_storage", "claim_lock", "claim_waiting_trial", "fail_stale", "enqueue_many", "Heartbeat"]

STORAGE_RULE = "an sqlite:///PATH or postgresql://USER@HOST/DB URL"
STUDY_FILE = "study.db"
CONNECT_TIMEOUT_S = 5.0  # a database server that does not answer within this is refused
_STUDY_SIBLINGS = ("", "-journal", "-wal", "-shm", ".claim.lock")  # what SQLite and the claim lock write
_OPTUNA_TABLES = {"studies", "trials", "version_info"}


# --------------------------------------------------------------------------- which database, is it one


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
                         hide_password(url))
    if "://" not in url:
        raise FieldError("storage", STORAGE_RULE, url)
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads, or an unknown dialect (foo://)
        raise FieldError("storage", STORAGE_RULE, url) from None
    if backend == "postgresql":
        try:
            parsed.get_dialect().import_dbapi()
        except Exception:  # noqa: BLE001 - the driver is missing (postgresql+psycopg2:// without psycopg2)
            raise FieldError("storage", f"a PostgreSQL URL whose driver is installed ({parsed.get_driver_name()} is "
                             "not; postgresql:// uses psycopg: pip install psycopg[binary])", url) from None
        return url
    if backend != "sqlite":
        raise FieldError("storage", STORAGE_RULE + f" (lrviz keeps studies in SQLite or PostgreSQL, not {backend})",
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


def hide_password(url: str) -> str:
    """``url`` as shown to people: without its password (user part or ``?password=``), said."""
    bare, password = split_password(url)
    return bare if password is None else f"{bare}  (password hidden)"


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
        raise FieldError("storage", rule, hide_password(url), hint="no answer")
    if outcome[0] is not None:
        reason = " ".join(str(getattr(outcome[0], "orig", None) or outcome[0]).split())
        raise FieldError("storage", rule, hide_password(url), hint=shown(reason, as_typed=True))


# --------------------------------------------------------------------------- the storage


def storage_url_of(config: Mapping[str, Any], path: Path) -> str:
    """The study's storage: ``config["storage"]``, or SQLite ``study.db`` in the tournament's folder."""
    return config.get("storage") or f"sqlite:///{Path(path).resolve() / STUDY_FILE}"  # a study.db link: not followed


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


@contextlib.contextmanager
def opened_storage(url: str, config: Mapping[str, Any]) -> Any:
    """:func:`make_storage` for a check, its connections closed after (a page process lives long)."""
    storage = make_storage(url, config)
    try:
        yield storage
    finally:
        with contextlib.suppress(Exception):
            storage.remove_session()
            storage.engine.dispose()


# --------------------------------------------------------------------------- read-then-write steps


@contextlib.contextmanager
def claim_lock(url: str) -> Any:
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
    with claim_lock(url):
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return optuna.Trial(study, trial_id), trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return None


def fail_stale(study: Any, url: str) -> None:
    """Mark trials whose heartbeat stopped as failed (the retry callback re-enqueues them).
    Under the claim lock: on SQLite two processes could otherwise both fail, and both retry,
    one stale trial."""
    import optuna

    with claim_lock(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


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
