"""LR range test job (kind ``"lr_find"``): :func:`lrviz.lr_find.lr_range_test` on MiniVGGNet
with a training run's data and optimizer settings, streamed into its run folder.

**Files**::

    config.json      the data settings of a training run and the sweep's (start, end,
                     num_steps, smoothing, stop_factor), plus id, created_at, versions,
                     train_size, steps_per_epoch
    status.json      state, phase, step (batches done), num_steps, lr/loss/smoothed_loss of
                     the latest batch, elapsed_s, eta_s, error, stopped_early, stop_reason
    lr_find.csv      step (0-based), lr, loss (raw batch loss), smoothed_loss
    suggestions.json {"steepest": S, "min_div_10": S, "valley": S, "reason": str|null,
                      "stopped_early": bool, "stop_reason": str|null},
                     S = {"lr": float|null, "rule": str, "step": int|null, "loss": float|null}

The model is not kept. A stop request ends the sweep before the next batch; the curve so far
and its suggestions are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrviz.errors import FieldError
from lrviz.jobs import common
from lrviz.jobs.base import Job, WorkerContext
from lrviz.lr_find import CSV_COLUMNS, LRFindSettings, lr_range_test, validate_lr_find_settings
from lrviz.store.files import atomic_write_json, atomic_write_text, read_json

__all__ = ["LRFindConfig", "LRFindJob"]


@dataclass
class LRFindConfig(LRFindSettings, common.DataSettings):
    """A training run's data and optimizer settings, and the sweep's."""


class LRFindJob(Job):
    kind = "lr_find"
    title = "LR range test"
    setting_noun = "an LR range test setting"
    Config = LRFindConfig
    files = ("config.json", "lr_find.csv", "suggestions.json")
    progress_keys = ("step", "num_steps")
    progress_unit = "step"

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(config, Mapping) and config.get("kind", cls.kind) != cls.kind:
            raise FieldError("kind", f"'{cls.kind}' for an LR range test", config.get("kind"))
        cfg = super().validate(config)
        common.check_data(cfg)
        cfg.update(validate_lr_find_settings(cfg))
        return cfg

    @classmethod
    def id_hint(cls, config: Mapping[str, Any]) -> str:
        return f"{config['dataset']}-lr-find"

    @classmethod
    def initial_status(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": cls.kind, "step": 0, "num_steps": config["num_steps"], "stopped_early": False,
                "stop_reason": None}

    @classmethod
    def progress_text(cls, status: Mapping[str, Any]) -> str:
        return f"LR range test, step {status.get('step', 0)}/{status.get('num_steps', '?')}"

    @classmethod
    def label(cls, config: Mapping[str, Any]) -> str | None:
        try:
            return f"LR range test {config['start']:.3g} → {config['end']:.3g} ({config['num_steps']} steps)"
        except (KeyError, TypeError, ValueError):
            return "LR range test"

    @classmethod
    def load_extras(cls, path: Path, attempt: Callable[[str, Callable[[], Any], Any], Any]) -> dict[str, Any]:
        import pandas as pd

        frame = attempt("lr_find.csv", lambda: pd.read_csv(path / "lr_find.csv"), None)
        if frame is None:
            frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in CSV_COLUMNS})
        return {"lr_find": frame,
                "suggestions": attempt("suggestions.json", lambda: read_json(path / "suggestions.json"), None)}

    # ------------------------------------------------------------------ worker

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        path, config, status, control = ctx.path, ctx.config, ctx.status, ctx.control
        s = validate_lr_find_settings(config)
        placement = common.configure_backend(config.get("backend"))  # before Keras is imported
        status.write(phase="loading data", step=0, num_steps=s["num_steps"], backend=placement.backend,
                     device=placement.device)
        ds = common.load_data(config, progress=status.loading)  # phase, files_done, files_total
        from lrviz.batches import make_dataset

        common.seed_everything(config["seed"])
        model = common.build_model(ds, config, s["start"], placement)
        train = make_dataset(ds.x_train, ds.y_train, len(ds.class_names), config["batch_size"], shuffle=True,
                             seed=config["seed"])
        config.update(train_size=len(ds.x_train), steps_per_epoch=-(-len(ds.x_train) // config["batch_size"]),
                      backend=placement.backend, device=placement.device)
        atomic_write_json(path / "config.json", config)
        curve = _Curve(path / "lr_find.csv")
        t0 = time.time()

        def step(i: int, lr: float, loss: float, sm: float) -> None:
            curve.add(i, lr, loss, sm)
            done = i + 1
            status.throttled(step=done, lr=lr, loss=loss, smoothed_loss=sm,
                             eta_s=(time.time() - t0) / done * (s["num_steps"] - done))
            if ctx.on_step is not None:
                ctx.on_step(i, lr, loss, sm)

        def should_stop() -> bool:
            control.poll()
            return control.stop_requested

        status.write(state="running", phase="sweeping")
        result = lr_range_test(model, train, **s, restore=False, on_step=step, should_stop=should_stop)
        curve.write()
        atomic_write_json(path / "suggestions.json", result.suggestions)
        state = "stopped" if control.stop_requested else "finished"
        last = dict(zip(("lr", "loss", "smoothed_loss"), curve.rows[-1][1:])) if curve.rows else {}
        status.write(state=state, phase=None, eta_s=None, step=len(result.lrs), **last,
                     stopped_early=result.stopped_early, stop_reason=result.stop_reason)
        return state


class _Curve:
    """``lr_find.csv``, rewritten atomically at most 4 times a second while the sweep runs."""

    def __init__(self, file: Path):
        self.file = file
        self.rows: list[tuple[int, float, float, float]] = []
        self._last = 0.0

    def add(self, i: int, lr: float, loss: float, sm: float) -> None:
        self.rows.append((i, lr, loss, sm))
        if time.monotonic() - self._last >= common.STATUS_INTERVAL_S:
            self.write()

    def write(self) -> None:
        lines = [",".join(CSV_COLUMNS)]
        lines += [f"{s},{lr!r},{loss!r},{sm!r}" for s, lr, loss, sm in self.rows]  # repr: exact round trip
        atomic_write_text(self.file, "\n".join(lines) + "\n")
        self._last = time.monotonic()
