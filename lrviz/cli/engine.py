"""Sub-commands of the training engine: ``train``, ``lr-find``, ``runs``, ``stop``, ``set-lr``.

``python -m lrviz train`` runs in the foreground (Keras progress, then the classification
report) and stores the run like the UI does; ``--detach`` spawns the worker instead and
prints the run id. ctrl+c stops gracefully: the current batch ends, the model is evaluated
and the report written (the tutorial's "stop, adjust the LR, continue" via ``--resume``). A
warning the run records (an optional integration such as MLflow that failed: ``warnings`` in
``status.json``) is printed as one line ``lrviz: warning: ...`` on stderr, once, after the epoch
it happened in. Every text read from a run folder is printed :func:`~lrviz.cli.common.plain`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from lrviz import runs, worker
from lrviz.cli.common import UsageError, add_runs_dir_flag, add_setting_flags, flags_into, plain, runs_dir_of, warn
from lrviz.cli.schedule import add_schedule_flags, schedule_from_args
from lrviz.errors import FieldError
from lrviz.lr_find import LRFindSettings
from lrviz.own_data import loading_words
from lrviz.plateau import plateau_settings
from lrviz.schedules import REGISTRY, Schedule
from lrviz.settings import settings_of

_TRAIN = runs.settings_of(runs.TRAIN)
_FINDER_KEYS = tuple(settings_of(LRFindSettings))
_PLATEAU = plateau_settings("plateau_")


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    """Data and optimizer flags shared by ``train`` and ``lr-find`` (None = the run's default)."""
    add_setting_flags(parser, [_TRAIN[k] for k in runs.DATA_KEYS])


def register(sub: Any) -> None:
    """Add the engine's sub-commands to ``python -m lrviz``'s subparsers."""
    tp = sub.add_parser("train", help="train a model on a schedule (the tutorial's experiment by default)",
                        description="Train the chosen model (--model; MiniVGGNet by default) and store the run "
                                    "under --runs-dir. Defaults are the tutorial's: step decay lr=0.01 factor=0.5 "
                                    "drop-every=5, 40 epochs, batch 64, SGD momentum 0.9 with Nesterov.")
    _add_data_flags(tp)
    add_schedule_flags(tp, default_schedule=None,
                       default_words="step (the tutorial's step decay); with --resume, the parent's schedule")
    add_setting_flags(tp, [_TRAIN["epochs"], _TRAIN["mlflow"]])
    pg = tp.add_argument_group("ReduceLROnPlateau", "scale the rest of the schedule when the monitored value stops "
                                                    "improving (Keras' arguments and defaults)")
    pg.add_argument("--plateau", action="store_true", help="turn it on (any --plateau-* flag does too)")
    add_setting_flags(pg, _PLATEAU.values())
    tp.add_argument("--max-batches", type=_TRAIN["max_batches"].parse_flag, default=None, help=argparse.SUPPRESS)
    add_runs_dir_flag(tp)
    tp.add_argument("--resume", metavar="RUN", default=None,
                    help="continue runs/<id> from its model.keras and optimizer state as a new run")
    tp.add_argument("--detach", action="store_true", help="start the worker in the background, print the run id")
    tp.set_defaults(func=cmd_train)

    # ``find-lr`` was this command's name before the LR range test had one name everywhere (lr_find);
    # kept as an alias so commands written for earlier versions still work.
    fp = sub.add_parser("lr-find", aliases=["find-lr"],
                        help="LR range test: sweep the LR exponentially, suggest an initial LR",
                        description="Leslie Smith's LR range test on the chosen model (MiniVGGNet by default) with a "
                                    "training run's data and optimizer settings: the LR grows exponentially from "
                                    "--start to --end over --num-steps batches; the smoothed loss is recorded and the "
                                    "sweep stops when it exceeds --stop-factor x its best. Prints suggested LRs with "
                                    "their rules and stores the run (lr_find.csv, suggestions.json) under --runs-dir.")
    _add_data_flags(fp)
    add_setting_flags(fp, settings_of(LRFindSettings).values())
    add_runs_dir_flag(fp)
    fp.add_argument("--detach", action="store_true", help="start the worker in the background, print the run id")
    fp.set_defaults(func=cmd_lr_find)

    rp = sub.add_parser("runs", help="list stored runs, newest first")
    add_runs_dir_flag(rp)
    rp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("stop", help="stop a running run after its current batch")
    sp.add_argument("run_id")
    add_runs_dir_flag(sp)
    sp.set_defaults(func=cmd_stop)

    lp = sub.add_parser("set-lr", help="change a running run's LR from its next batch")
    lp.add_argument("run_id")
    g = lp.add_mutually_exclusive_group(required=True)
    g.add_argument("--value", type=float, help="the LR now; the rest of the schedule is rescaled to continue from it")
    g.add_argument("--factor", type=float, help="multiply the rest of the schedule")
    add_runs_dir_flag(lp)
    lp.set_defaults(func=cmd_set_lr)


def _schedule(args: argparse.Namespace, parent_cfg: dict | None) -> dict | None:
    """The schedule flags as a config; with --resume and no --schedule, the parent's schedule
    with the given parameter flags changed (e.g. ``--resume R --lr 0.001``)."""
    given = {k[3:]: v for k, v in vars(args).items() if k.startswith("sp_") and v is not None}
    warm = {k[3:]: v for k, v in vars(args).items() if k.startswith("wu_") and v is not None}
    if args.schedule is None and parent_cfg is not None:
        base = parent_cfg["schedule"]
        params = {**base.get("params", {}), **given}
        own = {p.name for p in REGISTRY[base["name"]].params} | set(REGISTRY[base["name"]].flags)
        foreign = sorted(set(given) - own)
        if foreign:
            raise UsageError(f"Flag --{foreign[0].replace('_', '-')} does not belong to the parent's schedule "
                             f"`{base['name']}`; pass --schedule to change the schedule.")
        w = {k: base[k] for k in ("warmup", "warmup_start_factor") if k in base}
        try:
            return Schedule.create(base["name"], params, **{**w, **warm}).to_config()
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.schedule is None:
        args.schedule = "step"
    return schedule_from_args(args).to_config()


def _create(config: dict[str, Any], runs_dir: Any, start: Any, detach: bool) -> str | None:
    """With ``--detach``: spawn the worker, print the id, return None. Otherwise create the run for
    this process to work on in the foreground and return its id. Busy or bad config, or a CIFAR-10
    archive that cannot be read: UsageError, and no run folder."""
    from lrviz.data import HOW_TO_SUPPLY_CIFAR, DataError, how_to_supply_cifar

    try:
        if config.get("dataset") == "cifar10" or config.get("cifar_archive"):
            runs.load_data(runs.validate_config_of(config))  # read it now: a bad archive makes no run
        about = runs.check_data(runs.validate_config_of(config))  # own data, a model that fits: no run if not
        if about:  # with --detach stdout is the run id alone
            print(f"[INFO] data {plain(about)}", file=sys.stderr if detach else sys.stdout, flush=True)
        if detach:
            print(start(config, runs_dir))
            return None
        return runs.create_run(config, runs_dir, launch=lambda path: (os.getpid(), None))
    except DataError as e:  # in the command line's words: "pass its path with --cifar-archive"
        raise UsageError(e.worded("cli").replace("\n", " ")) from None
    except FieldError as e:
        if e.hint == HOW_TO_SUPPLY_CIFAR:
            e = FieldError(e.field, e.rule, e.value, hint=how_to_supply_cifar("cli"))
        raise UsageError(str(e)) from None
    except (runs.RunBusyError, ValueError) as e:
        raise UsageError(str(e)) from None


def cmd_train(args: argparse.Namespace) -> int:
    runs_dir = runs_dir_of(args)
    config: dict[str, Any] = {}
    parent_cfg = None
    if args.resume:
        rp = Path(args.resume)
        if args.runs_dir is None and len(rp.parts) > 1:
            runs_dir = rp.parent
        try:
            parent_cfg = runs.load_run(rp.name, runs_dir).config
        except (ValueError, FileNotFoundError) as e:
            raise UsageError(str(e)) from None
        config = {k: parent_cfg[k] for k in ("batch_size", "seed", "epochs") if k in parent_cfg}
        config["parent"] = rp.name
    config["schedule"] = _schedule(args, parent_cfg)
    flags_into(config, args, (*runs.DATA_KEYS, "epochs", "max_batches", "mlflow"))
    plateau = {key: getattr(args, s.name) for key, s in _PLATEAU.items() if getattr(args, s.name) is not None}
    if args.plateau or plateau:
        config["plateau"] = plateau
    rid = _create(config, runs_dir, runs.start_run, args.detach)
    if rid is None:
        return 0
    path = runs.run_path(rid, runs_dir)
    print(f"[INFO] run {rid} in {path}", flush=True)
    warnings = _WarningPrinter(path)
    state = worker.run_worker(path, verbose=1 if sys.stdout.isatty() else 2, on_step=warnings.after_epoch,
                              on_loading=_loading_printer())
    warnings.print_new()
    run = runs.load_run(rid, runs_dir)
    if state == "failed":
        sys.stderr.write(f"lrviz: error: run {rid} failed: {plain(run.status.get('error'))}\n")
        return 1
    print(f"[INFO] run {rid} {state} after epoch {plain(run.status.get('epoch'))}/{plain(run.status.get('epochs'))}; "
          f"files in {path}")
    return 0


def _loading_printer() -> Any:
    """``on_loading(done, total)`` for a foreground run: ``[INFO] Loading your images: 1,234 of
    5,000 files``, redrawn in place on a terminal (5 times/s at most), a line every 2 s in a log;
    the last count always."""
    tty, last = sys.stdout.isatty(), [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if tty else 2.0) and done < total:
            return
        last[0] = now
        line = f"[INFO] {loading_words(done, total)}"
        print(("\r" + line) if tty else line, end="\n" if not tty or done >= total else "", flush=True)

    return show


class _WarningPrinter:
    """Prints each warning a foreground run records (``status.json`` ``warnings``) once, as
    ``lrviz: warning: <message>`` on stderr: after each finished epoch, and at the end."""

    def __init__(self, path: Path):
        self.status_file = path / "status.json"
        self.shown = 0

    def after_epoch(self, row: Any) -> None:  # the job's on_step: None = go on
        self.print_new()

    def print_new(self) -> None:
        try:
            found = runs.read_json(self.status_file).get("warnings")
        except (OSError, ValueError):
            return
        if not isinstance(found, list):
            return
        for w in found[self.shown:]:
            warn(w.get("message") if isinstance(w, dict) else w)
        self.shown = len(found)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from lrviz.lr_find import format_suggestions

    runs_dir = runs_dir_of(args)
    config: dict[str, Any] = {"kind": runs.LR_FIND}
    flags_into(config, args, (*runs.DATA_KEYS, *_FINDER_KEYS))
    rid = _create(config, runs_dir, runs.start_run, args.detach)
    if rid is None:
        return 0
    path = runs.run_path(rid, runs_dir)
    num_steps = runs.read_json(path / "config.json")["num_steps"]
    print(f"[INFO] LR range test {rid} in {path}", flush=True)
    tty = sys.stdout.isatty()
    last = [0.0]

    def progress(step: int, lr: float, loss: float, smoothed: float) -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if tty else 2.0) and step + 1 < num_steps:
            return
        last[0] = now
        line = f"[INFO] step {step + 1}/{num_steps}  lr={lr:.3g}  loss={loss:.4g}  smoothed={smoothed:.4g}"
        print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)

    state = worker.run_worker(path, verbose=0, on_step=progress, on_loading=_loading_printer())
    if tty:
        print()
    run = runs.load_run(rid, runs_dir)
    if state == "failed":
        sys.stderr.write(f"lrviz: error: LR range test {rid} failed: {plain(run.status.get('error'))}\n")
        return 1
    n = len(run.extras.get("lr_find", ()))
    elapsed = run.status.get("elapsed_s")
    elapsed = f"{elapsed:.1f}" if isinstance(elapsed, (int, float)) else "?"
    print(f"[INFO] {state} after {n}/{plain(num_steps)} steps in {elapsed}s; files in {path}")
    print("Suggested initial LRs:")
    suggestions = format_suggestions(run.extras.get("suggestions") or {})
    print("\n".join(plain(line) for line in suggestions.splitlines()), flush=True)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """The runs, newest first; every text from a run folder made :func:`plain`. A runs folder
    that does not exist is an error (exit 2), not an empty table: it is most often a typo."""
    runs_dir = runs_dir_of(args)
    if not runs_dir.is_dir():
        what = "is not a folder" if runs_dir.exists() else "does not exist"
        raise UsageError(f"Runs folder {runs_dir} {what} (--runs-dir, else $LRVIZ_RUNS_DIR, else ./runs).")
    rows = runs.list_runs(runs_dir)
    print(f"{'run':42s} {'state':9s} {'epoch':>7s} {'val_acc':>7s}  schedule")
    for r in rows:
        acc = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "-"
        print(f"{plain(r.id):42s} {plain(r.state):9s} {r.epoch:>3d}/{plain(r.epochs or '?'):<3} {acc:>7s}  "
              f"{plain(r.schedule or '-')}" + (f"  “{plain(r.name)}”" if r.name else "")
              + (f"  [{plain(r.error)}]" if r.error else ""))
    if not rows:
        print(f"(no runs in {plain(runs_dir)})")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    try:
        runs.stop_run(args.run_id, runs_dir_of(args))
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    return 0


def cmd_set_lr(args: argparse.Namespace) -> int:
    try:
        runs.set_lr(args.run_id, runs_dir_of(args), value=args.value, factor=args.factor)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    return 0
