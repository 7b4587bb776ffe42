"""Fabricated runs on disk, written the way the engine writes them (no worker)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from lrviz import runs as runs_api
from lrviz.report import classification_report_frame, confusion_frame, frame_to_csv
from lrviz.schedules import Schedule


def fabricate_run(runs_dir: Path, *, factor: float = 0.5, epochs: int = 5, state: str = "finished",
                  seed: int = 0, accuracy: float = 0.8, diverged: bool = False, **config) -> str:
    """A run folder with config, status, history, report and confusion (no worker).

    ``diverged=True``: the loss explodes to 1e10 then NaN and the model ends at chance
    (predicts one class). ``config``: more settings (``batch_size=32``, ``limit=None``, ...)."""
    cfg = {"schedule": Schedule.create("step", {"factor": factor, "drop_every": 2}).to_config(), "epochs": epochs,
           "limit": 300, **config}
    group = cfg.pop("group", None)  # a tournament's trial
    rid = runs_api.create_run(cfg, runs_dir, group=group)
    path = Path(runs_dir) / rid
    sched = Schedule.from_config(cfg["schedule"])
    rng = np.random.default_rng(seed)
    done = epochs if state == "finished" else max(1, epochs // 2)
    hist = pd.DataFrame({
        "epoch": np.arange(1, done + 1),
        "loss": np.linspace(2.0, 0.3, done), "accuracy": np.linspace(0.3, 0.95, done),
        "val_loss": np.linspace(2.1, 0.5, done), "val_accuracy": np.linspace(0.25, accuracy, done),
        "lr": sched.per_epoch(done, 10), "lr_planned": sched.per_epoch(done, 10),
    })
    if diverged:  # 2.3 -> 1e10 -> NaN, accuracy at chance
        hist["loss"] = np.r_[2.3, np.full(done - 1, 1e10)][:done]
        hist["val_loss"] = np.r_[2.4, np.full(done - 1, 3e9)][:done]
        hist.loc[hist.index[-1], ["loss", "val_loss"]] = np.nan
        hist["val_accuracy"] = 0.1
        accuracy = 0.0
    runs_api.atomic_write_text(path / "history.csv", hist.to_csv(index=False))
    classes = [str(i) for i in range(10)]
    y_true = np.repeat(np.arange(10), 10)
    y_pred = np.where(rng.random(100) < accuracy, y_true, rng.integers(0, 10, 100))
    if diverged:
        y_pred = np.zeros_like(y_true)  # one class for every image
    if state != "running":
        runs_api.atomic_write_text(path / "report.csv",
                                   frame_to_csv(classification_report_frame(y_true, y_pred, classes)))
        runs_api.atomic_write_text(path / "confusion.csv", frame_to_csv(confusion_frame(y_true, y_pred, classes)))
    status = runs_api.read_json(path / "status.json")
    now = time.time()
    status.update(state=state, epoch=done, epochs=epochs, steps_per_epoch=10, started_at=now - 30, elapsed_s=30.0,
                  updated_at=now, error="boom: out of memory" if state == "failed" else None)
    runs_api.atomic_write_json(path / "status.json", status)
    return rid


def fabricate_lr_find(runs_dir: Path, *, steepest: float = 0.0085, reason: str | None = None) -> str:
    """A finished LR range test folder (curve + suggestions), as the finder writes it."""
    import json

    rid = runs_api.create_run({"kind": "lr_find", "limit": 300, "num_steps": 40}, runs_dir)
    path = Path(runs_dir) / rid
    lrs = np.geomspace(1e-7, 10, 40)
    loss = 2.3 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 3) * 2)) + np.where(lrs > 1, lrs, 0)
    frame = pd.DataFrame({"step": np.arange(40), "lr": lrs, "loss": loss, "smoothed_loss": loss})
    runs_api.atomic_write_text(path / "lr_find.csv", frame.to_csv(index=False))
    rule = {"steepest": "steepest descent of the smoothed loss", "min_div_10": "minimum / 10", "valley": "valley"}
    sugg = {k: {"lr": (None if reason else v), "rule": rule[k], "step": None, "loss": None}
            for k, v in (("steepest", steepest), ("min_div_10", 0.035), ("valley", 0.0028))}
    sugg.update(reason=reason, stopped_early=True, stop_reason="diverged at lr=1.56")
    runs_api.atomic_write_text(path / "suggestions.json", json.dumps(sugg))
    status = runs_api.read_json(path / "status.json")
    status.update(state="finished", step=40, num_steps=40, elapsed_s=9.0)
    runs_api.atomic_write_json(path / "status.json", status)
    return rid


def plotly_values(data) -> list:
    """A Plotly array as sent to the browser: a list, or ``{"bdata": base64, "dtype": ...}``."""
    import base64

    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_page(name: str):
    """The AppTest of ``pages/<name>.py``, run once."""
    from streamlit.testing.v1 import AppTest

    path = Path(__file__).resolve().parents[1] / "pages" / f"{name}.py"
    return AppTest.from_file(str(path), default_timeout=30).run()



def shown(markdown: str) -> str:
    """What a reader sees of ``markdown`` where text from a run folder was escaped
    (``ui/text.py``): CommonMark's backslash escapes resolved, the invisible word joiners dropped."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def markup(markdown: str) -> set[str]:
    """The HTML elements an independent CommonMark parser (markdown-it-py) makes of ``markdown``,
    besides the paragraph: empty where a page's text shows as the characters written."""
    import re

    from markdown_it import MarkdownIt

    return set(re.findall(r"<([a-z][a-z0-9]*)", MarkdownIt("commonmark").render(markdown))) - {"p"}


def cifar_archive_with(path: Path, extra, data: bytes = b"boom") -> Path:
    """A tiny CIFAR-10 ``.tar.gz`` at ``path``: the real pickle batches (2 images each, under
    ``cifar-10-batches-py/``), then the ``tarfile.TarInfo`` ``extra`` (``data`` its bytes if it is a
    file): a member outside the folder, a link, or a header of any size."""
    import io
    import os
    import tarfile

    from lrviz.data import write_synthetic_cifar

    good = write_synthetic_cifar(path.parent / f"{path.name}-src", n_per_batch=2, n_test=2)
    with tarfile.open(path, "w:gz") as tar:
        for name in sorted(os.listdir(good)):
            raw = (good / name).read_bytes()
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        tar.addfile(extra, io.BytesIO(data) if extra.isfile() else None)
    return path
