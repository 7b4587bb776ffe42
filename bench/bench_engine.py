"""Benchmarks of the training engine (issue 3). Run: ``python bench/bench_engine.py [--quick]``.

1. Worker throughput (images/s) vs a plain ``model.fit`` on the same model, tf.data pipeline,
   data (digits, 1,347 training images) and batch size, both in fresh processes, alternated,
   best of the repetitions; throughput = images of epochs 2..N / wall time between the end of
   epoch 1 and the end of epoch N (validation, callbacks and run-store writes included).
   Goal: ratio >= 0.97.
2. Peak memory (max RSS of the process) of a worker run on a synthetic full-size
   CIFAR-format archive (50,000 + 10,000 random images, written by this script), vs the
   tutorial's approach (``astype("float") / 255.0`` float64 arrays, ``model.fit`` on them),
   each training the same number of batches, then validating and predicting on the full
   test set. Goal: ratio <= 0.5.
3. A full 40-epoch digits run, ``python -m lrviz train`` process start to report. Goal: <= 30 s.

``--quick`` uses fewer epochs / repetitions and a 5,000 + 1,000 archive. Results go to
bench/results/engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
MEM_BATCHES = 20  # batches of 64 trained in the memory benchmark (both approaches)


def _py(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, __file__, *args], env=ENV, capture_output=True, text=True, **kw)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- children


def child_baseline_fit(epochs: int, batch: int) -> None:
    """Plain model.fit, same set-up as the worker, no lrviz callback; prints epoch end times."""
    import keras

    from lrviz.batches import make_tf_dataset
    from lrviz.data import load_digits
    from lrviz.models import MiniVGGNet

    keras.utils.set_random_seed(42)
    ds = load_digits()
    train = make_tf_dataset(ds.x_train, ds.y_train, 10, batch, shuffle=True, seed=42)
    test = make_tf_dataset(ds.x_test, ds.y_test, 10, batch)
    model = MiniVGGNet.build(8, 8, 1, 10)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    ends: list[float] = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(time.time()))
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            model.fit(train, validation_data=test, epochs=epochs, callbacks=[cb], shuffle=False, verbose=2)
        finally:
            sys.stdout = stdout
    print(json.dumps({"ends": ends, "n": len(ds.x_train)}))


def child_tutorial_memory(archive: str) -> None:
    """The tutorial's recipe: float64 pixels, LabelBinarizer, model.fit on numpy arrays."""
    import keras
    from sklearn.metrics import classification_report
    from sklearn.preprocessing import LabelBinarizer

    from lrviz.data import load_cifar10
    from lrviz.models import MiniVGGNet

    ds = load_cifar10(archive)
    train_x = ds.x_train.astype("float") / 255.0
    test_x = ds.x_test.astype("float") / 255.0
    lb = LabelBinarizer()
    train_y = lb.fit_transform(ds.y_train)
    test_y = lb.transform(ds.y_test)
    model = MiniVGGNet.build(32, 32, 3, 10)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    model.fit(train_x, train_y, validation_data=(test_x, test_y), batch_size=64, epochs=1,
              steps_per_epoch=MEM_BATCHES, verbose=0)
    preds = model.predict(test_x, batch_size=64, verbose=0)
    classification_report(test_y.argmax(axis=1), preds.argmax(axis=1), zero_division=0)
    print(json.dumps({"maxrss_mib": _maxrss_mib(), "dtype": str(train_x.dtype)}))


def child_worker_memory(run_dir: str) -> None:
    """The real worker code path in this process, then its peak RSS."""
    from lrviz.worker import run_worker

    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            state = run_worker(run_dir, verbose=0)
        finally:
            sys.stdout = stdout
    print(json.dumps({"maxrss_mib": _maxrss_mib(), "state": state}))


# --------------------------------------------------------------------------- benchmarks


def _throughput(ends: list[float], n: int) -> float:
    return n * (len(ends) - 1) / (ends[-1] - ends[0])


