"""Engine throughput on CIFAR-shaped data, per Keras backend, the tutorial's run and the
tutorial's tournament table on a GPU.

Run (CPU, this machine): ``python bench/bench_backends.py``
Run (a GPU machine, JAX): ``KERAS_BACKEND=jax python bench/bench_backends.py --gpu``
Dry run (CI; JAX's CPU build, TensorFlow made unimportable, tiny sizes, the same code paths):
``python bench/bench_backends.py --gpu --dry-run``

1. **Throughput**: lrviz's worker (``python -m lrviz.worker``, every callback on: the schedule
   (in the compiled step on JAX, set before every batch elsewhere), control polling,
   status/history, TensorBoard) vs a plain ``model.fit(x, y, batch_size=64)`` of the same
   MiniVGGNet, same CIFAR-shaped 32x32x3 images (a synthetic CIFAR-10 archive written by this
   script), same backend, each in a fresh process, alternated. Throughput = images of epochs
   2..N / wall time between the end of epoch 1 and the end of epoch N (so tracing and the first
   epoch's warm-up are left out; validation included on both sides). Ratio = median over pairs
   of (worker / the baseline run just before it). Goal: >= 0.97 on CPU, >= 0.95 on a GPU.
2. ``--gpu`` adds **the tutorial's run**: 40 epochs on 50,000 + 10,000 CIFAR-shaped images,
   ``python -m lrviz train`` process start to report, wall time (goal <= 2 minutes).
3. ``--gpu`` adds, last, **the tutorial's tournament table**: its 4 schedules x 3 seeds x 40
   epochs on the same images, ``python -m lrviz tournament --preset tutorial``, workers side by
   side on the one GPU (their number: the default, from the GPU's free memory), wall time
   (goal <= 10 minutes).

A lent GPU comes with minutes, not hours: every part writes its figures to the results JSON as
soon as it has them (the throughput after each pair, the tournament's finished trials every few
seconds), so a run cut short still leaves what it measured. Results go to
``bench/results/backends.json`` (``--out``; the dry run: ``bench/results/backends-dry-run.json``).
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
# this process reads run folders only; should a library it imports ever start JAX's GPU client here, it must
# not take 75% of the card from the processes being measured (the children get ENV, without this)
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# Sizes: images in the synthetic archive (train; test = a fifth, at least 100), epochs, pairs.
SIZES = {
    "cpu": {"images": 4_000, "epochs": 4, "reps": 3},
    "quick": {"images": 1_000, "epochs": 3, "reps": 1},
    "gpu": {"images": 20_000, "epochs": 6, "reps": 3, "tutorial_images": 50_000, "tutorial_epochs": 40,
            "tournament_seeds": 3, "tournament_epochs": 40, "tournament_workers": None},  # None: the default
    "dry-run": {"images": 200, "epochs": 2, "reps": 1, "tutorial_images": 200, "tutorial_epochs": 2,
                "tournament_seeds": 1, "tournament_epochs": 1, "tournament_workers": 2},
}
_NO_TENSORFLOW = "raise ModuleNotFoundError(\"TensorFlow is blocked in this bench's dry run\", name='tensorflow')\n"


def child_baseline(archive: str, epochs: int, batch: int) -> None:
    """Plain Keras: the arrays as float32 in [0, 1], fit(x, y, batch_size), no lrviz code."""
    import keras
    import numpy as np

    from lrviz.data import load_cifar10
    from lrviz.models import MiniVGGNet

    keras.utils.set_random_seed(42)
    ds = load_cifar10(archive)
    x, xt = ds.x_train.astype("float32") / 255.0, ds.x_test.astype("float32") / 255.0
    y, yt = np.eye(10, dtype="float32")[ds.y_train], np.eye(10, dtype="float32")[ds.y_test]
    model = MiniVGGNet.build(32, 32, 3, 10)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    ends: list[float] = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(time.time()))
    model.fit(x, y, validation_data=(xt, yt), batch_size=batch, epochs=epochs, callbacks=[cb], verbose=0)
    print(json.dumps({"ends": ends, "n": len(x), "backend": keras.backend.backend()}))


class Results:
    """The results JSON, rewritten (atomically) each time a part has a figure: a run cut short keeps
    every figure it had."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path, self.data, self.t0 = path, {**header, "written_s": {}, "writes": {}}, time.monotonic()
        self.write()

    def put(self, part: str, figures: Any) -> None:
        """``figures`` as they are now (a copy: what the file says is what was known at this write);
        when each part last wrote (``written_s``, seconds from the start) and how often (``writes``)."""
        self.data[part] = json.loads(json.dumps(figures))
        self.data["written_s"][part] = round(time.monotonic() - self.t0, 3)
        self.data["writes"][part] = self.data["writes"].get(part, 0) + 1
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)


