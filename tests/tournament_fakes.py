"""Tournament folders written without training: a real config, status and Optuna study (trials
added with ``study.add_trial``), for the tests of what a resume, a worker and the read API
accept from a folder; a fake PostgreSQL server that asks for a cleartext password; and finished
trials in memory (:func:`finished_trials`) for the leaderboard's and the verdict's tests."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lrviz import runs
from lrviz.jobs.tournament import make_storage, record_settings, storage_url_of, tournament_config
from lrviz.tournament import schedule_labels
from lrviz.trials import TrialRecord

TINY = {"dataset": "digits", "limit": 200, "batch_size": 32}
TWO = [{"name": "constant", "params": {"lr": 0.01}}, {"name": "constant", "params": {"lr": 0.05}}]
DEAD_PID = 2**22 + 4321  # above Linux's default pid_max: never a live process


def tournament_folder(runs_dir: Path, *, complete: int = 0, state: str = "stopped", study: bool = True,
                      schedules: list[dict] | None = None, seeds: int = 1, **settings: Any) -> str:
    """A tournament that has ended (``state``), its study (``study.db``) holding ``complete``
    completed trials (the first pairs, value 0.5), the rest never run."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    cfg = tournament_config(schedules or TWO, seeds=seeds, **{"epochs": 2, **TINY, **settings})
    tid = runs.create_run(cfg, runs_dir, launch=lambda p: (DEAD_PID, None))
    path = Path(runs_dir) / tid
    config = runs.read_json(path / "config.json")
    if study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s = optuna.create_study(storage=make_storage(storage_url_of(config, path), config), study_name=tid,
                                direction="maximize")
        record_settings(s, config)
        labels = schedule_labels(config["schedules"])
        seed_list = list(range(config["seed"], config["seed"] + config["seeds"]))
        pairs = [(label, seed) for seed in seed_list for label in labels]
        for label, seed in pairs[:complete]:
            s.add_trial(create_trial(params={"schedule": label, "seed": seed},
                                     distributions={"schedule": CategoricalDistribution(labels),
                                                    "seed": CategoricalDistribution(seed_list)}, value=0.5))
    status = runs.read_json(path / "status.json")
    runs.atomic_write_json(path / "status.json", {**status, "state": state, "pid": None})
    return tid


def edit_config(runs_dir: Path, tid: str, **changes: Any) -> None:
    path = Path(runs_dir) / tid / "config.json"
    runs.atomic_write_json(path, {**runs.read_json(path), **changes})


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file under ``root`` (links as their target), to compare before and after."""
    out: dict[str, bytes | str] = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "-> " + str(p.readlink())
        elif p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@contextlib.contextmanager
def password_catcher() -> Iterator[tuple[int, list[bytes]]]:
    """A fake PostgreSQL server on 127.0.0.1: it refuses SSL, asks every client for its password
    in clear (AuthenticationCleartextPassword) and keeps what it is sent. Yields (port, caught)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    caught: list[bytes] = []
    done = threading.Event()

    def read_message(conn: socket.socket, typed: bool) -> bytes:
        head = conn.recv(5 if typed else 4, socket.MSG_WAITALL)
        size = struct.unpack("!I", head[-4:])[0]
        return head + conn.recv(size - 4, socket.MSG_WAITALL)

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    caught.append(b"connected")
                    msg = read_message(conn, typed=False)
                    if struct.unpack("!I", msg[4:8])[0] in (80877103, 80877104):  # SSL or GSS request
                        conn.sendall(b"N")
                        msg = read_message(conn, typed=False)
                    conn.sendall(b"R" + struct.pack("!II", 8, 3))  # send me your password, in clear
                    caught.append(read_message(conn, typed=True))
                except (OSError, struct.error):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], caught
    finally:
        done.set()
        thread.join(5)
        server.close()


# Three schedules' final accuracies over seeds 1..3: A leads C by a little (within the seeds' spread), B trails.
FINAL = {"A": [0.91, 0.95, 0.93], "B": [0.80, 0.84, 0.79], "C": [0.93, 0.90, 0.95]}


def finished_trials(final: dict[str, list[float]] = FINAL, extra=()) -> list[TrialRecord]:
    """A complete trial per schedule and seed (seeds from 1) ending at ``final``'s accuracy, over
    3 epochs (``v - 0.1``, ``v + 0.01``, ``v``: the best epoch is not the last), then ``extra``."""
    out, n = [], 0
    for label, values in final.items():
        for seed, v in enumerate(values, start=1):
            out.append(TrialRecord(n, label, seed, "complete", v, {1: v - 0.1, 2: v + 0.01, 3: v},
                                   duration_s=10.0 + seed))
            n += 1
    return out + list(extra)
