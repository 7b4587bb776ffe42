"""Overhead of ``lrviz.keras.Dashboard`` on a user's own ``model.fit`` (issue: your own fit in lrviz).

    python bench/bench_callback.py [--pairs 3] [--backend tensorflow] [--only cifar|digits]

A user's own script, run in fresh processes, **with** and **without** the Dashboard, alternated
(without, with, without, with, ...), on two workloads:

* ``cifar``: a CIFAR-shaped fit (MiniVGGNet, 2,000 random 32x32x3 images, 10 classes, batch 64,
  validation data, SGD with Nesterov momentum): epochs of a few seconds, as a Keras user's fit
  on CIFAR-10 has on a CPU. Goal: >= 0.97.
* ``digits``: ``examples/own_fit.py``'s small CNN on scikit-learn's digits: epochs of about
  0.2 s, the worst case for the callback's per-epoch writes (status, history, TensorBoard, a few
  milliseconds an epoch). Reported, no goal.

Throughput = images of epochs 2..N / wall time from the end of epoch 1 to the end of epoch N
(the first epoch carries the tracing; validation and every callback's work included), timed by
the same callback in both. The figure is the median of the pairs' ratios (with / without).
Results go to bench/results/callback.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GOAL = 0.97


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images[..., None] / 16.0).astype("float32")
    return train_test_split(x, digits.target.astype(np.int32), test_size=0.2, random_state=42,
                            stratify=digits.target)


def _cifar_shaped():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2500, 32, 32, 3), dtype=np.uint8).astype("float32") / 255.0
    y = rng.integers(0, 10, size=2500).astype(np.int32)
    return x[:2000], x[2000:], y[:2000], y[2000:]


def child(workload: str, with_dashboard: bool, epochs: int, runs_dir: str) -> None:
    import keras

    keras.utils.set_random_seed(42)
    if workload == "digits":
        x_train, x_val, y_train, y_val = _digits()
        model = keras.Sequential([keras.Input((8, 8, 1)),
                                  keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                                  keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
    else:
        from lrviz.models import MiniVGGNet

        x_train, x_val, y_train, y_val = _cifar_shaped()
        model = MiniVGGNet.build(32, 32, 3, 10)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ends: list[float] = []
    timing = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    callbacks = [timing]
    if with_dashboard:
        import lrviz.keras

        callbacks.insert(0, lrviz.keras.Dashboard(runs_dir=runs_dir, name="bench", report=False))
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=0,
              callbacks=callbacks)
    print(json.dumps({"img_s": len(x_train) * (epochs - 1) / (ends[-1] - ends[0])}))


def measure(workload: str, with_dashboard: bool, epochs: int, backend: str, runs_dir: str) -> float:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT),
           "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    out = subprocess.run([sys.executable, __file__, "--child", "with" if with_dashboard else "without",
                          "--only", workload,
                          "--epochs", str(epochs), "--runs-dir", runs_dir], env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["img_s"]


WORKLOADS = {"cifar": {"epochs": 4, "goal": GOAL}, "digits": {"epochs": 8, "goal": None}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--backend", default="tensorflow")
    p.add_argument("--only", choices=sorted(WORKLOADS))
    p.add_argument("--epochs", type=int, default=None, help="epochs of each fit (default: the workload's)")
    p.add_argument("--child", choices=["with", "without"])
    p.add_argument("--runs-dir", default=None)
    args = p.parse_args()
    if args.child:
        child(args.only, args.child == "with", args.epochs, args.runs_dir)
        return 0
    results, ok = {}, True
    for name, spec in WORKLOADS.items():
        if args.only and name != args.only:
            continue
        epochs = args.epochs or spec["epochs"]
        pairs = []
        with tempfile.TemporaryDirectory() as runs_dir:
            for i in range(args.pairs):
                without = measure(name, False, epochs, args.backend, runs_dir)
                with_ = measure(name, True, epochs, args.backend, runs_dir)
                pairs.append({"without_img_s": without, "with_img_s": with_, "ratio": with_ / without})
                print(f"{name} pair {i + 1}: without {without:.0f} img/s, with the Dashboard {with_:.0f} img/s, "
                      f"ratio {with_ / without:.3f}", flush=True)
        ratio = statistics.median(p["ratio"] for p in pairs)
        passed = spec["goal"] is None or ratio >= spec["goal"]
        ok = ok and passed
        results[name] = {"epochs": epochs, "pairs": pairs, "median_ratio": ratio, "goal": spec["goal"],
                         "pass": passed}
        print(f"{name}: median ratio {ratio:.3f}" + (f" (goal >= {spec['goal']}): {'PASS' if passed else 'FAIL'}"
                                                     if spec["goal"] else " (reported, no goal)"), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "callback.json").write_text(json.dumps({
        "benchmark": "Dashboard callback vs a plain model.fit", "backend": args.backend, "workloads": results,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
