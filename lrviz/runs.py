"""The run store: one directory per training run, and the API the UI and the CLI call.

Layout of ``<runs_dir>/<run-id>/`` (every file written atomically: temp file + ``os.replace``,
so a reader never sees half a file)::

    config.json      everything needed to reproduce the run (library versions included)
    status.json      state, epoch/batch, elapsed, ETA, error; rewritten at most ~4 times/s
    history.csv      one row per finished epoch (1-based ``epoch``), rewritten each epoch
    predictions.csv  y_true,y_pred on the test set (class indices)
    report.csv       classification report; confusion.csv: confusion matrix
    model.keras      the model with its optimizer state (what ``resume`` loads)
    training.png     the tutorial's four curves
    worker.log       the worker's stdout/stderr (Keras progress, the text report)
    control/         requests from the API to the running worker (stop, LR changes)

**Two kinds of run** (``config["kind"]``): ``"train"`` (the above; the default when the key
is absent, as in runs made before LR range tests existed) and ``"lr_find"``, an LR range test
(:mod:`lrviz.lr_finder`, started by :func:`start_lr_find`). An lr_find run has the data and
optimizer settings of a training run (``dataset, cifar_archive, limit, batch_size, momentum,
nesterov, seed``) plus ``start, end, num_steps, smoothing, stop_factor``, and writes::

    status.json      state, step (batches done), num_steps, lr/loss/smoothed_loss of the
                     latest batch, elapsed_s, eta_s, error, stopped_early, stop_reason
    lr_find.csv      step (0-based), lr, loss (raw batch loss), smoothed_loss
    suggestions.json {"steepest": S, "min_div_10": S, "valley": S, "reason": str|null,
                      "stopped_early": bool, "stop_reason": str|null},
                     S = {"lr": float|null, "rule": str, "step": int|null, "loss": float|null}

It is started by the same worker command and obeys the same one-run-at-a-time rule: a range
test and a training run never run together.

**One run at a time.** On a 2-core machine two runs would each go at half speed, so a second
:func:`start_run` while a run is queued or running raises :class:`RunBusyError` (it names the
active run and its epoch) rather than queueing: the caller decides whether to stop the active
run or wait. The check and the creation happen under an ``fcntl.flock`` on
``<runs_dir>/.lock``, so concurrent starts give exactly one run.

The worker (``python -m lrviz.training <run_dir>``) is spawned in its own session, with its
output in ``worker.log``, so a browser refresh or a Streamlit restart neither kills nor
duplicates it. A worker that dies without writing a final state (SIGKILL, OOM) is detected
by :func:`load_run`, :func:`list_runs` and :func:`active_run` (its pid is gone) and the run is
marked ``failed``; its history stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from lrviz.data import DATASETS, HOW_TO_SUPPLY_CIFAR
from lrviz.schedules import Schedule

__all__ = [
    "DEFAULT_RUNS_DIR", "RUN_ID_PATTERN", "HISTORY_COLUMNS", "ACTIVE_STATES", "FINAL_STATES",
    "RunBusyError", "Run", "RunSummary",
    "validate_config", "default_config", "start_run", "create_run", "list_runs", "load_run", "stop_run",
    "validate_lr_find_config", "default_lr_find_config", "start_lr_find", "run_kind",
    "set_lr", "delete_run", "active_run", "run_path",
    "atomic_write_text", "atomic_write_json", "read_json",
]

DEFAULT_RUNS_DIR = Path(os.environ.get("LRVIZ_RUNS_DIR", "runs"))
RUN_ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\Z")  # \Z: no trailing newline
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_planned"]
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("finished", "stopped", "failed")
DOWNLOADABLE = ("config.json", "history.csv", "predictions.csv", "report.csv", "confusion.csv", "model.keras",
                "training.png", "lr_find.csv", "suggestions.json")
KINDS = ("train", "lr_find")
LR_FIND_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]
_QUEUED_GRACE_S = 120.0  # a queued run whose worker never reported is failed after this


class RunBusyError(RuntimeError):
    """Another run is queued or running (the message names it and its epoch)."""


# --------------------------------------------------------------------------- atomic files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and ``os.replace`` it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return obj


# --------------------------------------------------------------------------- config


def default_config() -> dict[str, Any]:
    """The tutorial's experiment on the offline digits dataset."""
    return {
        "dataset": "digits",
        "cifar_archive": None,
        "limit": None,  # training images (stratified subset); None = all
        "schedule": Schedule.create("step", {"lr": 0.01, "factor": 0.5, "drop_every": 5}).to_config(),
        "epochs": 40,  # total epochs; a resumed run continues from its parent's count up to this
        "batch_size": 64,  # images per batch
        "momentum": 0.9,
        "nesterov": True,
        "seed": 42,
        "parent": None,  # run id this run resumes from
        "max_batches": None,  # stop (gracefully) after this many batches; for smoke runs / benchmarks
    }


