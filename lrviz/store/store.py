"""The run store: one folder per run under a runs folder, and the processes that fill them.

It knows files and processes only, never what a run computes: ids and their confinement to
the runs folder, atomic files, the one-active-run lock, worker liveness, spawning, listing,
reading, stop requests and deletion. What a run *is* (training, LR range test, ...) lives in
:mod:`lrviz.jobs`; the store receives configs and statuses as plain dicts.

Every run folder holds ``config.json`` (written at creation) and ``status.json`` (``state``:
queued -> running -> finished | stopped | failed, plus whatever the job reports), a
``control/`` folder for requests (:mod:`lrviz.store.control`), and ``worker.log``.

**One run at a time.** On a 2-core machine two runs would each go at half speed, so
:meth:`RunStore.create` while a run is queued or running raises :class:`RunBusyError` (it
names the active run) instead of queueing. A run created with ``exclusive=False`` trains in
a process the store does not own (a user's own ``fit``): it neither waits for nor blocks
another run. The check, the creation and the worker's start
happen under an ``fcntl.flock`` on ``<runs_dir>/.lock``: concurrent starts give one run.

**Liveness.** The worker (``python -m lrviz.worker <run_dir>``) runs in its own session, with
its output in ``worker.log``, so closing a browser or restarting Streamlit neither kills nor
duplicates it. An active run whose worker is gone (SIGKILL, OOM) is marked ``failed`` by any
read (:meth:`RunStore.read`, :meth:`RunStore.records`, :meth:`RunStore.active`); its files stay.
A run whose status names another ``host`` (a runs folder shared between machines, e.g. a
tournament's cluster workers) cannot be checked by pid: it counts as alive while it keeps
writing its status, and is failed after ``REMOTE_STALE_S`` without news.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError
from lrviz.settings import RUN_ID_PATTERN
from lrviz.store.control import STOP, send
from lrviz.store.files import atomic_write_json, read_json

__all__ = ["RunStore", "RunRecord", "RunBusyError", "ACTIVE_STATES", "FINAL_STATES", "DEFAULT_RUNS_DIR",
           "RUN_ID_PATTERN", "spawn_worker"]

DEFAULT_RUNS_DIR = Path(os.environ.get("LRVIZ_RUNS_DIR", "runs"))
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("finished", "stopped", "failed")
QUEUED_GRACE_S = 120.0  # a queued run whose worker never reported is failed after this
NAME_FILE = "name.json"
REMOTE_STALE_S = 600.0  # a run on another host (shared runs folder) is failed after this long without news
Launch = Callable[[Path], tuple[int, float | None]]


class RunBusyError(RuntimeError):
    """Another run is queued or running (the message names it and its progress)."""


@dataclass
class RunRecord:
    """A run folder as read: its config and status (``{}`` / ``{"state": "unknown"}`` when
    unreadable, with the reasons in ``errors``)."""

    id: str
    dir: Path
    config: dict
    status: dict
    errors: list[str]
    name: str | None = None  # what a person called it (name.json), if anyone did

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))


def _default_describe(status: Mapping[str, Any]) -> str:
    return str(status.get("state", "unknown"))


class RunStore:
    """The runs folder ``root``. ``describe(status) -> str`` words an active run's progress in
    busy messages (the job layer supplies it; the store itself knows no progress fields)."""

    def __init__(self, root: Path | str = DEFAULT_RUNS_DIR,
                 describe: Callable[[Mapping[str, Any]], str] = _default_describe):
        self.root = Path(root)
        self.describe = describe

    # ------------------------------------------------------------------ paths

    def path(self, run_id: str) -> Path:
        """``<root>/<run_id>``; ``FieldError`` for an id that is malformed or escapes the root."""
        if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or run_id in (".", ".."):
            raise FieldError("run_id", f"a run id matching {RUN_ID_PATTERN.pattern}", run_id)
        root = self.root.resolve()
        if (root / run_id).resolve().parent != root:
            raise FieldError("run_id", f"a folder inside {root}", run_id)
        return self.root / run_id

    def existing(self, run_id: str) -> Path:
        """The folder of a run that exists; ``FileNotFoundError`` otherwise."""
        path = self.path(run_id)
        if not (path / "config.json").exists() and not (path / "status.json").exists():
            raise FileNotFoundError(f"No run {run_id!r} in {self.root.resolve()}.")
        return path

    def run_dirs(self) -> Iterator[Path]:
        """Run folders, by name. A symlinked "run" may point outside the runs folder: never followed."""
        if not self.root.is_dir():
            return
        for child in sorted(self.root.iterdir()):
            if RUN_ID_PATTERN.match(child.name) and not child.is_symlink() and child.is_dir():
                yield child

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The store-wide lock (busy check + creation + start are one step under it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ liveness

    def _checked(self, path: Path, status: dict[str, Any]) -> dict[str, Any]:
        """Mark an active run whose worker is gone as failed (files kept); return the status."""
        if status.get("state") not in ACTIVE_STATES:
            return status
        host = status.get("host")
        if host and host != socket.gethostname():  # another machine's worker (a shared runs folder)
            age = time.time() - _seconds(status.get("updated_at"), 0.0)
            if abs(age) < REMOTE_STALE_S:  # a time far in the future (tampered) is no news either
                return status  # its pid means nothing here: alive while it keeps reporting
            return self._mark_failed(path, status, f"no news from the worker on {host} for {age / 60:.0f} min")
        pid, ctime = _worker_pid(path, status)
        if pid is None:
            # no readable time at all: as old as can be (never "queued" for ever)
            age = time.time() - _seconds(status.get("updated_at") or status.get("created_at"), 0.0)
            if abs(age) < QUEUED_GRACE_S:
                return status
            reason = "worker process never started"
        elif pid_alive(pid, ctime):
            return status
        else:
            reason = f"worker process ended unexpectedly (pid {pid})"
        return self._mark_failed(path, status, reason)

    def _mark_failed(self, path: Path, status: dict[str, Any], reason: str) -> dict[str, Any]:
        try:  # it may have written its final state between our two reads
            fresh = read_json(path / "status.json")
            if fresh.get("state") not in ACTIVE_STATES:
                return fresh
        except (OSError, ValueError):
            fresh = dict(status)
        fresh.update(state="failed", error=reason, updated_at=time.time(), eta_s=None)
        with contextlib.suppress(OSError):
            atomic_write_json(path / "status.json", fresh)
        return fresh

    def status(self, run_id: str) -> dict[str, Any]:
        """A run's status, liveness checked; ``OSError``/``ValueError`` if unreadable."""
        path = self.existing(run_id)
        return self._checked(path, read_json(path / "status.json"))

    def active(self, *, except_group: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """``(id, status)`` of a queued or running run, if any (dead workers marked failed first).

        Runs of a group (a run whose status has ``group``: the id of the run that started it,
        e.g. a tournament's trials) count as their group's run: the group's own run is reported
        when it is active. ``except_group`` ignores that group and its run (a group's own
        members may run side by side)."""
        found = None
        for child in self.run_dirs():
            try:
                status = read_json(child / "status.json")
            except (OSError, ValueError):
                continue
            if status.get("exclusive") is False:  # trains in a process of its own: never busy
                continue
            status = self._checked(child, status)
            if status.get("state") not in ACTIVE_STATES:
                continue
            group = status.get("group")
            if except_group is not None and except_group in (child.name, group):
                continue
            if group is None:
                return child.name, status
            found = found or (child.name, status)
        return found

    def busy_error(self, run_id: str, status: Mapping[str, Any], todo: str) -> RunBusyError:
        return RunBusyError(f"Run {run_id} is {status.get('state')} ({self.describe(status)}); {todo}")

    # ------------------------------------------------------------------ create

    def create(self, config: dict[str, Any], *, status: Callable[[dict[str, Any]], dict[str, Any]],
               id_hint: Callable[[dict[str, Any]], str], launch: Launch | None = None,
               prepare: Callable[[dict[str, Any]], None] | None = None, group: str | None = None,
               exclusive: bool = True) -> str:
        """Create ``<root>/<stamp>-<id_hint(config)>-<rand>/`` holding ``config`` and
        ``status(config)`` (state queued), and return its id.

        Under the lock: refuse (:class:`RunBusyError`) while another run is active, call
        ``prepare(config)`` (may change it, or raise: nothing is created then), write the files,
        and start the worker with ``launch(run_dir) -> (pid, create_time)``.
        ``group``: the id of an active run this one belongs to (e.g. a tournament creating its
        trials): runs of that group do not make it busy, and the new run joins the group
        (``group`` in its config and status).
        ``exclusive=False``: a run that trains in a process of its own, not lrviz's (a user's
        ``fit``): it is never refused because another run is active, and it never makes the
        store busy (``"exclusive": false`` in its status; :meth:`active` passes over it).
        """
        with self.lock():
            active = self.active(except_group=group) if exclusive else None
            if active is not None:
                raise self.busy_error(*active, "stop it or wait for it to finish before starting another.")
            if prepare is not None:
                prepare(config)
            rid = self._new_id(id_hint(config))
            path = self.root / rid
            (path / "control").mkdir(parents=True)
            now = time.time()
            config.update(id=rid, created_at=now)
            if group is not None:
                config["group"] = group
            status = {"state": "queued", "created_at": now, "started_at": None, "updated_at": now, "elapsed_s": 0.0,
                      "eta_s": None, "error": None, "pid": None, **status(config)}
            if group is not None:
                status["group"] = group
            if not exclusive:
                status["exclusive"] = False
            atomic_write_json(path / "config.json", config)
            atomic_write_json(path / "status.json", status)
            if launch is not None:
                pid, ctime = launch(path)
                atomic_write_json(path / "worker.pid", {"pid": pid, "create_time": ctime})
        return rid

    def _new_id(self, hint: str) -> str:
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{hint}"
        while True:
            rid = f"{base}-{secrets.token_hex(2)}"
            if not (self.root / rid).exists():
                return rid

    # ------------------------------------------------------------------ read

    def read(self, run_id: str) -> RunRecord:
        """A run's config and status, liveness checked; unreadable files give ``errors``."""
        return self._record(self.existing(run_id))

    def records(self) -> list[RunRecord]:
        """Every run folder that has a config or a status, by name."""
        return [self._record(c) for c in self.run_dirs()
                if (c / "config.json").exists() or (c / "status.json").exists()]

    def _record(self, path: Path) -> RunRecord:
        errors = []
        try:
            config = read_json(path / "config.json")
        except FileNotFoundError:
            config = {}
        except (OSError, ValueError) as e:
            config = {}
            errors.append(f"config.json: {type(e).__name__}: {e}")
        try:
            status = self._checked(path, read_json(path / "status.json"))
        except FileNotFoundError:
            status = {"state": "unknown"}
        except (OSError, ValueError) as e:
            status = {"state": "unknown"}
            errors.append(f"status.json: {type(e).__name__}: {e}")
        try:
            name = read_json(path / NAME_FILE).get("name")
        except (OSError, ValueError):
            name = None
        return RunRecord(path.name, path, config, status, errors, name if isinstance(name, str) and name else None)

    def set_name(self, run_id: str, name: str | None) -> None:
        """Give a run a name people recognise it by (``name.json``; None or "" removes it). A file
        of its own: the worker rewrites config.json while it runs."""
        path = self.existing(run_id) / NAME_FILE
        if name:
            atomic_write_json(path, {"name": name})
        else:
            path.unlink(missing_ok=True)

    def files(self, run_id: str, names: tuple[str, ...]) -> dict[str, Path]:
        """Those of ``names`` that are regular files in the run folder (a symlink could offer a
        file from elsewhere: never listed)."""
        path = self.existing(run_id)
        return {n: path / n for n in names if (path / n).is_file() and not (path / n).is_symlink()}

    # ------------------------------------------------------------------ control

    def request(self, run_id: str, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Send a control request to an active run; return its status. ``ValueError`` if it has ended."""
        status = self.status(run_id)
        if status.get("state") not in ACTIVE_STATES:
            raise ValueError(f"Run {run_id} is {status.get('state')}; it no longer takes requests.")
        send(self.existing(run_id), name, payload)
        return status

    def stop(self, run_id: str) -> None:
        """Ask the worker to stop after its current batch, and every active run of its group (a
        group's runs outlive a run that was killed: they are stopped too). A no-op for a run
        that has ended and has no active run in its group."""
        path = self.existing(run_id)
        if self.status(run_id).get("state") in ACTIVE_STATES:
            send(path, STOP, {})
        for child in self.run_dirs():
            if child.name == run_id:
                continue
            try:
                status = read_json(child / "status.json")
            except (OSError, ValueError):
                continue
            if status.get("group") == run_id and self._checked(child, status).get("state") in ACTIVE_STATES:
                with contextlib.suppress(OSError, ValueError):
                    send(child, STOP, {})

    def delete(self, run_id: str) -> None:
        """Remove a run's folder; refuses (:class:`RunBusyError`) while it is queued or running."""
        path = self.existing(run_id)
        with self.lock():
            try:
                status = self._checked(path, read_json(path / "status.json"))
            except (OSError, ValueError):
                status = {}
            if status.get("state") in ACTIVE_STATES:
                raise self.busy_error(run_id, status, "stop it before deleting it.")
            shutil.rmtree(path)


# ---------------------------------------------------------------------- processes


def pid_alive(pid: Any, create_time: Any = None) -> bool:
    """Whether ``pid`` is a live process (not a zombie, not a reused pid when ``create_time`` is known)."""
    import psutil

    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if isinstance(create_time, (int, float)) and abs(p.create_time() - create_time) > 1.0:
            return False  # the pid was reused by another process
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _worker_pid(path: Path, status: Mapping[str, Any]) -> tuple[Any, Any]:
    if status.get("pid"):
        return status.get("pid"), status.get("pid_create_time")
    try:
        info = read_json(path / "worker.pid")
        return info.get("pid"), info.get("create_time")
    except (OSError, ValueError):
        return None, None


def spawn_worker(path: Path) -> tuple[int, float | None]:
    """Start ``python -m lrviz.worker <path>`` in its own session, output to ``worker.log``."""
    import psutil

    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    with open(path / "worker.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lrviz.worker", str(path.resolve())], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, close_fds=True)
    try:
        ctime = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        ctime = None
    return proc.pid, ctime


def _seconds(value: Any, default: float) -> float:
    """A Unix time read from a status file, ``default`` when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)