def bench_throughput(epochs: int, reps: int, batch: int = 64) -> dict:
    from lrviz import runs

    base, work = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(reps):
            r = _py("_baseline", str(epochs), str(batch), check=True)
            out = json.loads(r.stdout.strip().splitlines()[-1])
            base.append(_throughput(out["ends"], out["n"]))
            rid = runs.start_run({"epochs": epochs, "batch_size": batch}, tmp)
            path = Path(tmp) / rid
            while runs.load_run(rid, tmp).status["state"] in runs.ACTIVE_STATES:
                time.sleep(0.2)
            run = runs.load_run(rid, tmp)
            assert run.status["state"] == "finished", run.status
            work.append(_throughput(list(run.history["ended_at"]), run.config["train_size"]))
            del path
    return {"epochs": epochs, "batch_size": batch, "dataset": "digits", "baseline_img_s": base, "worker_img_s": work,
            "ratio_best": max(work) / max(base), "ratio_median": _median(work) / _median(base),
            # each worker run against the baseline run just before it: drift on a shared machine cancels
            "ratio_pairs_median": _median([w / b for w, b in zip(work, base)]), "goal": ">= 0.97"}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def bench_memory(n_per_batch: int, n_test: int) -> dict:
    from lrviz import runs
    from lrviz.data import write_synthetic_cifar

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        arch = write_synthetic_cifar(Path(tmp) / "cifar-10-python.tar.gz", n_per_batch=n_per_batch, n_test=n_test)
        made_s = time.time() - t0
        r = _py("_tutorial_mem", str(arch))
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        tutorial = json.loads(r.stdout.strip().splitlines()[-1])
        rid = runs.create_run({"dataset": "cifar10", "cifar_archive": str(arch), "epochs": 1, "batch_size": 64,
                               "max_batches": MEM_BATCHES}, Path(tmp) / "runs", launch=lambda p: (os.getpid(), None))
        r = _py("_worker_mem", str(Path(tmp) / "runs" / rid))
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        worker = json.loads(r.stdout.strip().splitlines()[-1])
    return {"train_images": 5 * n_per_batch, "test_images": n_test, "batches_trained": MEM_BATCHES,
            "archive_write_s": made_s, "tutorial_float64_maxrss_mib": tutorial["maxrss_mib"],
            "worker_maxrss_mib": worker["maxrss_mib"], "worker_state": worker["state"],
            "ratio": worker["maxrss_mib"] / tutorial["maxrss_mib"], "goal": "<= 0.5"}


def bench_full_digits(epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        r = subprocess.run([sys.executable, "-m", "lrviz", "train", "--epochs", str(epochs), "--runs-dir", tmp],
                           env=ENV, capture_output=True, text=True, cwd=ROOT)
        wall = time.time() - t0
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        from lrviz import runs

        (summary,) = runs.list_runs(tmp)
        run = runs.load_run(summary.id, tmp)
        acc = float(run.extras["report"].loc["accuracy", "f1-score"])
    return {"epochs": epochs, "wall_s": wall, "test_accuracy": acc, "goal": "<= 30 s (40 epochs)"}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        cmd, *rest = sys.argv[1:]
        {"_baseline": lambda: child_baseline_fit(int(rest[0]), int(rest[1])),
         "_tutorial_mem": lambda: child_tutorial_memory(rest[0]),
         "_worker_mem": lambda: child_worker_memory(rest[0])}[cmd]()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a couple of minutes)")
    ap.add_argument("--only", choices=("throughput", "memory", "digits"), action="append")
    args = ap.parse_args()
    only = set(args.only or ("throughput", "memory", "digits"))
    results: dict = {"quick": args.quick, "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if "digits" in only:
        results["full_digits_run"] = r = bench_full_digits(10 if args.quick else 40)
        print(f"[digits] {r['epochs']}-epoch run, process start to report: {r['wall_s']:.1f} s "
              f"(test accuracy {r['test_accuracy']:.3f}; goal {r['goal']})", flush=True)
    if "throughput" in only:
        results["throughput"] = r = bench_throughput(6 if args.quick else 25, 1 if args.quick else 5)
        print(f"[throughput] worker {max(r['worker_img_s']):.0f} img/s vs plain fit {max(r['baseline_img_s']):.0f} "
              f"img/s: ratio {r['ratio_best']:.3f} best-of, {r['ratio_median']:.3f} median (goal {r['goal']})",
              flush=True)
    if "memory" in only:
        results["memory"] = r = bench_memory(1_000 if args.quick else 10_000, 1_000 if args.quick else 10_000)
        print(f"[memory] {r['train_images']}+{r['test_images']} images: worker peak {r['worker_maxrss_mib']:.0f} MiB "
              f"vs tutorial float64 {r['tutorial_float64_maxrss_mib']:.0f} MiB: ratio {r['ratio']:.2f} "
              f"(goal {r['goal']})", flush=True)
    out = ROOT / "bench" / "results" / "engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
