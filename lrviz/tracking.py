"""MLflow, opt in: a training run also logged to an MLflow tracking server or store.

On when the run's config has ``mlflow: true`` (``--mlflow``, the Train page's toggle) or
``MLFLOW_TRACKING_URI`` is set in the worker's environment; otherwise MLflow is never
imported and need not be installed. MLflow's own client writes everything:

* parameters: the run's settings, the schedule flattened (``schedule``, ``schedule.lr``, ...)
  and the plateau settings (``plateau.factor``, ...); tags ``lrviz.run_id``, ``lrviz.kind``;
* metrics per finished epoch (step = the 1-based epoch): ``loss, accuracy, val_loss,
  val_accuracy, lr, lr_planned``;
* artifacts at the end: ``report.csv``, ``confusion.csv``, ``history.csv``, ``training.png``
  and the model (``model.keras``, with its optimizer state);
* the MLflow run ends FINISHED (finished), KILLED (stopped) or FAILED, and its id is kept in
  the lrviz run's ``config.json`` (``mlflow_run_id``).

The experiment is ``$MLFLOW_EXPERIMENT_NAME`` or ``lrviz``; the tracking URI is MLflow's
(``$MLFLOW_TRACKING_URI``, else its default local store).

**Time-bounded; it never costs the run.** MLflow's HTTP client retries 7 times with
exponential backoff and waits 120 s per request by default: a server that is down held a
run for 257 s before its first epoch, and a SIGTERM meanwhile waited too. Here:

* the HTTP bounds are 3 s per request and 1 retry (``MLFLOW_HTTP_REQUEST_TIMEOUT``,
  ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``), unless the user set those variables;
* every MLflow call (client, experiment, run, parameters, each epoch's metrics, each artifact,
  the end) runs on a daemon thread with a deadline (:class:`BoundedCalls`): what those
  settings allow, plus 2 s (plus 1 s per MiB for an artifact). A call past it is abandoned
  where it hangs (DNS, a locked database), so the fit and SIGTERM never wait for it; while
  the run is stopping, a call pending for 1 s is abandoned too. A local store (SQLite, a
  folder) gets 30 s a call: a new database migrates its schema on the first one;
* the first failure disables the logger and reports one warning (``on_warning``): the run
  records it in ``status.json`` and goes on with every file.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import keras

from lrviz.store.files import atomic_write_json, read_json

__all__ = ["MLflowLogger", "BoundedCalls", "flat_params", "http_bounds", "short_reason", "ARTIFACTS"]

ARTIFACTS = ("report.csv", "confusion.csv", "history.csv", "training.png", "model.keras")
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "lr_planned")
_END = {"finished": "FINISHED", "stopped": "KILLED"}

# MLflow's HTTP settings when the user set none (its own defaults: 120 s, 7 retries, ~4 min)
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "3",  # s per request (connect, then each read)
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}  # urllib3 retries the first at once
MARGIN_S = 2.0  # s on top of what the HTTP settings allow, before a call is abandoned
ARTIFACT_S_PER_MIB = 1.0  # s more per MiB of an artifact to upload
LOCAL_DEADLINE_S = 30.0  # s per call to a local store (SQLite, files: a new database migrates first)
STOP_GRACE_S = 1.0  # s a call may still take once the run is stopping (during the fit)
_THREAD = "lrviz-mlflow"


def flat_params(config: dict[str, Any]) -> dict[str, str]:
    """The settings as MLflow parameters (strings, nested mappings flattened with dots)."""
    out: dict[str, str] = {}
    for key in ("dataset", "cifar_archive", "limit", "epochs", "batch_size", "momentum", "nesterov", "seed", "parent",
                "initial_epoch", "steps_per_epoch", "train_size", "test_size"):
        if config.get(key) is not None:
            out[key] = str(config[key])
    sched = config.get("schedule") or {}
    out["schedule"] = str(sched.get("name"))
    for k, v in (sched.get("params") or {}).items():
        out[f"schedule.{k}"] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    for k in ("warmup", "warmup_start_factor"):
        if k in sched:
            out[f"schedule.{k}"] = str(sched[k])
    for k, v in (config.get("plateau") or {}).items():
        out[f"plateau.{k}"] = str(v)
    return out


def http_bounds(environ: dict[str, str] | os._Environ) -> tuple[dict[str, str], float]:
    """``(settings, deadline_s)``: the MLflow HTTP variables to set (ours, where the user set
    none) and the longest one call may take under the resulting settings::

        attempts = retries + 1
        backoff  = sum(min(120, factor * 2**(k - 1)) + jitter for k in 2 .. retries)  # urllib3
        deadline = attempts * timeout + backoff + MARGIN_S
    """
    settings = {k: v for k, v in HTTP_DEFAULTS.items() if k not in environ}
    merged = {**HTTP_DEFAULTS, **{k: environ[k] for k in environ if k.startswith("MLFLOW_HTTP_REQUEST_")}}

    def number(key: str, default: float) -> float:
        try:
            return max(0.0, float(merged.get(key, default)))
        except ValueError:  # MLflow refuses it itself, on the first call: a warning
            return default

    timeout = number("MLFLOW_HTTP_REQUEST_TIMEOUT", 3)
    retries = int(number("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 1))
    factor = number("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2)
    jitter = number("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1.0)
    backoff = sum(min(120.0, factor * 2 ** (k - 1)) + jitter for k in range(2, retries + 1))
    return settings, (retries + 1) * timeout + backoff + MARGIN_S


def hide_password(uri: str) -> str:
    """``uri`` without the password of its user info (``http://me:***@host``)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def short_reason(error: BaseException) -> str:
    """What went wrong in a few words: the OS error at the bottom of the chain
    (``Connection refused``), a read timeout, else the error's type and first line."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    m = re.search(r"read timeout=([\d.]+)", text)
    if m:
        return f"no answer within {m.group(1)} s (read timeout)"
    m = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
    if m:
        return m.group(1).strip()
    first = re.sub(r"//[^/\s@]+@", "//***@", text.strip().splitlines()[0] if text.strip() else "")
    first = first if len(first) <= 160 else first[:159] + "…"
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


class BoundedCalls:
    """An optional integration's calls, each on a daemon thread with a deadline.

    :meth:`call` returns the call's result, or None when it failed or ran past
    ``deadline_s``; the first such failure disables every later call and hands
    ``on_warning`` one line: ``"<name> unreachable at <where>: <reason>; the run goes on
    without it"``. With ``stopping`` (a predicate: the run was asked to stop), a call that is
    still pending ``STOP_GRACE_S`` after the stop is abandoned too, unless ``patient``.
    """

    def __init__(self, name: str, where: str, deadline_s: float, on_warning: Callable[[str], Any],
                 stopping: Callable[[], bool] | None = None):
        self.name, self.where, self.deadline_s = name, where, float(deadline_s)
        self.on_warning = on_warning
        self.stopping = stopping
        self.failed: str | None = None  # the warning, once disabled

    @property
    def enabled(self) -> bool:
        return self.failed is None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, extra_s: float = 0.0, patient: bool = False,
             **kwargs: Any) -> Any:
        if self.failed is not None:
            return None
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 - reported by the caller's thread
                box["error"] = e

        thread = threading.Thread(target=target, name=f"{_THREAD}-{what}", daemon=True)
        start = time.monotonic()
        deadline = start + self.deadline_s + extra_s
        stop_seen: float | None = None
        thread.start()
        while thread.is_alive():
            now = time.monotonic()
            if now >= deadline:
                return self.fail(f"no answer within {self.deadline_s + extra_s:.3g} s ({what})")
            if not patient and self.stopping is not None and stop_seen is None and self.stopping():
                stop_seen = now
            if stop_seen is not None and now - stop_seen >= STOP_GRACE_S:
                return self.fail(f"no answer after {now - start:.1f} s when the run was stopped ({what})")
            thread.join(min(0.1, deadline - now))  # short waits: a signal's stop is seen promptly
        if "error" in box:
            return self.fail(short_reason(box["error"]))
        return box.get("value")

    def fail(self, reason: str) -> None:
        """Disable the calls and report why: ``<name> unreachable at <where>: <reason>; ...``."""
        self.disable(f"{self.name} unreachable at {self.where}: {reason}; the run goes on without it")

    def disable(self, warning: str) -> None:
        """Disable the calls and hand ``on_warning`` this one line (the first time only)."""
        if self.failed is None:
            self.failed = warning
            self.on_warning(warning)


class MLflowLogger(keras.callbacks.Callback):
    """Logs one lrviz training run to MLflow (see the module docstring); call :meth:`finish`
    once the run's files are written.

    ``on_warning(message)``: called once, with one line, if MLflow fails or does not answer
    in time; MLflow is then left alone for the rest of the run. ``stopping()``: true once the
    run was asked to stop (a pending call is then abandoned after ``STOP_GRACE_S``)."""

    def __init__(self, run_dir: Path, config: dict[str, Any], on_warning: Callable[[str], Any] = lambda m: None,
                 stopping: Callable[[], bool] | None = None):
        super().__init__()
        self.dir = Path(run_dir)
        self.config = config
        self.client: Any = None
        self.run_id: str | None = None
        self._batches = 0
        self.spe = int(config.get("steps_per_epoch") or 0)
        self._set_env, deadline = http_bounds(os.environ)
        os.environ.update(self._set_env)  # MLflow reads them at every request; undone in finish
        try:
            import mlflow

            uri = mlflow.get_tracking_uri()
        except Exception as e:  # noqa: BLE001 - not installed, or a bad URI: the run goes on
            self.calls = BoundedCalls("MLflow", "", 0.0, on_warning, stopping)
            self.calls.disable(f"MLflow cannot be used here ({short_reason(e)}; pip install mlflow); the run goes on "
                               "without it")
            return
        server = str(uri).lower().startswith(("http:", "https:", "databricks"))
        self.calls = BoundedCalls(f"MLflow tracking {'server' if server else 'store'}", hide_password(str(uri)),
                                  deadline if server else max(deadline, LOCAL_DEADLINE_S), on_warning, stopping)

    def _start(self) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        c = self.calls
        self.client = c.call("client", MlflowClient)
        if not c.enabled:
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "lrviz")
        exp = c.call("get_experiment_by_name", self.client.get_experiment_by_name, name)
        if not c.enabled:
            return
        exp_id = exp.experiment_id if exp is not None else c.call("create_experiment", self.client.create_experiment,
                                                                  name)
        rid = str(self.config.get("id"))
        run = c.call("create_run", self.client.create_run, exp_id, run_name=rid,
                     tags={"lrviz.run_id": rid, "lrviz.kind": "train"}) if c.enabled else None
        if run is None:
            return
        self.run_id = run.info.run_id
        cfg = read_json(self.dir / "config.json")
        cfg["mlflow_run_id"] = self.run_id
        atomic_write_json(self.dir / "config.json", cfg)
        self.config["mlflow_run_id"] = self.run_id
        c.call("log_batch params", self.client.log_batch, self.run_id,
               params=[Param(k, v) for k, v in flat_params(self.config).items()])

    def on_train_begin(self, logs: Any = None) -> None:
        if self.calls.enabled:
            self._start()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._batches = 0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.run_id is None or self._batches < self.spe:  # a cut epoch is not a finished epoch
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, epoch + 1) for k, v in (logs or {}).items() if k in METRICS]
        self.calls.call(f"log_batch metrics of epoch {epoch + 1}", self.client.log_batch, self.run_id,
                        metrics=metrics)

    def finish(self, run_dir: Path, state: str) -> None:
        """Upload the run's files and end the MLflow run with lrviz's final state (each call
        bounded; none once MLflow has failed)."""
        try:
            if self.run_id is None:
                return
            for name in ARTIFACTS:
                f = Path(run_dir) / name
                if f.is_file() and self.calls.enabled:
                    self.calls.call(f"log_artifact {name}", self.client.log_artifact, self.run_id, str(f),
                                    extra_s=ARTIFACT_S_PER_MIB * f.stat().st_size / 2**20, patient=True)
            self.calls.call("set_terminated", self.client.set_terminated, self.run_id,
                            status=_END.get(state, "FAILED"), patient=True)
        finally:
            for key, value in self._set_env.items():
                if os.environ.get(key) == value:
                    del os.environ[key]
