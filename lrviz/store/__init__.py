"""The run store (files and processes only): see :mod:`lrviz.store.store`."""

from lrviz.store.control import Control, send
from lrviz.store.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from lrviz.store.store import (
    ACTIVE_STATES,
    DEFAULT_RUNS_DIR,
    FINAL_STATES,
    RUN_ID_PATTERN,
    RunBusyError,
    RunRecord,
    RunStore,
    pid_alive,
    spawn_worker,
)

__all__ = ["ACTIVE_STATES", "DEFAULT_RUNS_DIR", "FINAL_STATES", "RUN_ID_PATTERN", "Control", "RunBusyError",
           "RunRecord", "RunStore", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "pid_alive",
           "read_json", "send", "spawn_worker"]
