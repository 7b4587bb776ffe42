"""Benchmark of the tournament (issue 11). Run: ``python bench/bench_tournament.py [--quick]``.

8 trials on digits (4 schedules x 2 seeds, batch 64), three ways, each from a fresh process
and timed from process start to its end:

1. ``python -m lrviz tournament --workers 1``: one worker process trains the 8 trials one
   after another (the Optuna study, trial bookkeeping, leaderboard and polling included);
2. the baseline: the same 8 runs launched one after another through ``python -m lrviz train``;
3. ``python -m lrviz tournament --workers 2``: two worker processes side by side.

Goals: (1) / (2) <= 1.05 (the tournament costs no more than running the trials by hand);
(3) / (1) is reported (on 2 cores, two workers share them). ``--quick``: 400 images, 2 epochs.
Results go to bench/results/tournament.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
SCHEDULES = [  # (tournament spec, train flags) of the same schedule
    ("constant:lr=0.01", ["--schedule", "constant", "--lr", "0.01"]),
    ("time_keras2:lr=0.01,decay=0.00025", ["--schedule", "time_keras2", "--lr", "0.01", "--decay", "0.00025"]),
    ("step:lr=0.01,factor=0.25,drop_every=5", ["--schedule", "step", "--factor", "0.25", "--drop-every", "5"]),
    ("step:lr=0.01,factor=0.5,drop_every=5", ["--schedule", "step", "--factor", "0.5", "--drop-every", "5"]),
]
SEEDS = (1, 2)


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def _data_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--dataset", "digits", "--epochs", str(args.epochs), "--batch-size", "64"]
    return flags + (["--limit", str(args.limit)] if args.limit else [])


def tournament(args: argparse.Namespace, workers: int) -> float:
    with tempfile.TemporaryDirectory() as runs_dir:
        specs = [a for spec, _ in SCHEDULES for a in ("--schedule", spec)]
        return _timed([sys.executable, "-m", "lrviz", "tournament", *specs, *_data_flags(args), "--seeds",
                       str(len(SEEDS)), "--seed", str(SEEDS[0]), "--workers", str(workers), "--runs-dir", runs_dir])


def one_after_another(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as runs_dir:
        t0 = time.perf_counter()
        for seed in SEEDS:
            for _, flags in SCHEDULES:
                _timed([sys.executable, "-m", "lrviz", "train", *flags, *_data_flags(args), "--seed", str(seed),
                        "--runs-dir", runs_dir])
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="400 images, 2 epochs")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per trial (default 10; 2 with --quick)")
    args = ap.parse_args()
    args.epochs = args.epochs or (2 if args.quick else 10)
    args.limit = 400 if args.quick else None
    cli = one_after_another(args)
    one = tournament(args, 1)
    two = tournament(args, 2)
    rows = [("8 runs one after another (python -m lrviz train)", cli, None, None),
            ("tournament, 1 worker", one, one / cli, "<= 1.05x the runs by hand"),
            ("tournament, 2 workers", two, two / one, "vs 1 worker")]
    print(f"8 trials, digits{' (400 images)' if args.limit else ''}, {args.epochs} epochs, batch 64, "
          f"{os.cpu_count()} CPU cores")
    print(f"{'what':52s} {'wall s':>8s} {'ratio':>7s}  baseline / goal")
    for what, s, ratio, goal in rows:
        print(f"{what:52s} {s:8.1f} {'' if ratio is None else f'{ratio:6.2f}x':>7s}  {goal or ''}")
    verdict = "PASS" if one / cli <= 1.05 else "FAIL"
    print(f"overhead goal (1 worker <= 1.05x the runs by hand): {verdict}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tournament.json").write_text(json.dumps(
        {"epochs": args.epochs, "limit": args.limit, "cli_s": cli, "tournament_1_s": one, "tournament_2_s": two,
         "overhead_ratio": one / cli, "two_vs_one": two / one, "goal": verdict, "cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
