"""The runs API the pages and the CLI call: start, list, load, stop, steer and delete runs.

It joins the run store (:mod:`lrviz.store`: folders, files, processes, no run kinds) with
the job kinds (:mod:`lrviz.jobs`: what a run computes and writes). Every function here
works for every kind, through the kind's :class:`lrviz.jobs.base.Job` class.

Runs written before kinds existed (no ``kind`` in ``config.json``) are training runs.

Pages and the command line reach a kind through this module, never by importing
:mod:`lrviz.jobs`: its names (:data:`TRAIN`, :data:`LR_FIND`, :data:`TOURNAMENT`), its settings
(:func:`settings_of`), its label (:func:`label_of`), the checks a config passes before its folder
exists (:func:`check_data`, :func:`tournament_preflight`), and the few kind-specific calls a page
or a command makes (:func:`check_lr_change`, :func:`read_tournament`, :func:`tournament_config`,
...). The tournament's trial worker (:func:`lrviz.jobs.tournament.worker.work`) is not here: it
creates its trials through this module, so it sits above it, beside the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lrviz import jobs
from lrviz.data import dataset_words
from lrviz.jobs.common import DATA_KEYS, installed_backends, load_data, own_data_words
from lrviz.jobs.common import preflight as check_data
from lrviz.jobs.lr_find import LRFindJob
from lrviz.jobs.tournament import TournamentJob, local_workers, read_tournament, split_password, tournament_config
from lrviz.jobs.tournament import preflight as tournament_preflight
from lrviz.jobs.training import HISTORY_COLUMNS, SET_LR, TrainingJob
from lrviz.models import model_label
from lrviz.settings import Setting
from lrviz.store import (
    ACTIVE_STATES,
    DEFAULT_RUNS_DIR,
    FINAL_STATES,
    RUN_ID_PATTERN,
    RunBusyError,
    RunStore,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
    spawn_worker,
)

__all__ = [
    "DEFAULT_RUNS_DIR", "RUN_ID_PATTERN", "HISTORY_COLUMNS", "ACTIVE_STATES", "FINAL_STATES",
    "RunBusyError", "Run", "RunSummary", "store_at",
    "validate_config", "default_config", "validate_lr_find_config", "default_lr_find_config", "validate_config_of",
    "create_run", "start_run", "start_lr_find", "list_runs", "load_run", "stop_run", "set_lr", "delete_run",
    "active_run", "latest_run", "run_path", "run_kind", "set_run_name", "RUN_NAME", "lr_fixed",
    "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "read_json",
    "TRAIN", "LR_FIND", "TOURNAMENT", "settings_of", "label_of", "check_lr_change", "SET_LR", "DATA_KEYS",
    "installed_backends", "own_data_words", "read_tournament", "tournament_config",
    "load_data", "check_data", "tournament_preflight", "local_workers", "split_password",
]

Launch = Callable[[Path], tuple[int, Any]]


TRAIN, LR_FIND, TOURNAMENT = TrainingJob.kind, LRFindJob.kind, TournamentJob.kind


def settings_of(kind: str) -> dict[str, Setting]:
    """The settings of a kind's config (labels, help, rules), described once by its job."""
    return jobs.job_for(kind).settings()


def label_of(config: Mapping[str, Any]) -> str | None:
    """One line saying what a run does (its kind's words), for tables and headers."""
    return jobs.job_for(config).label(config)


def check_lr_change(*, value: float | None = None, factor: float | None = None,
                    lr_now: float | None = None) -> tuple[str, float]:
    """A Set-LR request checked by the engine's rule (see ``TrainingJob.check_lr_change``)."""
    return TrainingJob.check_lr_change(value=value, factor=factor, lr_now=lr_now)