# Keys the engine writes into config.json; accepted back and passed through.
_META_KEYS = ("id", "created_at", "versions", "lr_overrides", "steps_per_epoch", "train_size", "test_size",
              "initial_epoch", "kind")


def _err(name: str, rule: str, value: Any) -> ValueError:
    return ValueError(f"Argument `{name}` must be {rule}. Received: {name}={value!r}")


def _int(cfg: dict, name: str, low: int, optional: bool = False, high: int | None = None) -> int | None:
    v = cfg[name]
    if v is None and optional:
        return None
    rule = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "") + (" or null" if optional else "")
    if isinstance(v, bool):
        raise _err(name, rule, v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or v < low or (high is not None and v > high):
        raise _err(name, rule, v)
    return v


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a run config, filling defaults; ``ValueError`` naming the field, rule and value."""
    if not isinstance(config, Mapping):
        raise _err("config", "a mapping", config)
    defaults = default_config()
    unknown = sorted(set(config) - set(defaults) - set(_META_KEYS))
    if unknown:
        raise ValueError(f"Argument `{unknown[0]}` is not a run setting (known: {', '.join(defaults)}).")
    cfg = {**defaults, **{k: v for k, v in config.items() if k in defaults}}
    meta = {k: config[k] for k in _META_KEYS if k in config}
    if meta.get("kind", "train") != "train":
        raise _err("kind", "'train' for a training run (an LR range test goes through start_lr_find)",
                   meta["kind"])
    _check_data_settings(cfg)
    sched = cfg["schedule"]
    if isinstance(sched, Schedule):
        sched = sched.to_config()
    if not isinstance(sched, Mapping):
        raise _err("schedule", "a schedule config (a mapping with a `name`)", sched)
    cfg["schedule"] = Schedule.from_config(sched).to_config()
    parent = cfg["parent"]
    if parent is not None and (not isinstance(parent, str) or not RUN_ID_PATTERN.match(parent)):
        raise _err("parent", "a run id (letters, digits, '_', '.', '-') or null", parent)
    return {**cfg, **meta}


def _check_data_settings(cfg: dict[str, Any]) -> None:
    """The data and optimizer settings both kinds share, normalised in place."""

    if cfg["dataset"] not in DATASETS:
        raise _err("dataset", f"one of {', '.join(DATASETS)}", cfg["dataset"])
    arch = cfg["cifar_archive"]
    if arch is not None:
        if not isinstance(arch, (str, os.PathLike)) or not str(arch).strip():
            raise _err("cifar_archive", "a path or null", arch)
        arch = str(arch)
        if cfg["dataset"] == "cifar10" and not Path(arch).expanduser().exists():
            raise ValueError(f"Argument `cifar_archive` must be an existing file or folder. "
                             f"Received: cifar_archive={arch!r}. {HOW_TO_SUPPLY_CIFAR}")
    cfg["cifar_archive"] = arch
    cfg["limit"] = _int(cfg, "limit", 1, optional=True)
    if "epochs" in cfg:
        cfg["epochs"] = _int(cfg, "epochs", 1, high=100_000)
    cfg["batch_size"] = _int(cfg, "batch_size", 1, high=1_000_000)
    cfg["seed"] = _int(cfg, "seed", 0, high=2**32 - 1)
    if "max_batches" in cfg:
        cfg["max_batches"] = _int(cfg, "max_batches", 1, optional=True)
    m = cfg["momentum"]
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or not 0 <= m < 1:
        raise _err("momentum", "a number >= 0 and < 1", m)
    cfg["momentum"] = float(m)
    if not isinstance(cfg["nesterov"], bool):
        raise _err("nesterov", "true or false", cfg["nesterov"])


_LR_FIND_DATA_KEYS = ("dataset", "cifar_archive", "limit", "batch_size", "momentum", "nesterov", "seed")
_LR_FIND_META_KEYS = ("id", "created_at", "versions", "kind", "steps_per_epoch", "train_size")


def default_lr_find_config() -> dict[str, Any]:
    """An LR range test with the training defaults' data and optimizer, and fastai's sweep
    (1e-7 .. 10 in 100 batches, smoothing 0.98, stop at 4 x the best smoothed loss)."""
    from lrviz.lr_finder import DEFAULTS

    base = default_config()
    return {"kind": "lr_find", **{k: base[k] for k in _LR_FIND_DATA_KEYS}, **DEFAULTS}


def validate_lr_find_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise an LR range test config (``kind`` lr_find), filling defaults; ``ValueError``
    naming the field, rule and value."""
    from lrviz.lr_finder import validate_finder_settings

    if not isinstance(config, Mapping):
        raise _err("config", "a mapping", config)
    defaults = default_lr_find_config()
    if config.get("kind", "lr_find") != "lr_find":
        raise _err("kind", "'lr_find' for an LR range test", config.get("kind"))
    unknown = sorted(set(config) - set(defaults) - set(_LR_FIND_META_KEYS))
    if unknown:
        raise ValueError(f"Argument `{unknown[0]}` is not an LR range test setting "
                         f"(known: {', '.join(k for k in defaults if k != 'kind')}).")
    cfg = {**defaults, **{k: v for k, v in config.items() if k in defaults}}
    meta = {k: config[k] for k in _LR_FIND_META_KEYS if k in config}
    _check_data_settings(cfg)
    cfg.update(validate_finder_settings(cfg))
    return {**cfg, **meta, "kind": "lr_find"}


def run_kind(config: Mapping[str, Any]) -> str:
    """``"lr_find"`` or ``"train"`` (the default, for runs made before kinds existed)."""
    kind = config.get("kind") if isinstance(config, Mapping) else None
    return kind if kind in KINDS else "train"


# --------------------------------------------------------------------------- paths


def run_path(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Path:
    """``<runs_dir>/<run_id>``; ``ValueError`` for an id that is malformed or escapes runs_dir."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or run_id in (".", ".."):
        raise ValueError(f"Argument `run_id` must match {RUN_ID_PATTERN.pattern}. Received: run_id={run_id!r}")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ValueError(f"Argument `run_id` must name a folder inside {root}. Received: run_id={run_id!r}")
    return root / run_id


def _existing_run(run_id: str, runs_dir: Path | str) -> Path:
    path = run_path(run_id, runs_dir)
    if not (path / "config.json").exists() and not (path / "status.json").exists():
        raise FileNotFoundError(f"No run {run_id!r} in {Path(runs_dir).resolve()}.")
    return path


@contextlib.contextmanager
def _store_lock(runs_dir: Path) -> Iterator[None]:
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- liveness


def _pid_alive(pid: Any, create_time: Any = None) -> bool:
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


def _check_alive(path: Path, status: dict[str, Any]) -> dict[str, Any]:
    """Mark an active run whose worker is gone as failed (history kept); return the status."""
    if status.get("state") not in ACTIVE_STATES:
        return status
    pid, ctime = _worker_pid(path, status)
    if pid is None:
        age = time.time() - float(status.get("updated_at") or status.get("created_at") or time.time())
        if age < _QUEUED_GRACE_S:
            return status
        reason = "worker process never started"
    elif _pid_alive(pid, ctime):
        return status
    else:
        reason = f"worker process ended unexpectedly (pid {pid})"
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


# --------------------------------------------------------------------------- API


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _new_id(cfg: Mapping[str, Any], runs_dir: Path) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    what = "lrfind" if run_kind(cfg) == "lr_find" else cfg["schedule"]["name"]
    base = f"{stamp}-{cfg['dataset']}-{what}"
    while True:
        rid = f"{base}-{secrets.token_hex(2)}"
        if not (runs_dir / rid).exists():
            return rid


def _active_unlocked(runs_dir: Path) -> tuple[str, dict] | None:
    if not runs_dir.is_dir():
        return None
    for child in sorted(runs_dir.iterdir()):
        if not RUN_ID_PATTERN.match(child.name) or child.is_symlink() or not child.is_dir():
            continue  # a symlinked "run" may point outside the runs folder: never follow it
        try:
            status = read_json(child / "status.json")
        except (OSError, ValueError):
            continue
        status = _check_alive(child, status)
        if status.get("state") in ACTIVE_STATES:
            return child.name, status
    return None


def _resolve_parent(cfg: dict[str, Any], runs_dir: Path) -> None:
    """A resumed run keeps its parent's data and optimizer settings; epochs count on from it."""
    parent = cfg.get("parent")
    if parent is None:
        return
    ppath = _existing_run(parent, runs_dir)
    if not (ppath / "model.keras").exists():
        raise ValueError(f"Argument `parent` must name a run with a saved model.keras (a finished or stopped "
                         f"run). Received: parent={parent!r}")
    pcfg = read_json(ppath / "config.json")
    pstatus = read_json(ppath / "status.json")
    for key in ("dataset", "cifar_archive", "limit", "momentum", "nesterov"):
        cfg[key] = pcfg.get(key, cfg[key])
    done = int(pstatus.get("epoch") or 0)
    if cfg["epochs"] <= done:
        raise ValueError(f"Argument `epochs` must be > {done} (the epochs its parent {parent} finished; it is the "
                         f"total to reach, as Keras' `epochs` with `initial_epoch`). Received: epochs={cfg['epochs']}")
    cfg["initial_epoch"] = done


def create_run(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR, *, launch: Any = None) -> str:
    """Validate, check that no run is active, and create ``<runs_dir>/<id>/`` (state queued).

    ``launch(run_dir) -> (pid, create_time)`` starts the worker; it is called under the
    store lock so the busy check, the creation and the start are one step.
    A config with ``"kind": "lr_find"`` creates an LR range test (see :func:`start_lr_find`).
    """
    lr_find = isinstance(config, Mapping) and config.get("kind") == "lr_find"
    cfg = validate_lr_find_config(config) if lr_find else validate_config(config)
    runs_dir = Path(runs_dir)
    with _store_lock(runs_dir):
        active = _active_unlocked(runs_dir)
        if active is not None:
            rid, st = active
            raise RunBusyError(f"Run {rid} is {st.get('state')} ({_progress_text(st)}); "
                               "stop it or wait for it to finish before starting another.")
        if not lr_find:
            _resolve_parent(cfg, runs_dir)
        rid = _new_id(cfg, runs_dir)
        path = runs_dir / rid
        (path / "control").mkdir(parents=True)
        now = time.time()
        cfg.update(id=rid, created_at=now, versions=_versions())
        common = {"created_at": now, "started_at": None, "updated_at": now, "elapsed_s": 0.0, "eta_s": None,
                  "error": None, "pid": None}
        if lr_find:
            status = {"state": "queued", "kind": "lr_find", "step": 0, "num_steps": cfg["num_steps"], **common,
                      "stopped_early": False, "stop_reason": None}
        else:
            cfg["kind"] = "train"
            cfg.setdefault("lr_overrides", [])
            status = {"state": "queued", "epoch": cfg.get("initial_epoch", 0), "epochs": cfg["epochs"], "batch": 0,
                      "steps_per_epoch": None, **common, "lr_overrides": []}
        atomic_write_json(path / "config.json", cfg)
        atomic_write_json(path / "status.json", status)
        if launch is not None:
            pid, ctime = launch(path)
            atomic_write_json(path / "worker.pid", {"pid": pid, "create_time": ctime})
    return rid


def _spawn(path: Path) -> tuple[int, float]:
    import psutil

    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    with open(path / "worker.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lrviz.training", str(path.resolve())], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                close_fds=True)
    try:
        ctime = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        ctime = None
    return proc.pid, ctime


def start_run(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str:
    """Create a run and spawn its worker as its own process; return the run id.

    Raises ``ValueError`` for a bad config and :class:`RunBusyError` if a run is active.
    """
    return create_run(config, runs_dir, launch=_spawn)


def start_lr_find(config: Mapping[str, Any], runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str:
    """Create an LR range test run (``kind`` lr_find, see :func:`default_lr_find_config` for the
    settings) and spawn its worker; return the run id.

    Raises ``ValueError`` for a bad config and :class:`RunBusyError` if a run (of either kind)
    is active.
    """
    return create_run({**config, "kind": "lr_find"}, runs_dir, launch=_spawn)


def _progress_text(st: Mapping[str, Any]) -> str:
    if st.get("kind") == "lr_find" or "num_steps" in st:
        return f"LR range test, step {st.get('step', 0)}/{st.get('num_steps', '?')}"
    return f"epoch {st.get('epoch', 0)}/{st.get('epochs', '?')}"


def active_run(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str | None:
    """The id of the queued or running run, if any (dead workers are marked failed first)."""
    found = _active_unlocked(Path(runs_dir))
    return found[0] if found else None


@dataclass
class RunSummary:
    id: str
    dir: Path
    state: str
    epoch: int
    epochs: int | None
    created_at: float | None
    dataset: str | None
    schedule: str | None  # label, e.g. "Step decay (lr=0.01, factor=0.5, drop_every=5)"
    parent: str | None
    val_accuracy: float | None  # of the last finished epoch
    error: str | None
    kind: str = "train"  # "train" or "lr_find" (then epoch/epochs are steps/num_steps, schedule the sweep)


@dataclass
class Run:
    id: str
    dir: Path
    config: dict
    status: dict
    history: pd.DataFrame
    report: pd.DataFrame | None
    confusion: pd.DataFrame | None
    class_names: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    error: str | None = None  # set when a file of the run could not be read
    lr_find: pd.DataFrame | None = None  # lr_find runs: lr_find.csv (step, lr, loss, smoothed_loss)
    suggestions: dict | None = None  # lr_find runs: suggestions.json, once written

    @property
    def kind(self) -> str:
        return run_kind(self.config)

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))


def _read_history(path: Path) -> pd.DataFrame:
    f = path / "history.csv"
    if not f.exists():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    return pd.read_csv(f)


def _schedule_label(cfg: Mapping[str, Any]) -> str | None:
    if run_kind(cfg) == "lr_find":
        try:
            return f"LR range test {cfg['start']:.3g} → {cfg['end']:.3g} ({cfg['num_steps']} steps)"
        except (KeyError, TypeError, ValueError):
            return "LR range test"
    try:
        return Schedule.from_config(cfg["schedule"]).label()
    except (KeyError, ValueError, TypeError):
        return None


def load_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Run:
    """Everything on disk about a run. Unreadable files give ``Run.error`` instead of raising."""
    from lrviz.report import read_confusion_csv, read_report_csv

    path = _existing_run(run_id, runs_dir)
    errors: list[str] = []

    def attempt(what: str, fn: Any, default: Any) -> Any:
        try:
            return fn()
        except FileNotFoundError:
            return default
        except Exception as e:  # noqa: BLE001 - truncated JSON, empty CSV, ...
            errors.append(f"{what}: {type(e).__name__}: {e}")
            return default

    config = attempt("config.json", lambda: read_json(path / "config.json"), {})
    status = attempt("status.json", lambda: read_json(path / "status.json"), {"state": "unknown"})
    status = _check_alive(path, status)
    history = attempt("history.csv", lambda: _read_history(path), pd.DataFrame(columns=HISTORY_COLUMNS))
    report = attempt("report.csv", lambda: read_report_csv(path / "report.csv"), None)
    confusion = attempt("confusion.csv", lambda: read_confusion_csv(path / "confusion.csv"), None)
    if confusion is not None:
        class_names = list(confusion.index)
    else:
        from lrviz.data import CIFAR10_CLASSES, DIGITS_CLASSES

        class_names = list(CIFAR10_CLASSES if config.get("dataset") == "cifar10" else DIGITS_CLASSES)
    # Only regular files inside the run folder: a symlink could offer a file from elsewhere.
    files = {name: path / name for name in DOWNLOADABLE
             if (path / name).is_file() and not (path / name).is_symlink()}
    lr_find = suggestions = None
    if run_kind(config) == "lr_find":
        lr_find = attempt("lr_find.csv", lambda: pd.read_csv(path / "lr_find.csv"), None)
        if lr_find is None:
            lr_find = pd.DataFrame({c: pd.Series(dtype="float64") for c in LR_FIND_COLUMNS})
        suggestions = attempt("suggestions.json", lambda: read_json(path / "suggestions.json"), None)
    return Run(run_id, path, config, status, history, report, confusion, class_names, files,
               "; ".join(errors) or None, lr_find, suggestions)


def list_runs(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> list[RunSummary]:
    """All runs, newest first. A run with unreadable files is listed with ``error`` set."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    out: list[RunSummary] = []
    for child in root.iterdir():
        if child.is_symlink() or not child.is_dir() or not RUN_ID_PATTERN.match(child.name):
            continue  # a symlinked "run" may point outside the runs folder: never follow it
        if not (child / "config.json").exists() and not (child / "status.json").exists():
            continue
        errors = []
        try:
            cfg = read_json(child / "config.json")
        except (OSError, ValueError) as e:
            cfg, _ = {}, errors.append(f"config.json: {e}")
        try:
            st = _check_alive(child, read_json(child / "status.json"))
        except (OSError, ValueError) as e:
            st, _ = {"state": "unknown"}, errors.append(f"status.json: {e}")
        val_acc = None
        try:
            hist = _read_history(child)
            if len(hist) and "val_accuracy" in hist:
                val_acc = float(hist["val_accuracy"].iloc[-1])
        except Exception as e:  # noqa: BLE001
            errors.append(f"history.csv: {type(e).__name__}: {e}")
        if st.get("error"):
            errors.insert(0, str(st["error"]))
        created = cfg.get("created_at") or st.get("created_at")
        if not isinstance(created, (int, float)):
            created = child.stat().st_mtime
        kind = run_kind(cfg)
        done_key, total_key = ("step", "num_steps") if kind == "lr_find" else ("epoch", "epochs")
        try:
            epoch = int(st.get(done_key) or 0)
        except (TypeError, ValueError):
            epoch = 0
            errors.append(f"status.json: `{done_key}` is not a number ({st.get(done_key)!r})")
        epochs = st.get(total_key, cfg.get(total_key))
        if epochs is not None and not isinstance(epochs, int):
            errors.append(f"status.json: `{total_key}` is not an integer ({epochs!r})")
            epochs = None
        out.append(RunSummary(child.name, child, str(st.get("state", "unknown")), epoch, epochs, created,
                              cfg.get("dataset"), _schedule_label(cfg), cfg.get("parent"), val_acc,
                              "; ".join(errors) or None, kind))
    out.sort(key=lambda r: (r.created_at or 0, r.id), reverse=True)
    return out


def _request(path: Path, name: str, payload: Mapping[str, Any]) -> None:
    control = path / "control"
    control.mkdir(exist_ok=True)
    atomic_write_json(control / name, {**payload, "requested_at": time.time()})


def stop_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> None:
    """Ask the worker to stop after its current batch (then it evaluates and writes the report).
    A no-op for a run that already ended."""
    path = _existing_run(run_id, runs_dir)
    status = _check_alive(path, read_json(path / "status.json"))
    if status.get("state") in ACTIVE_STATES:
        _request(path, "stop", {})


def set_lr(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR, *, value: float | None = None,
           factor: float | None = None) -> None:
    """Change the LR of a running run from its next batch: ``value`` (absolute) or ``factor``.

    See :mod:`lrviz.training` for how an override combines with the schedule.
    """
    if (value is None) == (factor is None):
        raise ValueError("set_lr takes exactly one of `value` or `factor`.")
    name, v = ("value", value) if value is not None else ("factor", factor)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise _err(name, "a finite number > 0", v)
    path = _existing_run(run_id, runs_dir)
    try:
        kind = run_kind(read_json(path / "config.json"))
    except (OSError, ValueError):
        kind = "train"
    if kind == "lr_find":
        raise ValueError(f"Run {run_id} is an LR range test; its LR follows the sweep and cannot be changed.")
    status = _check_alive(path, read_json(path / "status.json"))
    if status.get("state") not in ACTIVE_STATES:
        raise ValueError(f"Run {run_id} is {status.get('state')}; the LR can only be changed while it runs "
                         "(resume it with a new LR instead).")
    _request(path, f"lr-{time.time_ns():020d}-{secrets.token_hex(2)}.json", {name: float(v)})


def delete_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> None:
    """Remove a run's folder; refuses (``RunBusyError``) while it is queued or running."""
    path = _existing_run(run_id, runs_dir)
    with _store_lock(Path(runs_dir)):
        try:
            status = _check_alive(path, read_json(path / "status.json"))
        except (OSError, ValueError):
            status = {}
        if status.get("state") in ACTIVE_STATES:
            raise RunBusyError(f"Run {run_id} is {status['state']} ({_progress_text(status)}); "
                               "stop it before deleting it.")
        shutil.rmtree(path)
