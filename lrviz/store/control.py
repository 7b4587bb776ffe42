"""The control protocol between the UI (or CLI) and a running worker: files in ``control/``.

The UI side writes one file per request with :func:`send` (atomically): ``stop`` to stop
after the current batch, ``lr-<time_ns>-<rand>.json`` holding ``{"value": v}`` or
``{"factor": f}`` to change the LR. The worker side reads them with :class:`Control`, oldest
first, each once; SIGINT/SIGTERM set the same stop flag (:meth:`Control.request_stop`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrviz.store.files import atomic_write_json, read_json

__all__ = ["Control", "send", "STOP", "lr_request_name"]

STOP = "stop"


def lr_request_name() -> str:
    """A fresh, time-ordered file name for an LR request."""
    return f"lr-{time.time_ns():020d}-{secrets.token_hex(2)}.json"


def send(run_dir: Path, name: str, payload: Mapping[str, Any]) -> None:
    """Write one request into ``<run_dir>/control/`` (stamped with ``requested_at``).
    ``ValueError`` when ``control`` is a symbolic link: a request never lands outside the run."""
    control = Path(run_dir) / "control"
    if control.is_symlink():
        raise ValueError(f"{control} is a symbolic link; requests are written only inside the run's folder")
    control.mkdir(exist_ok=True)
    atomic_write_json(control / name, {**payload, "requested_at": time.time()})


class Control:
    """The worker's side: new requests from ``control/``, and signals."""

    def __init__(self, control_dir: Path):
        self.dir = Path(control_dir)
        self.stop_requested = (self.dir / STOP).exists()
        self._seen: set[str] = set()

    def request_stop(self, *_: Any) -> None:
        """Signal handler and programmatic stop."""
        self.stop_requested = True

    def poll(self) -> list[dict[str, Any]]:
        """New LR requests, oldest first; sets ``stop_requested`` if a stop file appeared."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        if len(names) == len(self._seen):  # cheap path: nothing new (called every batch)
            return []
        out = []
        for name in sorted(names):
            if name in self._seen or name.startswith("."):
                continue
            self._seen.add(name)
            if name == STOP:
                self.stop_requested = True
            elif name.startswith("lr-") and name.endswith(".json"):
                try:
                    out.append(read_json(self.dir / name))
                except (OSError, ValueError):
                    pass
        return out