def store_at(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> RunStore:
    """The run store of ``runs_dir``, its busy messages worded by the job kinds."""
    return RunStore(runs_dir, describe=jobs.progress_text)


def run_kind(config: Mapping[str, Any]) -> str:
    return jobs.kind_of(config)


# --------------------------------------------------------------------------- configs (the two kinds of today)


def default_config() -> dict[str, Any]:
    """A training run: the tutorial's experiment on the offline digits dataset."""
    return TrainingJob.defaults()


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A training run's config, normalised; ``FieldError`` naming the field, rule and value."""
    return TrainingJob.validate(config)


def validate_config_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """Any run config, validated by its kind's job (``config["kind"]``, training by default)."""
    return jobs.job_for(config).validate(config)


def default_lr_find_config() -> dict[str, Any]:
    """An LR range test with the training defaults' data and optimizer, and fastai's sweep."""
    return {"kind": LRFindJob.kind, **LRFindJob.defaults()}


def validate_lr_find_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return LRFindJob.validate(config)


# --------------------------------------------------------------------------- create


def create_run(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR, *,
               launch: Launch | None = None, group: str | None = None) -> str:
    """Validate ``config`` for its job kind (``config["kind"]``, training by default), check that
    no run is active, and create the run folder (state queued); ``launch(run_dir)`` starts its
    worker under the store lock. Returns the run id.

    ``group``: the id of the active run this one belongs to (a tournament's trial): the
    group's runs do not make it busy (see :meth:`lrviz.store.RunStore.create`)."""
    job = jobs.job_for(config)
    cfg = job.validate({k: v for k, v in config.items() if k != "group"} if isinstance(config, Mapping) else config)
    store = store_at(runs_dir)
    return store.create(cfg, status=job.initial_status, id_hint=job.id_hint, launch=launch,
                        prepare=lambda c: job.prepare(c, store), group=group, exclusive=job.exclusive)


def start_run(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str:
    """Create a run (training unless ``config["kind"]`` says otherwise) and spawn its worker
    process; return the run id. ``ValueError`` for a bad config, :class:`RunBusyError` if a
    run is active."""
    return create_run(config, runs_dir, launch=spawn_worker)


def start_lr_find(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str:
    """Create an LR range test run and spawn its worker; return the run id."""
    return start_run({**config, "kind": LRFindJob.kind}, runs_dir)


# --------------------------------------------------------------------------- read


@dataclass
class RunSummary:
    id: str
    dir: Path
    state: str
    epoch: int  # progress done: finished epochs, or batches of an LR range test
    epochs: int | None  # progress total
    created_at: float | None
    dataset: str | None
    schedule: str | None  # the job's label, e.g. "Step decay (lr=0.01, factor=0.5, drop_every=5)"
    parent: str | None
    val_accuracy: float | None  # of the last finished epoch
    error: str | None
    kind: str = jobs.DEFAULT_KIND
    name: str | None = None  # what a person called it (set_run_name)
    model: str | None = None  # which model, in a word (lrviz.models.model_label): MiniVGGNet, MobileNetV2, ...


@dataclass
class Run:
    id: str
    dir: Path
    config: dict
    status: dict
    history: pd.DataFrame
    class_names: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    error: str | None = None  # set when a file of the run could not be read
    name: str | None = None  # what a person called it (set_run_name)
    # What its kind's job read of its own files (Job.load_extras), by the names the job gives them:
    # a training run's "report" and "confusion", an LR range test's "lr_find" and "suggestions".
    # Only the kind's own view reads them, so a new kind adds files without a field here.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return jobs.kind_of(self.config)

    @property
    def job(self) -> type[jobs.Job]:
        return jobs.job_for(self.config)

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))


def _read_history(path: Path) -> pd.DataFrame:
    f = path / "history.csv"
    if not f.exists():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    return pd.read_csv(f)


def load_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Run:
    """Everything on disk about a run. Unreadable files give ``Run.error`` instead of raising."""
    store = store_at(runs_dir)
    record = store.read(run_id)
    path, config = record.dir, record.config
    errors = list(record.errors)

    def attempt(what: str, fn: Callable[[], Any], default: Any) -> Any:
        try:
            return fn()
        except FileNotFoundError:
            return default
        except Exception as e:  # noqa: BLE001 - truncated JSON, empty CSV, ...
            errors.append(f"{what}: {type(e).__name__}: {e}")
            return default

    job = jobs.job_for(config)
    history = attempt("history.csv", lambda: _read_history(path), pd.DataFrame(columns=HISTORY_COLUMNS))
    extras = dict(job.load_extras(path, attempt))
    if isinstance(extras.get("confusion"), pd.DataFrame):  # a run with a report: the classes it was scored on
        class_names = list(extras["confusion"].index)
    else:
        from lrviz.data import CIFAR10_CLASSES, DIGITS_CLASSES

        class_names = list(CIFAR10_CLASSES if config.get("dataset") == "cifar10" else DIGITS_CLASSES)
    files = store.files(run_id, job.files)
    return Run(run_id, path, config, record.status, history, class_names=class_names, files=files,
               error="; ".join(errors) or None, name=record.name, extras=extras)


def list_runs(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> list[RunSummary]:
    """All runs, newest first. A run with unreadable files is listed with ``error`` set."""
    out: list[RunSummary] = []
    for rec in store_at(runs_dir).records():
        cfg, st, errors = rec.config, rec.status, list(rec.errors)
        job = jobs.job_for(cfg)
        val_acc = None
        try:
            hist = _read_history(rec.dir)
            if len(hist) and "val_accuracy" in hist:
                val_acc = float(hist["val_accuracy"].iloc[-1])
        except Exception as e:  # noqa: BLE001
            errors.append(f"history.csv: {type(e).__name__}: {e}")
        if st.get("error"):
            errors.insert(0, str(st["error"]))
        created = cfg.get("created_at") or st.get("created_at")
        if not isinstance(created, (int, float)):
            created = rec.dir.stat().st_mtime
        done_key, total_key = job.progress_keys
        done, total = job.progress(cfg, st)
        try:
            done = int(done or 0)
        except (TypeError, ValueError):
            errors.append(f"status.json: `{done_key}` is not a number ({done!r})")
            done = 0
        if total is not None and not isinstance(total, int):
            errors.append(f"status.json: `{total_key}` is not an integer ({total!r})")
            total = None
        out.append(RunSummary(rec.id, rec.dir, rec.state, done, total, created, dataset_words(cfg), job.label(cfg),
                              cfg.get("parent"), val_acc, "; ".join(errors) or None, job.kind, rec.name,
                              model_label(cfg)))
    out.sort(key=lambda r: (r.created_at or 0, r.id), reverse=True)
    return out


def latest_run(runs_dir: Path | str = DEFAULT_RUNS_DIR, *, kind: str | None = None) -> str | None:
    """The id of the newest run (of ``kind``, if given), whatever its state; None if there is none."""
    for summary in list_runs(runs_dir):
        if kind is None or summary.kind == kind:
            return summary.id
    return None


def active_run(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str | None:
    """The id of the queued or running run, if any (dead workers are marked failed first)."""
    found = store_at(runs_dir).active()
    return found[0] if found else None


def run_path(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Path:
    """``<runs_dir>/<run_id>``; ``ValueError`` for an id that is malformed or escapes runs_dir."""
    return store_at(runs_dir).path(run_id)


# --------------------------------------------------------------------------- control


def stop_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> None:
    """Ask the worker to stop after its current batch. A no-op for a run that already ended."""
    store_at(runs_dir).stop(run_id)


def set_lr(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR, *, value: float | None = None,
           factor: float | None = None) -> None:
    """Change the LR of a running training run from its next batch: ``value`` or ``factor``
    (see :mod:`lrviz.callbacks` for how an override combines with the schedule)."""
    store = store_at(runs_dir)
    try:
        config = read_json(store.existing(run_id) / "config.json")
    except (OSError, ValueError):
        config = {}
    job = jobs.job_for(config)
    refusal = job.lr_fixed({**config, "id": run_id})
    if refusal is not None:
        raise ValueError(refusal)
    job.set_lr(store, run_id, value=value, factor=factor)


def lr_fixed(run: Run) -> str | None:
    """Why ``run``'s LR cannot be set while it runs (its kind's one message), or None."""
    return run.job.lr_fixed({**run.config, "id": run.id})


RUN_NAME = Setting("name", None, "A name to recognise the run by in tables and comparisons.", kind="text",
                   optional=True, label="Name")


def set_run_name(run_id: str, name: str | None, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str | None:
    """Name a run (spaces trimmed; "" or None removes the name); returns the name kept.
    ``FieldError`` for a name that is not one line of at most 60 characters."""
    name = RUN_NAME.parse(name.strip() if isinstance(name, str) else name) or None
    store_at(runs_dir).set_name(run_id, name)
    return name


def delete_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> None:
    """Remove a run's folder; refuses (:class:`RunBusyError`) while it is queued or running."""
    store_at(runs_dir).delete(run_id)
