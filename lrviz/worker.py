"""The worker process: ``python -m lrviz.worker <run_dir>`` runs the job of that run folder.

It is what the run store spawns (and what ``python -m lrviz train`` calls in the foreground
through :func:`run_worker`). It reads ``config.json``, picks the job by ``kind``
(:func:`lrviz.jobs.job_for`), marks the run ``running`` with its pid, hands the job its
folder, status writer and control requests, and records the outcome: the job returns
``finished`` or ``stopped``; any exception marks the run ``failed`` with the error text,
keeping every file written so far. SIGINT and SIGTERM ask for a graceful stop.

The worker protocol, per run folder:

==================  ============  ==========================================
file                written by    what
==================  ============  ==========================================
config.json         store, job    settings; the job adds what it measured
status.json         store, job    state, progress, ETA, error (4 writes/s max)
control/stop        UI / CLI      stop after the current batch
control/lr-*.json   UI / CLI      set the LR (value or factor) from the next batch
worker.pid          store         the spawned pid, until the job writes its own
worker.log          worker        Keras' output and the text report
(kind's files)      job           history.csv, model.keras, lr_find.csv, ...
==================  ============  ==========================================
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrviz.jobs import WorkerContext, job_for
from lrviz.jobs.common import StatusWriter
from lrviz.store.control import Control
from lrviz.store.files import read_json

__all__ = ["run_worker", "main", "failure_text"]


def run_worker(run_dir: str | Path, *, verbose: int | str = 2, install_signals: bool = True,
               on_step: Callable[..., Any] | None = None,
               on_loading: Callable[[int, int], None] | None = None) -> str:
    """Run the job of the run in ``run_dir`` to its end; return its final state.

    ``on_step`` is handed to the job (the LR range test calls it after each batch);
    ``on_loading(done, total)`` hears each count of files read while own images load."""
    path = Path(run_dir)
    config = read_json(path / "config.json")
    status = StatusWriter(path)
    status.on_loading = on_loading
    control = Control(path / "control")
    if install_signals:
        signal.signal(signal.SIGINT, control.request_stop)
        signal.signal(signal.SIGTERM, control.request_stop)
    try:
        import psutil

        ctime = psutil.Process().create_time()
    except Exception:  # noqa: BLE001
        ctime = None
    status.write(state="running", pid=os.getpid(), pid_create_time=ctime, host=socket.gethostname(),
                 started_at=time.time(), phase="loading data")
    try:
        return job_for(config).run(WorkerContext(path, config, status, control, verbose, on_step))
    except BaseException as e:  # noqa: BLE001 - every failure must end up in status.json
        traceback.print_exc()
        status.reload()  # keep the progress the job wrote
        status.write(state="failed", error=failure_text(e), eta_s=None, phase=None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return "failed"


def failure_text(error: BaseException) -> str:
    """What a failed run's status says: a bad value or missing data (a ``ValueError`` lrviz
    worded for people: ``FieldError``, ``DataError``) as its message; anything else with its type
    (``RuntimeError: disk on fire``), which says where to look."""
    from lrviz.data import DataError
    from lrviz.errors import FieldError

    if isinstance(error, (FieldError, DataError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m lrviz.worker RUN_DIR\n")
        return 2
    state = run_worker(args[0], verbose=2)
    return 0 if state in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
