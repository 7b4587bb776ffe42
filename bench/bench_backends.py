"""Engine throughput on CIFAR-shaped data, per Keras backend, and the tutorial's run on a GPU.

Run (CPU, this machine): ``python bench/bench_backends.py``
Run (a GPU machine, JAX): ``KERAS_BACKEND=jax python bench/bench_backends.py --gpu``

1. **Throughput**: lrviz's worker (``python -m lrviz.worker``, every callback on: LR set before
   every batch, control polling, status/history, TensorBoard) vs a plain ``model.fit(x, y,
   batch_size=64)`` of the same MiniVGGNet, same CIFAR-shaped 32x32x3 images (a synthetic
   CIFAR-10 archive written by this script), same backend, each in a fresh process,
   alternated. Throughput = images of epochs 2..N / wall time between the end of epoch 1
   and the end of epoch N (so tracing and the first epoch's warm-up are left out; validation
   included on both sides). Ratio = median over pairs of (worker / the baseline run just
   before it). Goal: >= 0.97 on CPU, >= 0.95 on a GPU.
2. ``--gpu`` adds **the tutorial's run**: 40 epochs on 50,000 + 10,000 CIFAR-shaped images,
   ``python -m lrviz train`` process start to report, wall time.

Results go to ``bench/results/backends.json``.
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
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


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


def _throughput(ends: list[float], n: int) -> float:
    return n * (len(ends) - 1) / (ends[-1] - ends[0])


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def _worker_run(tmp: Path, archive: Path, epochs: int, batch: int) -> tuple[float, dict]:
    from lrviz import runs

    rid = runs.create_run({"dataset": "cifar10", "cifar_archive": str(archive), "epochs": epochs,
                           "batch_size": batch}, tmp / "runs")
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "lrviz.worker", str(tmp / "runs" / rid)], env=ENV, check=True,
                   capture_output=True)
    wall = time.time() - t0
    run = runs.load_run(rid, tmp / "runs")
    assert run.status["state"] == "finished", run.status
    return _throughput(list(run.history["ended_at"]), run.config["train_size"]), {
        "wall_s": wall, "backend": run.config.get("backend"), "device": run.config.get("device")}


def bench_throughput(images: int, epochs: int, reps: int, batch: int = 64) -> dict:
    from lrviz.data import write_synthetic_cifar

    base, work, info = [], [], {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        archive = write_synthetic_cifar(tmp / "cifar-10-python.tar.gz", n_per_batch=images // 5,
                                        n_test=max(images // 5, 100))
        for _ in range(reps):
            r = subprocess.run([sys.executable, __file__, "_baseline", str(archive), str(epochs), str(batch)],
                               env=ENV, capture_output=True, text=True, check=True)
            out = json.loads(r.stdout.strip().splitlines()[-1])
            base.append(_throughput(out["ends"], out["n"]))
            w, info = _worker_run(tmp, archive, epochs, batch)
            work.append(w)
    return {"images": images, "epochs": epochs, "batch_size": batch, **info, "baseline_img_s": base,
            "worker_img_s": work, "ratio_pairs_median": _median([w / b for w, b in zip(work, base)]),
            "ratio_best": max(work) / max(base)}


def bench_tutorial_run(epochs: int = 40) -> dict:
    """The tutorial's experiment, process start to report (the archive is written first, not timed)."""
    from lrviz import runs
    from lrviz.data import write_synthetic_cifar

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        archive = write_synthetic_cifar(tmp / "cifar-10-python.tar.gz", n_per_batch=10_000, n_test=10_000)
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "lrviz", "train", "--cifar-archive", str(archive), "--epochs",
                        str(epochs), "--runs-dir", str(tmp / "runs")], env=ENV, check=True, capture_output=True)
        wall = time.time() - t0
        (s,) = runs.list_runs(tmp / "runs")
        cfg = runs.load_run(s.id, tmp / "runs").config
    return {"epochs": epochs, "images": 50_000, "wall_s": wall, "backend": cfg.get("backend"),
            "device": cfg.get("device")}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_baseline":
        child_baseline(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="GPU sizes (20,000 images x 6 epochs) and the tutorial's run")
    ap.add_argument("--quick", action="store_true", help="a smoke run (1,000 images, 3 epochs, 1 pair)")
    ap.add_argument("--reps", type=int, default=None)
    args = ap.parse_args()
    if args.gpu:
        images, epochs, reps = 20_000, 6, args.reps or 3
    elif args.quick:
        images, epochs, reps = 1_000, 3, args.reps or 1
    else:
        images, epochs, reps = 4_000, 4, args.reps or 3
    results = {"cpus": os.cpu_count(), "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    results["throughput"] = r = bench_throughput(images, epochs, reps)
    goal = 0.95 if args.gpu else 0.97
    print(f"[throughput] {r['backend']} on {r['device']}, {images} CIFAR-shaped images x {epochs} epochs: worker "
          f"{_median(r['worker_img_s']):.0f} img/s vs plain fit {_median(r['baseline_img_s']):.0f} img/s: ratio "
          f"{r['ratio_pairs_median']:.3f} (median of {reps} pairs; goal >= {goal})", flush=True)
    if args.gpu:
        results["tutorial_run"] = t = bench_tutorial_run()
        print(f"[tutorial] 40 epochs x 50,000 images on {t['backend']} / {t['device']}: {t['wall_s']:.0f} s "
              "process start to report", flush=True)
    out = ROOT / "bench" / "results" / "backends.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
