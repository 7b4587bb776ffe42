"""What a job kind is: the contract between the run store, the worker and one kind of run.

A job kind is one module in :mod:`lrviz.jobs` defining a :class:`Job` subclass and one line in
:data:`lrviz.jobs.JOBS`. The subclass owns:

* ``Config``: a dataclass whose fields carry :func:`lrviz.settings.setting` descriptions
  (defaults, bounds, help); :meth:`Job.validate` checks a config against them, the CLI makes
  its flags from them and the pages their inputs' help;
* its status fields (:meth:`Job.initial_status`, :attr:`Job.progress_keys`) and how its
  progress reads (:meth:`Job.progress_text`);
* the files it writes (:attr:`Job.files`) and reads back (:meth:`Job.load_extras`: the run's
  ``extras``, which only the kind's own view reads);
* whether its LR can be set while it runs: :attr:`Job.set_lr` (None: it cannot), and why not
  (:meth:`Job.lr_fixed`);
* its worker entry point, :meth:`Job.run`, called by ``python -m lrviz.worker <run_dir>``.

The store never imports this package: it receives plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lrviz.settings import Setting, defaults_of, settings_of, validate_settings

__all__ = ["Job", "WorkerContext", "META_KEYS"]

# Keys the engine itself writes into config.json; accepted back and passed through.
META_KEYS = ("id", "created_at", "versions", "kind", "steps_per_epoch", "train_size", "test_size", "group")


@dataclass
class WorkerContext:
    """What the worker hands a job: its folder and config, the status writer
    (:class:`lrviz.jobs.common.StatusWriter`), the control requests
    (:class:`lrviz.store.Control`), Keras' ``verbose`` and an optional progress hook
    ``on_step``: a training run calls ``on_step(history_row)`` after each finished epoch (a
    true return value stops the run after that epoch: a tournament's pruner); an LR range test
    calls ``on_step(step, lr, loss, smoothed)`` after each batch."""

    path: Path
    config: dict[str, Any]
    status: Any
    control: Any
    verbose: int | str = 2
    on_step: Callable[..., Any] | None = None


class Job:
    """Base of every job kind (see the module docstring)."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""  # how people call it: "training run", "LR range test"
    setting_noun: ClassVar[str] = "a run setting"  # "Argument `x` is not <setting_noun>"
    Config: ClassVar[type]
    meta_keys: ClassVar[tuple[str, ...]] = META_KEYS
    files: ClassVar[tuple[str, ...]] = ("config.json",)  # downloadable files it writes
    progress_keys: ClassVar[tuple[str, str]] = ("epoch", "epochs")  # status keys: done, total
    progress_unit: ClassVar[str] = "epoch"
    # False: its runs train in a process lrviz does not own (a user's fit): they neither wait for
    # nor block lrviz's own runs (see :meth:`lrviz.store.RunStore.create`)
    exclusive: ClassVar[bool] = True
    # How a running run of this kind takes a new LR from its next batch, as a classmethod
    # ``set_lr(store, run_id, *, value=None, factor=None)``; None: its LR cannot be set while it runs
    set_lr: ClassVar[Callable[..., None] | None] = None

    # ------------------------------------------------------------------ config

    @classmethod
    def settings(cls) -> dict[str, Setting]:
        return settings_of(cls.Config)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return defaults_of(cls.Config)

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config normalised, defaults filled in, ``kind`` set; ``FieldError`` naming the
        field, the rule and the value. Subclasses add rules that span fields."""
        cfg, meta = validate_settings(cls.Config, config, what=cls.setting_noun, passthrough=cls.meta_keys)
        return {**cfg, **meta, "kind": cls.kind}

    @classmethod
    def prepare(cls, config: dict[str, Any], store: Any) -> None:
        """Called under the store lock just before the run is created (e.g. to read a parent run);
        records the library versions."""
        from lrviz.jobs.common import versions

        config.update(versions=versions())

    @classmethod
    def id_hint(cls, config: Mapping[str, Any]) -> str:
        """The middle of the run id, e.g. ``digits-step``."""
        return f"{config.get('dataset', 'run')}-{cls.kind}"

    # ------------------------------------------------------------------ status

    @classmethod
    def initial_status(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        done, total = cls.progress_keys
        return {"kind": cls.kind, done: 0, total: config.get(total)}

    @classmethod
    def progress(cls, config: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[Any, Any]:
        """``(done, total)`` as stored (not checked)."""
        done, total = cls.progress_keys
        return status.get(done), status.get(total, config.get(total))

    @classmethod
    def progress_text(cls, status: Mapping[str, Any]) -> str:
        done, total = cls.progress_keys
        return f"{cls.progress_unit} {status.get(done, 0)}/{status.get(total, '?')}"

    @classmethod
    def label(cls, config: Mapping[str, Any]) -> str | None:
        """One line saying what the run does, for tables and headers."""
        return cls.title

    # ------------------------------------------------------------------ files and worker

    @classmethod
    def load_extras(cls, path: Path, attempt: Callable[[str, Callable[[], Any], Any], Any]) -> dict[str, Any]:
        """Kind-specific files read for :class:`lrviz.runs.Run` (``attempt(what, read, default)``
        records an unreadable file instead of raising)."""
        return {}

    @classmethod
    def lr_fixed(cls, config: Mapping[str, Any]) -> str | None:
        """Why the LR of a run of this kind cannot be set while it runs (None: it can, through the
        kind's ``set_lr``). The one message of the refusal: the runs API raises it, pages show it."""
        if cls.set_lr is None:
            return f"Run {config.get('id', '?')} is an {cls.title}; its LR cannot be changed while it runs."
        return None

    @classmethod
    def run(cls, ctx: WorkerContext) -> str:
        """The worker: do the job, write its files; return the final state (finished or stopped).
        Exceptions propagate: the worker marks the run failed."""
        raise NotImplementedError