def _throughput(ends: list[float], n: int) -> float:
    return n * (len(ends) - 1) / (ends[-1] - ends[0])


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    """A child process; its output shown (the end of it) if it fails."""
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r


def _archive(tmp: Path, images: int) -> Path:
    from lrviz.data import write_synthetic_cifar

    return write_synthetic_cifar(tmp / "cifar-10-python.tar.gz", n_per_batch=images // 5, n_test=max(images // 5, 100))


def _worker_run(tmp: Path, archive: Path, epochs: int, batch: int) -> tuple[float, dict]:
    from lrviz import runs

    rid = runs.create_run({"dataset": "cifar10", "cifar_archive": str(archive), "epochs": epochs,
                           "batch_size": batch}, tmp / "runs")
    t0 = time.time()
    _run([sys.executable, "-m", "lrviz.worker", str(tmp / "runs" / rid)])
    wall = time.time() - t0
    run = runs.load_run(rid, tmp / "runs")
    assert run.status["state"] == "finished", run.status
    return _throughput(list(run.history["ended_at"]), run.config["train_size"]), {
        "wall_s": wall, "backend": run.config.get("backend"), "device": run.config.get("device"),
        "lr_route": run.status.get("lr_route")}


def bench_throughput(images: int, epochs: int, reps: int, out: Results, batch: int = 64) -> dict:
    base, work, info = [], [], {}
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        archive = _archive(tmp, images)
        for _ in range(reps):
            r = _run([sys.executable, __file__, "_baseline", str(archive), str(epochs), str(batch)])
            o = json.loads(r.stdout.strip().splitlines()[-1])
            base.append(_throughput(o["ends"], o["n"]))
            w, info = _worker_run(tmp, archive, epochs, batch)
            work.append(w)
            figures = {"images": images, "epochs": epochs, "batch_size": batch, **info, "baseline_img_s": base,
                       "worker_img_s": work, "ratio_pairs_median": _median([w / b for w, b in zip(work, base)]),
                       "ratio_best": max(work) / max(base), "pairs_done": len(work), "pairs": reps}
            out.put("throughput", figures)  # after every pair: a run cut short keeps the pairs it had
    return figures


def bench_tutorial_run(images: int, epochs: int, out: Results) -> dict:
    """The tutorial's experiment, process start to report (the archive is written first, not timed)."""
    from lrviz import runs

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        archive = _archive(tmp, images)
        t0 = time.time()
        _run([sys.executable, "-m", "lrviz", "train", "--dataset", "cifar10", "--cifar-archive", str(archive),
              "--epochs", str(epochs), "--runs-dir", str(tmp / "runs")])
        wall = time.time() - t0
        (s,) = runs.list_runs(tmp / "runs")
        run = runs.load_run(s.id, tmp / "runs")
    figures = {"epochs": epochs, "images": run.config["train_size"], "wall_s": wall,
               "epochs_done": len(run.history), "backend": run.config.get("backend"),
               "device": run.config.get("device"), "lr_route": run.status.get("lr_route")}
    out.put("tutorial_run", figures)
    return figures


def _trials(runs_dir: Path) -> tuple[str | None, dict[str, Any], list[str]]:
    """The tournament's id and status, and its trials' states, read from the runs folder."""
    from lrviz.store.files import read_json

    tid, status, states = None, {}, []
    for folder in sorted(p for p in runs_dir.glob("*") if (p / "config.json").is_file()):
        try:
            config, st = read_json(folder / "config.json"), read_json(folder / "status.json")
        except (OSError, ValueError):
            continue  # being written
        if config.get("kind") == "tournament":
            tid, status = folder.name, {**st, **{k: v for k, v in status.items() if k.startswith("trial_")}}
        elif config.get("group"):
            states.append(st.get("state"))
            status = {**status, "trial_backend": config.get("backend"), "trial_device": config.get("device")}
    return tid, status, states


def bench_tournament(images: int, seeds: int, epochs: int, workers: int | None, out: Results) -> dict:
    """The tutorial's table (``--preset tutorial``: its 4 schedules), ``seeds`` seeds, ``epochs``
    epochs, workers side by side; its progress written every few seconds, its wall time at the end."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        archive = _archive(tmp, images)
        cmd = [sys.executable, "-m", "lrviz", "tournament", "--preset", "tutorial", "--dataset", "cifar10",
               "--cifar-archive", str(archive), "--seeds", str(seeds), "--epochs", str(epochs),
               "--runs-dir", str(tmp / "runs")] + ([] if workers is None else ["--workers", str(workers)])
        t0 = time.time()
        with open(tmp / "tournament.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=ENV, stdout=log, stderr=subprocess.STDOUT)
            figures: dict[str, Any] = {}
            while True:
                done = proc.poll() is not None
                tid, status, states = _trials(tmp / "runs")
                figures = {"schedules": 4, "seeds": seeds, "epochs": epochs, "images": images,
                           "workers_asked": workers if workers is not None else "default",
                           "local_workers": status.get("local_workers"), "workers_note": status.get("workers_note"),
                           "trials": 4 * seeds, "trials_finished": states.count("finished"),
                           "elapsed_s": time.time() - t0, "state": status.get("state"),
                           "backend": status.get("trial_backend"), "device": status.get("trial_device")}
                out.put("tournament", figures)
                if done:
                    break
                try:  # a progress figure every 5 s, and the end seen as soon as the process exits
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if proc.returncode != 0:
            raise RuntimeError(f"tournament exited {proc.returncode}:\n{(tmp / 'tournament.log').read_text()[-3000:]}")
        figures["wall_s"] = time.time() - t0
        out.put("tournament", figures)
    return figures


def _gpu_name() -> str | None:
    """The GPU's name from nvidia-smi (this process never imports JAX: it would take the GPU's memory)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def _dry_run_env(tmp: Path) -> None:
    """JAX's CPU build and TensorFlow unimportable, here and in every child: a ``tensorflow``
    package first on PYTHONPATH that refuses to import (any ``import tensorflow`` fails loudly)."""
    (tmp / "tensorflow").mkdir()
    (tmp / "tensorflow" / "__init__.py").write_text(_NO_TENSORFLOW)
    ENV.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=f"{tmp}{os.pathsep}{ROOT}",
               # the same steps compile once for all the processes (CI time; not on a GPU, where
               # every part must pay its own compiles as a user's first run does)
               JAX_COMPILATION_CACHE_DIR=str(tmp / "jax-cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
               # XLA's CPU compiler unoptimized: the dry run's time is compiles (every process, every
               # schedule's table), not its few tiny batches; the same code paths run, only slower code
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip())
    os.environ.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    sys.modules["tensorflow"] = None  # this process too


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_baseline":
        child_baseline(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="GPU sizes (20,000 images x 6 epochs), the tutorial's run and "
                                                       "its tournament table")
    ap.add_argument("--dry-run", action="store_true", help="with --gpu: every part at tiny sizes on JAX's CPU build, "
                                                           "TensorFlow blocked (what CI runs)")
    ap.add_argument("--quick", action="store_true", help="a smoke run (1,000 images, 3 epochs, 1 pair)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--parts", default="throughput,tutorial,tournament",
                    help="with --gpu: the parts to run, comma-separated (default: all, the tournament last)")
    ap.add_argument("--out", type=Path, default=None, help="the results JSON")
    args = ap.parse_args()
    if args.dry_run and not args.gpu:
        ap.error("--dry-run goes with --gpu (it runs the GPU bench's code paths on a CPU)")
    size = SIZES["dry-run" if args.dry_run else "gpu" if args.gpu else "quick" if args.quick else "cpu"]
    reps = args.reps or size["reps"]
    parts = [p.strip() for p in args.parts.split(",")] if args.gpu else ["throughput"]
    out_path = args.out or ROOT / "bench" / "results" / ("backends-dry-run.json" if args.dry_run else "backends.json")
    with tempfile.TemporaryDirectory() as blocker:
        if args.dry_run:
            _dry_run_env(Path(blocker))
        t0 = time.time()
        out = Results(out_path, {"cpus": os.cpu_count(), "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
                                 "gpu": None if args.dry_run else _gpu_name(), "dry_run": args.dry_run,
                                 "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parts": parts})
        goal = 0.95 if args.gpu else 0.97
        if "throughput" in parts:
            r = bench_throughput(size["images"], size["epochs"], reps, out)
            print(f"[throughput] {r['backend']} on {r['device']} (LR: {r['lr_route']}), {size['images']} CIFAR-shaped "
                  f"images x {size['epochs']} epochs: worker {_median(r['worker_img_s']):.0f} img/s vs plain fit "
                  f"{_median(r['baseline_img_s']):.0f} img/s: ratio {r['ratio_pairs_median']:.3f} (median of {reps} "
                  f"pairs; goal >= {goal})", flush=True)
        if "tutorial" in parts:
            t = bench_tutorial_run(size["tutorial_images"], size["tutorial_epochs"], out)
            print(f"[tutorial] {t['epochs']} epochs x {t['images']:,} images on {t['backend']} / {t['device']}: "
                  f"{t['wall_s']:.0f} s process start to report (goal <= 120 s on a GPU)", flush=True)
        if "tournament" in parts:
            m = bench_tournament(size["tutorial_images"], size["tournament_seeds"], size["tournament_epochs"],
                                 size["tournament_workers"], out)
            print(f"[tournament] 4 schedules x {m['seeds']} seeds x {m['epochs']} epochs, {m['local_workers']} "
                  f"worker(s) side by side on {m['device']}: {m['wall_s']:.0f} s (goal <= 600 s on a GPU)", flush=True)
        out.put("total_s", time.time() - t0)
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
