"""``python -m lrviz tournament`` (run a schedule tournament, print the leaderboard as it
goes) and ``python -m lrviz tournament-worker`` (take a tournament's waiting trials: what
another machine runs to join; the tournament spawns the same worker locally as
``python -m lrviz.jobs.tournament.worker``). Flags and printing only: the engine is
:mod:`lrviz.jobs.tournament`, reached through the runs API (:mod:`lrviz.runs`: its config, its
checks before a folder exists), and its trial worker :func:`lrviz.jobs.tournament.worker.work`,
which creates its trials through the runs API itself (so the runs API cannot import it).

    python -m lrviz tournament --preset tutorial --seeds 3 --workers 2
    python -m lrviz tournament --schedule 'step:factor=0.25|0.5|0.75,drop_every=5|10' --epochs 20
    python -m lrviz tournament-worker --storage postgresql://lrviz@db/lrviz --study NAME \\
        --runs-dir /mnt/shared/runs --group <tournament run id>
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from lrviz import runs, worker
from lrviz.cli.common import UsageError, add_runs_dir_flag, add_setting_flags, flags_into, plain, runs_dir_of
from lrviz.jobs.tournament.worker import work  # the engine's trial worker: see the module docstring
from lrviz.tournament import PRESETS, parse_spec, reached_text

__all__ = ["register", "cmd_tournament", "cmd_tournament_worker", "format_leaderboard"]

_T = runs.settings_of(runs.TOURNAMENT)
_FLAGS = ("epochs", "seeds", "workers", "storage", "study", "prune", "target_accuracy")  # besides the data settings


def register(sub: Any) -> None:
    tp = sub.add_parser("tournament", help="train several schedules with several seeds and rank them (Optuna)",
                        description="Train the chosen model (MiniVGGNet by default) once per schedule and seed, "
                                    "rank the schedules by mean final validation accuracy and say whether the "
                                    "winner's lead exceeds the spread between seeds. Each trial is an ordinary run "
                                    "under --runs-dir; the Optuna study is study.db in the tournament's folder unless "
                                    "--storage is given.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="schedule specs: NAME[:param=value,...]; value a|b|c makes a grid, e.g.\n"
                               "  --schedule 'step:factor=0.25|0.5|0.75,drop_every=5|10'  (6 schedules)\n"
                               "  --schedule 'time_keras2:decay=0.00025' --schedule constant")
    tp.add_argument("--preset", choices=tuple(PRESETS), default=None,
                    help="tutorial: constant 0.01, time_keras2 decay=0.01/40, step F=0.25 and F=0.5 (D=5), 40 epochs")
    tp.add_argument("--schedule", action="append", default=None, metavar="SPEC",
                    help="a schedule or grid to compare (repeat it); added to the preset's")
    add_setting_flags(tp, [_T[k] for k in (*runs.DATA_KEYS, *_FLAGS)])
    add_runs_dir_flag(tp)
    tp.add_argument("--detach", action="store_true", help="start the tournament in the background, print its id")
    tp.add_argument("--resume", default=None, metavar="ID",
                    help="continue the stopped or failed tournament ID: its study, schedules and settings (only "
                         "--workers may change); completed trials count, stopped ones continue from their model. "
                         "A study outside its own study.db (PostgreSQL) is opened only when --storage names it "
                         "again; its password comes from PGPASSWORD or ~/.pgpass")
    tp.set_defaults(func=cmd_tournament)

    wp = sub.add_parser("tournament-worker", help="run a tournament's waiting trials (joins from any machine)",
                        description="Take the waiting trials of a tournament's Optuna study one at a time and train "
                                    "each as a run of the tournament's group. Needs the same runs folder (shared "
                                    "storage such as NFS) and the same Optuna storage as the tournament.")
    wp.add_argument("--storage", required=True, help="the study's storage URL (postgresql://... for a cluster)")
    wp.add_argument("--study", required=True, help="the study's name (the tournament prints it)")
    wp.add_argument("--runs-dir", required=True, help="the runs folder holding the tournament")
    wp.add_argument("--group", required=True, help="the tournament's run id")
    wp.set_defaults(func=cmd_tournament_worker)


def _password_to_env(given: dict[str, Any]) -> None:
    """The password stays out of config.json: the job and its local workers inherit it as
    PGPASSWORD, which libpq reads when the URL has none."""
    if given.get("storage", "").startswith("postgresql"):
        given["storage"], password = runs.split_password(given["storage"])
        if password is not None:
            os.environ["PGPASSWORD"] = password


def _config(args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    """The config to create, checked like the job will (:func:`lrviz.runs.tournament_preflight`)
    before any folder exists: a refusal leaves nothing behind."""
    store = runs.store_at(runs_dir)
    if args.resume is not None:
        given: dict[str, Any] = {}
        flags_into(given, args, (*runs.DATA_KEYS, *(k for k in _FLAGS if k != "workers")))
        extra = [f"--{k.replace('_', '-')}" for k in given] + ["--preset"] * (args.preset is not None) + \
            ["--schedule"] * bool(args.schedule)
        if [e for e in extra if e != "--storage"]:
            raise UsageError(f"--resume takes the tournament's own settings; only --workers may change "
                             f"(given: {', '.join(extra)})")
        _password_to_env(given)
        try:  # the parent's settings, re-validated; its workers unless given; its storage named again
            config = runs.tournament_config(parent=args.resume, workers=args.workers,
                                            storage=given.get("storage"))
            return {**config, **runs.tournament_preflight({**config, "workers": args.workers}, store)}
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.preset is None and not args.schedule:
        raise UsageError("Give --preset tutorial or at least one --schedule SPEC "
                         "(e.g. 'step:factor=0.5,drop_every=5').")
    given = {}
    flags_into(given, args, (*runs.DATA_KEYS, *_FLAGS))
    _password_to_env(given)
    try:
        schedules = None
        if args.schedule:
            schedules = [] if args.preset is None else list(PRESETS[args.preset]["schedules"])
            for spec in args.schedule:
                schedules += parse_spec(spec)
        config = runs.tournament_config(schedules, preset_name=args.preset, **given)
        runs.tournament_preflight(config, store)
        return config
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_tournament(args: argparse.Namespace) -> int:
    from lrviz.data import DataError

    runs_dir = runs_dir_of(args)
    config = _config(args, runs_dir)
    try:
        if config["dataset"] == "cifar10":
            runs.load_data(config)  # read it now: a bad archive makes no run
        if not config.get("parent"):  # own data and a model that fits, before any trial (a resume: its parent's)
            about = runs.check_data(runs.validate_config_of(config))
            if about:
                print(f"[INFO] data {plain(about)}", file=sys.stderr if args.detach else sys.stdout, flush=True)
        if args.detach:
            print(runs.start_run(config, runs_dir))
            return 0
        rid = runs.create_run(config, runs_dir, launch=lambda path: (os.getpid(), None))
    except DataError as e:
        raise UsageError(str(e).replace("\n", " ")) from None
    except (runs.RunBusyError, ValueError) as e:
        raise UsageError(str(e)) from None
    path = runs.run_path(rid, runs_dir)
    config = runs.read_json(path / "config.json")  # a resumed one took its parent's settings
    n = len(config["schedules"]) * config["seeds"]
    resumes = f", resuming {config['parent']}" if config.get("parent") else ""
    workers, why = runs.local_workers(config["workers"], n)
    print(f"[INFO] tournament {rid} in {path}: {n} trials{resumes}, {workers} worker(s)"
          + (f" ({why})" if why else ""), flush=True)

    shown: list[Any] = [None]

    def show(rows: list[dict], verdict: Any) -> None:
        key = [(r["schedule"], r["trials"], r["notes"]) for r in rows]
        if key == shown[0]:
            return
        shown[0] = key
        print(format_leaderboard(rows), flush=True)
        print(f"[INFO] {plain(verdict.text)}", flush=True)

    state = worker.run_worker(path, verbose=0, on_step=show)
    status = runs.load_run(rid, runs_dir).status
    if state == "failed":
        sys.stderr.write(f"lrviz: error: tournament {rid} failed: {plain(status.get('error'))}\n")
        return 1
    print(plain(f"[INFO] tournament {rid} {state}: {status.get('trials_done')}/{status.get('trials_total')} trials; "
                f"files in {path}; study {status.get('study')} in {status.get('storage')}"))
    return 0


def format_leaderboard(rows: list[dict]) -> str:
    """The leaderboard as a fixed-width table (each line :func:`plain`: labels may come from a folder)."""
    target = next((r["target_accuracy"] for r in rows if r.get("target_accuracy") is not None), None)
    to = "to target" if target is None else f"to {target:g}"
    width = max([len(to)] + [len(reached_text(r)) for r in rows])
    lines = [f"{'rank':>4}  {'mean':>7} {'std':>7} {'n':>3} {'best ep':>7}  {to:<{width}}  schedule"]
    for r in rows:
        rank = "-" if r["rank"] is None else str(r["rank"])
        mean = "-" if not r["trials"] else f"{r['mean_val_accuracy']:.4f}"
        std = "-" if r["trials"] < 2 else f"{r['std_val_accuracy']:.4f}"
        best = "-" if r["best_epoch"] is None else str(r["best_epoch"])
        reached = reached_text(r) or "-"
        book = f"  (book {r['book_accuracy']:.2f})" if r.get("book_accuracy") else ""
        notes = f"  [{r['notes']}]" if r["notes"] else ""
        lines.append(f"{rank:>4}  {mean:>7} {std:>7} {r['trials']:>3} {best:>7}  {reached:<{width}}  "
                     f"{r['schedule']}{book}{notes}")
    return "\n".join(plain(line) for line in lines)


# --------------------------------------------------------------------------- the worker


def cmd_tournament_worker(args: argparse.Namespace) -> int:
    """The engine's trial worker (:func:`lrviz.jobs.tournament.worker.work`); a refusal is one line."""
    try:
        done = work(args.storage, args.study, Path(args.runs_dir), args.group)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"[INFO] tournament worker {os.getpid()}: {done} trial(s) run", flush=True)
    return 0
